"""Lint: `verilator --lint-only -Wall` on the emitted 64-32-10 core, the ULX3S-85F `train` SoC and a mesh node
(an interior router joined to its reduce interface).  Every warning is traced to the Python line that made it
(Amaranth's src attributes, spikemesh.sim.lint); the test fails on any warning that is neither a pattern of
Amaranth's code generation (`AMARANTH_PATTERNS` in sim/lint.py, each with why it is not a design bug) nor in
the temporary waivers below.

    python -m spikemesh.sim.lint core|soc|node    the warnings of one design, by code and Python source line
"""
import re

import pytest

from spikemesh.sim.lint import AMARANTH_PATTERNS, DESIGNS, amaranth_pattern, lint

#: Waivers for warnings of spikemesh's own logic, (code, Python file the warning is traced to, message
#: pattern, why): none are left. A new warning from a spikemesh line fails the test.
TEMPORARY_WAIVERS: list[tuple[str, str, str, str]] = []


def _waived(w) -> bool:
    return any(w.code == code and w.src_file == path and re.search(pattern, w.message)
               for code, path, pattern, _ in TEMPORARY_WAIVERS)


@pytest.mark.parametrize("design", ["core", "node", pytest.param("soc", marks=pytest.mark.slow)])
def test_lint_clean_but_for_amaranth_patterns(design):
    text, top = DESIGNS[design]()
    warnings = lint(text, top)
    assert warnings, "verilator reported nothing: the lint run did not happen"
    left = [w for w in warnings if not amaranth_pattern(w) and not _waived(w)]
    assert not left, f"{len(left)} lint warning(s) of spikemesh's own logic in {design}:\n" + "\n".join(
        f"  {w.code} {w.src or '(no source)'} signal={w.signal!r}: {w.message}" for w in left)


def test_attribution_traces_warnings_to_python_lines():
    """The parser reads Verilator's format and finds the src attribute after the flagged operator."""
    from spikemesh.sim.lint import parse

    verilog = ('module t;\n'
               '  (* src = "/x/spikemesh/rtl/mesh/router.py:12" *)\n'
               '  reg [2:0] st = 3\'h0;\n'
               '  assign \\$1  = st == (* src = "/x/spikemesh/rtl/mesh/router.py:40" *) 2\'h2;\n'
               'endmodule\n')
    out = ("%Warning-WIDTHEXPAND: t.v:4:20: Operator EQ expects 3 bits on the RHS, but RHS's CONST '2'h2' "
           "generates 2 bits.\n"
           "%Warning-PROCASSINIT: t.v:3:13: Procedural assignment to declaration with initial value: 'st'\n")
    a, b = parse(out, verilog)
    assert (a.code, a.src_file, a.src.rsplit(":", 1)[1]) == ("WIDTHEXPAND", "rtl/mesh/router.py", "40")
    assert (b.code, b.signal, b.src_file, b.src.rsplit(":", 1)[1]) == ("PROCASSINIT", "st", "rtl/mesh/router.py", "12")
    assert amaranth_pattern(a) and amaranth_pattern(b)
    assert all(why for _, _, why in AMARANTH_PATTERNS)
