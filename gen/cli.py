"""The `spikemesh` command-line tool.

Each group of subcommands lives in its own module under `spikemesh.gen.commands` and adds itself through
`register(subparsers)`; the module sets `func` on its parser (called with the parsed args, returns an exit code).
"""
from __future__ import annotations

import importlib
import signal
import sys

from .args import HelpParser

#: "grammar" last: it gives every command its `spikemesh NOUN VERB` spelling (gen/commands/grammar.py)
COMMAND_MODULES = ("fp", "golden", "core", "board", "mesh", "demo", "federate", "export", "grammar")


def build_parser() -> HelpParser:
    parser = HelpParser(
        prog="spikemesh",
        description="Generate, verify, build and drive FP16 spiking-neural-network training hardware.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMAND_MODULES:
        importlib.import_module(f"spikemesh.gen.commands.{name}").register(sub)
    return parser


class Terminated(BaseException):
    """SIGTERM or SIGHUP: unwind like Ctrl-C so that every `finally` (closing a simulated board) runs."""


def _terminate(signum, frame):
    raise Terminated(signal.Signals(signum).name)


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 0
    old = {sig: signal.signal(sig, _terminate) for sig in (signal.SIGTERM, signal.SIGHUP)}
    try:
        return int(args.func(args) or 0)
    except (ValueError, RuntimeError, OSError) as exc:  # user and configuration errors: one line, no traceback
        print(f"spikemesh {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"spikemesh {args.command}: interrupted", file=sys.stderr)
        return 130
    except Terminated as exc:
        print(f"spikemesh {args.command}: stopped by {exc}", file=sys.stderr)
        return 143
    finally:
        for sig, handler in old.items():
            signal.signal(sig, handler)


if __name__ == "__main__":
    sys.exit(main())
