"""The CLI grammar `spikemesh NOUN VERB`: every noun-verb command and its deprecated old spelling reach the same
parser (one definition of the options); the old spellings say they are deprecated."""
import pytest

from spikemesh.gen.cli import build_parser, main
from spikemesh.gen.commands.grammar import NOUN_VERBS, _lookup


def _sub(parser):
    import argparse

    return next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))


@pytest.mark.parametrize("new, old", sorted(NOUN_VERBS.items()))
def test_noun_verb_and_old_spelling_share_one_parser(new, old):
    sub = _sub(build_parser())
    _, p_new = _lookup(sub, new)
    action, p_old = _lookup(sub, old)
    assert p_new is not None and p_old is not None
    if new != ("mesh", "bench"):  # `mesh bench` predates the grammar: its own parser with the same options
        assert p_new is p_old
    assert p_new.prog == "spikemesh " + " ".join(new)
    help_line = next(c for c in action._choices_actions if c.dest == old[-1]).help
    assert help_line.startswith(f"(deprecated, use `spikemesh {' '.join(new)}`)")


def test_noun_verb_parses_to_the_same_function():
    parser = build_parser()
    a = parser.parse_args(["core", "emit", "--layers", "8-4-2", "--t-max", "2"])
    b = parser.parse_args(["emit", "core", "--layers", "8-4-2", "--t-max", "2"])
    assert a.func is b.func and tuple(a.layers) == tuple(b.layers) == (8, 4, 2)
    assert parser.parse_args(["board", "build"]).func is parser.parse_args(["build"]).func
    assert parser.parse_args(["link", "bench"]).func is parser.parse_args(["linkbench"]).func
    fp_new, fp_old = (parser.parse_args([*cmd, "--op", "add"]).func for cmd in (["fp", "emit"], ["emit", "fp"]))
    assert fp_new is fp_old
    assert parser.parse_args(["core", "synth", "--layers", "8-4-2"]).func.__name__ == "run_synth"


def test_core_emit_writes_verilog(tmp_path):
    out = tmp_path / "core.v"
    assert main(["core", "emit", "--layers", "8-4-2", "--t-max", "2", "-o", str(out)]) == 0
    assert "module spikemesh_core" in out.read_text()
