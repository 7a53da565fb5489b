"""The neuron unit on its own (`NeuronUnit`, a wiring.Component): its ports wired to real memories (v, I, the
spike and psi lists, acc, the OPZO z/s bits) in Amaranth's simulator, NEUR l,t started through `start`, and every
write compared bit for bit with the golden model's order of operations (sim/golden/core.py, forward_step):
h = fl(fl(lam * v) + I) (v = +0 at step 0), s = h >= theta, v := s ? (hard ? +0 : fl(h - theta)) : h,
psi = surrogate(fl(h - theta)); the output layer's gs = fl(fl(s - y) * c), or, read out by membrane, v = h and the
error fl(fl(h - y) * c) in the psi list."""
from __future__ import annotations

import numpy as np
import pytest
from amaranth import Module
from amaranth.lib import data, wiring
from amaranth.lib.memory import Memory
from amaranth.sim import Simulator

from spikemesh.firmware.program import core_constants
from spikemesh.rtl.core import CoreConfig, CoreLayout
from spikemesh.rtl.core.layout import Mode
from spikemesh.rtl.core.neuron_unit import NeuronUnit
from spikemesh.sim.golden.lfsr import noise_signs
from spikemesh.sim.golden.surrogates import surrogate

F16 = np.float16


def _bench(cfg: CoreConfig, v0: np.ndarray, cur: np.ndarray):
    lay = CoreLayout(cfg)
    m = Module()
    m.submodules.nu = nu = NeuronUnit(cfg, lay)
    mems = {"v": Memory(shape=16, depth=lay.ndepth, init=[int(b) for b in v0.view(np.uint16)]),
            "cur": Memory(shape=16, depth=lay.ndepth, init=[int(b) for b in cur.view(np.uint16)]),
            "spk": Memory(shape=lay.nb + 1, depth=lay.spk_depth, init=[]),
            "psi": Memory(shape=16 + lay.nb, depth=lay.psi_depth, init=[]),
            "acc": Memory(shape=16, depth=lay.ndepth, init=[])}
    if cfg.opzo:
        mems["zs"] = Memory(shape=cfg.lanes, depth=max(1, lay.ndepth // cfg.lanes), init=[])
    for name, mem in mems.items():
        m.submodules[name] = mem
    for name in ("v", "cur"):
        rp = mems[name].read_port()
        m.d.comb += [rp.addr.eq(getattr(nu, f"{name}_r").addr), getattr(nu, f"{name}_r").data.eq(rp.data)]
    for name in ("v", "spk", "psi", "acc") + (("zs",) if cfg.opzo else ()):
        wp = mems[name].write_port(granularity=1 if name == "zs" and cfg.lanes > 1 else None)
        port = getattr(nu, f"{name}_w")
        m.d.comb += [wp.addr.eq(port.addr), wp.data.eq(port.data), wp.en.eq(port.en)]
    return m, nu, lay, mems


def _mode_bits(mode: int) -> dict[str, int]:
    return {name: (mode >> fld.offset) & ((1 << fld.width) - 1) for name, fld in data.Layout.cast(Mode)}


def _golden(cfg, k, layer, t, v, cur, label, signs=None):
    """One NEUR l,t on float16 arrays: (v', s, spike list, psi list, acc writes of the output layer)."""
    lam, theta, c = (np.uint16(k[n]).view(F16) for n in ("lam", "theta", "loss_c"))
    I = cur.copy()
    if signs is not None:
        sigma = np.uint16(k["sigma"]).view(F16)
        I = I + np.where(signs > 0, sigma, -sigma)
    h = lam * (np.zeros_like(v) if t == 0 else v) + I
    x = h - theta
    out = layer >= cfg.out_layer
    mem = out and k["membrane"]
    s = np.zeros(len(h), bool) if mem else h >= theta
    vnew = h if mem else np.where(s, F16(0) if k["hard"] else x, h)
    if mem:
        y = np.zeros(len(h), F16)
        y[label] = 1
        psi = (h - y) * c
    else:
        psi = surrogate(k["surrogate"], k["width"], x)
    dense = k["dense"]
    spikes = [(i, int(s[i])) for i in range(len(h)) if s[i] or dense]
    psis = [(int(psi[i].view(np.uint16)), i) for i in range(len(h)) if (psi[i].view(np.uint16) & 0x7FFF) or k["psi_all"]]
    acc = None
    if out:
        y = np.arange(len(h)) == label
        acc = np.where(s == y, F16(0), np.where(s, c, -c))
        if mem:
            acc = np.full(len(h), F16(1.0))
    return vnew, s, spikes, psis, acc


CASES = {  # name: (CoreConfig kwargs, core_constants kwargs, sigma)
    "rect_soft_p1": (dict(lanes=1), dict(surrogate="rect", reset="soft"), None),
    "tri_hard_p2_dense": (dict(lanes=2, surrogates=("rect", "tri")), dict(surrogate="tri", reset="hard", dense=True), None),
    "membrane_p4_psi_all": (dict(lanes=4, membrane_readout=True), dict(surrogate="rect", reset="soft", temporal=True,
                                                                         readout="membrane"), None),
    "opzo_noise_p2": (dict(lanes=2, rules=("opzo",), opzo=True), dict(surrogate="rect", reset="soft"), 0.125),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_neuron_unit_alone_matches_the_golden_order(case):
    cfg_kw, const_kw, sigma = CASES[case]
    sizes = (8, 7, 5)
    cfg = CoreConfig(layers=sizes, t_max=3, **cfg_kw)
    lay = CoreLayout(cfg)
    rng = np.random.default_rng(len(case))
    regs = core_constants(lam=0.875, theta=1.0, T=3, loss_scale=8, lr=0.01, surrogate_width=1.0, direct=False,
                          **const_kw)
    mode = _mode_bits(regs["mode"])
    label, seed = 3, 0xACE1
    k = {"lam": regs["lam"], "theta": regs["theta"], "loss_c": regs["loss_c"], "membrane": mode["membrane"],
         "hard": mode["hard_reset"], "surrogate": const_kw["surrogate"], "width": 1.0, "dense": mode["dense"],
         "psi_all": mode["psi_all"], "sigma": int(np.float16(sigma or 0).view(np.uint16))}
    # v and I around theta, so neurons fire, sit in the surrogate window and fall outside it
    v_mem = rng.uniform(-1.5, 2.5, lay.ndepth).astype(F16)
    cur_mem = rng.uniform(-1.0, 1.5, lay.ndepth).astype(F16)
    cur_mem[lay.noff(1) + 2] = np.uint16(0x7E00).view(F16)  # a NaN I: no spike, psi +0
    m, nu, _, mems = _bench(cfg, v_mem, cur_mem)
    runs = [(1, 0), (1, 1), (2, 1)]  # step 0 (v = +0), a later step (v from the memory), the output layer
    got = {}

    async def bench(ctx):
        for name, val in (("lam", regs["lam"]), ("theta", regs["theta"]), ("sg_w", regs["sg_w"]),
                          ("sg_inv", regs["sg_inv"]), ("sg_inv2", regs["sg_inv2"]), ("loss_c", regs["loss_c"]),
                          ("label", label), ("sigma", k["sigma"]), ("tri", mode["tri"]), ("table", mode["table"]),
                          ("membrane", mode["membrane"]), ("hard_reset", mode["hard_reset"]),
                          ("dense", mode["dense"]), ("psi_all", mode["psi_all"])):
            ctx.set(getattr(nu.params, name), val)
        ctx.set(nu.seed, seed)
        ctx.set(nu.seed_load, 1)
        await ctx.tick()
        ctx.set(nu.seed_load, 0)
        for layer, t in runs:
            ctx.set(nu.noise, int(sigma is not None and layer < cfg.out_layer))  # OPZO noise on hidden layers
            ctx.set(nu.start, 1)
            ctx.set(nu.layer, layer)
            ctx.set(nu.t, t)
            ctx.set(nu.count, sizes[layer])
            ctx.set(nu.base, lay.noff(layer))
            await ctx.tick()
            ctx.set(nu.start, 0)
            while ctx.get(nu.busy):
                await ctx.tick()
            off, n = lay.noff(layer), sizes[layer]
            nspk, npsi = ctx.get(nu.spikes), ctx.get(nu.psis)
            spk = [ctx.get(mems["spk"].data[lay.spk_addr(layer, t, e)]) for e in range(nspk)]
            psi = [ctx.get(mems["psi"].data[lay.psi_addr(layer, t, e)]) for e in range(npsi)]
            got[(layer, t)] = dict(
                v=np.array([ctx.get(mems["v"].data[off + i]) for i in range(n)], np.uint16),
                spikes=[(w & ((1 << lay.nb) - 1), w >> lay.nb) for w in spk],
                psis=[(w & 0xFFFF, w >> 16) for w in psi],
                acc=np.array([ctx.get(mems["acc"].data[off + i]) for i in range(n)], np.uint16),
                zs=[(ctx.get(mems["zs"].data[(off + i) // cfg.lanes]) >> ((off + i) % cfg.lanes)) & 1
                    for i in range(n)] if cfg.opzo else None)

    sim = Simulator(m)
    sim.add_clock(1e-6)
    sim.add_testbench(bench)
    sim.run()

    v = v_mem.copy()
    noisy = [(layer, t) for layer, t in runs if sigma is not None and layer < cfg.out_layer]
    draws = noise_signs(seed, sum(sizes[layer] for layer, _ in noisy)) if noisy else None
    used = 0
    for layer, t in runs:
        off, n = lay.noff(layer), sizes[layer]
        signs = None
        if (layer, t) in noisy:
            signs, used = draws[used:used + n], used + n
        vnew, s, spikes, psis, acc = _golden(cfg, k, layer, t, v[off:off + n], cur_mem[off:off + n], label, signs)
        v[off:off + n] = vnew
        g = got[(layer, t)]
        where = f"NEUR {layer},{t}"
        np.testing.assert_array_equal(g["v"], vnew.view(np.uint16), err_msg=f"v after {where}")
        assert g["spikes"] == spikes, f"spike list of {where}"
        assert g["psis"] == psis, f"psi list of {where}"
        if acc is not None:
            np.testing.assert_array_equal(g["acc"], acc.view(np.uint16), err_msg=f"gs of {where}")
        if cfg.opzo:  # hidden layers keep z (+1 -> 1), the output layer its spikes
            exp = (signs > 0) if signs is not None else s
            assert g["zs"] == [int(b) for b in exp], f"z / s bits of {where}"
    assert any(f for (_, f) in got[(1, 1)]["spikes"]), "the case fires no neuron: it tests too little"


def test_neuron_unit_is_a_component_with_typed_ports():
    cfg = CoreConfig(layers=(8, 7, 5), t_max=3)
    nu = NeuronUnit(cfg, CoreLayout(cfg))
    assert isinstance(nu, wiring.Component)
    assert {"start", "params", "v_r", "cur_r", "v_w", "spk_w", "psi_w", "acc_w", "busy"} <= set(nu.signature.members)
