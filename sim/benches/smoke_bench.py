"""Smallest possible bench: proves the Amaranth -> Verilog -> cocotb flow works on a simulator."""
import cocotb
from cocotb.clock import Clock
from cocotb.triggers import RisingEdge

from spikemesh.sim.cocotb_run import cocotb_param


@cocotb.test()
async def counts(dut):
    n = cocotb_param()["cycles"]
    cocotb.start_soon(Clock(dut.clk, 10, unit="ns").start())
    dut.rst.value = 1
    await RisingEdge(dut.clk)
    dut.rst.value = 0
    dut.en.value = 1
    for _ in range(n):
        await RisingEdge(dut.clk)
    await RisingEdge(dut.clk)
    assert dut.count.value.to_unsigned() == n % (1 << len(dut.count))
