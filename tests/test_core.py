"""The training core against the contract, bit for bit, on generated Verilog (cocotb)."""
import pytest

from spikemesh.rtl.core import CoreConfig, TrainingCore
from spikemesh.sim.cocotb_run import run_cocotb


def _run(sim, tag, core, **params):
    cfg = CoreConfig(**core)
    run_cocotb(lambda: TrainingCore(cfg), toplevel="spikemesh_core", test_module="spikemesh.sim.benches.core_bench",
               sim=sim, tag=tag, params={"core": core, **params})


def test_sltt_small_verilator():
    core = dict(layers=(8, 6, 3), t_max=4)
    _run("verilator", "small", core, T=4, rule="sltt", seed=1, samples=3, direct=True)
