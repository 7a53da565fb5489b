"""Targeted bit-exactness runs of single FP16 units at chosen pipeline depths (the deep, high-Fmax depths and
the depths the core uses) through cocotb + Verilator, results AND flags against the golden model
spikemesh.sim.fp (itself checked against SoftFloat). Each case builds only the lanes it names, so a change to
one unit can be checked in seconds: `pytest tests/test_fp_rtl_deep.py -k add`."""
from __future__ import annotations

import os

import pytest

from spikemesh.rtl.formats import FP16
from spikemesh.rtl.fp import FPAdd, FPAddPipe, FPFMA, FPFMAPipe, FPMul, FPMulPipe
from spikemesh.sim.benches.fp_harness import Group, LaneHarness
from spikemesh.sim.cocotb_run import run_cocotb

MAKE = {"add": FPAdd, "mul": FPMul, "fma": FPFMA}
MAX = {"add": FPAddPipe.MAX_DEPTH, "mul": FPMulPipe.MAX_DEPTH, "fma": FPFMAPipe.MAX_DEPTH}
# Vectors per case; FP_DEEP_N scales them (e.g. FP_DEEP_N=100000 for a long run).
N_RANDOM = int(os.environ.get("FP_DEEP_N", "30000"))


def _cases():
    for op in MAKE:
        # every depth beyond the original range (0..4, fma 0..5) and the core's default depth 4
        depths = tuple(sorted({4, *range(5 if op != "fma" else 6, MAX[op] + 1)}))
        yield op, depths


@pytest.mark.parametrize("op,depths", list(_cases()))
def test_deep_depths_vs_golden(op: str, depths: tuple[int, ...]) -> None:
    fmt = FP16
    # two lanes per depth: lane 0 never stalls its output (checks latency == depth), lane 1 sees backpressure
    lanes = tuple(d for d in depths for _ in range(2))
    groups = [Group(op, lambda d, op=op: MAKE[op](fmt, d), lanes)]
    harness = LaneHarness(groups)
    params = dict(fmt="fp16", int_width=16, seed=7, n_random=N_RANDOM, n_corner=N_RANDOM // 3, exhaustive=False,
                  groups={op: list(lanes)}, widths={op: list(harness.widths(op))})
    run_cocotb(lambda: harness, toplevel=f"fp_deep_{op}_{fmt.tag}", tag="-".join(map(str, depths)),
               test_module="spikemesh.sim.benches.fp_bench", sim="verilator", params=params)
