"""The forward engine on its own (`ForwardEngine`, a wiring.Component): its ports wired to real memories
(skewed W banks, event lists, x, its accumulator) in Amaranth's simulator, FWD l,t started through `start`, and
I compared bit for bit with the golden order of operations: I := +0, then per input event j (ascending)
I := fl(I + fl(W[:, j] * m2)), m2 = x_j (direct layer 1), 1.0 (fired) or +0 (a dense list's silent entry)."""
import numpy as np
import pytest
from amaranth import Module
from amaranth.lib import wiring
from amaranth.lib.memory import Memory
from amaranth.sim import Simulator

from spikemesh.rtl.core import CoreConfig, CoreLayout
from spikemesh.rtl.core.fwd_engine import ForwardEngine
from spikemesh.rtl.core.lanemem import lane_memory
from spikemesh.rtl.core.skewmem import skewed_memory


def _bench(cfg: CoreConfig, ws: list[np.ndarray], events: dict, x: np.ndarray):
    """The engine and its memories; `events[(layer, t)]` = [(index, fired)] as the spike lists hold them."""
    lay, P = CoreLayout(cfg), cfg.lanes
    m = Module()
    m.submodules.fe = fe = ForwardEngine(cfg, lay)
    spk_init, cnt_init = [0] * lay.spk_depth, [0] * lay.cnt_depth
    for (layer, t), evs in events.items():
        for e, (j, fired) in enumerate(evs):
            spk_init[lay.spk_addr(layer, t, e)] = j | fired << lay.nb
        cnt_init[lay.cnt_addr(layer, t)] = len(evs)
    mems = {name: Memory(shape=w, depth=len(init), init=init) for name, w, init in (
        ("spk", lay.nb + 1, spk_init), ("cnt", lay.nb + 1, cnt_init),
        ("x", 16, [int(v) for v in x.view(np.uint16)]))}
    for name, mem in mems.items():
        m.submodules[name] = mem
    flat = np.zeros(lay.w_bank_words * P, np.uint16)
    for l, w in enumerate(ws, start=1):
        packed = lay.pack_matrix(l, w, skew=True)
        flat[lay.wbase(l):lay.wbase(l) + len(packed)] = packed
    offw = max(1, lay.w_bank_words.bit_length())
    w_rp, _, banks = skewed_memory(m, "w", lay.w_bank_words * P, P, offw)
    for b, bank in enumerate(banks):  # element a lives in bank a mod P at a // P
        bank.init = [int(v) for v in flat[b::P]]
    accf_rp, accf_wp = lane_memory(m, "accf", lay.ndepth, P)
    rps = {k: mems[k].read_port() for k in ("spk", "cnt", "x")}
    for k in rps:
        m.d.comb += [rps[k].addr.eq(getattr(fe, k).addr), getattr(fe, k).data.eq(rps[k].data)]
    m.d.comb += [w_rp.addr.eq(fe.w.addr), w_rp.rot.eq(fe.w.rot), fe.w.raw.eq(w_rp.raw), fe.w.rot_q.eq(w_rp.rot_q),
                 fe.w.bank_q.eq(w_rp.bank_q), fe.w.word.eq(w_rp.word),
                 accf_rp.addr.eq(fe.accf_r.addr), fe.accf_r.word.eq(accf_rp.word)]
    for k in ("addr", "data", "en", "wide", "wdata"):
        m.d.comb += getattr(accf_wp, k).eq(getattr(fe.accf_w, k))
    return m, fe, lay, accf_rp.mem


def _golden_I(w: np.ndarray, evs, m2_of) -> np.ndarray:
    acc = np.zeros(w.shape[0], np.float16)
    for j, fired in evs:
        acc = acc + w[:, j] * m2_of(j, fired)  # each op rounded once to fp16 (RNE), as the MAC lanes do
    return acc + np.float16(0.0)


@pytest.mark.parametrize("lanes, direct, dense", [(1, True, False), (2, False, False), (4, True, True)])
def test_forward_engine_alone_matches_the_golden_order(lanes, direct, dense):
    rng = np.random.default_rng(lanes)
    sizes = (9, 6, 5)
    cfg = CoreConfig(layers=sizes, t_max=3, lanes=lanes, overlap=True)
    ws = [(rng.standard_normal((sizes[l], sizes[l - 1])) * 0.7).astype(np.float16) for l in (1, 2)]
    x = rng.uniform(0, 1, sizes[0]).astype(np.float16)
    events = {}
    for layer in (0, 1):
        for t in range(3):
            fired = rng.random(sizes[layer]) < 0.5
            idx = range(sizes[layer]) if dense else np.flatnonzero(fired)
            events[(layer, t)] = [(int(j), int(fired[j])) for j in idx]
    m, fe, lay, accf = _bench(cfg, ws, events, x)
    assert isinstance(fe, wiring.Component)
    runs = [(1, 0), (2, 1), (1, 2), (2, 2)]
    got = {}

    async def bench(ctx):
        ctx.set(fe.direct, direct)
        for layer, t in runs:
            while not ctx.get(fe.idle):
                await ctx.tick()
            ctx.set(fe.start, 1)
            ctx.set(fe.layer, layer)
            ctx.set(fe.t, t)
            await ctx.tick()
            ctx.set(fe.start, 0)
            await ctx.tick()
            while not ctx.get(fe.idle):
                await ctx.tick()
            words = [ctx.get(accf.data[a]) for a in range(accf.depth)]
            elems = [(wd >> (16 * (e % lanes))) & 0xFFFF for e, wd in
                     ((e, words[e // lanes]) for e in range(accf.depth * lanes))]
            off = lay.noff(layer)
            got[(layer, t)] = np.array(elems[off:off + sizes[layer]], np.uint16)

    sim = Simulator(m)
    sim.add_clock(1e-6)
    sim.add_testbench(bench)
    sim.run()
    one = np.float16(1.0)
    for layer, t in runs:
        if layer == 1 and direct:  # direct input: layer 1 reads step 0's events (every x_j != 0) with m2 = x_j
            evs = events[(0, 0)]
            exp = _golden_I(ws[0], evs, lambda j, fired: x[j])
        else:
            evs = events[(layer - 1, t)]
            exp = _golden_I(ws[layer - 1], evs, lambda j, fired: one if fired else np.float16(0.0))
        np.testing.assert_array_equal(got[(layer, t)], exp.view(np.uint16), err_msg=f"I of layer {layer}, t {t}")
