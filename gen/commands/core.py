"""`spikemesh core ...`: the training core (old spellings `emit core` / `bench core`: deprecated, see grammar.py):

  spikemesh core emit --layers 64-128-128-10 --t-max 8 [-o core.v]       Verilog of one core
  spikemesh core map --layers ...                                      the core's memory map (JSON regions,
                                                                       registers and their bit fields)
  spikemesh core program --layers ... --rule sltt --T 8 [--k-steps 1,3]  the per-sample program words
  spikemesh core bench [--samples N] [--quick] [--lanes 1,2,4] [--synth] [--out ...]   cycles, sparse vs dense,
                                                       lane speed-up and utilisation, ECP5, PyTorch
  spikemesh core bench --overlap 0,1[,front,spread] --rules sltt,sltt_k   cycles with / without the forward engine
  spikemesh core bench --engines [--lanes 1,2,4,8,16] [--synth] [--record]   P lanes x forward engine against
                                                       one MAC lane with the update over every column; --synth:
                                                       each P's core placed (LUT/FF/DSP/BRAM/Fmax, samples/s)
  spikemesh core bench --upd [--rules sltt,ottt_o] [--lanes 1,4]         sparse vs every-column weight update
  spikemesh core bench --local [--record]                              local learning vs BPTT / TBPTT: cycles,
                                                       state bytes, block RAMs
  spikemesh core bench --rules-table [--record]                        every rule on the golden table's network:
                                                                       accuracy, cycles, state bytes vs T
  spikemesh core bench --opzo [--record]                               OPZO on chip vs SLTT / OTTT_A: cycles,
                                                       state bytes, block RAMs
  spikemesh core bench --sr [--lanes 4] [--record]                      RNE core vs stochastic-rounding core: cycles
  spikemesh core bench --mnist [--lanes 4,8] [--no-synth] [--record]     784-128-10 (digits at 28 x 28): cycles,
                                                       ECP5-85F LUT / DP16KD / Fmax, samples/s
  spikemesh core synth --layers 64-32-10 --t-max 4 [--freq 100] [--sr]  ECP5-85F place and route of one core
                                                       (--sr, also on emit / map: the stochastic-rounding core)
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

from spikemesh.gen.args import layers_arg


def _group(sub, name: str, help_text: str):
    if name not in sub.choices:
        p = sub.add_parser(name, help=help_text)
        p._spikemesh_sub = p.add_subparsers(dest=f"{name}_what", metavar="AREA")
    return sub.choices[name]._spikemesh_sub


def _ints(text: str) -> tuple[int, ...]:
    try:
        return tuple(int(v) for v in text.split(",") if v.strip())
    except ValueError:
        raise ValueError(f"expected comma-separated integers, got {text!r}") from None


def _core_args(p) -> None:
    p.add_argument("--layers", type=layers_arg, default="64-128-128-10", help="layer sizes N_0-...-N_L")
    p.add_argument("--t-max", type=int, default=8, help="largest T the state memories hold (default 8)")
    p.add_argument("--lanes", type=int, default=1, help="MAC lanes P (1, 2, 4, 8 or 16; default 1)")
    p.add_argument("--overlap", action="store_true", help="with the forward engine (FWD under BP/WG)")
    p.add_argument("--sr", action="store_true", help="stochastic rounding of the weight update "
                   "(CoreConfig.stochastic_rounding, fp16)")
    p.add_argument("--opzo", action="store_true", help="an OPZO core: feedback matrices and noise (CoreConfig.opzo, "
                   "rules ('opzo',))")
    p.add_argument("--wg-table", action="store_true", help="layer 1's gradient as the input-gradient table "
                   "(CoreConfig.wg_table): rate-coded input only, rules sltt, sltt_k, bptt, tbptt; what lets "
                   "784-128-10 fit the ECP5-85F")


def _cfg(args):
    from spikemesh.rtl.core import CoreConfig

    return CoreConfig(layers=tuple(args.layers), t_max=args.t_max, lanes=args.lanes, overlap=args.overlap,
                      stochastic_rounding=getattr(args, "sr", False), **_opzo(args))


def _opzo(args) -> dict:
    """CoreConfig arguments of --opzo and --wg-table."""
    if getattr(args, "wg_table", False):
        from spikemesh.rtl.core.config import WG_TABLE_RULES

        return {"wg_table": True, "direct_input": False, "rules": WG_TABLE_RULES}
    return {"opzo": True, "rules": ("opzo",)} if getattr(args, "opzo", False) else {}


def register(sub) -> None:
    e = _group(sub, "emit", "emit Verilog for a named unit (one subcommand per area)").add_parser(
        "core", help="Verilog of one training core")
    _core_args(e)
    e.add_argument("-o", "--output", type=Path, help="output file (default: stdout)")
    e.set_defaults(func=run_emit)

    core = sub.add_parser("core", help="training core: emit, bench, synth, map, program")
    csub = core.add_subparsers(dest="core_what", metavar="VERB")
    mp = csub.add_parser("map", help="the core's memory map as JSON: regions, registers and their bit fields")
    _core_args(mp)
    mp.set_defaults(func=run_map)
    pr = csub.add_parser("program", help="program words for one training sample")
    _core_args(pr)
    pr.add_argument("--rule", default="sltt")
    pr.add_argument("--T", type=int, default=8)
    pr.add_argument("--k-steps", default="", help="SLTT-K step set, e.g. 1,3,7")
    pr.set_defaults(func=run_program)

    sy = csub.add_parser("synth", help="place and route one core for ECP5-85F (yowasp yosys + nextpnr): resources, "
                                       "Fmax, build time (slow)")
    _core_args(sy)
    sy.add_argument("--freq", type=int, default=100, help="nextpnr target clock in MHz (default 100)")
    sy.add_argument("--workdir", type=Path, help="where yosys/nextpnr run (default: a temporary folder); a build "
                    "of the same Verilog with the same nextpnr arguments there is reused")
    sy.add_argument("--router", default="router1", choices=("router1", "router2"), help="nextpnr router")
    sy.add_argument("--fmt", default="fp16", choices=("fp16", "bf16"), help="the core's number format")
    sy.add_argument("--seeds", default="1", help="nextpnr seeds, e.g. 1,2,3: one placement each (yosys runs once); "
                    "the median Fmax is the figure (placement alone moves a core's Fmax by 10-20 %%)")
    sy.add_argument("--record", action="store_true", help="write Fmax and LUT to docs/measured.json (core.fmax_mhz "
                    "for P = 1 FP16, core.p<P>.fmax_mhz, core.bf16.fmax_mhz): the median seed's")
    sy.set_defaults(func=run_synth)

    b = _group(sub, "bench", "measurements (one subcommand per area)").add_parser(
        "core", help="cycles per phase, sparse vs dense, utilisation, state memory, PyTorch CPU reference")
    b.add_argument("--samples", type=int, default=4, help="digits samples per rule and schedule (default 4)")
    b.add_argument("--rules", default="sltt,bptt", help="rules to measure (default sltt,bptt)")
    b.add_argument("--quick", action="store_true", help="small network (64,32,10), T=4, 3 samples")
    b.add_argument("--synth", action="store_true", help="also place and route the core for ECP5-85F (slow)")
    b.add_argument("--lanes", default="1", help="MAC lane counts to measure, e.g. 1,2,4 (default 1); speed-ups are "
                   "against the first")
    b.add_argument("--overlap", default="", help="compare the forward engine: variants 0 (off), 1 (on, default "
                   "program order), front, split, spread (firmware/program.py OVERLAP_ORDERS), e.g. 0,1,front; "
                   "sparse schedule only, first lane count")
    b.add_argument("--engines", action="store_true", help="the engine table: P = 1, 2, 4, 8, 16 with and without the "
                   "forward engine against one MAC lane with the update over every column (64-128-128-10, T=8); with --synth "
                   "each P's core placed for ECP5-85F and samples/s at its own Fmax")
    b.add_argument("--upd", action="store_true", help="the sparse weight update against the update over every "
                   "column (MODE_DENSE_UPD), for --rules and --lanes")
    b.add_argument("--local", action="store_true", help="local learning (a head per hidden layer) against BPTT and "
                   "TBPTT: cycles, state bytes, block RAMs (64-128-128-10, T = 8)")
    b.add_argument("--opzo", action="store_true", help="OPZO on chip against SLTT and OTTT_A: cycles, state bytes, "
                   "block RAMs (64-128-128-10, T = 8, P = 1; same samples, weights and B bit-exact)")
    b.add_argument("--rules-table", action="store_true", help="every rule on the golden table's network "
                   "(64-64-64-10, T=4, P = 1): golden FP16 accuracy (= the chip's), core cycles, state bytes at "
                   "T = 4/8/16; --record also writes the table into docs/golden.md")
    b.add_argument("--mnist", action="store_true", help="the MNIST-sized core (784-128-10, T = 4, SLTT, rate-coded "
                   "digits at 28 x 28, wg_table): cycles at --lanes (default 4,8), ECP5-85F LUT/DP16KD/Fmax, samples/s")
    b.add_argument("--no-synth", action="store_true", help="--mnist: cycles only, no place and route")
    b.add_argument("--fmax", type=float, help="clock (MHz) for the samples/s column of --engines")
    b.add_argument("--sr", action="store_true", help="the RNE core against the stochastic-rounding core: cycles per "
                   "sample, SLTT, 64-128-128-10, T=8, at each of --lanes (same samples, weights bit-exact in both)")
    b.add_argument("--record", action="store_true", help="write the --engines / --local / --sr figures to "
                   "docs/measured.json")
    b.add_argument("--out", type=Path, default=Path("build") / "core_bench.json",
                   help="JSON report, relative to the current folder")
    b.set_defaults(func=run_bench)


def run_emit(args) -> int:
    from spikemesh.sim.emit import convert_verilog

    from spikemesh.rtl.core import TrainingCore

    # a core too big for every supported board is refused here, by CoreConfig (ValueError: one line, exit 2)
    text = convert_verilog(TrainingCore(_cfg(args)), name="spikemesh_core", emit_src=False)
    if args.output:
        args.output.write_text(text)
    else:
        sys.stdout.write(text)
    return 0


def run_map(args) -> int:
    from spikemesh.rtl.bus import MemoryMap
    from spikemesh.rtl.core import CoreLayout

    lay = CoreLayout(_cfg(args))
    mm = MemoryMap(addr_width=lay.addr_width)
    mm.add("core", lay.regions())
    print(mm.to_json())
    return 0


def run_program(args) -> int:
    from spikemesh.firmware.program import compile_program

    ks = _ints(args.k_steps) if args.k_steps else None
    words = compile_program(_cfg(args), args.rule, args.T, ks)
    print(json.dumps([f"0x{w:04x}" for w in words]))
    return 0


def run_synth(args) -> int:
    from spikemesh.gen.core_perf import synth_ecp5

    from spikemesh.rtl.formats import format_by_name

    _cfg(args)  # refuse a core no supported board holds before any tool runs
    extra = {"fmt": format_by_name(args.fmt)} if args.fmt != "fp16" else {}
    if args.sr:
        extra["stochastic_rounding"] = True
    extra.update(_opzo(args))
    seeds = _ints(args.seeds)
    if not seeds or any(s < 1 for s in seeds):
        raise ValueError(f"--seeds: one or more nextpnr seeds >= 1, e.g. 1,2,3 (got {args.seeds!r})")
    def fmax_of(r: dict) -> float:
        return next(iter(r["fmax_mhz"].values()))

    runs = []
    for seed in seeds:
        r = synth_ecp5(tuple(args.layers), args.t_max, args.workdir, args.freq, router=args.router, seed=seed,
                       lanes=args.lanes, overlap=args.overlap, **extra)
        r["seed"] = seed
        print(json.dumps(r, indent=1, default=str))
        runs.append(r)
    # the median seed (the lower middle one of an even count) gives every recorded figure
    res = sorted(runs, key=fmax_of)[(len(runs) - 1) // 2]
    fmaxes = [round(fmax_of(r), 1) for r in runs]
    if len(runs) > 1:
        print(f"Fmax by seed: {', '.join(f'{s}: {f} MHz' for s, f in zip(seeds, fmaxes))}; median "
              f"{fmax_of(res):.1f} MHz (seed {res['seed']})")
    if args.record:
        from spikemesh.gen.core_perf import SLTT_P4_FMAX_KEY, _recorded
        from spikemesh.gen.measured import record

        net = "-".join(map(str, args.layers))
        name = "core" + (f".{net}" if tuple(args.layers) != (64, 32, 10) else "") + \
            (f".p{args.lanes}" if args.lanes > 1 else "") + (".overlap" if args.overlap else "") + \
            (f".{args.fmt}" if args.fmt != "fp16" else "") + (".sr" if args.sr else "") + (".opzo" if args.opzo else "") \
            + (".wg_table" if args.wg_table else "")
        what = (f"{'-'.join(map(str, args.layers))}, T={args.t_max}, P={args.lanes}, {args.fmt}"
                + (", stochastic rounding" if args.sr else "") + (", OPZO" if args.opzo else "") + ", ECP5-85F, "
                + (f"median of seeds {','.join(map(str, seeds))}: {'/'.join(map(str, fmaxes))} MHz" if len(seeds) > 1
                   else f"seed {seeds[0]}"))
        fmax = fmax_of(res)
        cmd = (f"spikemesh core synth --layers {'-'.join(map(str, args.layers))} --t-max {args.t_max} "
               f"--lanes {args.lanes}" + (" --overlap" if args.overlap else "") + (" --sr" if args.sr else "")
               + (" --opzo" if args.opzo else "") + (" --wg-table" if args.wg_table else "") + f" --fmt {args.fmt} --router {args.router} --freq {args.freq}"
               + (f" --seeds {args.seeds}" if seeds != (1,) else "") + " --record")
        fig = {f"{name}.fmax_mhz": (round(fmax, 1), f"MHz ({what}, target {args.freq})"),
               f"{name}.lut": (res["utilization"].get("TRELLIS_COMB"), f"TRELLIS_COMB ({what})")}
        for kind in ("DP16KD", "MULT18X18D", "TRELLIS_FF"):
            if kind in res["utilization"]:
                fig[f"{name}.{kind.lower()}"] = (res["utilization"][kind], f"{kind} ({what})")
        if f"{name}.fmax_mhz" == SLTT_P4_FMAX_KEY and args.t_max == 8:
            # the engines table's SLTT core: its measured cycles per sample at this clock
            cyc = _recorded("core.sltt.p4.cycles_per_sample")
            if cyc is not None:
                fig["core.sltt.samples_per_s"] = (
                    round(fmax * 1e6 / cyc["value"]),
                    f"training samples/s (64-128-128-10, T=8, SLTT, P = 4, forward engine): {cyc['value']:,} cycles "
                    f"(core.sltt.p4.cycles_per_sample: `{cyc['command']}`) at {round(fmax, 1)} MHz")
        record(fig, cmd)
    return 0


def run_bench(args) -> int:
    from spikemesh.gen.core_perf import _emit, engines_bench, main, upd_bench

    if args.engines:
        lanes = _ints(args.lanes) if args.lanes != "1" else (1, 2, 4, 8, 16)
        return _emit(engines_bench(args.samples, lanes=lanes, fmax_mhz=args.fmax, record=args.record,
                                   synth=args.synth,
                                   rules=tuple(args.rules.split(",")) if args.rules != "sltt,bptt" else
                                   ("sltt", "bptt", "ottt_a")), args.out)
    if args.mnist:
        from spikemesh.gen.core_perf import mnist_bench

        lanes = _ints(args.lanes) if args.lanes != "1" else (4, 8)
        return _emit(mnist_bench(args.samples, lanes, synth=not args.no_synth, record=args.record), args.out)
    if args.rules_table:
        from spikemesh.gen.rules_perf import rules_bench

        return _emit(rules_bench(args.samples, record=args.record), args.out)
    if args.opzo:
        from spikemesh.gen.opzo_perf import opzo_bench

        return _emit(opzo_bench(args.samples, record=args.record), args.out)
    if args.local:
        from spikemesh.gen.local_perf import local_bench

        return _emit(local_bench(args.samples, record=args.record), args.out)
    if args.sr:
        from spikemesh.gen.core_perf import sr_bench

        return _emit(sr_bench(args.samples, _ints(args.lanes), record=args.record), args.out)
    if args.upd:
        return _emit(upd_bench(args.samples, tuple(args.rules.split(",")), _ints(args.lanes)), args.out)

    return main(samples=args.samples, quick=args.quick, out=args.out, rules=tuple(args.rules.split(",")),
                    synth=args.synth, lanes=_ints(args.lanes),
                    overlap=tuple(v.strip() for v in args.overlap.split(",") if v.strip()))
