"""Benchmark of the training core (not part of the test suite): `spikemesh core bench` (old spelling `bench core`).

Measures, in one run: cycles per training sample per phase for the sparse and the dense schedule of the same
hardware on the same digits samples (cocotb + Verilator, weights checked bit-exact against the golden model),
utilisation, the state memory per rule vs T, and the same SLTT training step in PyTorch on this CPU.
"""
from __future__ import annotations

import datetime
import json
import tempfile
import time
from pathlib import Path

import numpy as np

PHASES = ("fp_cycles", "bp_cycles", "wg_cycles", "upd_cycles", "cycles")


def SLTT_K_STEPS(T: int) -> tuple[int, ...]:
    """The SLTT-K step set the bench uses: the middle and the last step."""
    return tuple(sorted({T // 2 - 1, T - 1})) if T > 1 else (0,)


def overlap_bench(layers, T: int, samples: int, rules: tuple[str, ...], lanes: int,
                  variants: tuple[str, ...]) -> dict:
    """Cycles per sample (mean) with and without the forward engine (CoreConfig.overlap), same digits samples,
    sparse schedule; weights bit-exact with the golden model after each run (checked in the perf bench).
    variants: "0" (no engine), "1" (engine, the compiler's default order), or an order of OVERLAP_ORDERS."""
    out = {}
    for rule in rules:
        runs = {}
        for v in variants:
            ov, order = (False, None) if v == "0" else (True, None if v == "1" else v)
            res = core_cycles(layers, T, samples, rule, lanes, overlap=ov, overlap_order=order,
                              schedules=("sparse",))
            runs[v] = {"sim_wall_s": res["wall_s"], "sparse": summarise(res["sparse"])}
        base = runs[variants[0]]["sparse"]["cycles"]
        for v, r in runs.items():
            r["speedup"] = base / r["sparse"]["cycles"]
        out[rule] = runs
    return out


def core_cycles(layers, T: int, samples: int, rule: str = "sltt", lanes: int = 1, overlap: bool = False,
                overlap_order: str | None = None, schedules: tuple[str, ...] = ("sparse", "dense"),
                heads: tuple[int, ...] = (), snn_extra: dict | None = None, sr: bool = False,
                opzo: bool = False, core_extra: dict | None = None, data: str = "digits") -> dict:
    """Per-sample counters of the Verilator perf bench (weights checked against the golden model); `heads`
    and `snn_extra` (e.g. blocks, window) for local learning; `sr`: the stochastic-rounding core, trained
    with the golden weight_update="sr"."""
    from spikemesh.rtl.core import CoreConfig, TrainingCore
    from spikemesh.sim.cocotb_run import run_cocotb

    core = dict(layers=tuple(layers), t_max=T, lanes=lanes, overlap=overlap)
    if sr:
        core["stochastic_rounding"] = True
    if heads:
        core.update(heads=tuple(heads), rules=("local",), prog_depth=512)  # the heads' ops: over 256 words at T=8
    if opzo:
        core.update(opzo=True, rules=("opzo",))
    core.update(core_extra or {})
    out = Path(tempfile.mkdtemp(prefix="core_bench_")) / "perf.json"
    cfg = CoreConfig(**core)
    snn = {"sizes": core["layers"], "T": T, "rule": rule, **(snn_extra or {})}
    if sr:
        snn["weight_update"] = "sr"
    if rule == "sltt_k":
        snn.setdefault("k_steps", SLTT_K_STEPS(T))
    t0 = time.time()
    run_cocotb(lambda: TrainingCore(cfg), toplevel="spikemesh_core", test_module="spikemesh.sim.benches.core_bench",
               sim="verilator", tag="bench_" + "_".join(map(str, layers)) + f"_p{lanes}" + ("_ov" if overlap else "")
               + ("_h" + "_".join(map(str, heads)) if heads else "") + ("_sr" if sr else "") + ("_opzo" if opzo else "")
               + ("_wgt" if core.get("wg_table") else ""),
               testcase="perf", params={"core": core, "snn": snn, "seed": 0, "samples": samples, "data": data,
                                        "out": str(out), "schedules": list(schedules), "overlap_order": overlap_order})
    res = json.loads(out.read_text())
    res["wall_s"] = time.time() - t0
    return res


def summarise(per: list[dict]) -> dict:
    return {k: float(np.mean([p[k] for p in per])) for k in per[0]}


def torch_sltt_step(layers, T: int, batch: int, reps: int = 20, threads: int = 1) -> float:
    """Seconds per training step (batch samples) of SLTT in float32 PyTorch on this CPU (`threads` threads)."""
    import torch

    torch.set_num_threads(threads)
    torch.manual_seed(0)
    Ws = [torch.nn.Parameter(torch.randn(o, i) * (1.0 / i) ** 0.5) for i, o in zip(layers[:-1], layers[1:])]
    opt = torch.optim.SGD(Ws, lr=2.0**-5)
    x = torch.rand(batch, layers[0])
    y = torch.nn.functional.one_hot(torch.randint(0, layers[-1], (batch,)), layers[-1]).float()

    class Spike(torch.autograd.Function):
        @staticmethod
        def forward(ctx, h):
            ctx.save_for_backward(h)
            return (h >= 1.0).float()

        @staticmethod
        def backward(ctx, g):
            (h,) = ctx.saved_tensors
            return g * ((h - 1.0).abs() < 0.5).float()

    def step():
        opt.zero_grad()
        v = [torch.zeros(batch, o) for o in layers[1:]]
        for _ in range(T):
            s = x
            for li, W in enumerate(Ws):
                h = 0.5 * v[li].detach() + s @ W.t()  # SLTT: temporal path detached
                s = Spike.apply(h)
                v[li] = h - s.detach()
            loss = ((s - y) ** 2).sum() / (2 * T)
            loss.backward()  # per-step backward, gradients accumulate in .grad
        opt.step()

    step()
    t0 = time.perf_counter()
    for _ in range(reps):
        step()
    return (time.perf_counter() - t0) / reps


def state_table(layers, rules=("bptt", "tbptt", "sltt", "sltt_k", "ottt_a"), Ts=(4, 8, 16, 32)) -> dict:
    from spikemesh.sim.golden import SNNConfig, state_bytes

    out = {}
    for r in rules:
        row = {}
        for T in Ts:
            extra = {"k_steps": (T - 1,)} if r == "sltt_k" else {}
            if r == "tbptt":
                extra = {"window": min(4, T)}
            sb = state_bytes(SNNConfig(sizes=tuple(layers), T=T, rule=r, **extra))
            row[T] = getattr(sb, "total", None) if hasattr(sb, "total") else str(sb)
        out[r] = row
    return out


def synth_ecp5(layers, T: int, workdir: Path | None = None, freq: int = 100, router: str = "router1", seed: int = 1,
               **core) -> dict:
    """yosys synth_ecp5 + nextpnr-ecp5 (LFE5U-85F, nextpnr `seed`) of one core through gen/synth_flow.py; resources, Fmax,
    build time. The bus pins go to auto-placed I/Os (a real build sits behind the UART link, see rtl/soc/top.py).
    `workdir` holds the build cache (default: a temporary folder): the same Verilog placed the same way is reused."""
    from spikemesh.sim.emit import convert_verilog

    from spikemesh.gen.synth_flow import SynthRequest, synthesise
    from spikemesh.rtl.core import CoreConfig, TrainingCore

    wd = Path(workdir or tempfile.mkdtemp(prefix="core_synth_"))
    text = convert_verilog(TrainingCore(CoreConfig(layers=tuple(layers), t_max=T, **core)), name="core", emit_src=False)
    text = SynthRequest.strip_zero_memory_init(text)
    # nextpnr exits nonzero when the requested --freq is missed (no --timing-allow-fail); the report still holds
    # the achieved Fmax
    res = synthesise(SynthRequest.from_verilog(text, "core", freq_mhz=freq, seed=seed, router=router,
                                               timing_allow_fail=False), wd)
    fresh = not res.pnr_cached
    return {"layers": layers, "T": T, "core": {k: str(v) for k, v in core.items()}, "router": router,
            "utilization": {k: used for k, (used, _) in res.utilization.items() if used}, "fmax_mhz": res.fmax_mhz,
            "yosys_s": res.yosys_s if fresh and not res.yosys_cached else None,
            "nextpnr_s": res.nextpnr_s if fresh else None, "workdir": str(res.pnr_dir)}


def lane_run(layers, T: int, samples: int, rule: str, lanes: int) -> dict:
    """Cycles per sample (mean) per phase, sparse and dense, and the MAC utilisation at one lane count:
    useful element operations (`mac_ops`, padding lanes not counted) per cycle per lane, and the fraction
    of cycles the MAC issues a word or element (`mac_issues`)."""
    res = core_cycles(layers, T, samples, rule, lanes)
    sp, de = summarise(res["sparse"]), summarise(res["dense"])
    out = {"sim_wall_s": res["wall_s"], "sparse": sp, "dense": de,
           "dense_over_sparse": {k: (de[k] / sp[k] if sp[k] else None) for k in PHASES}}
    for name, d in (("sparse", sp), ("dense", de)):
        out[f"utilisation_{name}"] = d["mac_ops"] / (d["cycles"] * lanes)
        out[f"issue_fraction_{name}"] = d["mac_issues"] / d["cycles"]
    return out


def main(samples: int = 4, quick: bool = False, out: Path | None = None,
         rules: tuple[str, ...] = ("sltt", "bptt"), synth: bool = False, lanes: tuple[int, ...] = (1,),
         overlap: tuple[str, ...] = ()) -> int:
    layers, T = ((64, 32, 10), 4) if quick else ((64, 128, 128, 10), 8)
    if quick:
        samples = min(samples, 3)
    report = {"layers": layers, "T": T, "samples": samples, "lanes": list(lanes)}
    if overlap:  # only the engine-overlap comparison (docs/core.md, "Engine overlap")
        report["overlap"] = overlap_bench(layers, T, samples, rules, lanes[0], overlap)
        if synth:
            report["ecp5"] = {f"overlap{int(o)}": synth_ecp5((64, 32, 10), 4, lanes=lanes[0], overlap=o)
                              for o in (False, True)}
        return _emit(report, out)
    for rule in rules:
        runs = {p: lane_run(layers, T, samples, rule, p) for p in lanes}
        base = runs[lanes[0]]
        for p, r in runs.items():  # cycles of the first lane count over this one's, same run (speed-up)
            r[f"speedup_vs_lanes{lanes[0]}"] = {
                sched: {k: (base[sched][k] / r[sched][k] if r[sched][k] else None) for k in PHASES}
                for sched in ("sparse", "dense")}
        report[rule] = {f"lanes{p}": r for p, r in runs.items()}
    for b in (1, 32):  # SLTT step in float32 PyTorch (the same network, T and update per sample/batch)
        report[f"torch_cpu_s_per_step_batch{b}"] = torch_sltt_step(layers, T, b)
    if synth:  # 64-32-10, T = 4: the build that fits this machine's time (docs/core.md)
        report["ecp5"] = {f"lanes{p}": synth_ecp5((64, 32, 10), 4, lanes=p) for p in lanes}
    try:
        report["state_bytes"] = state_table(layers)
    except Exception as exc:  # the golden model's accounting is optional here
        report["state_bytes"] = f"unavailable: {exc}"
    return _emit(report, out)


#: the core before the sparse update, skewed W and the forward engine at P lanes: one MAC lane, UPD over every column
BASELINE = dict(lanes=1, overlap=False, schedule="dense_upd")


def engines_core(P: int) -> dict:
    """The core the engines table places at P lanes: the forward engine from P = 4 on, where its runs use it."""
    return {"lanes": P, "overlap": P >= 4}


def engines_router(P: int) -> str:
    """nextpnr's router for the engines table's core at P lanes: router2 stalls with ~1,000 overused wires on
    the P >= 8 cores (their W banks), which router1 routes (as the 784-128-10 P = 16 core); router2 is the
    faster of the two on the smaller ones."""
    return "router1" if P >= 8 else "router2"


def _place_engines_core(layers, T: int, workdir: Path, P: int) -> dict:
    """One engines-table core placed; a failed build is reported, not raised (the simulations are kept)."""
    try:
        return _synth_row(synth_ecp5(layers, T, workdir, 100, engines_router(P), **engines_core(P)))
    except Exception as exc:  # noqa: BLE001 - a tool failure is one row's result
        return {"error": f"{type(exc).__name__}: {exc}"[:2000]}


def _run_lanes(key: str) -> int:
    """P of an engines-table run key: "base" (one lane), "p4", "p4_ov"."""
    return 1 if key == "base" else int(key[1:].split("_")[0])


def _placed_core(P: int) -> str:
    return "forward engine" if engines_core(P)["overlap"] else "one MAC stream"


def _synth_row(s: dict) -> dict:
    u = s["utilization"]
    return {"fmax_mhz": next(iter(s["fmax_mhz"].values())), "lut": u.get("TRELLIS_COMB"), "ff": u.get("TRELLIS_FF"),
            "dsp": u.get("MULT18X18D"), "bram": u.get("DP16KD"), "router": s.get("router"),
            "nextpnr_s": s.get("nextpnr_s"), "workdir": s.get("workdir")}


def engines_bench(samples: int = 4, lanes: tuple[int, ...] = (1, 2, 4, 8, 16), rules=("sltt", "bptt", "ottt_a"),
                  fmax_mhz: float | None = None, record: bool = False, synth: bool = False,
                  workdir: Path | None = None) -> dict:
    """Cycles per sample by phase for each lane count P, with and without the forward engine (online rules), on
    64-128-128-10, T = 8, the same digits samples; weights bit-exact with the golden model in every run (the perf
    bench checks them). Speed-up is against BASELINE in the same run (one MAC lane, the update over every column:
    the core's schedule before the engine work). Utilisation: useful element operations per cycle per MAC-stream
    lane (`mac_ops / (cycles * P)`; with the forward engine its own P lanes are not in the denominator, so the
    same figure over 2P lanes is given too). Engines: fraction of cycles with the forward engine and the
    sequencer's MAC stream (BP / WG / UPD) both busy (`overlap_cycles`; the BP, WG and UPD ops share the MAC
    stream, so three engines are never busy at once).

    With `synth`, the core of each P (`engines_core`) is also placed for ECP5-85F (yosys + nextpnr, seed 1, the
    router of `engines_router`, caches under `workdir`/synth_engines_p<P>), two builds at a time alongside the
    simulations; every row's samples/s is then at its own P's measured Fmax."""
    from concurrent.futures import ThreadPoolExecutor

    layers, T = (64, 128, 128, 10), 8
    if fmax_mhz is None and not synth and (rec := _recorded(SLTT_P4_FMAX_KEY)):  # the placed P = 4 core's clock
        fmax_mhz = rec["value"]
    report: dict = {"layers": layers, "T": T, "samples": samples, "lanes": list(lanes), "runs": {},
                    "fmax_mhz": fmax_mhz}
    pool = ThreadPoolExecutor(2) if synth else None
    builds = {}
    if pool:  # the largest cores first: they take longest
        wd = Path(workdir or "build")
        builds = {P: pool.submit(_place_engines_core, layers, T, wd / f"synth_engines_p{P}", P)
                  for P in sorted(lanes, reverse=True)}
    for rule in rules:
        runs = {}
        base = core_cycles(layers, T, samples, rule, 1, schedules=(BASELINE["schedule"],))
        runs["base"] = summarise(base[BASELINE["schedule"]])
        for P in lanes:
            runs[f"p{P}"] = summarise(core_cycles(layers, T, samples, rule, P, schedules=("sparse",))["sparse"])
            if rule in ("sltt", "sltt_k", "ottt_a") and P >= 4:  # the engine's own P lanes pay off where FWD is short
                runs[f"p{P}_ov"] = summarise(core_cycles(layers, T, samples, rule, P, overlap=True,
                                                         schedules=("sparse",))["sparse"])
        b = runs["base"]["cycles"]
        for key, r in runs.items():
            P = _run_lanes(key)
            r["speedup"] = b / r["cycles"]
            r["utilisation"] = r["mac_ops"] / (r["cycles"] * P)
            if key.endswith("_ov"):
                r["utilisation_2p"] = r["mac_ops"] / (r["cycles"] * 2 * P)
                r["busy2plus_fraction"] = r["overlap_cycles"] / r["cycles"]
        report["runs"][rule] = runs
    import os

    report["torch_cpu_s_per_step"] = {f"batch{bt}_threads{th}": torch_sltt_step(layers, T, bt, threads=th)
                                      for bt in (1, 32) for th in sorted({1, os.cpu_count() or 1})}
    if pool:
        placed = {f"p{P}": builds[P].result() for P in sorted(lanes)}
        pool.shutdown()
        report["ecp5"] = {k: v for k, v in placed.items() if "error" not in v}
        report["ecp5_failed"] = {k: v["error"] for k, v in placed.items() if "error" in v}
        for runs in report["runs"].values():
            for key, r in runs.items():
                P = _run_lanes(key)
                if f"p{P}" in report["ecp5"]:
                    r["samples_per_s"] = report["ecp5"][f"p{P}"]["fmax_mhz"] * 1e6 / r["cycles"]
    text = engines_table(report, fmax_mhz)
    print(text)
    if record:
        _record_engines(report)
        if pool:
            from .measured import replace_section

            replace_section(CORE_DOC, ENGINES_BEGIN, ENGINES_END,
                            f"`spikemesh core bench --engines --lanes {','.join(map(str, lanes))} --samples {samples} "
                            f"--synth --record`, {datetime.date.today().isoformat()}:\n\n{text}")
    return report


CORE_DOC = Path(__file__).resolve().parents[1] / "docs" / "core.md"
ENGINES_BEGIN = "<!-- engines table: written by `spikemesh core bench --engines --synth --record` -->"
ENGINES_END = "<!-- end of the engines table -->"


def upd_bench(samples: int = 4, rules=("sltt", "ottt_o"), lanes: tuple[int, ...] = (1, 4)) -> dict:
    """The sparse weight update against the update over every column (MODE_DENSE_UPD): the same hardware and
    samples, 64-128-128-10, T = 8; weights bit-exact in both (the perf bench checks them)."""
    layers, T = (64, 128, 128, 10), 8
    out: dict = {}
    lines = ["| rule | P | cycles/sample, every column | sparse update | speed-up | UPD cycles every column -> sparse |",
             "|---|---|---|---|---|---|"]
    for rule in rules:
        for P in lanes:
            res = core_cycles(layers, T, samples, rule, P, schedules=("sparse", "dense_upd"))
            sp, de = summarise(res["sparse"]), summarise(res["dense_upd"])
            out[f"{rule}_p{P}"] = {"sparse": sp, "dense_upd": de}
            lines.append(f"| {rule} | {P} | {de['cycles']:,.0f} | {sp['cycles']:,.0f} | {de['cycles'] / sp['cycles']:.2f}x | "
                         f"{de['upd_cycles']:,.0f} -> {sp['upd_cycles']:,.0f} ({de['upd_cycles'] / sp['upd_cycles']:.1f}x) |")
    print("\n".join(lines))
    return out


def sr_bench(samples: int = 4, lanes: tuple[int, ...] = (1,), record: bool = False) -> dict:
    """Cycles per sample of the RNE core against the stochastic-rounding core (SLTT, 64-128-128-10, T = 8, the
    sparse schedule, the same digits samples; each core's weights checked bit for bit against its golden
    update). The SR units have the adder's latency, so the cycles differ only where the trained weights do."""
    layers, T = (64, 128, 128, 10), 8
    out: dict = {}
    lines = ["| P | RNE cycles/sample | SR cycles/sample | SR / RNE | UPD cycles RNE -> SR |", "|---|---|---|---|---|"]
    for P in lanes:
        rne = summarise(core_cycles(layers, T, samples, "sltt", P, schedules=("sparse",))["sparse"])
        sr = summarise(core_cycles(layers, T, samples, "sltt", P, schedules=("sparse",), sr=True)["sparse"])
        out[f"p{P}"] = {"rne": rne, "sr": sr}
        lines.append(f"| {P} | {rne['cycles']:,.0f} | {sr['cycles']:,.0f} | {sr['cycles'] / rne['cycles']:.3f} | "
                     f"{rne['upd_cycles']:,.0f} -> {sr['upd_cycles']:,.0f} |")
    print("\n".join(lines))
    if record:
        from .measured import record as rec

        P = lanes[0]
        r = out[f"p{P}"]
        what = f"64-128-128-10, T=8, SLTT, P = {P}, {samples} digits samples"
        sr_core, rne_core = "stochastic-rounding core", "the RNE core in the same run"
        rec({"core.sr.cycles_per_sample": (round(r["sr"]["cycles"]), f"cycles, {sr_core} ({what})"),
             "core.sr.rne_cycles_per_sample": (round(r["rne"]["cycles"]), f"cycles, {rne_core} ({what})"),
             "core.sr.upd_cycles_per_sample": (round(r["sr"]["upd_cycles"]), f"UPD cycles, {sr_core} ({what})"),
             "core.sr.rne_upd_cycles_per_sample": (round(r["rne"]["upd_cycles"]), f"UPD cycles, {rne_core} ({what})")},
            f"spikemesh core bench --sr --samples {samples} --lanes {','.join(map(str, lanes))} --record")
    return out


#: the MNIST-sized core: 784 inputs (digits resized to 28 x 28, rate-coded), layer 1's gradient as the table
MNIST_LAYERS, MNIST_T = (784, 128, 10), 4
MNIST_CORE = dict(wg_table=True, direct_input=False, rules=("sltt", "sltt_k", "bptt", "tbptt"))
#: published references for the samples/s column: Huang et al., ICTA 2023 (FPGA SNN training on MNIST, VC707 at
#: 115 MHz): 1,183 frames/s; Renner et al. 2024 (Loihi on-chip backprop, 400-400-10): 1.5 ms per sample
HUANG_FPS, LOIHI_S_PER_SAMPLE = 1183, 1.5e-3


def mnist_bench(samples: int = 4, lanes: tuple[int, ...] = (4, 8), synth: bool = True, record: bool = False,
                workdir: Path | None = None) -> dict:
    """784-128-10, T = 4, SLTT, rate-coded digits resized to 28 x 28: cycles per sample per phase (Verilator, the
    sparse schedule, W bit-exact with the golden model after the run) at each P, and with `synth` the ECP5-85F
    place and route of the same core (LUT, DP16KD, Fmax) and the samples/s they give."""
    from spikemesh.rtl.core import CoreConfig
    from spikemesh.rtl.core.layout import CoreLayout

    out: dict = {"layers": MNIST_LAYERS, "T": MNIST_T, "samples": samples, "runs": {}}
    for P in lanes:
        res = core_cycles(MNIST_LAYERS, MNIST_T, samples, "sltt", P, schedules=("sparse",),
                          snn_extra={"encoding": "rate"}, core_extra=MNIST_CORE, data="digits28")
        run = {"sim_wall_s": res["wall_s"], **summarise(res["sparse"])}
        run["utilisation"] = run["mac_ops"] / (run["cycles"] * P)
        run["bram_estimate"] = sum(CoreLayout(CoreConfig(layers=MNIST_LAYERS, t_max=MNIST_T, lanes=P,
                                                         **MNIST_CORE)).bram_blocks().values())
        if synth:
            wd = Path(workdir or Path("build")) / f"synth_mnist_p{P}"
            s = synth_ecp5(MNIST_LAYERS, MNIST_T, wd, router="router1", lanes=P, **MNIST_CORE)
            fmax = next(iter(s["fmax_mhz"].values()))
            run.update(fmax_mhz=fmax, lut=s["utilization"].get("TRELLIS_COMB"), ff=s["utilization"].get("TRELLIS_FF"),
                       bram=s["utilization"].get("DP16KD"), dsp=s["utilization"].get("MULT18X18D"),
                       samples_per_s=fmax * 1e6 / run["cycles"])
        out["runs"][f"p{P}"] = run
    print(mnist_table(out))
    if record and synth:
        _record_mnist(out, samples, lanes)
    return out


def mnist_table(report: dict) -> str:
    lines = ["| P | FP | BP | WG | UPD | cycles/sample | utilisation | DP16KD | LUT | Fmax MHz | samples/s | vs Huang "
             "2023 | vs Loihi |", "|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for key, r in report["runs"].items():
        sps = r.get("samples_per_s")
        lines.append(
            f"| {key[1:]} | {r['fp_cycles']:,.0f} | {r['bp_cycles']:,.0f} | {r['wg_cycles']:,.0f} | {r['upd_cycles']:,.0f} "
            f"| **{r['cycles']:,.0f}** | {r['utilisation']:.2f} | {r.get('bram', r['bram_estimate'])} | "
            f"{r.get('lut', '-')} | {r.get('fmax_mhz', 0):.1f} | " + (
                f"**{sps:,.0f}** | {sps / HUANG_FPS:.2f}x | {sps * LOIHI_S_PER_SAMPLE:.2f}x |" if sps else "- | - | - |"))
    return "\n".join(lines)


def _record_mnist(report: dict, samples: int, lanes: tuple[int, ...]) -> None:
    from .measured import record

    best_key = max(report["runs"], key=lambda k: report["runs"][k]["samples_per_s"])
    r, P = report["runs"][best_key], int(best_key[1:])
    what = f"784-128-10, T=4, SLTT, rate-coded digits at 28 x 28, P = {P}, wg_table, ECP5-85F, seed 1"
    record({"core.mnist784.sltt.samples_per_s": (round(r["samples_per_s"]),
                                                 f"training samples/s ({what}): {r['cycles']:,.0f} cycles at "
                                                 f"{r['fmax_mhz']:.1f} MHz"),
            "core.mnist784.sltt.cycles_per_sample": (round(r["cycles"]), f"cycles ({what}, mean of {samples} samples)"),
            "core.mnist784.lut": (r["lut"], f"TRELLIS_COMB ({what})"),
            "core.mnist784.bram": (r["bram"], f"DP16KD of 208 ({what})"),
            "core.mnist784.fmax_mhz": (round(r["fmax_mhz"], 1), f"MHz ({what})"),
            "core.mnist784.vs_huang2023": (round(r["samples_per_s"] / HUANG_FPS, 2),
                                           "x the 1,183 training frames/s of Huang et al., ICTA 2023 (VC707, 115 MHz)")},
           f"spikemesh core bench --mnist --lanes {','.join(map(str, lanes))} --samples {samples} --record")


def engines_table(report: dict, fmax_mhz: float | None) -> str:
    ecp5 = report.get("ecp5", {})
    per_p = bool(ecp5) or bool(report.get("ecp5_failed"))
    lines = ["| rule | run | FP | BP | WG | UPD | total | speed-up | utilisation | 2+ engines busy |"
             + (" samples/s |" if fmax_mhz or per_p else ""), "|---|---|---|---|---|---|---|---|---|---|"
             + ("---|" if fmax_mhz or per_p else "")]
    for rule, runs in report["runs"].items():
        for key, r in runs.items():
            name = "P = 1, update over every column (baseline)" if key == "base" else \
                f"P = {_run_lanes(key)}" + (", forward engine" if key.endswith("_ov") else "")
            util = f"{r['utilisation']:.2f}" + (f" ({r['utilisation_2p']:.2f} of 2P)" if "utilisation_2p" in r else "")
            row = (f"| {rule} | {name} | {r['fp_cycles']:,.0f} | {r['bp_cycles']:,.0f} | {r['wg_cycles']:,.0f} | "
                   f"{r['upd_cycles']:,.0f} | **{r['cycles']:,.0f}** | {r['speedup']:.2f}x | {util} | "
                   f"{r.get('busy2plus_fraction', 0):.2f} |")
            if per_p:
                row += f" {r['samples_per_s']:,.0f} |" if "samples_per_s" in r else " - |"
            elif fmax_mhz:
                row += f" {fmax_mhz * 1e6 / r['cycles']:,.0f} |"
            lines.append(row)
    if per_p:  # one core per P, placed in this run; samples/s of its fastest run for each rule
        lines += ["", "| P | core placed (nextpnr router) | LUT | FF | MULT18X18D | DP16KD | Fmax MHz | "
                  + " | ".join(f"{rule} samples/s" for rule in report["runs"]) + " |",
                  "|---|---|---|---|---|---|---|" + "---|" * len(report["runs"])]
        for key, e in ecp5.items():
            P = int(key[1:])
            best = [max((r.get("samples_per_s", 0) for k, r in runs.items()
                          if k != "base" and _run_lanes(k) == P), default=0) for runs in report["runs"].values()]
            lines.append(f"| {P} | {_placed_core(P)} "
                         f"({e.get('router') or engines_router(P)}) | "
                         f"{e['lut']:,} | {e['ff']:,} | {e['dsp']} | {e['bram']} | {e['fmax_mhz']:.1f} | "
                         + " | ".join(f"{b:,.0f}" for b in best) + " |")
        for key, err in report.get("ecp5_failed", {}).items():
            P = int(key[1:])
            lines.append(f"| {P} | {_placed_core(P)} "
                         f"({engines_router(P)}) | not placed: {err.splitlines()[0][:120]} |")
    torch = report.get("torch_cpu_s_per_step", {})
    if torch:
        lines.append("")
        lines.append("PyTorch float32 SLTT, same network and T, this CPU: " + ", ".join(
            f"{k.split('_')[0].replace('batch', 'batch ')}, {k.split('threads')[1]} thread(s): "
            f"{int(k.split('batch')[1].split('_')[0]) / v:,.0f} samples/s" for k, v in torch.items()))
    return "\n".join(lines)


def _record_engines(report: dict) -> None:
    from .measured import record

    runs = report["runs"]
    ecp5 = report.get("ecp5", {})
    synth = "ecp5" in report or "ecp5_failed" in report
    cmd = (f"spikemesh core bench --engines --lanes {','.join(map(str, report['lanes']))} --samples {report['samples']}"
           + (" --synth" if synth else "") + " --record")
    fig = {}
    for key, e in ecp5.items():  # each P's placed core (64-128-128-10, T = 8)
        P = int(key[1:])
        what = (f"64-128-128-10, T=8, P = {P}" + (", forward engine" if engines_core(P)["overlap"] else "")
                + f", ECP5-85F, {e.get('router') or engines_router(P)}, seed 1")
        fig[f"core.engines.p{P}.fmax_mhz"] = (round(e["fmax_mhz"], 1), f"MHz ({what})")
        fig[f"core.engines.p{P}.lut"] = (e["lut"], f"TRELLIS_COMB ({what})")
        fig[f"core.engines.p{P}.ff"] = (e["ff"], f"TRELLIS_FF ({what})")
        fig[f"core.engines.p{P}.dsp"] = (e["dsp"], f"MULT18X18D ({what})")
        fig[f"core.engines.p{P}.bram"] = (e["bram"], f"DP16KD ({what})")
        if "sltt" in runs:
            best = max((r for k, r in runs["sltt"].items() if k != "base" and _run_lanes(k) == P),
                       key=lambda r: r["samples_per_s"], default=None)
            if best is not None:
                fig[f"core.engines.p{P}.sltt.samples_per_s"] = (
                    round(best["samples_per_s"]), f"training samples/s ({what}, SLTT): {best['cycles']:,.0f} cycles "
                    f"at {e['fmax_mhz']:.1f} MHz, same run")
    if "sltt" in runs and "p4_ov" in runs["sltt"]:
        r = runs["sltt"]["p4_ov"]
        fig["core.sltt.p4.cycles_per_sample"] = (round(r["cycles"]), "cycles (64-128-128-10, T=8, SLTT, P = 4, forward engine)")
        fig["core.sltt.p4.speedup"] = (round(r["speedup"], 2), "x vs one MAC lane with the update over every column, same run")
        fig["core.sltt.p4.utilisation"] = (round(r["utilisation"], 3), "mac_ops / (cycles * P)")
        fig["core.engines.busy2plus_fraction"] = (round(r["busy2plus_fraction"], 3),
                                                  "fraction of cycles with 2 engines busy (SLTT, P = 4)")
        fig["core.sltt.p4_single_engine.cycles_per_sample"] = (round(runs["sltt"]["p4"]["cycles"]), "cycles (P = 4, no forward engine)")
    if "bptt" in runs and "p4" in runs["bptt"]:
        fig["core.bptt.p4.speedup"] = (round(runs["bptt"]["p4"]["speedup"], 2), "x (P = 4) vs one MAC lane, same run")
    if "ottt_a" in runs and "p4_ov" in runs["ottt_a"]:
        fig["core.ottt_a.p4.speedup"] = (round(runs["ottt_a"]["p4_ov"]["speedup"], 2),
                                         "x (P = 4, forward engine) vs one MAC lane, same run")
    fmax = {"value": round(ecp5["p4"]["fmax_mhz"], 1), "command": cmd} if "p4" in ecp5 else _recorded(SLTT_P4_FMAX_KEY)
    if fmax is not None and "sltt" in runs and "p4_ov" in runs["sltt"]:
        cyc = runs["sltt"]["p4_ov"]["cycles"]
        src = "placed in the same run" if "p4" in ecp5 else f"{SLTT_P4_FMAX_KEY}: `{fmax['command']}`"
        fig["core.sltt.samples_per_s"] = (round(fmax["value"] * 1e6 / cyc),
                                          f"training samples/s (64-128-128-10, T=8, SLTT, P = 4, forward engine): "
                                          f"{cyc:,.0f} cycles at {fmax['value']} MHz ({src})")
    record(fig, cmd)


#: the Fmax of the engines table's SLTT core (64-128-128-10, P = 4, forward engine), placed by `core synth`
SLTT_P4_FMAX_KEY = "core.64-128-128-10.p4.overlap.fmax_mhz"


def _recorded(key: str) -> dict | None:
    from .measured import MEASURED

    data = json.loads(MEASURED.read_text()) if MEASURED.exists() else {}
    return data.get(key)


def _emit(report: dict, out) -> int:
    """Print the report as JSON and write it to `out` (if given)."""
    text = json.dumps(report, indent=1, default=str)
    print(text)
    if out:
        Path(out).parent.mkdir(parents=True, exist_ok=True)
        Path(out).write_text(text)
    return 0
