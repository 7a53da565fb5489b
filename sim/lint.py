"""`verilator --lint-only -Wall` on emitted Verilog, every warning traced back to the Python line that made it.

Amaranth writes its source locations into the Verilog as `(* src = "file.py:line" *)` attributes (with
`emit_src=True`): on operators inline, on declarations the line before.  `lint(text, top)` runs Verilator and
returns one `LintWarning` per warning (code, Verilog line, message, the signal it names, the Python file and
line), so a test can keep the warnings of spikemesh's own logic at zero and waive, by pattern, what Amaranth's
code generation always emits (tests/test_lint.py).

    python -m spikemesh.sim.lint core|soc|node   the warnings of one design, by code and Python source line
"""
from __future__ import annotations

import re
import subprocess
import tempfile
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from .toolchain import setup_simulator_path

_WARN = re.compile(r"^%Warning-(\w+): ([^:]+):(\d+):(\d+): (.*)$")
_SRC = re.compile(r'\(\* src = "([^"]*)" \*\)')
_NAMED = re.compile(r"(?:: |VARREF )'([^']+)'")
_CASE = re.compile(r"\bcasez?\s*\(\s*(\\?\S+)\s*\)")
_DECL = re.compile(r"^\s*(?:input|output|inout|wire|reg)\b(?:\s+signed)?\s*(?:\[[^\]]*\])?\s*(\\?\S+)")
_ASSIGN = re.compile(r"^\s*(?:assign\s+)?(\\?\S+)\s*<?=")
PACKAGE_ROOT = Path(__file__).resolve().parents[1]


@dataclass(frozen=True)
class LintWarning:
    code: str        # Verilator's warning code, e.g. WIDTHEXPAND
    line: int        # line in the emitted Verilog
    message: str
    signal: str      # the signal the warning names (declaration, case selector or assigned value), or ""
    src: str         # "path.py:line" of the Python that made it ("" when Amaranth left no location)

    @property
    def src_file(self) -> str:
        """The source file relative to the spikemesh package folders (rtl/core/core.py), `amaranth/...` for
        Amaranth's own library, or the path as written."""
        path = self.src.rsplit(":", 1)[0]
        if not path:
            return ""
        if "/amaranth/" in path:
            return "amaranth/" + path.split("/amaranth/", 1)[1]
        for marker in ("/spikemesh/", str(PACKAGE_ROOT) + "/"):
            if marker in path:
                return path.split(marker, 1)[1]
        return path


def _first_src(attr: str) -> str:
    return attr.split("|")[0].strip()


def _index(lines: list[str]) -> tuple[dict[str, str], dict[str, str]]:
    """{signal: src of its declaration}, {signal: src of an assignment to it} of the Verilog lines."""
    decl, assign = {}, {}
    pending = ""
    for text in lines:
        srcs = _SRC.findall(text)
        stripped = _SRC.sub("", text).strip()
        if not stripped:  # an attribute line: it belongs to the next declaration / instance
            pending = _first_src(srcs[0]) if srcs else pending
            continue
        m = _DECL.match(stripped)
        if m:
            if pending:
                decl.setdefault(m.group(1), pending)
        else:
            a = _ASSIGN.match(stripped)
            if a and srcs:
                assign.setdefault(a.group(1), _first_src(srcs[0]))
        pending = ""
    return decl, assign


def _signal_of(code: str, message: str, text: str) -> str:
    if code.startswith("CASE"):
        m = _CASE.search(text)
        return m.group(1) if m else ""
    m = _NAMED.search(message)
    if m:
        return m.group(1).split("[")[0]
    m = _DECL.match(_SRC.sub("", text)) or _ASSIGN.match(_SRC.sub("", text))
    return m.group(1) if m else ""


def parse(output: str, verilog: str) -> list[LintWarning]:
    """The warnings in Verilator's `output` on the Verilog text `verilog`, each traced to its Python source."""
    lines = verilog.splitlines()
    decl, assign = _index(lines)
    out = []
    for raw in output.splitlines():
        m = _WARN.match(raw)
        if not m:
            continue
        code, _, ln, col, message = m.groups()
        ln, col = int(ln), int(col)
        text = lines[ln - 1] if 0 < ln <= len(lines) else ""
        signal = _signal_of(code, message, text)
        key = "\\" + signal.lstrip("\\") if signal.startswith("$") else signal
        src = ""
        inline = [(mm.start(), _first_src(mm.group(1))) for mm in _SRC.finditer(text)]
        if inline and not code.startswith(("UNUSED", "UNDRIVEN", "PROCASSINIT", "CASE")):
            after = [s for pos, s in inline if pos >= col - 1]
            src = after[0] if after else inline[-1][1]
        if not src:
            src = decl.get(key) or decl.get(signal) or assign.get(key) or assign.get(signal) or \
                (inline[0][1] if inline else "")
        out.append(LintWarning(code, ln, message, signal.lstrip("\\"), src))
    return out


def lint(verilog: str, top: str, *, extra: tuple[str, ...] = ()) -> list[LintWarning]:
    """Run `verilator --lint-only -Wall` on `verilog` (top module `top`); its warnings, traced."""
    setup_simulator_path("verilator")
    with tempfile.TemporaryDirectory(prefix="spikemesh_lint_") as tmp:
        path = Path(tmp) / f"{top}.v"
        path.write_text(verilog)
        res = subprocess.run(["verilator", "--lint-only", "-Wall", "-Wno-fatal", "--top-module", top, *extra,
                              str(path)], capture_output=True, text=True)
    if res.returncode != 0 and "%Error" in res.stderr:
        raise RuntimeError("verilator --lint-only failed:\n" + res.stderr[-3000:])
    return parse(res.stdout + res.stderr, verilog)


# ---- what Amaranth's code generation always emits (the waivers of tests/test_lint.py) ----
#: (code, message pattern, why it is Amaranth's and not a width bug of the design)
AMARANTH_PATTERNS = (
    ("PROCASSINIT", r"", "every synchronous signal is declared with its init value (`reg x = 16'h0000;`) and "
                         "assigned in an always block: Amaranth's reset/initial-value convention"),
    ("DECLFILENAME", r"", "the whole design is one file; modules are named after the hierarchy"),
    ("UNUSEDSIGNAL", r"", "Amaranth keeps every named Signal and the full width of each temporary (`$123`) "
                          "whose bits are sliced; unused interface members and bits cost no logic after synthesis"),
    ("WIDTHEXPAND", r"'s (?:CONST|SIGNED) '?[^ ]*'? ?generates|'s SIGNED generates",
     "a constant written at its minimal width (`x == 2'h2` with x 3 bits; `$signed(2'h1)`): Amaranth's "
     "operands are extended by its rules, which Verilog's extension reproduces"),
    ("WIDTHEXPAND", r"^Operator (?:ADD|SUB|MUL|SHIFTL|SHIFTR|SHIFTRS|NEGATE|AND|OR|XOR|NOT|COND|ASSIGNW) expects",
     "arithmetic and bitwise results are as wide as Amaranth's rules make them (a + b: one bit more than the "
     "wider operand), the narrower operand extended: Verilog's extension computes the same bits"),
    ("WIDTHTRUNC", r"LOGNOT expects 1 bit", "`Value.bool()` / `x == 0` / `~x.any()` written as `!x` on a "
                                            "multi-bit value"),
    ("WIDTHTRUNC", r"ASSIGNW expects \d+ bits on the Assign RHS, but Assign RHS's SHIFTR",
     "`bit_select` / `word_select` with a variable offset: a shift whose low bits are kept"),
    ("CASEINCOMPLETE", r"", "Amaranth's `Switch` without `Default` (and every FSM's state switch): cases not "
                            "listed keep the values assigned before the switch, as Amaranth specifies"),
)


def amaranth_pattern(w: LintWarning) -> str | None:
    """Why `w` is a pattern of Amaranth's code generation (None: a warning about the design's own logic)."""
    for code, pattern, why in AMARANTH_PATTERNS:
        if w.code == code and re.search(pattern, w.message):
            return why
    return None


# ---- the designs tests/test_lint.py checks ----
def emit_core() -> tuple[str, str]:
    """The 64-32-10 core (T = 4), as `spikemesh core emit --layers 64-32-10 --t-max 4` builds it."""
    from spikemesh.sim.emit import convert_verilog

    from spikemesh.rtl.core import CoreConfig, TrainingCore

    return convert_verilog(TrainingCore(CoreConfig(layers=(64, 32, 10), t_max=4)), name="spikemesh_core"), \
        "spikemesh_core"


def emit_train_soc() -> tuple[str, str]:
    """The ULX3S-85F `train` SoC (link, status, dataset, loader and its training core), as `board build` makes it."""
    from spikemesh.sim.emit import convert_verilog

    from spikemesh.boards.profiles import board_profile
    from spikemesh.rtl.core import TrainingCore
    from spikemesh.rtl.soc.top import SoC

    prof = board_profile("ulx3s-85f")
    soc = SoC(prof.soc_config("train"), core=TrainingCore(prof.core_config("train")))
    return convert_verilog(soc, name="soc"), "soc"


def emit_mesh_node() -> tuple[str, str]:
    """One node of a data-parallel mesh: an interior router (all five ports) of a 3x3 mesh joined at its local
    port to the node's reduce interface (bus bridge + gradient reducer) for a 64-32-10 core."""
    from amaranth import Module
    from spikemesh.sim.emit import convert_verilog
    from amaranth.lib import wiring

    from spikemesh.rtl.core import CoreConfig
    from spikemesh.rtl.core.layout import CoreLayout
    from spikemesh.rtl.mesh.flit import MeshConfig
    from spikemesh.rtl.mesh.reduce_node import ReduceNode
    from spikemesh.rtl.mesh.router import Router

    mc = MeshConfig(3, 3, 32)
    lay = CoreLayout(CoreConfig(layers=(64, 32, 10), t_max=4))
    g = lay.region("g")
    m = Module()
    m.submodules.router = router = Router(mc, 1, 1)
    m.submodules.iface = iface = ReduceNode(mc, 1, 1, lay.addr_width, g.offset, g.size)
    wiring.connect(m, router.local_out, iface.net_in)
    wiring.connect(m, iface.net_out, router.local_in)
    ports = []
    for comp, skip in ((router, ("local_in", "local_out")), (iface, ("net_in", "net_out"))):
        for path, _, value in comp.signature.flatten(comp):
            if path[0] not in skip:
                ports.append(value.as_value() if hasattr(value, "as_value") else value)
    return convert_verilog(m, name="mesh_node", ports=ports), "mesh_node"


DESIGNS = {"core": emit_core, "soc": emit_train_soc, "node": emit_mesh_node}


def summary(warnings: list[LintWarning]) -> str:
    by_code = Counter(w.code for w in warnings)
    rows = [f"{n:6d}  {c}" for c, n in sorted(by_code.items())]
    by_src = Counter((w.code, w.src_file, w.src.rsplit(":", 1)[-1] if w.src else "") for w in warnings)
    rows += [f"{n:6d}  {c:16s} {f}:{ln}" for (c, f, ln), n in sorted(by_src.items())]
    return "\n".join(rows)


if __name__ == "__main__":
    import sys

    for name in sys.argv[1:] or list(DESIGNS):
        text, top = DESIGNS[name]()
        ws = lint(text, top)
        print(f"== {name}: {len(ws)} warnings")
        print(summary(ws))
