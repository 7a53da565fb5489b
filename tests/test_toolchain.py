"""The simulation flow itself: Amaranth Verilog through cocotb on both simulators."""
import pytest
from amaranth import Module, Signal
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from spikemesh.sim.cocotb_run import run_cocotb


class Counter(wiring.Component):
    en: In(1)
    count: Out(8)

    def elaborate(self, platform):
        m = Module()
        with m.If(self.en):
            m.d.sync += self.count.eq(self.count + 1)
        return m


@pytest.mark.parametrize("sim", ["verilator", "icarus"])
def test_counter_counts(sim):
    run_cocotb(Counter, toplevel="smoke_counter", test_module="spikemesh.sim.benches.smoke_bench", sim=sim,
               params={"cycles": 300})
