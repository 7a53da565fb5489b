"""The FP RTL units (spikemesh.rtl.fp) through cocotb on Verilator and Icarus, results AND flags against the
golden model spikemesh.sim.fp. One build per (format, simulator) holds every unit: FP16 at every depth."""
from __future__ import annotations

import pytest

from spikemesh.rtl.formats import FP16, BF16, FP32, format_by_name
from spikemesh.sim.benches.fp_harness import LaneHarness, groups_for
from spikemesh.sim.cocotb_run import run_cocotb

# (format, simulator) -> how much: all depths or one; random vectors per op; corner tuples per op; exhaustive.
PLANS = {
    ("fp16", "verilator"): dict(all_depths=True, n_random=100_000, n_corner=30_000, exhaustive=True),
    ("fp16", "icarus"): dict(all_depths=False, n_random=5_000, n_corner=1_000, exhaustive=False),
    ("bf16", "verilator"): dict(all_depths=False, n_random=5_000, n_corner=2_000, exhaustive=False),
    ("fp32", "verilator"): dict(all_depths=False, n_random=5_000, n_corner=2_000, exhaustive=False),
}


@pytest.mark.parametrize("fmt_name,sim", list(PLANS))
def test_fp_units_vs_golden(fmt_name: str, sim: str) -> None:
    plan = PLANS[(fmt_name, sim)]
    fmt = format_by_name(fmt_name)
    groups = groups_for(fmt, plan["all_depths"], lanes_per_depth=1 if plan["all_depths"] else 3)
    harness = LaneHarness(groups)
    params = dict(fmt=fmt_name, int_width=16, seed=2026, n_random=plan["n_random"], n_corner=plan["n_corner"],
                  exhaustive=plan["exhaustive"], groups={g.name: list(g.depths) for g in groups},
                  widths={g.name: list(harness.widths(g.name)) for g in groups})
    run_cocotb(lambda: harness, toplevel=f"fp_lanes_{fmt.tag}", tag="all" if plan["all_depths"] else "one",
               test_module="spikemesh.sim.benches.fp_bench", sim=sim, params=params)
