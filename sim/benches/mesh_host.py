"""The host node of the mesh benches (node 0's port driven from cocotb) and the core bench's host protocol over it.

`reset_mesh(dut)` starts the clock and resets a `MeshSystem` (host port 0 idle); `HostPort` sends a CONTROL
packet and waits for its response; `MeshBusPort` is a core's bus over the mesh (up to `batch` transfers per
request packet) and `MeshCoreHost` the one core driver (firmware/core_driver.py) on it.
"""
from __future__ import annotations

import contextlib

from cocotb.triggers import ReadOnly, RisingEdge

from spikemesh.firmware.placement import PacketType, packet, parse_packet
from spikemesh.rtl.core.config import CoreConfig
from spikemesh.rtl.mesh.flit import MeshConfig, unpack_flit
from spikemesh.firmware.core_driver import CoreDriver
from spikemesh.sim.benches.core_host import clock_and_reset


async def reset_mesh(dut) -> None:
    """Start a 10 ns clock, hold reset 3 cycles with node 0's port idle, release it."""
    await clock_and_reset(dut, ("host_in__0__valid", "host_out__0__ready"))


class HostPort:
    """Node 0's mesh port driven from cocotb: send one packet, wait for its response packet."""

    def __init__(self, dut, cfg: MeshConfig):
        self.dut, self.cfg = dut, cfg
        self.seq = 0
        self.flits_sent = 0
        self.cycles = 0

    async def transact(self, node: int, write: bool, body: list[int]) -> list[int]:
        """A bus-bridge request to `node` (head extra bit 0 = write); its response body."""
        return await self.send(node, int(write), body, node)

    async def send(self, dst: int, extra: int, body: list[int], resp_from: int) -> list[int]:
        """A CONTROL packet to `dst` with head `extra`; the body of the response, which must come from
        `resp_from` (a copy request's acknowledgement comes from the copy's destination)."""
        d, W = self.dut, self.cfg.flit_width
        self.seq = (self.seq + 1) & 0xFF
        flits = packet(self.cfg, 0, dst, PacketType.CONTROL, self.seq, extra, body)
        pos, rx = 0, []
        d.host_out__0__ready.value = 1
        while True:
            if pos < len(flits):
                d.host_in__0__valid.value = 1
                d.host_in__0__payload.value = flits[pos]
            else:
                d.host_in__0__valid.value = 0
            await ReadOnly()
            if pos < len(flits) and d.host_in__0__ready.value:
                pos += 1
            done = False
            if d.host_out__0__valid.value:
                v = d.host_out__0__payload.value.to_unsigned()
                rx.append(v)
                done = unpack_flit(W, v)[2]
            await RisingEdge(d.clk)
            self.cycles += 1
            if done:
                break
        self.flits_sent += len(flits)
        p = parse_packet(self.cfg, rx)
        assert p["src"] == resp_from and p["seq"] == self.seq, \
            f"response {p['src']}/{p['seq']}, expected {resp_from}/{self.seq}"
        return p["body"]


class MeshBusPort:
    """A core's bus at mesh node `node`, carried by bus-bridge packets from the host port: transfers
    `addr | data << aw`, up to `batch` per request packet; writes can be held and sent together (`batched`)."""

    def __init__(self, port: HostPort, node: int, aw: int, batch: int = 32):
        self.port, self.node, self.aw, self.batch = port, node, aw, batch
        self._pending: list[int] | None = None  # writes held by `batched()`

    async def write_words(self, words: list[int]) -> None:
        """Bridge write transfers (addr | data << aw), `batch` per request packet (or held by `batched()`)."""
        if self._pending is not None:
            self._pending += words
            return
        for k in range(0, len(words), self.batch):
            await self.port.transact(self.node, True, words[k:k + self.batch])

    @contextlib.asynccontextmanager
    async def batched(self):
        """Every write inside goes out at the end, in order, packed `batch` transfers per request packet: a
        sample's label, input, events and start cost a few packets instead of one round trip per write.
        Reads inside are refused (they would overtake the held writes)."""
        self._pending = []
        try:
            yield self
        except BaseException:
            self._pending = None
            raise
        words, self._pending = self._pending, None
        await self.write_words(words)

    async def read_words(self, addrs: list[int]) -> list[int]:
        if self._pending is not None:
            raise RuntimeError("MeshBusPort: no reads inside batched() (held writes would be overtaken)")
        return [r >> self.aw for r in await self.port.transact(self.node, False, addrs)]

    async def write(self, addr: int, words) -> None:
        await self.write_words([(addr + k) | (int(w) & 0xFFFF) << self.aw for k, w in enumerate(words)])

    async def read(self, addr: int, n: int) -> list[int]:
        out = []
        for k in range(0, n, self.batch):
            out += await self.read_words([addr + i for i in range(k, min(n, k + self.batch))])
        return out


class MeshCoreHost(CoreDriver):
    """The core driver (firmware/core_driver.py) with every bus access carried over the mesh to the core at
    `node` (`MeshBusPort`)."""

    def __init__(self, port: HostPort, cfg: CoreConfig, node: int, aw: int, batch: int = 32):
        super().__init__(MeshBusPort(port, node, aw, batch), cfg)
        self.host_port, self.node, self.aw, self.batch = port, node, aw, batch

    def batched(self):
        return self.port.batched()

    async def read_words(self, addrs: list[int]) -> list[int]:
        return await self.port.read_words(addrs)

    async def write_words(self, words: list[int]) -> None:
        await self.port.write_words(words)
