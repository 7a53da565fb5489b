"""`spikemesh` subcommands for the mesh network-on-chip.

  spikemesh mesh bench  [--quick] [--out docs/mesh_bench.json]   latency/throughput vs load, training traffic
  spikemesh mesh synth  [--what router|mesh2x2|both|reduce_node|dp2|dp] [--cores N --layers 64-32-10]
                        [--yosys-only] [--bitstream]              ECP5-85F resources + Fmax (yowasp tools)
  spikemesh mesh cores                                           data parallel on training cores (2x2)
  spikemesh mesh mp     [--samples 6] [--local [--record]]       model parallel on training cores vs one core (2x2);
                                                                 --local: local learning, one block per core
  spikemesh mesh reduce [--mesh 2x2] ...                         in-network vs host gradient reduction

`spikemesh bench mesh` is the old spelling of `mesh bench` (deprecated, gen/commands/grammar.py).

The measurements themselves are in gen/mesh_perf.py; this module is their command line.

`bench` is a group other modules may share: whoever registers first creates it and stores its subparsers
action on the parser as `_spikemesh_sub`; later modules add their subcommand to that action.
"""
from __future__ import annotations

from pathlib import Path

from spikemesh.gen.args import layers_arg

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
    mp.add_argument("--local", action="store_true",
                    help="local learning (64-16-10, a head after layer 1, k=2), one block per core: pipelined vs "
                         "sequential vs one core vs model-parallel BPTT")
    mp.add_argument("--record", action="store_true", help="with --local: write mesh.local.* into docs/measured.json")
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
    s.add_argument("--record", action="store_true",
                   help="--what dp, placed and routed: write the system's Fmax and logic cells into "
                        "docs/measured.json as mesh.cores<N>.fmax_mhz / .lut")
    s.set_defaults(func=run_synth)


# ---------------------------------------------------------------- the verbs (gen/mesh_perf.py does the work)

def run_bench(args) -> int:
    from spikemesh.gen.mesh_perf import traffic_bench

    traffic_bench(args.out, quick=args.quick, sim=args.sim, part=args.part)
    return 0


def run_synth(args) -> int:
    from spikemesh.gen.mesh_perf import mesh_synth

    if args.record and (args.what != "dp" or args.yosys_only):
        raise ValueError("--record is for a placed and routed --what dp build (not --yosys-only)")
    results = mesh_synth(args.what, layers=args.layers, cores=args.cores, flit_width=args.flit_width,
                         depth=args.depth, freq=args.freq, seed=args.seed, nextpnr_opts=args.nextpnr_opts,
                         yosys_only=args.yosys_only, bitstream=args.bitstream)
    if args.record:
        from spikemesh.gen.mesh_perf import record_dp

        path, keys = record_dp(results[0], cores=args.cores, layers=args.layers, flit_width=args.flit_width,
                               depth=args.depth, freq=args.freq, seed=args.seed, nextpnr_opts=args.nextpnr_opts,
                               bitstream=args.bitstream)
        print(f"recorded in {path}: {', '.join(keys)}")
    return 0


def run_cores_bench(args) -> int:
    from spikemesh.gen.mesh_perf import cores_bench

    cores_bench()
    return 0


def run_mp_bench(args) -> int:
    from spikemesh.gen.mesh_perf import local_mp_bench, mp_bench

    if args.record and not args.local:
        raise ValueError("--record is for --local (mesh.local.* figures)")
    if args.local:
        local_mp_bench(args.samples, record=args.record)
    else:
        mp_bench(args.samples)
    return 0


def run_reduce_bench(args) -> int:
    from spikemesh.gen.mesh_perf import reduce_bench

    reduce_bench(args.steps, args.mesh, args.modes, args.overlap)
    return 0
