"""Argument types and checks shared by the `spikemesh` subcommands: one spelling for each kind of value,
and user errors found before any long work starts (one line, exit code 2, see `gen/cli.py`)."""
from __future__ import annotations

import argparse
import os
from pathlib import Path


class DefaultsFormatter(argparse.HelpFormatter):
    """Appends "(default: X)" to every option that has a default worth showing (not None/False/suppressed)."""

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        default = action.default
        if ("%(default)" in text or default in (None, False, argparse.SUPPRESS) or not action.option_strings
                or isinstance(action, (argparse._HelpAction, argparse._VersionAction))):
            return text
        return f"{text} (default: %(default)s)".strip()

    def _format_action(self, action: argparse.Action) -> str:
        if action.help is None and action.option_strings and action.default not in (None, False, argparse.SUPPRESS):
            action.help = "(default: %(default)s)"  # an option without a help text still shows its default
        return super()._format_action(action)


class HelpParser(argparse.ArgumentParser):
    """An ArgumentParser whose `--help` shows every option's default (its subparsers are HelpParsers too)."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("formatter_class", DefaultsFormatter)
        super().__init__(*args, **kwargs)


def layers_arg(text: str) -> tuple[int, ...]:
    """Layer sizes N_0-N_1-...-N_L, e.g. 64-32-10 (commas are accepted too: 64,32,10)."""
    parts = text.replace(",", "-").split("-")
    try:
        sizes = tuple(int(x) for x in parts)
    except ValueError:
        raise argparse.ArgumentTypeError(f"layers must look like 64-32-10, got {text!r}") from None
    if len(sizes) < 2 or min(sizes) < 1:
        raise argparse.ArgumentTypeError(f"layers must list at least 2 sizes >= 1 (e.g. 64-32-10), got {text!r}")
    return sizes


def int_range(lo: int, hi: int | None = None):
    """An argparse type: an int in lo..hi (hi None: no upper bound)."""
    def parse(text: str) -> int:
        try:
            v = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}") from None
        if v < lo or (hi is not None and v > hi):
            raise argparse.ArgumentTypeError(f"must be in {lo}..{hi if hi is not None else 'inf'}, got {v}")
        return v
    parse.__name__ = "int"  # argparse names the type in its messages
    return parse


def ints_arg(text: str) -> tuple[int, ...]:
    """Comma-separated integers, e.g. 1,3,5."""
    try:
        return tuple(int(v) for v in text.split(",") if v.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated integers, got {text!r}") from None


def check_writable(path: str | Path | None, option: str) -> None:
    """Raise ValueError now, not after training, if `path` cannot be written (missing folder, no permission)."""
    if not path:
        return
    p = Path(path)
    folder = p.parent if str(p.parent) else Path(".")
    if p.is_dir():
        raise ValueError(f"{option}: {p} is a folder, not a file")
    if not folder.is_dir():
        raise ValueError(f"{option}: folder {folder} does not exist")
    if not os.access(folder, os.W_OK) or (p.exists() and not os.access(p, os.W_OK)):
        raise ValueError(f"{option}: {p} is not writable")


def check_readable(path: str | Path | None, option: str) -> None:
    if path and not Path(path).is_file():
        raise ValueError(f"{option}: {path} does not exist")


def check_folder(path: str | Path | None, option: str) -> None:
    if path and not Path(path).is_dir():
        raise ValueError(f"{option}: folder {path} does not exist")
