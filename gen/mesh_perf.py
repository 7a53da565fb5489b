"""Measurements of the mesh network-on-chip: what `spikemesh mesh bench|synth|cores|mp|reduce` run
(gen/commands/mesh.py is only their command line).

- `traffic_bench`: link rate vs buffer depth (pysim), the 4x4 load sweep and the 4x5 training traffic (cocotb);
- `synth_ecp5` / `mesh_synth`: ECP5-85F builds of a router, a mesh, the reducing interface and data-parallel
  systems in the 2-pin harness, through gen/synth_flow.py;
- `run_cores_step` / `cores_bench`: data parallel on training cores of a 2x2 mesh;
- `run_mp` / `mp_bench`: model parallel on training cores vs one core;
- `reduce_bench`: in-network vs host gradient reduction.
"""
from __future__ import annotations

import json
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np

from spikemesh.rtl.mesh import Mesh, MeshConfig, Router
from spikemesh.sim.benches.mesh_dp_run import cxx_o0

REPO = Path(__file__).resolve().parents[1]


# ---------------------------------------------------------------- benchmark

def load_sweep_experiments(rates, packets_per_node, seed=7):
    return [{"kind": "random", "name": f"uniform rate={r}", "packets_per_node": packets_per_node, "max_len": 3,
             "seed": seed, "rate": r, "stall_out": False} for r in rates]


def run_mesh_experiments(cfg: MeshConfig, experiments: list[dict], sim: str, tag: str, workdir: Path) -> list[dict]:
    """One cocotb run (one build per mesh size) of a list of experiments; returns their results."""
    from spikemesh.sim.cocotb_run import run_cocotb

    out = workdir / f"mesh_{cfg.rows}x{cfg.cols}_{tag}.json"
    # The bench's cost is Python per cycle, not the model: compiling the (large, flat) mesh model at -O0
    # cuts the C++ build ~4x (measured 57 s vs 222 s CPU for 4x5) at the same simulated cycles/s.
    with cxx_o0():
        run_cocotb(lambda: Mesh(cfg), toplevel=f"mesh_{cfg.rows}x{cfg.cols}",
                   test_module="spikemesh.sim.benches.mesh_bench", sim=sim, tag=f"w{cfg.flit_width}d{cfg.depth}",
                   params={"rows": cfg.rows, "cols": cfg.cols, "flit_width": cfg.flit_width, "depth": cfg.depth,
                           "experiments": experiments, "out": str(out)})
    return json.loads(out.read_text())


def dp_experiment(workdir: Path, mesh: MeshConfig, cores: tuple[int, ...], order: str, snn, seed: int = 0,
                  block: int = 32, bcast: str = "chain") -> tuple[dict, object]:
    """Files + experiment for one data-parallel step of `snn` over `cores` (golden gradients)."""
    from spikemesh.firmware.placement import DataParallelPlan
    from spikemesh.sim import golden
    from spikemesh.sim.golden_mesh import data_parallel_step

    plan = DataParallelPlan(mesh, cores, order, block)
    plan.blocks(snn.weight_shapes())  # refuse a block count the packet format cannot number, here and now
    W = golden.init_weights(snn, seed)
    X, y, _, _ = golden.load_digits_split()
    idx = list(range(len(cores)))
    ref = data_parallel_step(snn, plan, W, [X[i] for i in idx], [int(y[i]) for i in idx])
    arrays = {"n_layers": snn.n_layers, "eta": np.float16(snn.eta)}
    arrays.update({f"W_{li}": np.asarray(w, np.float16) for li, w in enumerate(W)})
    arrays.update({f"G_{c}_{li}": g for c, gs in ref.core_grads.items() for li, g in enumerate(gs)})
    path = workdir / f"dp_{mesh.rows}x{mesh.cols}_{len(cores)}_{order}.npz"
    np.savez(path, **arrays)
    return ({"kind": "endpoints", "program": "data_parallel", "name": f"dp {len(cores)} cores {order} {bcast}",
             "npz": str(path), "cores": list(cores), "order": order, "block": block, "bcast": bcast}, ref)


def mp_experiment(workdir: Path, mesh: MeshConfig, layer_core: tuple[int, ...], snn, seed: int = 0):
    from spikemesh.firmware.placement import ModelParallelPlan
    from spikemesh.sim import golden
    from spikemesh.sim.golden_mesh import model_parallel_exchange

    plan = ModelParallelPlan(mesh, layer_core)
    W = golden.init_weights(snn, seed)
    X, y, _, _ = golden.load_digits_split()
    msgs, res = model_parallel_exchange(snn, plan, W, X[0], int(y[0]))
    path = workdir / f"mp_{mesh.rows}x{mesh.cols}_{'-'.join(map(str, layer_core))}.json"
    path.write_text(json.dumps({"packets": plan.packets(msgs), "script": plan.script(msgs)}))
    return ({"kind": "endpoints", "program": "model_parallel", "name": f"mp layers on {layer_core}",
             "json": str(path)}, msgs)


def check_dp(result: dict, ref) -> None:
    want = [np.asarray(w, np.float16).view(np.uint16).ravel() for w in ref.weights]
    for c, ws in result["result"].items():
        for li, w in enumerate(ws):
            if not np.array_equal(np.asarray(w, np.uint16), want[li]):
                raise RuntimeError(f"data-parallel weights differ from golden_mesh at core {c}, layer {li + 1}")


def traffic_bench(out: Path, quick: bool = False, sim: str = "verilator", part: str = "all") -> dict:
    """`spikemesh mesh bench`: link rate vs buffer depth, the 4x4 load sweep and the 4x5 training traffic (data and
    model parallel, bit-exact with golden_mesh); `part` runs one of link / load / train and keeps the others from an
    existing `out`. Prints the tables, writes `out` and returns the report."""
    from spikemesh.sim.golden import SNNConfig

    t0 = time.time()
    workdir = Path(tempfile.mkdtemp(prefix="mesh_bench_"))
    report: dict = {"link": [], "load": [], "training": []}
    if part != "all" and out.exists():
        report.update(json.loads(out.read_text()))
    run = {k: part in ("all", k) for k in ("link", "load", "train")}
    mesh44 = MeshConfig(4, 4)
    rates = [0.05, 0.2, 0.5] if quick else [0.02, 0.05, 0.1, 0.15, 0.2, 0.3, 0.5, 1.0]
    exps = load_sweep_experiments(rates, 40 if quick else 300)
    snn = SNNConfig(sizes=(64, 32, 10), T=8, rule="sltt", surrogate="tri", surrogate_width=2.0)
    # data parallel on the 4x5 mesh: 1, 2, 4, 8, 16, 20 cores, index vs snake chain
    mesh45 = MeshConfig(4, 5)
    counts = [1, 2, 4] if quick else [1, 2, 4, 8, 16, 20]
    dp_refs = []
    train_exps = []
    for n in counts:
        variants = [("index", "chain")] if n <= 2 else [("index", "chain"), ("snake", "chain")]
        if n >= 8:
            variants.append(("snake", "star"))
        for order, bcast in variants:
            e, ref = dp_experiment(workdir, mesh45, tuple(range(n)), order, snn, block=64, bcast=bcast)
            train_exps.append(e)
            dp_refs.append(ref)
    mp_msgs = []
    snn3 = SNNConfig(sizes=(64, 32, 32, 10), T=8, rule="bptt", surrogate="tri", surrogate_width=2.0)
    for net, placement in ((snn, (0, 1)), (snn3, (0, 1, 2)), (snn3, (0, 12, 19))):
        mp_e, msgs = mp_experiment(workdir, mesh45, placement, net)
        mp_e["name"] = f"mp {'-'.join(map(str, net.sizes))} {net.rule} T={net.T} on cores {placement}"
        train_exps.append(mp_e)
        mp_msgs.append(msgs)
    if run["link"]:
        print("single-flow link rate vs buffer depth (pysim, 1x3) ...", flush=True)
        report["link"] = link_rate_vs_depth((2, 3, 4, 5, 6) if not quick else (2, 5))
    if run["load"]:
        print(f"load sweep on 4x4 ({len(exps)} points) ...", flush=True)
        report["load"] = []
        for r in run_mesh_experiments(mesh44, exps, sim, "load", workdir):
            e = r["exp"]
            report["load"].append({"rate": e["rate"], "offered_flits_per_node_cycle": e["rate"] * 2.0,
                                   **{k: r[k] for k in ("throughput_flits_per_node_cycle", "latency_mean",
                                                        "latency_p99", "inject_stall_cycles", "cycles", "flits")}})
    if run["train"]:
        print(f"training traffic on 4x5 ({len(train_exps)} runs) ...", flush=True)
        report["training"] = []
        res = run_mesh_experiments(mesh45, train_exps, sim, "train", workdir)
        ref_iter = iter(dp_refs)
        for r in res:
            e = r["exp"]
            row = {"name": e["name"], "cycles": r["cycles"], "flits": r["flits"], "packets": r["packets"],
                   "inject_stall_cycles": r["inject_stall_cycles"], "latency_mean": r["latency_mean"]}
            if e["program"] == "data_parallel":
                check_dp(r, next(ref_iter))
                n = len(e["cores"])
                row.update(cores=n, order=e["order"], network_cycles_per_sample=r["cycles"] / n, bit_exact=True)
            else:
                if r["result"]["mismatches"]:
                    raise RuntimeError("model-parallel messages differ: " + r["result"]["mismatches"][0])
                row.update(messages=len(mp_msgs.pop(0)), bit_exact=True)
            report["training"].append(row)
    report["seconds"] = round(time.time() - t0, 1)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=1))
    print_tables(report)
    print(f"wrote {out} in {report['seconds']} s")
    return report


def link_rate_vs_depth(depths) -> list[dict]:
    """One flow of 4-flit packets across 2 router hops: accepted flits/cycle and zero-load latency."""
    from spikemesh.sim.benches.mesh_pysim import run_pysim
    from spikemesh.sim.benches.mesh_traffic import QueueSource, build_packet

    out = []
    for depth in depths:
        cfg = MeshConfig(1, 3, depth=depth)
        pk = [build_packet(cfg, 0, 2, 0, k, [1, 2, 3]) for k in range(50)]
        sb, st = run_pysim(cfg, [QueueSource(pk), QueueSource([]), QueueSource([])], stall_out=False,
                           max_cycles=5000)
        sb.assert_done()
        out.append({"depth": depth, "flits_per_cycle": round(sb.flits_out / st["cycles"], 3),
                    "min_packet_latency": min(sb.latencies)})
    return out


def print_tables(report: dict) -> None:
    print("\n| buffer depth (credits) | one flow: flits/cycle | 4-flit packet latency, 2 hops (cycles) |")
    print("|---|---|---|")
    for r in report.get("link", []):
        print(f"| {r['depth']} | {r['flits_per_cycle']} | {r['min_packet_latency']} |")
    print("\n| injection rate (packets/node/cycle) | offered flits/node/cycle | accepted flits/node/cycle "
          "| mean latency | p99 latency | injection stall cycles |")
    print("|---|---|---|---|---|---|")
    for r in report["load"]:
        print(f"| {r['rate']} | {r['offered_flits_per_node_cycle']:.2f} | "
              f"{r['throughput_flits_per_node_cycle']:.3f} | {r['latency_mean']:.1f} | {r['latency_p99']} | "
              f"{r['inject_stall_cycles']} |")
    print("\n| run | cycles | flits | network cycles/sample | injection stall cycles | mean packet latency |")
    print("|---|---|---|---|---|---|")
    for r in report["training"]:
        per = f"{r['network_cycles_per_sample']:.0f}" if "network_cycles_per_sample" in r else "-"
        print(f"| {r['name']} | {r['cycles']} | {r['flits']} | {per} | {r['inject_stall_cycles']} | "
              f"{r['latency_mean']:.1f} |")


# ---------------------------------------------------------------- synthesis

def synth_ecp5(component, name: str, workdir: Path, freq_mhz: float = 100.0, pnr: bool = True,
               bitstream: bool = False, seed: int = 1, nextpnr_opts: tuple[str, ...] = ()) -> dict:
    """yosys synth_ecp5 + nextpnr-ecp5 (85k, CABGA381) of `component` in a 2-pin harness (gen/synth_harness.py),
    through gen/synth_flow.py with its build cache in `workdir`: yosys runs again only for other Verilog (a 7-core
    system takes 18 min of yosys), nextpnr only for other Verilog or options. `pnr=False` stops after yosys (cell
    counts only); `bitstream=True` ends with `ecppack --compress`, the bitstream copied to `<workdir>/<name>.bit`.
    Times are those of the run that made the cached files."""
    from spikemesh.sim.emit import convert_verilog

    from spikemesh.gen.synth_flow import SynthRequest, synthesise
    from spikemesh.gen.synth_harness import SynthHarness

    h = SynthHarness(component)
    n_in = h.input_bits()
    text = convert_verilog(h, name=name, emit_src=False)
    req = SynthRequest.from_verilog(text, name, place=pnr, freq_mhz=freq_mhz, seed=seed,
                                    nextpnr_args=("--lpf-allow-unconstrained", *nextpnr_opts),
                                    pack=bitstream, pack_args=("--compress",))
    r = synthesise(req, workdir)
    res = {"name": name, "harness_input_ffs": n_in, "yosys_s": r.yosys_s, "yosys_cached": r.yosys_cached,
           "yosys_cells": r.cells, "yosys_dir": str(r.workdir)}
    if not pnr:
        return res
    res["nextpnr"] = {"freq_mhz": freq_mhz, "seed": seed, "opts": list(nextpnr_opts)}
    res["utilization"] = {k: used for k, (used, _) in r.utilization.items() if used}
    res["fmax_mhz"] = round(max(r.fmax_mhz.values()), 1)
    res["nextpnr_s"] = r.nextpnr_s
    res["nextpnr_cached"] = r.pnr_cached
    res["nextpnr_log"] = str(r.nextpnr_log)
    res["critical_path"] = r.critical_path
    if bitstream:
        bit = Path(workdir) / f"{name}.bit"
        shutil.copyfile(r.bitstream, bit)
        res["bitstream"] = str(bit.relative_to(REPO)) if bit.resolve().is_relative_to(REPO) else str(bit)
        res["bitstream_bytes"] = bit.stat().st_size
        res["ecppack_s"] = r.pack_s
    return res


def dp_mesh(n_cores: int, flit_width: int, depth: int) -> MeshConfig:
    """The smallest mesh (up to 5 columns) with the host at node 0 and `n_cores` cores on nodes 1..n."""
    if not 1 <= n_cores <= 19:
        raise ValueError(f"cores must be in 1..19, got {n_cores!r}")
    cols = min(5, n_cores + 1)
    return MeshConfig(-(-(n_cores + 1) // cols), cols, flit_width, depth)


def mesh_synth(what: str = "both", layers: tuple[int, ...] = (64, 32, 10), cores: int = 2, flit_width: int = 32,
               depth: int = 5, freq: float = 100.0, seed: int = 1, nextpnr_opts: str = "", yosys_only: bool = False,
               bitstream: bool = False, workdir: Path = REPO / "build" / "mesh_synth") -> list[dict]:
    """`spikemesh mesh synth`: the builds `what` names (router, mesh2x2, both, reduce_node, dp2, dp), each through
    `synth_ecp5`; prints and writes each result (`<workdir>/results_<name>.json`) and returns them."""
    cfg_r = MeshConfig(3, 3, flit_width, depth)
    cfg_m = MeshConfig(2, 2, flit_width, depth)
    workdir.mkdir(parents=True, exist_ok=True)
    jobs = []
    if what in ("router", "both"):
        jobs.append((Router(cfg_r, 1, 1), f"router_w{flit_width}_d{depth}"))
    if what in ("mesh2x2", "both"):
        jobs.append((Mesh(cfg_m), f"mesh2x2_w{flit_width}_d{depth}"))
    if what in ("reduce_node", "dp2", "dp"):
        from spikemesh.rtl.core import CoreConfig, TrainingCore
        from spikemesh.rtl.core.layout import CoreLayout
        from spikemesh.rtl.mesh.reduce_node import ReduceNode
        from spikemesh.rtl.mesh.reduce_system import ReduceMeshSystem, ReduceParams

        ccfg = CoreConfig(layers=layers, t_max=4)
        lay = CoreLayout(ccfg)
        g = lay.region("g")
        if what == "reduce_node":
            jobs.append((ReduceNode(cfg_m, 1, 0, lay.addr_width, g.offset, g.size), f"reduce_node_w{flit_width}"))
        else:
            n = 2 if what == "dp2" else cores
            cfg_l = dp_mesh(n, flit_width, depth)
            tag = "" if what == "dp2" else "_" + "_".join(map(str, layers))  # a Verilog identifier
            jobs.append((ReduceMeshSystem(cfg_l, {c: (lambda: TrainingCore(ccfg)) for c in range(1, n + 1)},
                                          ReduceParams(g.offset, g.size)),
                         f"dp{n}_{cfg_l.rows}x{cfg_l.cols}_w{flit_width}{tag}"))
    results = []
    for comp, name in jobs:
        print(f"synthesising {name} ...", flush=True)
        res = synth_ecp5(comp, name, workdir, freq_mhz=freq, pnr=not yosys_only, bitstream=bitstream,
                         seed=seed, nextpnr_opts=tuple(nextpnr_opts.split()))
        results.append(res)
        print(json.dumps(res), flush=True)
        (workdir / f"results_{name}.json").write_text(json.dumps(res, indent=1))
    if what in ("router", "mesh2x2", "both"):
        (workdir / "results.json").write_text(json.dumps(results, indent=1))
    return results


def dp_synth_command(cores: int, layers: tuple[int, ...] = (64, 32, 10), flit_width: int = 32, depth: int = 5,
                     freq: float = 100.0, seed: int = 1, nextpnr_opts: str = "", bitstream: bool = False) -> str:
    """The `spikemesh mesh synth --what dp ... --record` command line that rebuilds (or finds cached) this build."""
    import shlex

    cmd = (f"spikemesh mesh synth --what dp --cores {cores} --layers {'-'.join(map(str, layers))} "
           f"--freq {freq:g} --seed {seed}")
    if flit_width != 32:
        cmd += f" --flit-width {flit_width}"
    if depth != 5:
        cmd += f" --depth {depth}"
    if nextpnr_opts.strip():
        cmd += f" --nextpnr-opts {shlex.quote(nextpnr_opts.strip())}"
    if bitstream:
        cmd += " --bitstream"
    return cmd + " --record"


def record_dp(res: dict, cores: int, layers: tuple[int, ...] = (64, 32, 10), flit_width: int = 32, depth: int = 5,
              freq: float = 100.0, seed: int = 1, nextpnr_opts: str = "", bitstream: bool = False,
              path: Path | None = None) -> tuple[Path, list[str]]:
    """mesh.cores<N>.fmax_mhz / .lut (TRELLIS_COMB) of a placed and routed `--what dp` result (`synth_ecp5`'s dict)
    into docs/measured.json (or `path`), with the command that reproduces them."""
    from spikemesh.gen.measured import record

    if "fmax_mhz" not in res:
        raise ValueError(f"{res.get('name')}: not placed and routed, nothing to record")
    key = f"mesh.cores{cores}"
    figures = {f"{key}.fmax_mhz": (res["fmax_mhz"], f"MHz (target {freq:g})")}
    lut = res.get("utilization", {}).get("TRELLIS_COMB")
    if lut is not None:
        figures[f"{key}.lut"] = (lut, "logic cells")
    command = dp_synth_command(cores, layers, flit_width, depth, freq, seed, nextpnr_opts, bitstream)
    return record(figures, command, path), list(figures)


# ---------------------------------------------------------------- training cores on the mesh

CORES_CORE = dict(layers=(10, 7, 6, 4), t_max=5)
CORES_SNN = dict(sizes=(10, 7, 6, 4), T=5, rule="sltt", surrogate="tri", surrogate_width=2.0)


def run_cores_step(cores: tuple[int, ...], workdir: Path, seed: int = 7, order: str = "snake") -> tuple[dict, object]:
    """One data-parallel step of TrainingCores at `cores` of a 2x2 mesh (host at node 0); returns the
    bench's JSON (per-core G and W, cycles per phase) and golden_mesh's result for the same step."""
    from spikemesh.firmware.placement import DataParallelPlan
    from spikemesh.rtl.core import CoreConfig, TrainingCore
    from spikemesh.rtl.mesh.system import MeshSystem
    from spikemesh.sim.cocotb_run import run_cocotb
    from spikemesh.sim.golden import SNNConfig, init_weights
    from spikemesh.sim.golden_mesh import data_parallel_step

    mesh = MeshConfig(2, 2)
    ccfg, snn = CoreConfig(**CORES_CORE), SNNConfig(**CORES_SNN)
    rng = np.random.default_rng(seed)
    samples = [((rng.integers(0, 17, 10) * (rng.random(10) < 0.7)).tolist(), int(rng.integers(0, 4))) for _ in cores]
    plan = DataParallelPlan(mesh, cores, order)
    ref = data_parallel_step(snn, plan, init_weights(snn, 3, gain=1.4), [np.asarray(x) for x, _ in samples],
                             [y for _, y in samples])
    out = workdir / f"cores_{'-'.join(map(str, cores))}.json"
    with cxx_o0():
        # always three cores in the design (one build); the step uses `cores`
        run_cocotb(lambda: MeshSystem(mesh, {c: (lambda: TrainingCore(ccfg)) for c in (1, 2, 3)}),
                   toplevel="mesh_cores_2x2", test_module="spikemesh.sim.benches.mesh_core_bench", sim="verilator",
                   tag="dp3", params={"mesh": [2, 2], "core": CORES_CORE, "snn": CORES_SNN, "cores": list(cores),
                                      "order": order, "seed": 3, "gain": 1.4, "samples": samples, "out": str(out)})
    return json.loads(out.read_text()), ref


def cores_bench() -> list[dict]:
    """`spikemesh mesh cores`: a data-parallel step on 1, 2 and 3 cores of a 2x2 mesh (weights checked against
    golden_mesh), cycles per phase; prints the table, writes build/mesh_cores_bench.json, returns the rows."""
    workdir = Path(tempfile.mkdtemp(prefix="mesh_cores_"))
    rows = []
    for cores in ((1,), (1, 2), (1, 2, 3)):
        res, ref = run_cores_step(cores, workdir)
        for c in cores:
            for li, w in enumerate(ref.weights):
                if not np.array_equal(np.asarray(res["weights"][str(c)][li], np.uint16),
                                      np.asarray(w, np.float16).view(np.uint16)):
                    raise RuntimeError(f"core {c} layer {li + 1}: weights differ from golden_mesh")
        rows.append({"cores": len(cores), **res["phases"], "total": res["cycles"]})
    keys = ["load_and_start", "wait_compute", "read_g", "write_g_and_update", "total"]
    print("| cores | " + " | ".join(keys) + " | total / sample |")
    print("|---" * (len(keys) + 2) + "|")
    for r in rows:
        print(f"| {r['cores']} | " + " | ".join(str(r[k]) for k in keys) + f" | {r['total'] / r['cores']:.0f} |")
    (REPO / "build").mkdir(exist_ok=True)
    (REPO / "build" / "mesh_cores_bench.json").write_text(json.dumps(rows, indent=1))
    return rows


# ---------------------------------------------------------------- model parallel on training cores

MP_SNN = dict(sizes=(64, 16, 10), T=4, rule="sltt", surrogate="tri", surrogate_width=2.0, lr=2.0 ** -3)
MP_CHAIN = (1, 2)  # node of layer 1's core, node of layer 2's core
MP_SINGLE = 3  # node of the core holding the whole network (the comparison)


MP_RUNS = [{"name": "sltt mp copy", "kind": "mp", "chain": list(MP_CHAIN), "move": "copy"},
           {"name": "sltt mp relay", "kind": "mp", "chain": list(MP_CHAIN), "move": "relay"},
           {"name": "sltt single", "kind": "single", "node": MP_SINGLE},
           {"name": "bptt mp copy", "kind": "mp", "chain": list(MP_CHAIN), "move": "copy", "snn": {"rule": "bptt"}},
           {"name": "bptt mp copy pipelined", "kind": "mp", "chain": list(MP_CHAIN), "move": "copy",
            "snn": {"rule": "bptt"}, "pipeline": True},
           {"name": "bptt single", "kind": "single", "node": MP_SINGLE, "snn": {"rule": "bptt"}}]


def mp_cores(sizes: tuple[int, ...], T: int) -> dict[int, dict]:
    """Per node: the core's layers (layer 1 | layer 2 | the whole network)."""
    from spikemesh.firmware.placement import ModelParallelPlan

    plan = ModelParallelPlan(MeshConfig(2, 2), MP_CHAIN)
    cores = {n: {"layers": list(layers), "t_max": T} for n, layers in plan.core_layers(sizes).items()}
    return {**cores, MP_SINGLE: {"layers": list(sizes), "t_max": T}}


def run_mp(workdir: Path, n_samples: int = 4, runs: list[dict] | None = None, snn_kw: dict | None = None,
           first_sample: int = 0) -> tuple[dict, list[tuple[list[int], int]]]:
    """Model-parallel training of digits on two TrainingCores (layer 1 | layer 2) of a 2x2 mesh with
    CopyEngines, host at node 0, plus the whole network on one core at node 3 (one Verilator build).
    Returns the bench's JSON (per run name: per sample weights, exchanged spikes/gs, cycles) and the samples."""
    from spikemesh.rtl.core import CoreConfig, TrainingCore
    from spikemesh.rtl.mesh.copy_engine import CopyMeshSystem
    from spikemesh.sim.cocotb_run import run_cocotb
    from spikemesh.sim.golden import load_digits_split

    snn = {**MP_SNN, **(snn_kw or {})}
    cores = mp_cores(tuple(MP_SNN["sizes"]), MP_SNN["T"])  # the design is fixed (one build); snn_kw: rule etc.
    runs = runs or MP_RUNS
    X, y, _, _ = load_digits_split()
    samples = [(X[i].tolist(), int(y[i])) for i in range(first_sample, first_sample + n_samples)]
    out = workdir / "mesh_mp.json"
    mesh = MeshConfig(2, 2)
    with cxx_o0():
        run_cocotb(lambda: CopyMeshSystem(mesh, {n: (lambda c=c: TrainingCore(CoreConfig(tuple(c["layers"]), c["t_max"])))
                                                 for n, c in cores.items()}),
                   toplevel="mesh_mp_2x2", test_module="spikemesh.sim.benches.mesh_mp_bench", sim="verilator",
                   tag="mp64_16_10", params={"mesh": [2, 2], "snn": snn, "cores": {str(n): c for n, c in cores.items()},
                                             "seed": 0, "samples": samples, "runs": runs, "out": str(out)})
    return json.loads(out.read_text()), samples


def mp_table(res: dict) -> list[dict]:
    """Mean cycles per sample and phase for each run (first sample excluded when there are more: warm-up)."""
    rows = []
    for name, recs in res.items():
        use = recs[1:] if len(recs) > 1 else recs
        keys = ("input", "run", "move")
        mean = {k: sum(r["phases"].get(k, 0) for r in use) / len(use) for k in keys}
        busy = [sum(r["busy"][i] for r in use) / len(use) for i in range(len(use[0]["busy"]))]
        total = sum(mean.values())
        # the cores run one after the other except the final UPDs (run concurrently): run - sum(busy) is
        # the host's start/poll overhead, slightly underestimated for the chain
        rows.append({"name": name, **{k: round(v) for k, v in mean.items()}, "total": round(total),
                     "core_busy": [round(b) for b in busy], "run_minus_busy": round(mean["run"] - sum(busy)),
                     "samples": len(use)})
    return rows


def check_mp_runs(res: dict, data: list, runs: list[dict]) -> None:
    """Raise unless every run's W after every sample is the golden model's (model_parallel_exchange) bit for bit."""
    from spikemesh.firmware.placement import ModelParallelPlan
    from spikemesh.sim.golden import SNNConfig, init_weights
    from spikemesh.sim.golden_mesh import model_parallel_exchange

    plan = ModelParallelPlan(MeshConfig(2, 2), MP_CHAIN)
    for run in runs:
        snn = SNNConfig(**{**MP_SNN, **run.get("snn", {})})
        W = init_weights(snn, 0)
        for si, (x, y) in enumerate(data):
            _, ref = model_parallel_exchange(snn, plan, W, np.asarray(x), y, si)
            for li, w in enumerate(res[run["name"]][si]["weights"]):
                if not np.array_equal(np.asarray(w, np.uint16), np.asarray(ref.weights[li], np.float16).view(np.uint16)):
                    raise RuntimeError(f"{run['name']}: W of layer {li + 1} differs from the golden model after "
                                       f"sample {si}")
            W = ref.weights


def mp_bench(samples: int = 6) -> list[dict]:
    """`spikemesh mesh mp`: every MP_RUNS run bit-exact with the golden model, then cycles per sample; prints the
    table, writes build/mesh_mp_bench.json, returns the rows."""
    workdir = Path(tempfile.mkdtemp(prefix="mesh_mp_"))
    res, data = run_mp(workdir, n_samples=samples)
    check_mp_runs(res, data, MP_RUNS)  # every run bit-exact, else no numbers
    rows = mp_table(res)
    print("| run | input | run (start + compute + polls) | move | total / sample | core busy | run - busy |")
    print("|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['name']} | {r['input']} | {r['run']} | {r['move']} | {r['total']} | "
              f"{' + '.join(map(str, r['core_busy']))} | {r['run_minus_busy']} |")
    (REPO / "build").mkdir(exist_ok=True)
    (REPO / "build" / "mesh_mp_bench.json").write_text(json.dumps({"rows": rows, "raw": res}, indent=1))
    return rows


# ---------------------------------------------------------------- local learning, one block per core

LOCAL_SNN = {**MP_SNN, "rule": "local", "blocks": (1, 1), "window": 2}  # a head after layer 1; k = 2 of T = 4
LOCAL_CHAIN = (1, 2)  # node of block 0's core (layer 1 + head), node of block 1's (layer 2)
LOCAL_SINGLE = 3  # the whole local network (heads=(1,)) on one core
LOCAL_RUNS = [{"name": "local mp sequential", "kind": "local", "chain": list(LOCAL_CHAIN), "check": False},
              {"name": "local mp pipelined", "kind": "local", "chain": list(LOCAL_CHAIN), "check": False,
               "pipeline": True},
              {"name": "local single", "kind": "single", "node": LOCAL_SINGLE}]


def local_cores(snn: dict) -> dict[int, dict]:
    """Per node: block b's core at node b + 1 (its layers + head, `placement.local_blocks`); with two blocks
    also the whole local network at LOCAL_SINGLE (three blocks fill the 2x2 mesh's three core nodes)."""
    from spikemesh.firmware.placement import local_blocks

    blocks = local_blocks(tuple(snn["sizes"]), tuple(snn["blocks"]))
    if len(blocks) > 3:
        raise ValueError(f"blocks: at most 3 on the 2x2 mesh (nodes 1..3), got {len(blocks)}")
    cores = {b.index + 1: {"layers": list(b.core_layers), "t_max": snn["T"]} for b in blocks}
    if len(blocks) == 3:
        return cores
    heads = tuple(b.last for b in blocks[:-1])
    return {**cores, LOCAL_SINGLE: {"layers": list(snn["sizes"]), "t_max": snn["T"], "heads": list(heads)}}


def run_local(workdir: Path, n_samples: int = 4, runs: list[dict] | None = None, first_sample: int = 0,
              snn: dict | None = None) -> tuple[dict, list[tuple[list[int], int]]]:
    """Local learning of digits, block b on node b + 1 of a 2x2 mesh with CopyEngines (default LOCAL_SNN: block 0
    = layer 1 + head, block 1 = layer 2), with two blocks the whole local network on node 3 (one Verilator
    build per net); as `run_mp`."""
    from spikemesh.rtl.core import TrainingCore
    from spikemesh.rtl.mesh.copy_engine import CopyMeshSystem
    from spikemesh.sim.benches.mesh_mp_bench import core_config
    from spikemesh.sim.cocotb_run import run_cocotb
    from spikemesh.sim.golden import load_digits_split

    snn = snn or LOCAL_SNN
    cores = local_cores(snn)
    X, y, _, _ = load_digits_split()
    samples = [(X[i].tolist(), int(y[i])) for i in range(first_sample, first_sample + n_samples)]
    out = workdir / "mesh_local.json"
    mesh = MeshConfig(2, 2)
    with cxx_o0():
        run_cocotb(lambda: CopyMeshSystem(mesh, {n: (lambda c=c: TrainingCore(core_config(c))) for n, c in cores.items()}),
                   toplevel="mesh_mp_2x2", test_module="spikemesh.sim.benches.mesh_mp_bench", sim="verilator",
                   tag="local" + "_".join(map(str, snn["sizes"])) + "_b" + "".join(map(str, snn["blocks"])),
                   params={"mesh": [2, 2], "snn": snn, "cores": {str(n): c for n, c in cores.items()}, "seed": 0,
                           "samples": samples, "runs": runs or LOCAL_RUNS, "out": str(out)})
    return json.loads(out.read_text()), samples


def check_local(res: dict, samples, runs: list[dict], snn_kw: dict | None = None) -> None:
    """Every run's W after every sample bit for bit `golden.train_sample`'s (rule local); RuntimeError naming
    the run, layer and sample otherwise."""
    from spikemesh.sim.golden import SNNConfig, init_weights, train_sample

    snn = SNNConfig(**(snn_kw or LOCAL_SNN))
    for run in runs:
        W = init_weights(snn, 0)
        for si, (x, y) in enumerate(samples[:len(res[run["name"]])]):
            ref = train_sample(snn, W, np.asarray(x), y, sample_index=si)
            for li, w in enumerate(res[run["name"]][si]["weights"]):
                want = np.asarray(ref.weights[li], np.float16).view(np.uint16)
                if not np.array_equal(np.asarray(w, np.uint16), want):
                    raise RuntimeError(f"{run['name']}: W {li + 1} (golden order: main layers, then heads) differs "
                                       f"from the golden model after sample {si}")
            W = ref.weights


def local_mp_bench(samples: int = 6, record: bool = False) -> list[dict]:
    """`spikemesh mesh mp --local`: local learning with one block per core, sequential and pipelined, vs the
    local network on one core and vs model-parallel BPTT (layer 1 | layer 2, pipelined, `run_mp`) on the same
    samples; every run bit-exact with the golden model, else no numbers. Prints the table, writes
    build/mesh_local_bench.json; --record: the mesh.local.* figures into docs/measured.json."""
    workdir = Path(tempfile.mkdtemp(prefix="mesh_local_"))
    res, data = run_local(workdir, n_samples=samples)
    check_local(res, data, LOCAL_RUNS)
    bptt_runs = [r for r in MP_RUNS if r["name"] in ("bptt mp copy pipelined", "bptt single")]
    res_b, _ = run_mp(workdir, n_samples=samples, runs=bptt_runs)
    check_mp_runs(res_b, data, bptt_runs)
    rows = {r["name"]: r for r in mp_table({**res, **res_b})}
    print("| run | input | run (start + compute + polls) | move | total / sample | core busy | run - busy |")
    print("|---|---|---|---|---|---|---|")
    for r in rows.values():
        print(f"| {r['name']} | {r['input']} | {r['run']} | {r['move']} | {r['total']} | "
              f"{' + '.join(map(str, r['core_busy']))} | {r['run_minus_busy']} |")
    pipe, seq, single = (rows[k]["total"] for k in ("local mp pipelined", "local mp sequential", "local single"))
    bptt = rows["bptt mp copy pipelined"]["total"]
    summary = {"pipelined_vs_sequential": pipe / seq, "speedup_vs_single": single / pipe,
               "speedup_vs_mp_bptt": bptt / pipe}
    print(", ".join(f"{k} {v:.3f}" for k, v in summary.items()))
    (REPO / "build").mkdir(exist_ok=True)
    (REPO / "build" / "mesh_local_bench.json").write_text(json.dumps(
        {"snn": LOCAL_SNN, "rows": list(rows.values()), "summary": summary, "raw": {**res, **res_b}}, indent=1))
    if record:
        from .measured import record as put

        net = "-".join(map(str, LOCAL_SNN["sizes"]))
        what = (f"digits {net}, T={LOCAL_SNN['T']}, local k={LOCAL_SNN['window']}, blocks {LOCAL_SNN['blocks']}, "
                f"2x2 mesh, mean of samples 2-{samples}")
        put({"mesh.local.cycles_per_sample": (pipe, f"host cycles per sample, one block per core, pipelined ({what})"),
             "mesh.local.sequential_cycles_per_sample": (seq, f"host cycles per sample, one core at a time ({what})"),
             "mesh.local.single_cycles_per_sample": (single, f"host cycles per sample, the local network on one core "
                                                             f"({what})"),
             "mesh.local.pipelined_vs_sequential": (round(summary["pipelined_vs_sequential"], 3),
                                                    "cycles per sample, pipelined / sequential"),
             "mesh.local.speedup_vs_single": (round(summary["speedup_vs_single"], 3),
                                              "cycles per sample, one core / two cores pipelined"),
             "mesh.local.speedup_vs_mp_bptt": (round(summary["speedup_vs_mp_bptt"], 3),
                                               "cycles per sample, model-parallel BPTT pipelined (64-16-10 without "
                                               "the head, same samples) / local pipelined")},
            f"spikemesh mesh mp --local --samples {samples} --record")
    return list(rows.values())


# ---------------------------------------------------------------- in-network reduction on training cores

def reduce_bench(steps: int = 2, mesh: str = "2x2", modes: str = "net,host", overlap: bool = False) -> list[dict]:
    """`spikemesh mesh reduce`: data-parallel digits on 1..N cores, in-network vs host gradient reduction, every
    core's W checked against golden_mesh after every step; prints the table, writes
    build/mesh_reduce_bench_<mesh>[_overlap].json, returns the rows."""
    from spikemesh.sim.benches.mesh_dp_run import DP_CORE, check_dp, experiment, run_dp

    if not isinstance(steps, int) or steps < 1:
        raise ValueError(f"--steps must be an int >= 1, got {steps!r}")
    from spikemesh.firmware.placement import chain_order

    workdir = Path(tempfile.mkdtemp(prefix="mesh_reduce_"))
    shape = tuple(int(v) for v in mesh.split("x"))
    mcfg = MeshConfig(*shape)
    path = [n for n in chain_order(mcfg, tuple(range(mcfg.n_nodes)), "snake") if n != 0]  # one hop per step
    mode_list = modes.split(",")
    if not set(mode_list) <= {"net", "host"}:
        raise ValueError(f"--modes must be a comma list of net, host, got {modes!r}")
    exps = [experiment(tuple(path[:k]), mode, steps, mesh=shape) for k in range(1, len(path) + 1)
            for mode in mode_list]
    t0 = time.time()
    core = dict(DP_CORE, overlap=True) if overlap else None
    results = run_dp(exps, workdir, mesh=shape, nodes=tuple(sorted(path)), core=core)
    rows = []
    for r in results:
        check_dp(r)  # every core's W after every step == golden_mesh, else AssertionError
        e, st = r["exp"], r["steps"]
        mean = {k: sum(s["phases"][k] for s in st) / len(st) for k in st[0]["phases"]}
        total = sum(mean.values())
        row = {"cores": len(e["cores"]), "mode": e["mode"], "chain": r["chain"], **{k: round(v) for k, v in mean.items()},
               "total": round(total), "per_sample": round(total / len(e["cores"])),
               "host_flits_reduce": round(sum(s["host_flits"]["reduce"] for s in st) / len(st)),
               "host_flits_step": round(sum(sum(s["host_flits"].values()) for s in st) / len(st))}
        if e["mode"] == "net":
            row["ni_flits"] = round(sum(sum(v["flits"] for v in s["ni"].values()) for s in st) / len(st))
            row["ni_stalls"] = round(sum(sum(v["stalls"] for v in s["ni"].values()) for s in st) / len(st))
        rows.append(row)
    one = {m: next(r["per_sample"] for r in rows if r["cores"] == 1 and r["mode"] == m) for m in mode_list}
    print("| cores | reduction | chain | load_and_start | wait_compute | reduce | update | step | per sample | "
          "speed-up | host flits (reduce / step) | NI flits | NI stall cycles |")
    print("|---" * 13 + "|")
    for r in rows:
        print(f"| {r['cores']} | {r['mode']} | {r['chain']} | {r['load_and_start']} | {r['wait_compute']} | "
              f"{r['reduce']} | {r['update']} | {r['total']} | {r['per_sample']} | "
              f"{one[r['mode']] / r['per_sample']:.2f}x | {r['host_flits_reduce']} / {r['host_flits_step']} | "
              f"{r.get('ni_flits', '-')} | {r.get('ni_stalls', '-')} |")
    (REPO / "build").mkdir(exist_ok=True)
    suffix = "_overlap" if overlap else ""
    (REPO / "build" / f"mesh_reduce_bench_{mesh}{suffix}.json").write_text(json.dumps(rows, indent=1))
    print(f"bit-exact vs golden_mesh after every step; {time.time() - t0:.0f} s")
    return rows
