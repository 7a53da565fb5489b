"""cocotb bench for TrainingCore: load weights/program/inputs over the bus, run samples, compare every
layer's spikes, membranes, psi/delta lists, errors gs, gradients G and updated weights bit for bit."""
from __future__ import annotations

import cocotb
import numpy as np

from spikemesh.firmware.program import TEMPORAL_RULES, assemble, noise_seed, round_seed, snn_ops, step_seed
from spikemesh.rtl.core.config import CoreConfig
from spikemesh.rtl.core.isa import Op
from spikemesh.rtl.core.layout import MODE_DENSE_UPD
from spikemesh.sim.benches.core_host import CoreHost, clock_and_reset, f16_bits
from spikemesh.sim.golden import (SNNConfig, encode, init_weights, load_digits_split, sample_gradients,
                                   train_sample)
from spikemesh.sim.cocotb_run import cocotb_param
from spikemesh.sim.golden.numerics import to_format
from spikemesh.rtl.formats import format_by_name


def core_config(p) -> CoreConfig:
    """p["core"]: CoreConfig arguments as JSON (fmt by name, e.g. "bf16")."""
    core = dict(p["core"])
    if isinstance(core.get("fmt"), str):
        core["fmt"] = format_by_name(core["fmt"])
    return CoreConfig(**core)


def make_case(p, snn: SNNConfig):
    """Initial weights (golden init) and (pixels, label) samples: random pixels or a digits subset."""
    weights = init_weights(snn, p["seed"], gain=p.get("gain", 1.0))
    n = p["samples"]
    if p.get("data") in ("digits", "digits28"):
        X, y, _, _ = load_digits_split()
        if p["data"] == "digits28":  # MNIST-sized: the digits resized to 28 x 28 (784 inputs)
            from spikemesh.sim.golden.data import upsample_digits

            X = upsample_digits(X[:n])
        return weights, [(X[i], int(y[i])) for i in range(n)]
    rng = np.random.default_rng(p["seed"])
    N0 = snn.sizes[0]
    out = []
    for k in range(n):
        pix = rng.integers(0, 17, N0) * (rng.random(N0) < 0.6)
        if k == 1:
            pix[:] = 0  # a silent sample: zero-spike steps everywhere
        out.append((pix, int(rng.integers(0, snn.sizes[-1]))))
    return weights, out


def step_sets(X, snn: SNNConfig) -> np.ndarray:
    """S_j per input (bit t: input j fired at a step whose backward ran, WG 1,t): the input-gradient table's row
    that is column j of G_1 on a wg_table core."""
    steps = snn.k_steps if snn.rule == "sltt_k" else range(snn.T)
    X = np.asarray(X)
    return sum((X[t] != 0).astype(np.int64) << t for t in steps)


def bits(a):
    return f16_bits(a).tolist()


async def setup(dut):
    await clock_and_reset(dut, ("bus__req_valid",))


def nz_list(vec) -> list[tuple[int, int]]:
    return [(int(i), int(f16_bits(vec[i]))) for i in np.flatnonzero(vec)]


def all_list(vec) -> list[tuple[int, int]]:
    return [(int(i), int(f16_bits(vec[i]))) for i in range(len(vec))]


@cocotb.test()
async def train_bit_exact(dut):
    p = cocotb_param()
    host = CoreHost(dut, core_config(p))
    await setup(dut)
    dut._log.info(await check_training(host, p))


def program_groups(ops):
    """Split a program where a forward time step begins: each group is one forward step plus whatever
    backward work follows it (SLTT: that step's; BPTT: the whole backward after the last step)."""
    groups, cur = [], []
    for o in ops:
        if o[0] == Op.FWD and o[1] == 1 and any(q[0] == Op.FWD for q in cur):
            groups.append(cur)
            cur = []
        cur.append(o)
    return groups + [cur]


async def check_stepwise(host: CoreHost, snn: SNNConfig, tr) -> None:
    """Run one sample group by group (no update) and compare every layer's state with the golden trace:
    after each forward step s and v; after backward work the psi list of each backward step, and the delta
    list and gs of the last backward step run (earlier steps' delta lists are overwritten)."""
    cfg, L = host.cfg, host.cfg.n_layers
    keep_all_psi = snn.dense or snn.rule in TEMPORAL_RULES
    ottt = snn.rule in ("ottt_a", "ottt_o", "opzo")  # opzo keeps the OTTT trace too
    # ottt_o updates after every step (the next step runs on the new W): keep those updates in the groups
    for chunk in program_groups(snn_ops(cfg, snn, update=snn.rule == "ottt_o")):
        await host.run(assemble(chunk, cfg))
        ctr = await host.counters()
        t_fwd = next(o[2] for o in chunk if o[0] == Op.FWD)
        for l in range(1, L + 1):
            got = await host.read_events(l, t_fwd)
            assert got == np.flatnonzero(tr.get("s", t_fwd, l)).tolist(), f"spikes l={l} t={t_fwd}: {got}"
            assert bits(await host.read_neurons("v", l)) == bits(tr.get("v", t_fwd, l)), f"v l={l} t={t_fwd}"
            if ottt:
                assert bits(await host.read_trace(l)) == bits(tr.get("a", t_fwd, l)), f"trace a l={l} t={t_fwd}"
            if snn.rule == "ottt_o":
                got = await host.read_matrix("w", l)
                assert bits(got) == bits(tr.get("W", t_fwd, l)), f"W after step t={t_fwd} l={l}"
        ran = tr_keys(tr, "delta")  # the golden backward steps (SLTT-K with random K: the drawn ones)
        back = [o[2] for o in chunk if o[0] in (Op.DELTA, Op.DELTAT) and o[1] == 1 and (o[2], 1) in ran]
        n_psi = n_dlt = 0
        for t in back:
            for l in range(1, L + 1):
                psi = psi_of(tr, snn, cfg, t, l)
                exp_psi = all_list(psi) if keep_all_psi else nz_list(psi)
                n_psi += len(exp_psi)
                assert await host.read_list("psi", l, len(exp_psi), t) == exp_psi, f"psi l={l} t={t}"
                n_dlt += len(all_list(tr.get("delta", t, l)) if snn.dense else nz_list(tr.get("delta", t, l)))
        if back:
            t = back[-1]
            for l in range(1, L + 1):
                d = tr.get("delta", t, l)
                exp_d = all_list(d) if snn.dense else nz_list(d)
                assert await host.read_list("dlt", l, len(exp_d)) == exp_d, f"delta l={l} t={t}"
                gs = bits(await host.read_neurons("acc", l))
                assert gs == bits(gs_of(tr, snn, cfg, t, l)), f"gs l={l} t={t}: {gs}"
            assert ctr["delta_nonzero"] == n_dlt, (ctr, n_dlt)
            if not keep_all_psi:
                assert ctr["psi_nonzero"] == n_psi, (ctr, n_psi)


async def check_whole_sample(host: CoreHost, snn: SNNConfig, tr, order: str | None = None) -> dict:
    """A core with the forward engine runs an interleaved program (forward t+1 under backward t), which
    cannot be split at forward steps: run the whole sample (no update) and compare what it keeps: every
    layer's spike list and psi list of every step, v and the forward engine's I (accf) of the last step, the
    delta list and gs of the last backward step, and the counters (psi/delta != 0, forward events)."""
    cfg, L, T = host.cfg, host.cfg.n_layers, snn.T
    keep_all_psi = snn.dense or snn.rule in TEMPORAL_RULES
    ottt = snn.rule in ("ottt_a", "ottt_o")
    ops = snn_ops(cfg, snn, update=snn.rule == "ottt_o", overlap_order=order)
    await host.run(assemble(ops, cfg))
    ctr = await host.counters()
    psi_steps = tr_keys(tr, "psi")
    if snn.readout == "membrane":  # the output layer's psi list holds its loss error, recorded as gs
        psi_steps |= {(t, l) for t, l in tr_keys(tr, "gs") if l == cfg.out_layer}
    for t in range(T):
        for l in range(1, L + 1):
            got = await host.read_events(l, t)
            assert got == np.flatnonzero(tr.get("s", t, l)).tolist(), f"spikes l={l} t={t}: {got}"
            if (t, l) in psi_steps:  # the golden model has psi only at backward steps (SLTT-K: steps in K)
                psi = psi_of(tr, snn, cfg, t, l)
                exp_psi = all_list(psi) if keep_all_psi else nz_list(psi)
                assert await host.read_list("psi", l, len(exp_psi), t) == exp_psi, f"psi l={l} t={t}"
    for l in range(1, L + 1):
        assert bits(await host.read_neurons("v", l)) == bits(tr.get("v", T - 1, l)), f"v l={l} (end of sample)"
        if ottt:
            assert bits(await host.read_trace(l)) == bits(tr.get("a", T - 1, l)), f"trace a l={l}"
        if cfg.overlap:
            assert bits(await host.read_neurons("accf", l)) == bits(tr.get("I", T - 1, l)), f"I l={l} (accf)"
    ran = tr_keys(tr, "delta")  # the golden backward steps (SLTT-K with random K: the drawn ones)
    back = [o[2] for o in ops if o[0] in (Op.DELTA, Op.DELTAT) and o[1] == 1 and (o[2], 1) in ran]
    if back and snn.rule in ("sltt", "sltt_k"):  # BPTT's last backward step is t = 0: gs_L there is LOSS's
        t = back[-1]
        for l in range(1, L + 1):
            d = tr.get("delta", t, l)
            exp_d = all_list(d) if snn.dense else nz_list(d)
            assert await host.read_list("dlt", l, len(exp_d)) == exp_d, f"delta l={l} t={t}"
            assert bits(await host.read_neurons("acc", l)) == bits(gs_of(tr, snn, cfg, t, l)), f"gs l={l} t={t}"
    n_dlt = sum(len(all_list(tr.get("delta", t, l)) if snn.dense else nz_list(tr.get("delta", t, l)))
                for t in back for l in range(1, L + 1))
    assert ctr["delta_nonzero"] == n_dlt, (ctr, n_dlt)
    if not keep_all_psi and len(psi_steps) == T * L:  # NEUR writes a psi list at every step
        n_psi = sum(len(nz_list(psi_of(tr, snn, cfg, t, l))) for t, l in psi_steps)
        assert ctr["psi_nonzero"] == n_psi, (ctr, n_psi)
    return ctr


def psi_of(tr, snn: SNNConfig, cfg: CoreConfig, t: int, l: int):
    """What the core's psi list of layer l at step t holds: psi, or with the membrane readout for the output
    layer the loss error gs_L[t] (the core's DELTA multiplies it by gs = 1.0)."""
    if snn.readout == "membrane" and l == cfg.out_layer:
        return tr.get("gs", t, l)
    return tr.get("psi", t, l)


def gs_of(tr, snn: SNNConfig, cfg: CoreConfig, t: int, l: int):
    """gs of layer l at step t as the core's acc holds it (membrane readout: 1.0 for the output layer)."""
    gs = tr.get("gs", t, l)
    if snn.readout == "membrane" and l == cfg.out_layer:
        return np.ones_like(gs)
    return gs


def tr_keys(tr, name: str) -> set:
    """(t, layer) pairs the golden trace recorded `name` for (SLTT-K records psi only at steps in K)."""
    return {(e.t, e.layer) for e in tr.select(name)}


async def check_training(host: CoreHost, p: dict) -> str:
    """Train p["samples"] samples; the first p["stepwise"] step by step with every phase's state checked."""
    cfg = host.cfg
    snn = SNNConfig(**p["snn"])
    weights, samples = make_case(p, snn)
    L, rule = cfg.n_layers, snn.rule
    direct = snn.encoding == "direct"
    await host.set_constants(snn, table=not p.get("table_loaded", False))
    assert await host.get_reg("theta") == int(f16_bits(to_format(np.array([snn.theta]), snn.fmt))[0])
    await host.write_weights(weights)
    step_checks = p.get("stepwise", 1)
    totals: dict[str, int] = {}
    ctrs: list[dict] = []  # counters of the whole-sample checks (overlap)
    order = p.get("overlap_order")  # program order of a core with the forward engine (None: the default)

    W = weights
    for n, (pix, label) in enumerate(samples):
        X = encode(snn, pix, n)
        await host.set_reg("label", label)
        await host.load_input(X, direct, snn.dense, k_seed=step_seed(snn, n), sr_seed=round_seed(snn, n),
                              z_seed=noise_seed(snn, n))
        if n < step_checks:
            res = train_sample(snn, W, pix, label, record=True, sample_index=n)
            G = sample_gradients(snn, W, pix, label, sample_index=n) if rule != "ottt_o" else None
            if cfg.overlap:
                ctrs.append(await check_whole_sample(host, snn, res.trace, order))
            else:
                await check_stepwise(host, snn, res.trace)
            for l in range(1, L + 1 if rule != "ottt_o" else 1):  # ottt_o: G is cleared every step
                if l == 1 and cfg.wg_table:  # G_1 is the table: column j is its row S_j
                    got = await host.read_input_gradient(step_sets(X, snn))
                else:
                    got = await host.read_matrix("g", l)
                assert bits(got) == bits(G[l - 1]), f"G l={l}\n{got}\n{G[l - 1]}"
            await host.run(assemble([(Op.UPD, l, 0) for l in range(1, L + 1)], cfg))
            for l in range(1, L + 1):
                if l == 1 and cfg.wg_table:  # the whole table, every row
                    gz = np.array(await host.read_block("g", host.lay.gbase(1), host.lay.gsize(1)), np.uint16)
                else:
                    gz = f16_bits(await host.read_matrix("g", l))
                assert not gz.any(), f"G l={l} not cleared: {gz}"
        else:
            res = train_sample(snn, W, pix, label, record=False, sample_index=n)
            await host.run(assemble(snn_ops(cfg, snn, update=True, overlap_order=order), cfg), poll_gap=64)
            ctr = await host.counters()
            for k, v in ctr.items():
                totals[k] = totals.get(k, 0) + v
        Wn = res.weights
        if n < step_checks or n == len(samples) - 1 or p.get("check_every", False):
            for l in range(1, L + 1):
                got = await host.read_matrix("w", l)
                assert bits(got) == bits(Wn[l - 1]), f"sample {n}: W l={l}"
            for l in range(1, cfg.out_layer if rule == "opzo" else 1):  # OPZO's feedback matrices B_l
                got = await host.read_feedback(l)
                assert bits(got) == bits(Wn[L + l - 1]), f"sample {n}: B l={l}\n{got}\n{Wn[L + l - 1]}"
        W = Wn
    if cfg.overlap and rule in ("sltt", "sltt_k", "ottt_a") and p.get("require_overlap", True):
        # the forward engine really ran while the sequencer worked on backward ops
        assert all(c["overlap_cycles"] > 0 for c in ctrs) and totals.get("overlap_cycles", 1) > 0, (ctrs, totals)
    return f"{len(samples)} samples bit-exact; summed counters (full-program samples) {totals}"


@cocotb.test()
async def perf(dut):
    """Cycle counters per sample for the sparse and the dense schedule of the same hardware (same samples);
    writes JSON to p["out"]. Bit-exactness of the final weights is still checked against the golden model."""
    import json

    p = cocotb_param()
    cfg = core_config(p)
    host = CoreHost(dut, cfg)
    await setup(dut)
    result = {}
    order = p.get("overlap_order")
    for sched in p.get("schedules", ["sparse", "dense"]):
        if sched not in ("sparse", "dense", "dense_upd"):
            raise ValueError(f"schedules: {sched!r} is not one of sparse, dense, dense_upd")
        dense = sched == "dense"
        snn = SNNConfig(**{**p["snn"], "dense": dense})
        weights, samples = make_case(p, snn)
        await host.set_constants(snn)
        if sched == "dense_upd":  # the sparse schedule with the weight update over every column
            await host.set_reg("mode", await host.get_reg("mode") | MODE_DENSE_UPD)
        await host.write_weights(weights)
        words = assemble(snn_ops(cfg, snn, update=True, overlap_order=order), cfg)
        W, per = weights, []
        for n, (pix, label) in enumerate(samples):
            await host.set_reg("label", label)
            await host.load_input(encode(snn, pix, n), snn.encoding == "direct", dense, k_seed=step_seed(snn, n),
                                  sr_seed=round_seed(snn, n), z_seed=noise_seed(snn, n))
            await host.run(words, poll_gap=200)
            per.append(await host.counters())
            W = train_sample(snn, W, pix, label, sample_index=n).weights
        for l in range(1, cfg.n_layers + 1):
            got = await host.read_matrix("w", l)
            assert bits(got) == bits(W[l - 1]), f"{sched}: W l={l}"
        for l in range(1, cfg.out_layer if snn.rule == "opzo" else 1):
            got = await host.read_feedback(l)
            assert bits(got) == bits(W[cfg.n_layers + l - 1]), f"{sched}: B l={l}"
        result[sched] = per
    with open(p["out"], "w") as f:
        json.dump(result, f)
