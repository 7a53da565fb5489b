"""BusBridge: a host node reads and writes bus targets elsewhere on the mesh (how cores attach), pysim."""
import random

import pytest
from amaranth import Module, Signal
from amaranth.lib import wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In

from spikemesh.firmware.placement import PacketType, packet, parse_packet
from spikemesh.rtl.bus import BusSignature
from spikemesh.rtl.mesh import MeshConfig
from spikemesh.rtl.mesh.bus_bridge import BusBridge
from spikemesh.rtl.mesh.system import MeshSystem
from amaranth.sim import Simulator


class BusMemory(wiring.Component):
    """Bus target: a memory that answers reads `latency` cycles after the transfer and is not always ready."""

    def __init__(self, addr_width: int, latency: int):
        self.addr_width, self.latency = addr_width, latency
        super().__init__({"bus": In(BusSignature(addr_width, 16))})

    def elaborate(self, platform):
        m = Module()
        mem = m.submodules.mem = Memory(shape=16, depth=1 << self.addr_width, init=[])
        wp, rp = mem.write_port(), mem.read_port()
        busy = Signal()
        toggle = Signal()
        m.d.sync += toggle.eq(~toggle)
        ready = toggle & ~busy  # accepts every other cycle at most: exercises the bridge's wait
        m.d.comb += [self.bus.req_ready.eq(ready), wp.addr.eq(self.bus.addr), wp.data.eq(self.bus.w_data),
                     wp.en.eq(self.bus.req_valid & ready & self.bus.we), rp.addr.eq(self.bus.addr)]
        pipe = Signal(self.latency)
        fire = self.bus.req_valid & ready & ~self.bus.we
        m.d.sync += pipe.eq((pipe << 1) | fire)
        m.d.comb += [self.bus.r_valid.eq(pipe[-1]), self.bus.r_data.eq(rp.data)]
        with m.If(fire):
            m.d.sync += busy.eq(1)
        with m.If(self.bus.r_valid):
            m.d.sync += busy.eq(0)
        return m


def test_bad_bridge_refused():
    with pytest.raises(ValueError, match="addr_width must be an int in 1..16"):
        BusBridge(MeshConfig(2, 2), 0, 0, addr_width=17)
    with pytest.raises(ValueError, match="targets keys must be node indices in 0..3"):
        MeshSystem(MeshConfig(2, 2), {4: lambda: BusMemory(4, 1)})


def test_host_writes_then_reads_three_remote_memories():
    cfg = MeshConfig(2, 2)
    aw = 8
    dut = MeshSystem(cfg, {1: lambda: BusMemory(aw, 1), 2: lambda: BusMemory(aw, 3), 3: lambda: BusMemory(aw, 2)})
    rng = random.Random(3)
    contents = {n: {a: rng.getrandbits(16) for a in rng.sample(range(1 << aw), 12)} for n in (1, 2, 3)}
    requests = []  # (node, write, [(addr, data)])
    for seq, node in enumerate((1, 2, 3)):
        items = list(contents[node].items())
        requests.append((node, True, items[:7], seq))
        requests.append((node, True, items[7:], seq + 3))
    for seq, node in enumerate((3, 1, 2)):
        requests.append((node, False, [(a, 0) for a in contents[node]], seq + 6))
    flits = []
    for node, write, items, seq in requests:
        body = [a | d << aw for a, d in items]
        flits += packet(cfg, 0, node, PacketType.CONTROL, seq, int(write), body)
    responses = []

    async def tb(ctx):
        pos, rx = 0, []
        ready = [1, 1, 0, 1, 0]
        for cyc in range(6000):
            ctx.set(dut.host_in[0].valid, pos < len(flits))
            if pos < len(flits):
                ctx.set(dut.host_in[0].payload.as_value(), flits[pos])
            ctx.set(dut.host_out[0].ready, ready[cyc % len(ready)])
            if pos < len(flits) and ctx.get(dut.host_in[0].ready):
                pos += 1
            if ctx.get(dut.host_out[0].valid) and ctx.get(dut.host_out[0].ready):
                v = ctx.get(dut.host_out[0].payload.as_value())
                rx.append(v)
                if v >> (cfg.flit_width + 1) & 1:
                    responses.append(parse_packet(cfg, rx))
                    rx = []
            await ctx.tick()
            if len(responses) == len(requests):
                break

    sim = Simulator(dut)
    sim.add_clock(1e-8)
    sim.add_testbench(tb)
    sim.run()
    assert len(responses) == len(requests)
    # responses from one node come back in request order; match them per (node, seq)
    got = {(r["src"], r["seq"]): r for r in responses}
    for node, write, items, seq in requests:
        r = got[node, seq]
        assert r["dst"] == 0 and r["ptype"] == PacketType.CONTROL.value
        want = [a | contents[node][a] << aw for a, _ in items]
        assert r["body"] == want, f"node {node} seq {seq} write={write}"
