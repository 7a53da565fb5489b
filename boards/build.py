"""Bitstream builds with the YoWASP (PyPI) yosys/nextpnr, and flashing.

`build_board` writes into `out_dir`: top.bit (ECP5) or top.bin (iCE40), memory_map.json, build.json and
report.json (nextpnr's own report: utilisation and Fmax per clock), and returns a `BuildResult`. Amaranth's
platform prepares the design (RTLIL, yosys script, pin constraints); gen/synth_flow.py runs yosys, nextpnr and
the packer with the options Amaranth's build script would pass, its build cache in `<out>/gateware/`.
"""
from __future__ import annotations

import json
import os
import shlex
import shutil
import subprocess
import time
from dataclasses import dataclass, field, replace
from pathlib import Path

from spikemesh.rtl.soc.top import SoC
from spikemesh.gen.synth_flow import SynthFailed, synthesise
from spikemesh.sim.toolchain import install_hint

from .bitstream import BadBitstream, BitstreamInfo, check_bitstream
from .profiles import BoardProfile, board_profile
from .top import BoardTop

# the packer options of the bitstreams (amaranth-boards' ULX3S platform packs with `ecppack --compress`)
PACK_OPTS = {"ecp5": ("--compress",), "ice40": ()}


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
    critical_path: str = ""                          # nextpnr's critical path report(s) (also critical_path.txt)

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
    from spikemesh.gen.synth_flow import parse_report as parse_mhz

    fmax, util = parse_mhz(path)
    return {clk: mhz * 1e6 for clk, mhz in fmax.items()}, util


def board_request(platform, family: str, top, *, seed: int = 1, freq_mhz: float, nextpnr_opts: str = "",
                  synth_opts: str = ""):
    """The synthesis request of `top` on `platform` (an amaranth-boards platform): the files of Amaranth's build
    plan (RTLIL, its yosys script `top.ys`, the .lpf/.pcf pin constraints) and the nextpnr device, package and
    speed its build script names. `--freq` is the target for every clock (Amaranth's per-net constraint names
    do not always survive synthesis); timing misses are reported and still packed (`--timing-allow-fail`)."""
    from spikemesh.gen.synth_flow import SynthRequest

    overrides = {"ecppack_opts" if family == "ecp5" else "icepack_opts": " ".join(PACK_OPTS[family])}
    plan = platform.prepare(top, name="top", **overrides, **({"synth_opts": synth_opts} if synth_opts else {}))
    text = {n: (c.decode() if isinstance(c, bytes) else c) for n, c in plan.files.items()}
    pins = "top.lpf" if family == "ecp5" else "top.pcf"
    skip = {"top.ys", pins, "top.debug.v"}
    sources = tuple((n, t) for n, t in text.items() if n not in skip and not n.startswith("build_top"))
    if family == "ecp5":
        package = platform._nextpnr_package_options[platform.package].upper()
        speed = int(platform.speed)
    else:
        package = platform.package.lower() + platform._nextpnr_package_options.get(platform.device, "")
        speed = None
    return SynthRequest(top="top", sources=sources, yosys_script=text["top.ys"], family=family,
                        device=platform._nextpnr_device_options[platform.device].lstrip("-"), package=package,
                        speed=speed, constraints=((pins, text[pins]),), freq_mhz=freq_mhz, seed=seed,
                        nextpnr_args=tuple(shlex.split(nextpnr_opts)), pack=True, pack_args=PACK_OPTS[family])


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
    t0 = time.monotonic()
    platform = prof.platform()
    req = board_request(platform, prof.family, BoardTop(prof, soc), seed=seed, freq_mhz=prof.clk_hz / 1e6,
                        nextpnr_opts=nextpnr_opts, synth_opts=synth_opts)
    try:
        res = synthesise(req, out / "gateware")
    except SynthFailed as exc:
        low = exc.tail.lower()
        hint = ("it does not fit" if "unable to place" in low or "failed to place" in low or "utilisation" in low
                else "routing failed: try another --seed or --nextpnr-opts='--router router2'"
                if "routing design failed" in low else "see the log")
        raise BuildFailed(f"build of {board}/{config} failed ({hint}): {exc.stage} exited {exc.returncode}, "
                          f"log {exc.log}\n{exc.tail}") from None
    seconds = time.monotonic() - t0
    bit = out / res.bitstream.name
    shutil.copyfile(res.bitstream, bit)
    report = out / "report.json"
    shutil.copyfile(res.report, report)
    fmax, util = parse_report(report)
    try:
        info = check_bitstream(bit, prof.family, platform.device)
    except BadBitstream as exc:
        raise BuildFailed(f"build of {board}/{config} wrote a bad bitstream {bit}: {exc}") from None
    (out / "critical_path.txt").write_text(res.critical_path + "\n")
    return BuildResult(board, config, out, bit, seconds, prof.clk_hz, fmax, util, info, res.critical_path)


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
