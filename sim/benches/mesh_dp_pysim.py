"""Amaranth pysim bench for the in-network gradient reduction: `ReduceMeshSystem` with G memories standing
in for cores, driven from a host node by the same register protocol the cocotb bench uses on real cores.

`run_reductions(cfg, gs, chains, ...)` loads every memory's G (over the mesh), runs one reduction per chain
(roles written to the interfaces, start at the chain's first core, wait for the done packet) and returns every
node's G read back after each run, with cycle counts. The host sink can stall (a ready pattern).
"""
from __future__ import annotations

import itertools

import numpy as np
from amaranth import Module, Signal
from amaranth.lib import wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In
from amaranth.sim import Simulator

from spikemesh.firmware.placement import PacketType, packet, parse_packet
from spikemesh.rtl.bus import BusSignature
from spikemesh.rtl.mesh.flit import MeshConfig, unpack_flit
from spikemesh.rtl.mesh.reduce_node import REGS, chain_registers
from spikemesh.rtl.mesh.reduce_system import ReduceMeshSystem, ReduceParams
from spikemesh.rtl.mesh.reducer import Kind


class GMemory(wiring.Component):
    """Bus target holding G: answers reads `latency` (>= 1) cycles after the transfer; with `slow`, accepts a
    request only every other cycle (exercises the interface's waits)."""

    def __init__(self, addr_width: int, latency: int = 1, slow: bool = False):
        if latency not in (1, 2):
            raise ValueError(f"latency must be 1 or 2 cycles, got {latency!r}")
        self.addr_width, self.latency, self.slow = addr_width, latency, slow
        super().__init__({"bus": In(BusSignature(addr_width, 16))})

    def elaborate(self, platform):
        m = Module()
        mem = m.submodules.mem = Memory(shape=16, depth=1 << self.addr_width, init=[])
        wp, rp = mem.write_port(), mem.read_port()
        busy, toggle = Signal(), Signal()
        m.d.sync += toggle.eq(~toggle)
        # like the core: a new request is taken in the cycle the previous read is answered
        ready = (toggle if self.slow else 1) & (~busy | self.bus.r_valid)
        m.d.comb += [self.bus.req_ready.eq(ready), wp.addr.eq(self.bus.addr), wp.data.eq(self.bus.w_data),
                     wp.en.eq(self.bus.req_valid & ready & self.bus.we), rp.addr.eq(self.bus.addr)]
        fire = self.bus.req_valid & ready & ~self.bus.we
        pipe = Signal(self.latency)
        m.d.sync += pipe.eq((pipe << 1) | fire)
        hold = Signal(16)
        m.d.sync += hold.eq(rp.data)  # read data held for latencies > 1
        m.d.comb += [self.bus.r_valid.eq(pipe[-1]), self.bus.r_data.eq(rp.data if self.latency == 1 else hold)]
        with m.If(self.bus.r_valid):
            m.d.sync += busy.eq(0)
        with m.If(fire):
            m.d.sync += busy.eq(1)
        return m


class PysimHost:
    """The host node's port in pysim: send a packet, collect response and done packets, stalling sink."""

    def __init__(self, ctx, dut, cfg: MeshConfig, ready_pattern=(1,)):
        self.ctx, self.dut, self.cfg = ctx, dut, cfg
        self.ready = itertools.cycle(ready_pattern)
        self.rx: list[int] = []
        self.packets: list[dict] = []
        self.cycles = 0
        self.seq = 0

    async def tick(self, send: int | None = None) -> bool:
        """One cycle; offers `send`; returns whether it was taken."""
        ctx, d = self.ctx, self.dut
        ctx.set(d.host_in[0].valid, send is not None)
        if send is not None:
            ctx.set(d.host_in[0].payload.as_value(), send)
        r = next(self.ready)
        ctx.set(d.host_out[0].ready, r)
        taken = send is not None and ctx.get(d.host_in[0].ready)
        if r and ctx.get(d.host_out[0].valid):
            v = ctx.get(d.host_out[0].payload.as_value())
            self.rx.append(v)
            if unpack_flit(self.cfg.flit_width, v)[2]:
                self.packets.append(parse_packet(self.cfg, self.rx))
                self.rx = []
        assert not ctx.get(d.overflow), "router buffer overflow"
        await ctx.tick()
        self.cycles += 1
        return bool(taken)

    async def send(self, flits: list[int]) -> None:
        pos = 0
        while pos < len(flits):
            pos += await self.tick(flits[pos])

    async def wait_packet(self, pred, max_cycles: int = 100000) -> dict:
        for _ in range(max_cycles):
            for i, p in enumerate(self.packets):
                if pred(p):
                    return self.packets.pop(i)
            await self.tick()
        raise AssertionError(f"no expected packet after {max_cycles} cycles (deadlock?)")

    async def transact(self, node: int, write: bool, body: list[int]) -> list[int]:
        self.seq = (self.seq + 1) & 0xFF
        seq = self.seq
        await self.send(packet(self.cfg, 0, node, PacketType.CONTROL, seq, int(write), body))
        p = await self.wait_packet(lambda p: p["ptype"] == PacketType.CONTROL.value and p["src"] == node
                                   and p["seq"] == seq)
        return p["body"]


async def write_regs(host: PysimHost, node: int, haw: int, values: dict[str, int]) -> None:
    base = 1 << (haw - 1)
    await host.transact(node, True, [(base + REGS.index(k)) | v << haw for k, v in values.items()])


async def reduce_chain(host: PysimHost, cfg: MeshConfig, chain: list[int], haw: int) -> int:
    """Set the roles, start at the chain's first core, wait for its done packet; returns cycles start -> done."""
    for node, vals in chain_registers(cfg, chain, 0).items():
        await write_regs(host, node, haw, vals)
    t0 = host.cycles
    await write_regs(host, chain[0], haw, {"ctrl": 3})
    await host.wait_packet(lambda p: p["ptype"] == PacketType.WEIGHT.value and p["layer"] == Kind.DONE
                           and p["src"] == chain[0])
    return host.cycles - t0


def run_reductions(cfg: MeshConfig, gs: dict[int, list[np.ndarray]], chains: list[list[int]], aw: int = 7,
                   g_base: int = 5, block: int = 8, add_depth: int = 4, ready_pattern=(1,),
                   latency: dict[int, int] | None = None) -> tuple[list[dict[int, np.ndarray]], list[int]]:
    """gs[run][node] = that node's G (FP16) before run `run` (written over the mesh); one reduction per chain.
    Returns every node's G after each run and the cycles of each reduction."""
    nodes = sorted(gs[0])
    g_size = len(gs[0][nodes[0]])
    latency = latency or {}
    dut = ReduceMeshSystem(cfg, {n: (lambda n=n: GMemory(aw, latency.get(n, 1), slow=n % 2 == 1)) for n in nodes},
                           ReduceParams(g_base, g_size, block, add_depth))
    haw = aw + 1
    results, cycles = [], []

    async def tb(ctx):
        host = PysimHost(ctx, dut, cfg, ready_pattern)
        for run, chain in enumerate(chains):
            for n in nodes:
                bits = np.asarray(gs[run][n], np.float16).view(np.uint16)
                for k in range(0, g_size, 16):
                    await host.transact(n, True, [(g_base + k + i) | int(b) << haw
                                                  for i, b in enumerate(bits[k:k + 16])])
            cycles.append(await reduce_chain(host, cfg, chain, haw))
            out = {}
            for n in nodes:
                words = []
                for k in range(0, g_size, 16):
                    resp = await host.transact(n, False, [g_base + i for i in range(k, min(g_size, k + 16))])
                    words += [r >> haw for r in resp]
                out[n] = np.asarray(words, np.uint16)
            results.append(out)
        assert not host.packets, f"unexpected packets left: {host.packets[:2]}"

    sim = Simulator(dut)
    sim.add_clock(1e-6)
    sim.add_testbench(tb)
    sim.run()
    return results, cycles
