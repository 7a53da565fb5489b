"""The sparse update's column walk on its own (`UpdateWalk`, a wiring.Component): a bit memory with random
touched columns, a MAC stand-in that stays busy a random number of cycles after each pass starts, and the walk
checked against what the dense update needs: every touched column (every column with `all`) handed over exactly
once, in ascending order, with its masked bits, its bits cleared, nothing else touched, one `done`."""
from __future__ import annotations

import numpy as np
import pytest
from amaranth import Module
from amaranth.lib import wiring
from amaranth.lib.memory import Memory
from amaranth.sim import Simulator

from spikemesh.rtl.core import CoreConfig, CoreLayout
from spikemesh.rtl.core.update_walk import UpdateWalk


def _run(cfg: CoreConfig, bits: list[int], base: int, count: int, walk_all: bool, mask: int, seed: int):
    lay = CoreLayout(cfg)
    TW = lay.tch_width
    m = Module()
    m.submodules.uw = uw = UpdateWalk(cfg, lay)
    m.submodules.tch = tch = Memory(shape=TW, depth=lay.adepth, init=bits)
    rp, wp = tch.read_port(), tch.write_port(granularity=1 if TW > 1 else None)
    m.d.comb += [rp.addr.eq(uw.tch_r.addr), uw.tch_r.data.eq(rp.data),
                 wp.addr.eq(uw.tch_w.addr), wp.data.eq(uw.tch_w.data), wp.en.eq(uw.tch_w.en)]
    rng = np.random.default_rng(seed)
    log = {"taken": [], "issued": [], "done": 0, "cycles": 0, "mem": None}

    async def bench(ctx):
        ctx.set(uw.mask, mask)
        ctx.set(uw.start, 1)
        ctx.set(uw.count, count)
        ctx.set(uw.abase, base)
        ctx.set(uw.all, int(walk_all))
        await ctx.tick()
        ctx.set(uw.start, 0)
        busy, slot = 0, None
        for cycle in range(20 * (count + 4)):
            # the read address is a register: the MAC stream unit's state does not reach it within the cycle
            addr = ctx.get(uw.tch_r.addr)
            ctx.set(uw.mac_issuing, int(busy == 0))
            assert ctx.get(uw.tch_r.addr) == addr, "the bit memory's read address waits on the MAC stream unit"
            ctx.set(uw.mac_issuing, int(busy > 0))
            if ctx.get(uw.issue):
                assert slot is not None, "a pass started with no column in the slot"
                log["issued"].append(slot)
                slot, busy = None, int(rng.integers(1, 6))  # the pass issues for 1..5 more cycles
            if ctx.get(uw.take):
                assert slot is None, "a column entered a full slot"
                slot = (ctx.get(uw.col), ctx.get(uw.bits))
                log["taken"].append(slot)
            if ctx.get(uw.done):
                log["done"] += 1
                log["cycles"] = cycle
                await ctx.tick()
                break
            await ctx.tick()
            busy = max(0, busy - 1)
        for _ in range(3):  # `done` once, then nothing
            assert not ctx.get(uw.done) and not ctx.get(uw.take) and not ctx.get(uw.issue)
            await ctx.tick()
        log["mem"] = [ctx.get(tch.data[a]) for a in range(lay.adepth)]

    sim = Simulator(m)
    sim.add_clock(1e-6)
    sim.add_testbench(bench)
    sim.run()
    return log, lay


@pytest.mark.parametrize("wg_table, walk_all", [(False, False), (False, True), (True, False)])
def test_update_walk_hands_over_every_touched_column_once_in_order(wg_table, walk_all):
    sizes = (40, 12, 5)
    kw = dict(rules=("sltt",), wg_table=True, direct_input=False) if wg_table else {}
    cfg = CoreConfig(layers=sizes, t_max=3, lanes=2, **kw)
    lay = CoreLayout(cfg)
    TW = lay.tch_width
    rng = np.random.default_rng(7 + wg_table + 2 * walk_all)
    layer = 1
    base, count = lay.abase(layer), sizes[layer - 1]
    bits = [0] * lay.adepth
    for a in range(lay.adepth):  # about a quarter of the columns touched, runs of both kinds
        bits[a] = int(rng.integers(1, 1 << TW)) if rng.random() < 0.25 else 0
    bits[base + count - 1] = 1  # the last column touched: the walk must not stop one short
    mask = 0b101 if wg_table else (1 << TW) - 1
    log, _ = _run(cfg, bits, base, count, walk_all, mask, seed=3)

    want = [(j, bits[base + j] & mask) for j in range(count) if walk_all or bits[base + j] & mask]
    assert log["done"] == 1
    assert log["taken"] == want, "the columns handed over (index, masked bits)"
    assert log["issued"] == want, "every column in the slot starts its pass, in order"
    cleared = [0 if base <= a < base + count and (walk_all or bits[a] & mask) else bits[a] for a in range(lay.adepth)]
    assert log["mem"] == cleared, "the taken columns' bits cleared, every other bit kept"
    if not walk_all:  # a skipped column costs one cycle: the walk is not a pass per column
        assert log["cycles"] < count + 8 * len(want)


def test_update_walk_is_a_component_with_typed_ports():
    cfg = CoreConfig(layers=(8, 7, 5), t_max=3)
    uw = UpdateWalk(cfg, CoreLayout(cfg))
    assert isinstance(uw, wiring.Component)
    assert {"start", "count", "abase", "all", "mask", "issue", "take", "done", "tch_r", "tch_w"} <= set(
        uw.signature.members)
