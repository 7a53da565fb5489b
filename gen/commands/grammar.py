"""The command grammar: `spikemesh NOUN VERB [options]`, and the old spellings as deprecated aliases.

    fp     emit | report                      FP units: Verilog of one unit, the synthesis report
    core   emit | bench | synth | map | program   the training core
    mesh   bench | synth | cores | mp | reduce    the mesh network-on-chip
    board  build | flash                      bitstreams and programming
    link   bench                              host-link throughput / fault matrix (simulated board)
    golden train | table                      the numpy golden model
    train, demo, federate, export             single-verb commands

Registered after every other command module: each (noun, verb) below reaches the very parser the old
spelling reaches (one definition of its options), and the old spelling's help says it is deprecated.
The old spellings (`emit fp`, `report fp`, `emit core`, `bench core`, `bench mesh`, `build`, `flash`,
`linkbench`) still work for one release.
"""
from __future__ import annotations

import argparse

#: (noun, verb) -> the old spelling (deprecated; removed after one release)
NOUN_VERBS = {
    ("fp", "emit"): ("emit", "fp"),
    ("fp", "report"): ("report", "fp"),
    ("core", "emit"): ("emit", "core"),
    ("core", "bench"): ("bench", "core"),
    ("mesh", "bench"): ("bench", "mesh"),
    ("board", "build"): ("build",),
    ("board", "flash"): ("flash",),
    ("link", "bench"): ("linkbench",),
}
NOUN_HELP = {"fp": "floating-point units: emit, report", "board": "boards: build, flash",
             "link": "host link: bench"}
#: the old verb-first groups, whose every subcommand has a noun-verb spelling
OLD_GROUPS = ("emit", "report", "bench")


def _subparsers(parser: argparse.ArgumentParser):
    acts = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    return acts[0] if acts else None


def _lookup(sub, path: tuple[str, ...]):
    """(subparsers action holding the last name, parser) the command path reaches, or (None, None)."""
    action, parser = sub, None
    for k, name in enumerate(path):
        if action is None or name not in action.choices:
            return None, None
        parser = action.choices[name]
        if k < len(path) - 1:
            action = _subparsers(parser)
    return action, parser


def _help_of(action, name: str):
    return next((c for c in action._choices_actions if c.dest == name), None)


def _noun(sub, noun: str):
    """The noun's subparsers action (the noun's parser created when no module made it)."""
    if noun not in sub.choices:
        p = sub.add_parser(noun, help=NOUN_HELP.get(noun, noun))
        p.add_subparsers(dest=f"{noun}_what", metavar="VERB")
    parser = sub.choices[noun]
    return _subparsers(parser) or parser.add_subparsers(dest=f"{noun}_what", metavar="VERB")


def register(sub) -> None:
    for (noun, verb), old in NOUN_VERBS.items():
        old_action, parser = _lookup(sub, old)
        if parser is None:
            continue
        new = f"spikemesh {noun} {verb}"
        nsub = _noun(sub, noun)
        old_help = _help_of(old_action, old[-1])
        if verb not in nsub.choices:  # the same parser object: one definition of the options
            nsub.choices[verb] = parser
            nsub._choices_actions.append(nsub._ChoicesPseudoAction(verb, (), old_help.help if old_help else None))
        parser.prog = new
        if old_help is not None and "deprecated" not in (old_help.help or ""):
            old_help.help = f"(deprecated, use `{new}`) {old_help.help or ''}".strip()
    for group in OLD_GROUPS:
        h = _help_of(sub, group)
        if h is not None:
            h.help = "(deprecated verb-first spellings: use `spikemesh NOUN " + group + "`)"
