"""The simulation flow itself: Amaranth Verilog through cocotb on both simulators."""
import pytest
from amaranth import Module, Signal
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from spikemesh.sim.cocotb_run import run_cocotb


def counter(width: int) -> type:
    """An enabled up-counter component, `width` bits wide."""
    class Counter(wiring.Component):
        en: In(1)
        count: Out(width)

        def elaborate(self, platform):
            m = Module()
            with m.If(self.en):
                m.d.sync += self.count.eq(self.count + 1)
            return m
    return Counter


Counter, Counter16 = counter(8), counter(16)


@pytest.mark.parametrize("sim", ["verilator", "icarus"])
def test_counter_counts(sim):
    run_cocotb(Counter, toplevel="smoke_counter", test_module="spikemesh.sim.benches.smoke_bench", sim=sim,
               params={"cycles": 300})


def test_verilator_build_is_pruned_reused_and_redone_on_change(tmp_path):
    def run(component):
        return run_cocotb(component, toplevel="smoke_counter", test_module="spikemesh.sim.benches.smoke_bench",
                          sim="verilator", params={"cycles": 300}, build_root=tmp_path)

    build_dir = run(Counter)
    left = {p.name for p in build_dir.iterdir()}
    assert "smoke_counter" in left and not any(n.endswith((".o", ".gch", ".cpp", ".a")) for n in left), left
    built = (build_dir / "smoke_counter").stat().st_mtime_ns
    assert run(Counter) == build_dir
    assert (build_dir / "smoke_counter").stat().st_mtime_ns == built  # same Verilog: no rebuild
    run(Counter16)
    assert (build_dir / "smoke_counter").stat().st_mtime_ns != built  # changed Verilog: rebuilt
