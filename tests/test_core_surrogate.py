"""Table surrogates (sigmoid, atan) in the core: the host's window derivation against the golden table, the
configuration refusals, and whole-core pysim runs bit-exact with the golden model."""
import numpy as np
import pytest

from spikemesh.firmware.program import constants_from_snn
from spikemesh.firmware.surrogate_table import min_depth, needed_span, reconstruct, surrogate_window
from spikemesh.rtl.core import CoreConfig, CoreLayout, config_id
from spikemesh.rtl.core.layout import MODE_TABLE
from spikemesh.sim.golden.surrogates import surrogate_table

#: the smallest window (power of two) that holds the golden table exactly, measured for every width 2^-4..2^4
NEEDED = {"sigmoid": 16384, "atan": 32768}


@pytest.mark.parametrize("kind", ["sigmoid", "atan"])
@pytest.mark.parametrize("width", [0.0625, 0.5, 1.0, 2.0, 16.0])
def test_window_reproduces_golden_table(kind, width):
    depth = min_depth(kind, width)
    assert depth == NEEDED[kind]
    win = surrogate_window(kind, width, depth)
    golden = surrogate_table(kind, width).view(np.uint16)
    assert np.array_equal(reconstruct(win), golden)  # all 65536 patterns, NaN/inf included
    assert win.below == int(np.float16(1 / width).view(np.uint16)) and win.above == 0
    lo, hi = needed_span(kind, width)
    # tight: the entries just outside the window differ from the below/above constants
    assert golden[lo] != win.below and golden[hi - 1] != win.above
    with pytest.raises(ValueError, match=rf"{kind}.*width {width}.*sg_table_depth >= {depth}"):
        surrogate_window(kind, width, depth // 2)
    # a larger core holds it too
    if depth < 32768:
        assert np.array_equal(reconstruct(surrogate_window(kind, width, 2 * depth)), golden)


def test_window_refusals():
    with pytest.raises(ValueError, match="kind"):
        surrogate_window("tri", 1.0, 16384)
    with pytest.raises(ValueError, match="depth"):
        surrogate_window("sigmoid", 1.0, 3000)
    with pytest.raises(ValueError, match=r"sg_table_depth >= 16384\), the core has 4096"):
        surrogate_window("sigmoid", 1.0, 4096)


@pytest.mark.parametrize("kwargs, word", [
    (dict(surrogates=("rect", "sigmoid")), "surrogates"),  # a table surrogate without the table
    (dict(sg_table_depth=512), "sg_table_depth"),
    (dict(sg_table_depth=3000), "sg_table_depth"),
    (dict(sg_table_depth=65536), "sg_table_depth"),
])
def test_config_refusals(kwargs, word):
    with pytest.raises(ValueError, match=word):
        CoreConfig(layers=(8, 4), **kwargs)


def test_layout_and_identity():
    plain = CoreConfig(layers=(7, 5, 3), t_max=4)
    names = [r.name for r in CoreLayout(plain).regions()]
    assert "sgt" not in names and "sgr" not in names
    assert config_id(plain) != config_id(CoreConfig(layers=(7, 5, 3), t_max=4, sg_table_depth=16384))
    lay = CoreLayout(CoreConfig(layers=(7, 5, 3), t_max=4, surrogates=("rect", "sigmoid"), sg_table_depth=16384))
    assert lay.region("sgt").size == 16384 and lay.region("sgr").size == 3


def _run(rule: str, kind: str, width: float, depth: int, seed: int, backdoor: bool, tri: bool):
    from spikemesh.sim.benches.core_bench import check_training
    from spikemesh.sim.benches.core_pysim import run_pysim
    from spikemesh.sim.golden import SNNConfig

    core = dict(layers=(7, 5, 3), t_max=4, surrogates=("rect", "tri", kind) if tri else ("rect", kind),
                sg_table_depth=depth)
    snn = dict(sizes=(7, 5, 3), T=4, rule=rule, encoding="direct", surrogate=kind, surrogate_width=width)
    # the table is loaded here (bus or backdoor), not again by check_training
    p = {"core": core, "snn": snn, "seed": seed, "samples": 3, "gain": 1.5, "table_loaded": True}
    assert constants_from_snn(SNNConfig(**snn))["mode"] & MODE_TABLE
    win = surrogate_window(kind, width, depth)

    async def load_table(ctx, host, dut):
        if backdoor:  # entries straight into the simulated BRAM (a bus write costs ~1.7 ms per word in pysim)
            data = dut.memories["sgt"].data
            for k, val in enumerate(win.entries):
                ctx.set(data[k], int(val))
            for name, val in win.regs().items():  # the sgr registers by name (memory map)
                await host.write_reg(name, val)
            probe = np.linspace(0, depth - 1, 9).astype(int)  # the bus sees what the lookup sees
            seen = [(await host.read(host.base["sgt"] + int(k), 1))[0] for k in probe] == win.entries[probe].tolist()
        else:
            await host.set_surrogate(kind, width)
            seen = True
        return seen, await host.read_block("sgr", 0, 3)

    async def rect_after(host):  # the same table-built core with MODE_TABLE off: rect, through the alignment
        return await check_training(host, dict(p, snn=dict(snn, surrogate="rect"), samples=2))

    out, _ = run_pysim(p, before=load_table, after=None if tri else rect_after)
    (seen, regs), results = out[0], out[1:]
    assert seen and regs == [win.lo, win.below, win.above]
    assert all("bit-exact" in o for o in results) and len(results) == (1 if tri else 2)
    return SNNConfig(**snn), p


def _psi_not_rect(snn, p) -> int:
    """psi values of the first (step-by-step checked) sample that rect of the same width would not give."""
    from spikemesh.sim.benches.core_bench import make_case
    from spikemesh.sim.golden import train_sample

    weights, samples = make_case(p, snn)
    pix, label = samples[0]
    tr = train_sample(snn, weights, pix, label, record=True, sample_index=0).trace
    a = snn.surrogate_width
    n = 0
    for t in range(snn.T):
        for l in range(1, snn.n_layers + 1):
            psi = np.asarray(tr.get("psi", t, l), np.float16)
            n += int(np.count_nonzero((psi != np.float16(1 / a)) & (psi != 0)))
    return n


@pytest.mark.parametrize("rule, kind, width, seed, backdoor, tri", [("sltt", "sigmoid", 1.0, 3, False, True),
                                                                   ("bptt", "atan", 2.0, 4, True, False)])
def test_core_pysim_table_surrogate(rule, kind, width, seed, backdoor, tri):
    """Whole core in Amaranth's simulator: the window loaded (sigmoid: every entry over the bus, the host's
    own path; atan: entries into the simulated BRAM, registers over the bus, entries read back over the bus),
    then one sample step by step (psi lists, delta, gs, G, W checked against the golden model), then two
    full-program samples (W checked). With tri built, the table result waits in tri's delay chain; without
    it, rect and the rest wait one cycle for the table BRAM."""
    snn, p = _run(rule, kind, width, NEEDED[kind], seed, backdoor, tri)
    assert _psi_not_rect(snn, p) > 0  # the table decided psi values rect would not produce
