"""The `spikemesh` command-line tool.

Each group of subcommands lives in its own module under `spikemesh.gen.commands` and adds itself through
`register(subparsers)`; the module sets `func` on its parser (called with the parsed args, returns an exit code).
"""
from __future__ import annotations

import argparse
import importlib
import sys

COMMAND_MODULES = ("fp", "golden", "core", "board", "mesh", "demo")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="spikemesh",
        description="Generate, verify, build and drive FP16 spiking-neural-network training hardware.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMAND_MODULES:
        importlib.import_module(f"spikemesh.gen.commands.{name}").register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 0
    try:
        return int(args.func(args) or 0)
    except (ValueError, RuntimeError) as exc:  # configuration errors: one clear line, no traceback
        print(f"spikemesh {args.command}: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
