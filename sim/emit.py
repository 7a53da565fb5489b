"""Amaranth -> Verilog for the simulators and the synthesis flows, through Amaranth's bundled yosys."""
from __future__ import annotations

import warnings

from amaranth._toolchain.yosys import YosysError
from amaranth.back import verilog


def convert_verilog(component, *, name: str, tries: int = 3, **kwargs) -> str:
    """`verilog.convert`, tried again when the bundled yosys fails to start: it runs in wasmtime, whose start-up
    can fail under memory pressure ("cannot add seals to the memfd") before yosys reads any input. Any other
    yosys error is raised at once."""
    for attempt in range(tries):
        try:
            return verilog.convert(component, name=name, **kwargs)
        except YosysError as exc:
            if "WasmtimeError" not in str(exc) or attempt == tries - 1:
                raise
            warnings.warn(f"yosys did not start ({str(exc).splitlines()[-1]}); trying again", RuntimeWarning)
    raise AssertionError("unreachable")
