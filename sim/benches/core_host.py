"""The bus ports of a bare TrainingCore for the one core driver (firmware/core_driver.py): cocotb and
Amaranth's simulator.  `CoreHost` / `PysimCoreHost` are that driver on them.
"""
from __future__ import annotations

import cocotb
from cocotb.clock import Clock
from cocotb.triggers import ClockCycles, ReadOnly, RisingEdge

from spikemesh.firmware.core_driver import CoreDriver, f16_bits
from spikemesh.rtl.core.config import CoreConfig

__all__ = ["AmaranthBusPort", "CocotbBusPort", "CoreHost", "PysimCoreHost", "clock_and_reset", "f16_bits"]


async def clock_and_reset(dut, idle: tuple[str, ...]) -> None:
    """Start a 10 ns clock, hold reset 3 cycles with the `idle` inputs at 0, release it, one more edge."""
    cocotb.start_soon(Clock(dut.clk, 10, unit="ns").start())
    dut.rst.value = 1
    for name in idle:
        getattr(dut, name).value = 0
    for _ in range(3):
        await RisingEdge(dut.clk)
    dut.rst.value = 0
    await RisingEdge(dut.clk)


class CocotbBusPort:
    """The core's bus (`bus__*` ports of `dut`) driven from cocotb: one request at a time, held until accepted."""

    def __init__(self, dut):
        self.dut = dut

    async def _req(self, addr: int, we: int, data: int = 0) -> None:
        d = self.dut
        d.bus__req_valid.value = 1
        d.bus__addr.value = addr
        d.bus__we.value = we
        d.bus__w_data.value = data & 0xFFFF
        while True:
            await ReadOnly()
            ready = int(d.bus__req_ready.value)
            await RisingEdge(d.clk)
            if ready:
                break
        d.bus__req_valid.value = 0

    async def _read1(self, addr: int) -> int:
        await self._req(addr, 0)
        while True:
            await ReadOnly()
            ok = int(self.dut.bus__r_valid.value)
            val = self.dut.bus__r_data.value.to_unsigned() if ok else 0
            await RisingEdge(self.dut.clk)
            if ok:
                return val

    async def read(self, addr: int, n: int) -> list[int]:
        return [await self._read1(addr + k) for k in range(n)]

    async def write(self, addr: int, words) -> None:
        for k, w in enumerate(words):
            await self._req(addr + k, 1, int(w))

    async def idle(self, cycles: int) -> None:
        if cycles:
            await ClockCycles(self.dut.clk, cycles)


class AmaranthBusPort(CocotbBusPort):
    """The same port on Amaranth's simulator: `ctx` from an async testbench, `bus` the core's bus port."""

    def __init__(self, ctx, bus):
        self.ctx, self.bus = ctx, bus

    async def _req(self, addr: int, we: int, data: int = 0) -> None:
        ctx, b = self.ctx, self.bus
        ctx.set(b.req_valid, 1)
        ctx.set(b.addr, addr)
        ctx.set(b.we, we)
        ctx.set(b.w_data, data & 0xFFFF)
        while True:
            ready = ctx.get(b.req_ready)
            await ctx.tick()
            if ready:
                break
        ctx.set(b.req_valid, 0)

    async def _read1(self, addr: int) -> int:
        await self._req(addr, 0)
        while True:
            ok = self.ctx.get(self.bus.r_valid)
            val = self.ctx.get(self.bus.r_data)
            await self.ctx.tick()
            if ok:
                return val

    async def idle(self, cycles: int) -> None:
        for _ in range(cycles):
            await self.ctx.tick()


class CoreHost(CoreDriver):
    """The core driver (firmware/core_driver.py) on a bare core's bus from cocotb."""

    def __init__(self, dut, cfg: CoreConfig):
        super().__init__(CocotbBusPort(dut), cfg)
        self.dut = dut


class PysimCoreHost(CoreDriver):
    """The core driver on Amaranth's simulator (`ctx` from an async testbench), for quick unit runs."""

    def __init__(self, ctx, core):
        super().__init__(AmaranthBusPort(ctx, core.bus), core.cfg)
        self.ctx = ctx
