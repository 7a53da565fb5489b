"""Verilog emission (sim/emit.py): a bundled yosys that fails to start is tried again, nothing else is."""
import pytest
from amaranth._toolchain.yosys import YosysError

from spikemesh.sim import cocotb_run, emit

START_FAILURE = "Traceback ...\nwasmtime._error.WasmtimeError: cannot add seals to the memfd"


def _flaky(errors):
    calls = []

    def convert(component, name, emit_src):
        calls.append(name)
        if len(calls) <= len(errors):
            raise YosysError(errors[len(calls) - 1])
        return f"module {name}; endmodule\n"
    return convert, calls


def test_yosys_start_failure_is_tried_again(monkeypatch, tmp_path):
    convert, calls = _flaky([START_FAILURE])
    monkeypatch.setattr(emit.verilog, "convert", convert)
    with pytest.warns(RuntimeWarning, match="yosys did not start"):
        path = cocotb_run.emit_verilog(object(), "top", tmp_path / "top.v")
    assert path.read_text() == "module top; endmodule\n" and calls == ["top", "top"]


def test_other_yosys_errors_and_repeated_start_failures_are_raised(monkeypatch, tmp_path):
    convert, calls = _flaky(["ERROR: Found logic loop"])
    monkeypatch.setattr(emit.verilog, "convert", convert)
    with pytest.raises(YosysError, match="logic loop"):
        cocotb_run.emit_verilog(object(), "top", tmp_path / "top.v")
    assert calls == ["top"]
    convert, calls = _flaky([START_FAILURE] * 3)
    monkeypatch.setattr(emit.verilog, "convert", convert)
    with pytest.raises(YosysError, match="memfd"), pytest.warns(RuntimeWarning):
        cocotb_run.emit_verilog(object(), "top", tmp_path / "top.v")
    assert len(calls) == 3
