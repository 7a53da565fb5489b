"""`spikemesh` subcommands for the training core:

  spikemesh emit core --layers 64-128-128-10 --t-max 8 [-o core.v]       Verilog of one core
  spikemesh core map --layers ...                                      the core's memory map (JSON regions)
  spikemesh core program --layers ... --rule sltt --T 8 [--k-steps 1,3]  the per-sample program words
  spikemesh bench core [--samples N] [--quick] [--lanes 1,2,4] [--synth] [--out ...]   cycles, sparse vs dense,
                                                       lane speed-up and utilisation, ECP5, PyTorch
  spikemesh bench core --overlap 0,1[,front,spread] --rules sltt,sltt_k   cycles with / without the forward engine
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

from spikemesh.gen.args import layers_arg

REPO = Path(__file__).resolve().parents[2]


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
    p.add_argument("--lanes", type=int, default=1, help="MAC lanes P (1, 2, 4 or 8; default 1)")
    p.add_argument("--overlap", action="store_true", help="with the forward engine (FWD under BP/WG)")


def _cfg(args):
    from spikemesh.rtl.core import CoreConfig

    return CoreConfig(layers=tuple(args.layers), t_max=args.t_max, lanes=args.lanes, overlap=args.overlap)


def register(sub) -> None:
    e = _group(sub, "emit", "emit Verilog for a named unit (one subcommand per area)").add_parser(
        "core", help="Verilog of one training core")
    _core_args(e)
    e.add_argument("-o", "--output", type=Path, help="output file (default: stdout)")
    e.set_defaults(func=run_emit)

    core = sub.add_parser("core", help="training core: memory map, programs")
    csub = core.add_subparsers(dest="core_what", metavar="WHAT")
    mp = csub.add_parser("map", help="the core's regions as MemoryMap JSON")
    _core_args(mp)
    mp.set_defaults(func=run_map)
    pr = csub.add_parser("program", help="program words for one training sample")
    _core_args(pr)
    pr.add_argument("--rule", default="sltt")
    pr.add_argument("--T", type=int, default=8)
    pr.add_argument("--k-steps", default="", help="SLTT-K step set, e.g. 1,3,7")
    pr.set_defaults(func=run_program)

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
    b.add_argument("--out", type=Path, default=REPO / "build" / "core_bench.json")
    b.set_defaults(func=run_bench)


def run_emit(args) -> int:
    from amaranth.back import verilog

    from spikemesh.rtl.core import TrainingCore

    # a core too big for every supported board is refused here, by CoreConfig (ValueError: one line, exit 2)
    text = verilog.convert(TrainingCore(_cfg(args)), name="spikemesh_core", emit_src=False)
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


def run_bench(args) -> int:
    import importlib.util

    spec = importlib.util.spec_from_file_location("core_bench", REPO / "bench" / "core_bench.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod.main(samples=args.samples, quick=args.quick, out=args.out, rules=tuple(args.rules.split(",")),
                    synth=args.synth, lanes=_ints(args.lanes),
                    overlap=tuple(v.strip() for v in args.overlap.split(",") if v.strip()))
