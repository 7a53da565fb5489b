"""In-network gradient reduction (rtl/mesh/reducer.py, reduce_node.py), pysim: the adder step against
golden_mesh.chain_add, and whole chain reductions on a 2x2 mesh of G memories at the minimum buffer depth
with a stalling host sink, every node's G bit for bit equal to golden_mesh.reduce_in_order."""
import numpy as np
import pytest
from amaranth.sim import Simulator

from spikemesh.rtl.mesh import MeshConfig
from spikemesh.rtl.mesh.reduce_node import ReduceNode
from spikemesh.rtl.mesh.reducer import CanonAdd, GradReducer
from spikemesh.sim.benches.mesh_dp_pysim import run_reductions
from spikemesh.sim.golden_mesh import chain_add, reduce_in_order

SPECIAL = [0x0000, 0x8000, 0x7C00, 0xFC00, 0x7E00, 0xFE00, 0x7C01, 0x7D55, 0x0001, 0x8001, 0x03FF, 0x83FF,
           0x0400, 0x8400, 0x7BFF, 0xFBFF, 0x3C00, 0xBC00]


def fp16_vectors(rng: np.random.Generator, n: int) -> np.ndarray:
    """Random FP16 bits biased to the cases that matter: specials, both zeros, subnormals, cancellation."""
    v = rng.integers(0, 1 << 16, n, dtype=np.uint64).astype(np.uint16)
    pick = rng.random(n)
    v[pick < 0.25] = rng.choice(SPECIAL, int((pick < 0.25).sum()))
    small = (pick >= 0.25) & (pick < 0.4)
    v[small] = rng.integers(0, 0x0800, int(small.sum())) | (rng.integers(0, 2, int(small.sum())) << 15)
    return v


def test_bad_parameters_refused():
    cfg = MeshConfig(2, 2)
    with pytest.raises(ValueError, match="block must be an int in 1..256 and a multiple of 2"):
        GradReducer(cfg, 0, 0, 8, 0, 10, block=7)
    with pytest.raises(ValueError, match="g_base \\+ g_size must lie"):
        GradReducer(cfg, 0, 0, 4, 10, 10)
    from spikemesh.rtl.fp import FPAddPipe

    with pytest.raises(ValueError, match=f"add_depth must be an int in 0..{FPAddPipe.MAX_DEPTH}"):
        GradReducer(cfg, 0, 0, 8, 0, 10, add_depth=FPAddPipe.MAX_DEPTH + 1)
    with pytest.raises(ValueError, match="addr_width must be an int in 1..15"):
        ReduceNode(cfg, 0, 0, 16, 0, 10)


@pytest.mark.parametrize("depth", [1, 4])
def test_canon_add_matches_golden(depth):
    rng = np.random.default_rng(depth + 1)
    n = 3000
    a, b = fp16_vectors(rng, n), fp16_vectors(rng, n)
    b[::7] = a[::7] ^ 0x8000  # exact cancellation: x + (-x) must give +0.0
    byp = rng.random(n) < 0.2
    want = chain_add(a.view(np.float16), b.view(np.float16)).view(np.uint16)
    want = np.where(byp, b, want)
    dut = CanonAdd(depth)
    got = []

    async def tb(ctx):
        for i in range(n + depth + 1):
            if i < n:
                ctx.set(dut.a, int(a[i]))
                ctx.set(dut.b, int(b[i]))
                ctx.set(dut.bypass, bool(byp[i]))
            ctx.set(dut.i_valid, i < n and i % 5 != 3)  # bubbles
            if ctx.get(dut.o_valid):
                got.append(ctx.get(dut.result))
            await ctx.tick()

    sim = Simulator(dut)
    sim.add_clock(1e-6)
    sim.add_testbench(tb)
    sim.run()
    sent = np.array([i for i in range(n) if i % 5 != 3])
    np.testing.assert_array_equal(np.asarray(got, np.uint16), want[sent])
    assert (want[sent] == 0x8000).sum() == (b[sent][byp[sent]] == 0x8000).sum()  # -0 only from bypass


def test_chain_reductions_min_depth_stalling_host():
    """Depth-2 buffers (the minimum), host sink ready 2 cycles in 5, memories that answer after 1 or 2 cycles
    and accept every other cycle: four reductions (3-, 2-, 3- (other order) and 1-core chains)."""
    cfg = MeshConfig(2, 2, depth=2)
    rng = np.random.default_rng(5)
    g_size = 37  # odd: the last flit of the last block holds one value
    chains = [[1, 2, 3], [3, 1], [3, 2, 1], [2]]
    gs = [{n: fp16_vectors(rng, g_size).view(np.float16) for n in (1, 2, 3)} for _ in chains]
    res, cycles = run_reductions(cfg, gs, chains, ready_pattern=(0, 1, 0, 0, 1), latency={2: 2})
    for run, chain in enumerate(chains):
        want = reduce_in_order({n: [g] for n, g in gs[run].items()}, chain)[0].view(np.uint16)
        for n in (1, 2, 3):
            expect = want if n in chain else gs[run][n].view(np.uint16)
            np.testing.assert_array_equal(res[run][n], expect, err_msg=f"run {run} chain {chain} node {n}")
    assert cycles[0] > cycles[3]
