"""Host-side access to a TrainingCore from a cocotb bench: bus reads/writes and the sample loading protocol.

Addresses come from the core's own regions (CoreLayout), never from constants written here.
"""
from __future__ import annotations

import cocotb
import numpy as np
from cocotb.clock import Clock
from cocotb.triggers import ClockCycles, ReadOnly, RisingEdge

from spikemesh.rtl.core.config import CoreConfig
from spikemesh.rtl.core.layout import CTRL_REGS, CoreLayout, STATUS_BUSY, STATUS_DONE


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


def f16_bits(a) -> np.ndarray:
    return np.asarray(a, np.float16).view(np.uint16)


class CoreHost:
    def __init__(self, dut, cfg: CoreConfig):
        self.dut, self.cfg, self.lay = dut, cfg, CoreLayout(cfg)
        self.base = {r.name: r.offset for r in self.lay.regions()}
        self.cycles_waited = 0

    async def _req(self, addr: int, we: int, data: int = 0) -> None:
        """One request, held until the core accepts it (cocotb)."""
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

    async def write(self, addr: int, data: int) -> None:
        await self._req(addr, 1, data)

    async def read(self, addr: int) -> int:
        await self._req(addr, 0)
        while True:
            await ReadOnly()
            ok = int(self.dut.bus__r_valid.value)
            val = self.dut.bus__r_data.value.to_unsigned() if ok else 0
            await RisingEdge(self.dut.clk)
            if ok:
                return val

    async def write_block(self, region: str, offset: int, words) -> None:
        b = self.base[region] + offset
        for k, w in enumerate(words):
            await self.write(b + k, int(w))

    async def read_block(self, region: str, offset: int, n: int) -> list[int]:
        b = self.base[region] + offset
        return [await self.read(b + k) for k in range(n)]

    async def set_reg(self, name: str, value: int) -> None:
        await self.write(self.base["ctrl"] + CTRL_REGS.index(name), value)

    async def set_constants(self, snn, table: bool = True) -> None:
        """Every constant register for `snn` (firmware.program.constants_from_snn) and, for a table surrogate
        (unless `table` is False: already loaded), the table window."""
        from spikemesh.firmware.program import constants_from_snn
        from spikemesh.firmware.surrogate_table import TABLE_SURROGATES

        for name, val in constants_from_snn(snn).items():
            await self.set_reg(name, val)
        if table and snn.surrogate in TABLE_SURROGATES:
            await self.write_surrogate_table(snn.surrogate, snn.surrogate_width)

    async def get_reg(self, name: str) -> int:
        return await self.read(self.base["ctrl"] + CTRL_REGS.index(name))

    # ---- network state ----
    async def write_weights(self, weights) -> None:
        for l, w in enumerate(weights, start=1):  # column-major, columns padded to the lanes (CoreLayout)
            await self.write_block("w", self.lay.wbase(l), self.lay.pack_matrix(l, w))

    async def write_matrix(self, region: str, l: int, w) -> None:
        await self.write_block(region, self.lay.wbase(l), self.lay.pack_matrix(l, w))

    async def read_matrix(self, region: str, l: int) -> np.ndarray:
        words = await self.read_block(region, self.lay.wbase(l), self.lay.wsize(l))
        return self.lay.unpack_matrix(l, words)

    async def read_neurons(self, region: str, l: int) -> np.ndarray:
        words = await self.read_block(region, self.lay.noff(l), self.cfg.layers[l])
        return np.array(words, np.uint16).view(np.float16)

    async def read_trace(self, l: int) -> np.ndarray:
        """OTTT presynaptic trace of layer l's inputs (N_{l-1} values)."""
        words = await self.read_block("a", self.lay.abase(l), self.cfg.layers[l - 1])
        return np.array(words, np.uint16).view(np.float16)

    async def write_events(self, layer: int, t: int, idx, fired=None) -> None:
        """Event list entries: index | fired << nb (sparse lists hold only fired entries)."""
        idx = [int(i) for i in idx]
        fired = [1] * len(idx) if fired is None else [int(f) for f in fired]
        # the entries of one (layer, t) are contiguous: one block (one request per packet over the mesh)
        await self.write_block("spk", self.lay.spk_addr(layer, t, 0),
                               [i | (f << self.lay.nb) for i, f in zip(idx, fired)])
        await self.write(self.base["cnt"] + self.lay.cnt_addr(layer, t), len(idx))

    async def read_events(self, layer: int, t: int) -> list[int]:
        """Indices of the neurons that fired (dense lists also hold the silent ones, flagged 0)."""
        n = await self.read(self.base["cnt"] + self.lay.cnt_addr(layer, t))
        out = []
        for e in range(n):
            w = await self.read(self.base["spk"] + self.lay.spk_addr(layer, t, e))
            if w >> self.lay.nb:
                out.append(w & ((1 << self.lay.nb) - 1))
        return out

    async def read_list(self, region: str, layer: int, n: int, t: int = 0) -> list[tuple[int, int]]:
        """(index, fp16 bits) entries of the psi list of (layer, t) or the delta list of layer."""
        out = []
        for e in range(n):
            a = self.base[region] + 2 * (self.lay.psi_addr(layer, t, e) if region == "psi" else self.lay.list_addr(layer, e))
            out.append((await self.read(a), await self.read(a + 1)))
        return out

    async def load_input(self, inputs, direct: bool, dense: bool = False) -> None:
        """Direct: x (FP16) and its nonzero indices as the step-0 input events; rate: one event list per step.
        Dense: every input index, zeros included."""
        if direct:
            x = np.asarray(inputs[0], np.float16)
            await self.write_block("x", 0, f16_bits(x))
            await self.write_events(0, 0, np.arange(len(x)) if dense else np.flatnonzero(x))
        else:
            for t, s in enumerate(inputs):
                s = np.asarray(s) != 0
                if dense:
                    await self.write_events(0, t, np.arange(len(s)), s)
                else:
                    await self.write_events(0, t, np.flatnonzero(s))

    async def run(self, words: list[int], max_polls: int = 1_000_000, poll_gap: int = 0) -> None:
        """Load and start a program (counters cleared), poll status every `poll_gap` idle cycles until done."""
        await self.write_block("prog", 0, words)
        await self.set_reg("start_pc", 0)
        await self.write(self.base["ctrl"], 3)  # start + clear counters
        for _ in range(max_polls):
            st = await self.get_reg("ctrl")
            if not st & STATUS_BUSY and st & STATUS_DONE:
                return
            await self.idle(poll_gap)
        raise AssertionError("core did not finish")

    async def idle(self, cycles: int) -> None:
        if cycles:
            await ClockCycles(self.dut.clk, cycles)

    async def write_surrogate_table(self, kind: str, width: float) -> None:
        """sigmoid/atan: the golden table as this core's window (`sgt` entries, `sgr` lo/below/above);
        ValueError (from surrogate_window) when the core's sg_table_depth cannot hold it exactly."""
        from spikemesh.firmware.surrogate_table import surrogate_window

        if not self.cfg.sg_table_depth:
            raise ValueError(f"surrogate {kind!r} needs a core with sg_table_depth > 0")
        win = surrogate_window(kind, width, self.cfg.sg_table_depth)
        for k, val in enumerate(win.regs().values()):
            await self.write(self.base["sgr"] + k, val)
        await self.write_block("sgt", 0, win.entries)

    async def counters(self) -> dict[str, int]:
        out = {}
        for k, name in enumerate(self.lay.counters):
            lo = await self.read(self.base["counters"] + 2 * k)
            hi = await self.read(self.base["counters"] + 2 * k + 1)
            out[name] = lo | (hi << 16)
        return out


class PysimCoreHost(CoreHost):
    """The same host on Amaranth's simulator (`ctx` from an async testbench), for quick unit runs."""

    def __init__(self, ctx, core):
        super().__init__(None, core.cfg)
        self.ctx, self.bus = ctx, core.bus

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

    async def idle(self, cycles: int) -> None:
        for _ in range(cycles):
            await self.ctx.tick()

    async def read(self, addr: int) -> int:
        await self._req(addr, 0)
        while True:
            ok = self.ctx.get(self.bus.r_valid)
            val = self.ctx.get(self.bus.r_data)
            await self.ctx.tick()
            if ok:
                return val
