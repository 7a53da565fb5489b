"""`spikemesh mesh synth`'s yosys step (no place and route: that is measured, not tested): cell counts from the
netlist, and the netlist reused only for byte-identical Verilog."""

from pathlib import Path

import pytest
from amaranth import Module
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from spikemesh.gen.mesh_perf import dp_mesh, synth_ecp5


class _Adder(wiring.Component):
    a: In(8)
    b: In(8)
    s: Out(9)

    def __init__(self, plus_one: bool = False):
        self.plus_one = plus_one
        super().__init__()

    def elaborate(self, platform):
        m = Module()
        m.d.sync += self.s.eq(self.a + self.b + int(self.plus_one))
        return m


def test_yosys_netlist_reused_only_for_same_verilog(tmp_path: Path) -> None:
    first = synth_ecp5(_Adder(), "adder", tmp_path, pnr=False)
    assert not first["yosys_cached"]
    # 9 output FFs + the 2-pin harness's 16 input shift FFs and its registered XOR output
    assert first["yosys_cells"]["TRELLIS_FF"] >= 9 + 16
    assert first["harness_input_ffs"] == 16
    again = synth_ecp5(_Adder(), "adder", tmp_path, pnr=False)
    assert again["yosys_cached"] and again["yosys_cells"] == first["yosys_cells"]
    changed = synth_ecp5(_Adder(plus_one=True), "adder", tmp_path, pnr=False)
    assert not changed["yosys_cached"]
    # a netlist whose yosys run did not finish is never reused (the flow's marker is written last)
    (Path(changed["yosys_dir"]) / "yosys.done").unlink()
    assert not synth_ecp5(_Adder(plus_one=True), "adder", tmp_path, pnr=False)["yosys_cached"]


@pytest.mark.parametrize("cores, shape", [(1, (1, 2)), (2, (1, 3)), (4, (1, 5)), (7, (2, 5)), (19, (4, 5))])
def test_dp_mesh_is_the_smallest_with_host_at_node_0(cores: int, shape: tuple[int, int]) -> None:
    m = dp_mesh(cores, 32, 5)
    assert (m.rows, m.cols) == shape and m.rows * m.cols >= cores + 1


@pytest.mark.parametrize("cores", [0, 20])
def test_dp_mesh_refuses_core_counts(cores: int) -> None:
    with pytest.raises(ValueError, match="cores must be in 1..19"):
        dp_mesh(cores, 32, 5)
