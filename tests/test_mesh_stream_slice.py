"""StreamSlice (rtl/mesh/stream_slice.py): every transfer delivered once, in order, under random valid and
ready on both sides; one per cycle when both sides always go; and no combinational path through it."""
import random

import pytest
from amaranth.sim import Simulator

from spikemesh.rtl.mesh.stream_slice import StreamSlice


def _run(p_valid: float, p_ready: float, n: int = 400, seed: int = 1) -> tuple[list[int], int]:
    dut = StreamSlice(16)
    rng = random.Random(seed)
    sent = list(range(1, n + 1))
    got: list[int] = []
    cycles = [0]

    async def bench(ctx):
        k = 0
        while len(got) < n:
            offer = k < n and rng.random() < p_valid
            ctx.set(dut.i.valid, offer)
            ctx.set(dut.i.payload, sent[k] if k < n else 0)
            ctx.set(dut.o.ready, rng.random() < p_ready)
            # sample both handshakes just before the edge: what the registers will see
            i_go = ctx.get(dut.i.valid) and ctx.get(dut.i.ready)
            o_go = ctx.get(dut.o.valid) and ctx.get(dut.o.ready)
            o_val = ctx.get(dut.o.payload)
            await ctx.tick()
            cycles[0] += 1
            if i_go:
                k += 1
            if o_go:
                got.append(o_val)
            assert cycles[0] < 20 * n, "slice stalled"

    sim = Simulator(dut)
    sim.add_clock(1e-6)
    sim.add_testbench(bench)
    sim.run()
    return got, cycles[0]


@pytest.mark.parametrize("p_valid, p_ready", [(1.0, 1.0), (0.5, 1.0), (1.0, 0.3), (0.6, 0.6)])
def test_every_transfer_once_and_in_order(p_valid: float, p_ready: float) -> None:
    got, _ = _run(p_valid, p_ready)
    assert got == list(range(1, 401))


def test_full_rate_when_both_sides_go() -> None:
    _, cycles = _run(1.0, 1.0)
    assert cycles <= 400 + 2  # one transfer per cycle after one cycle of latency


def test_ready_and_valid_are_registered() -> None:
    """Changing i.valid/o.ready does not move i.ready/o.valid in the same cycle (no comb path through)."""
    dut = StreamSlice(8)
    seen = []

    async def bench(ctx):
        for v, r in [(0, 0), (1, 0), (0, 1), (1, 1)]:
            ctx.set(dut.i.valid, v)
            ctx.set(dut.o.ready, r)
            seen.append((ctx.get(dut.i.ready), ctx.get(dut.o.valid)))
        await ctx.tick()

    sim = Simulator(dut)
    sim.add_clock(1e-6)
    sim.add_testbench(bench)
    sim.run()
    assert len(set(seen)) == 1
