"""Generation-time checks of the FP units: parameter validation, names, latency, and the emit -> yosys path
that `spikemesh report fp` uses (yosys only; the full place-and-route report is run by its command)."""
from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from spikemesh.gen.cli import main
from spikemesh.rtl.formats import BF16, FP16, FP32
from spikemesh.gen.fp_report import yosys_stat
from spikemesh.rtl.fp import (FPAdd, FPAddPipe, FPCompare, FPComparePipe, FPFMA, FPFMAPipe, FPFromInt,
                              FPFromIntPipe, FPMul, FPMulPipe)


@pytest.mark.parametrize("cls,max_depth", [(FPAddPipe, 7), (FPMulPipe, 6), (FPFMAPipe, 9), (FPComparePipe, 2)])
def test_depth_range_and_latency(cls, max_depth):
    for d in range(max_depth + 1):
        assert cls(FP16, d).latency == d
    for bad in (-1, max_depth + 1, 1.5, True):
        with pytest.raises(ValueError, match=rf"depth must be an int in 0\.\.{max_depth}"):
            cls(FP16, bad)


def test_bad_format_and_int_width():
    for cls in (FPAddPipe, FPMulPipe, FPFMAPipe, FPComparePipe):
        with pytest.raises(ValueError, match="fmt must be an FPFormat"):
            cls("fp16", 1)
    with pytest.raises(ValueError, match=r"int_width must be an int in 2\.\.64"):
        FPFromIntPipe(FP16, 1, True, 1)
    with pytest.raises(ValueError, match=r"int_width must be an int in 1\.\.64"):
        FPFromIntPipe(FP16, 65, False, 1)
    with pytest.raises(ValueError, match=r"depth must be an int in 0\.\.3"):
        FPFromIntPipe(FP16, 16, True, 4)
    with pytest.raises(ValueError, match="dsp must be one of"):
        FPMulPipe(FP16, 2, dsp="xilinx")


def test_names_carry_parameters():
    assert FPAddPipe(FP16, 2).module_name == "fp_add_e5m10_d2"
    assert FPMulPipe(BF16, 3).module_name == "fp_mul_e8m7_d3"
    assert FPFMAPipe(FP32, 0).module_name == "fp_fma_e8m23_d0"
    assert FPFromIntPipe(FP16, 12, False, 1).module_name == "fp_from_u12_e5m10_d1"
    assert FPAdd(FP16, 1).module_name == "fp_stream_add_e5m10_d1"
    for u in (FPAdd(), FPMul(), FPFMA(), FPCompare(), FPFromInt()):
        assert u.latency == u.pipe.latency


def test_emit_and_yosys_synth(tmp_path: Path):
    """`spikemesh emit` writes the named module; yosys maps the ecp5 multiplier to exactly one MULT18X18D."""
    out = tmp_path / "mul.v"
    assert main(["emit", "fp", "--op", "mul", "--format", "fp16", "--depth", "2", "--target", "ecp5",
                 "-o", str(out)]) == 0
    text = out.read_text()
    assert "module fp_mul_e5m10_d2" in text and "MULT18X18D" in text
    cells = yosys_stat(text, "fp_mul_e5m10_d2", tmp_path / "synth")
    assert cells.get("MULT18X18D") == 1, cells
    assert 30 < cells.get("LUT4", 0) < 1000, cells
    assert main(["emit", "fp", "--op", "add", "--depth", "9", "-o", str(tmp_path / "x.v")]) == 2  # ValueError


def test_variant_builds_drop_the_flags_and_pass_abc9(tmp_path: Path):
    """`report fp --variants`: the noflags wrapper has no flags port and yosys keeps fewer cells than the plain
    build of the same unit; abc9 reaches synth_ecp5; unknown variants are refused."""
    from spikemesh.gen.fp_report import unit_request

    plain, n_plain = unit_request("add", FP16, 4, "ecp5-85f")
    bare, n_bare = unit_request("add", FP16, 4, "ecp5-85f", variant="noflags+abc9")
    assert bare.synth_opts == "-abc9" and plain.synth_opts == ""
    assert n_plain - n_bare == 5  # the five flag bits are no longer registered by the wrapper
    text_plain, text_bare = plain.sources[0][1], bare.sources[0][1]
    assert "output [4:0] flags" in text_plain and "flags" not in text_bare.split("module top", 1)[1].split(");")[0]
    cells = lambda text: sum(v for k, v in yosys_stat(text, "top", tmp_path / str(len(text))).items()
                             if k.startswith("LUT4"))
    assert cells(text_bare) < cells(text_plain)  # yosys_stat runs the default script: the flags logic alone
    with pytest.raises(ValueError, match="variant must be one of"):
        unit_request("add", FP16, 4, "ecp5-85f", variant="fast")
    with pytest.raises(ValueError, match="variant must be one of"):
        unit_request("add", FP16, 4, "ice40-up5k", variant="noflags")
