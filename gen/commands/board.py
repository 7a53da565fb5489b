"""`spikemesh board build | board flash | train | link bench`: bitstreams, programming, and training over the host
link (the old spellings `build`, `flash`, `linkbench` are deprecated aliases, gen/commands/grammar.py)."""
from __future__ import annotations

import argparse
from pathlib import Path

from spikemesh.gen.args import int_range, ints_arg, layers_arg


def register(sub) -> None:
    from spikemesh.boards.profiles import BOARDS

    p = sub.add_parser("build", help="build a bitstream for a board (yosys + nextpnr from PyPI/YoWASP)")
    p.add_argument("--board", default="ulx3s-85f", choices=sorted(BOARDS))
    p.add_argument("--config", help="SoC configuration: default, small, train (+ training core), mesh4 (4 cores, "
                   "data parallel, ulx3s-85f), mp3 (64-128-128-10 over 3 cores, model parallel, ulx3s-85f), demo "
                   "(`spikemesh demo`'s chip, ulx3s-85f); default: the board's own "
                   "(ulx3s-85f: default, icebreaker: small)")
    p.add_argument("--out", default="build/boards", help="output folder (a subfolder per board/config)")
    p.add_argument("--seed", type=int, default=1, help="nextpnr placement seed")
    p.add_argument("--nextpnr-opts", default="", help="extra nextpnr options, e.g. '--router router2'")
    p.add_argument("--synth-opts", default="", help="extra synth_ecp5/synth_ice40 options, e.g. '-nodsp'")
    p.add_argument("--layers", type=layers_arg, help="other training-core layer sizes for a core configuration, "
                   "e.g. 64-64-10 (output folder <board>_<config>_<layers>)")
    p.add_argument("--record", action="store_true", help="write the build's Fmax and logic cells into "
                   "docs/measured.json as board.<config>.fmax_mhz / .lut, and for ulx3s-85f also as "
                   "soc.<config>.fmax_mhz / .lut (the board's own configurations only)")
    p.set_defaults(func=_build)

    p = sub.add_parser("flash", help="program a board with a built bitstream (openFPGALoader / iceprog)")
    p.add_argument("--board", default="ulx3s-85f", choices=sorted(BOARDS))
    p.add_argument("--config", help="the configuration that was built (default: the board's own)")
    p.add_argument("--bitstream", help="bitstream file (default: the build folder's top.bit/top.bin)")
    p.add_argument("--out", default="build/boards")
    p.add_argument("--to-flash", action="store_true", help="write SPI flash instead of SRAM")
    p.set_defaults(func=_flash)

    from spikemesh.rtl.core.config import DEFAULT_RULES

    p = sub.add_parser("train", help="train on a board over its USB-UART, or on the simulated board")
    where = p.add_mutually_exclusive_group(required=True)
    where.add_argument("--port", help="serial port or pyserial URL (e.g. /dev/ttyUSB0, socket://host:port)")
    where.add_argument("--sim", action="store_true", help="build and run the simulated board (Verilator)")
    p.add_argument("--sim-mode", default="bytes", choices=("bytes", "bits"),
                   help="simulated board: bytes straight into the link, or through the UART pins")
    p.add_argument("--build-dir", help="folder with memory_map.json + build.json of the board's build")
    p.add_argument("--baud", type=int_range(300, 12_000_000), default=3_000_000, help="serial baud rate")
    p.add_argument("--dataset", default="digits", choices=("digits",), help="training data")
    p.add_argument("--rule", default="sltt", choices=DEFAULT_RULES, help="training rule")
    p.add_argument("--k-steps", dest="k_steps", type=ints_arg,
                   help="sltt_k: the time steps with a backward pass, e.g. 1,3 (default: the last step)")
    p.add_argument("--window", type=int_range(1, 64), help="tbptt: truncation window k (default: T)")
    p.add_argument("--epochs", type=int_range(1), default=1,
                   help="total epochs; with --resume, training continues until this many are complete")
    p.add_argument("--samples", type=int_range(0), default=0, help="train on the first N samples only (0: all)")
    p.add_argument("--checkpoint", default="checkpoint.npz",
                   help="where to save weights + history (after every epoch and on Ctrl-C)")
    p.add_argument("--resume", help="checkpoint to resume from (same rule, network, build and --samples)")
    p.add_argument("--init", help="start from the weights and LIF parameters of a NIR graph of the core's layers "
                                  "(e.g. from `spikemesh export --nir`; docs/nir.md); not with --resume")
    p.add_argument("--plot", help="save a loss/accuracy PNG here")
    p.add_argument("--onboard", action=argparse.BooleanOptionalAction, default=None,
                   help="keep the encoded samples in the board's dataset BRAM (default: when they fit)")
    p.add_argument("--sample-timeout", type=float, default=30.0,
                   help="seconds a sample may take before the core counts as hung")
    p.add_argument("--snapshot-every", type=int_range(1), default=64,
                   help="read the weights back (the state a board reset rolls back to) every N samples")
    p.add_argument("--record", action="store_true", help="--sim, 2+ epochs: write the simulated board's speed "
                   "while training into docs/measured.json (simboard.cycles_per_wall_s)")
    p.add_argument("--cores", type=int_range(1, 4), default=1,
                   help="data parallel on this many cores of a multi-core board (--sim: the simulated 4-core "
                        "board; --port: a `--config mesh4` build), reduction in the network (docs/boards.md)")
    p.add_argument("--batch", type=int_range(1, 32767), default=16,
                   help="--cores > 1: samples per core and step (G accumulates over them, one reduction and "
                        "one update per step)")
    p.add_argument("--speedup", action="store_true",
                   help="--cores > 1: also train on 1 core of the same board and report the speed-up (board "
                        "cycles per sample, simulated board)")
    p.add_argument("--placement", default="data", choices=("data", "model"),
                   help="--cores: data = every core trains the whole network on its own samples; model = the "
                        "network's layers split over the cores (--sim: 64-128-128-10 on 3 cores), samples one "
                        "by one (docs/mesh.md)")
    p.set_defaults(func=_train)

    p = sub.add_parser("linkbench", help="measure host-link throughput on the simulated board")
    p.add_argument("--words", type=int, default=4096)
    p.add_argument("--bits-words", type=int, default=512, help="words moved in the (slow) bit-level mode")
    p.add_argument("--epoch-samples", type=int, default=30,
                   help="also time one training epoch of N samples, on-board vs streamed (0: skip)")
    p.add_argument("--faults", action="store_true",
                   help="instead: the fault-injection matrix (frame faults, a board reset at every frame of a "
                        "short training run); writes docs/link.md and docs/measured.json")
    p.add_argument("--fault-samples", type=int_range(1, 16), default=2, help="digits in the --faults run")
    p.set_defaults(func=_linkbench)


def _build(args: argparse.Namespace) -> int:
    from spikemesh.boards.build import BuildFailed, build_board
    from spikemesh.boards.profiles import board_profile

    if args.record and (args.layers or args.synth_opts or args.nextpnr_opts):
        raise ValueError("--record is for a configuration as the board defines it (no --layers, --synth-opts, "
                         "--nextpnr-opts)")

    try:
        res = build_board(args.board, args.config or board_profile(args.board).default_config, Path(args.out),
                          seed=args.seed,
                          nextpnr_opts=args.nextpnr_opts, synth_opts=args.synth_opts, layers=args.layers)
    except BuildFailed as exc:
        print(f"spikemesh build: {exc}")
        return 1
    print(res.summary())
    print(f"memory map: {res.out_dir / 'memory_map.json'}")
    if res.critical_path:
        print(f"critical path ({res.out_dir / 'critical_path.txt'}):")
        print(res.critical_path.split("\n\n")[0])
    if args.record:
        _record_build(args, res)
    return 0 if res.timing_met else 3


def build_figures(res) -> dict[str, tuple[object, str]]:
    """board.<config>.fmax_mhz / .lut (logic cells: TRELLIS_COMB or ICESTORM_LC) of a default build; for the
    ULX3S-85F the same figures again as soc.<config>.* (the keys the Fmax issue names, e.g. soc.train)."""
    lut = next((used for cell, (used, _) in res.utilisation.items() if cell in ("TRELLIS_COMB", "ICESTORM_LC")), None)
    keys = [f"board.{res.config}", f"soc.{res.config}"] if res.board == "ulx3s-85f" else \
        [f"board.{res.board}.{res.config}"]
    figures = {}
    for key in keys:
        figures[f"{key}.fmax_mhz"] = (round(min(res.fmax_hz.values()) / 1e6, 1),
                                      f"MHz (target {res.target_hz / 1e6:g})")
        if lut is not None:
            figures[f"{key}.lut"] = (lut, "logic cells")
    return figures


def build_command(res, seed: int) -> str:
    """The command line that rebuilds (or finds cached) a recorded default build."""
    return f"spikemesh board build --board {res.board} --config {res.config} --seed {seed} --record"


def _record_build(args: argparse.Namespace, res, path: Path | None = None) -> Path:
    from spikemesh.gen.measured import record

    figures = build_figures(res)
    out = record(figures, build_command(res, args.seed), path)
    print(f"recorded in {out}: {', '.join(figures)}")
    return out


def _flash(args: argparse.Namespace) -> int:
    from spikemesh.boards.build import flash
    from spikemesh.boards.profiles import board_profile

    prof = board_profile(args.board)
    config = args.config or prof.default_config
    bit = args.bitstream or Path(args.out) / f"{args.board}_{config}" / (
        "top.bit" if prof.family == "ecp5" else "top.bin")
    flash(args.board, bit, to_flash=args.to_flash)
    print(f"flashed {bit} to {args.board}")
    return 0


def _train(args: argparse.Namespace) -> int:
    from spikemesh.firmware.train import cli_train

    return cli_train(args)


def _linkbench(args: argparse.Namespace) -> int:
    if args.faults:
        from spikemesh.sim.benches.link_faults import main as faults

        return faults(samples=args.fault_samples)
    from spikemesh.sim.benches.link_throughput import main

    return main(words=args.words, bits_words=args.bits_words, epoch_samples=args.epoch_samples)
