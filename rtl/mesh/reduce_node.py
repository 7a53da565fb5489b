"""A core's network interface with in-network gradient reduction: `BusBridge` + `GradReducer`.

Packets from the mesh: CONTROL -> the bus bridge (host reads/writes), WEIGHT -> the reducer (chosen at the
head, body flits follow). Packets to the mesh: bridge responses and reducer packets, whole packets at a time.
The bridge's address space is the core's plus one bit: addresses with that bit set reach the interface's
own registers (`REGS`, zero-latency), the rest go to the core's bus, which the bridge and the reducer share
(one transfer at a time, a read holds the bus until its answer, which must come >= 1 cycle after the
transfer; the next request may go out in the answer's cycle). The shared request reaches the core through a
register slice, one cycle later: the core decodes its request combinationally, so without it the reducer's
issue logic, the arbiter and the core's address decode and memory read were one path (the multi-core ECP5
builds' critical path, docs/mesh.md "Fmax: the registered bus request").
"""
# no `from __future__ import annotations`: data.Struct reads its field annotations as objects
from amaranth import Cat, Module, Mux, Signal
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out

from ..bus import BusSignature, Register, struct_fields
from ..words import pack
from .bus_bridge import BusBridge
from .flit import HEADER_BITS, Header, MeshConfig, NodeCoord, PacketType, flit_layout
from .reducer import GradReducer
from .stream_slice import StreamSlice

#: interface registers, word offsets from 1 << core addr_width
REGS = ("ctrl",     # write: bit 0 start (at the chain's first core), bit 1 clear counters; read: busy | passes << 1
        "role",     # `Role`: first, last
        "next", "prev", "host",  # node coordinates (`NodeCoord`)
        "flits",    # reduction flits this node sent (wraps)
        "stalls",   # cycles a reduction flit waited for the network
        "active")   # cycles the reducer was busy


class NiCtrlWrite(data.Struct):
    """The `ctrl` word a write acts on."""

    start: 1
    clear: 1
    _reserved: 14


class NiCtrlStatus(data.Struct):
    """The `ctrl` word a read returns."""

    busy: 1
    passes: 15


class Role(data.Struct):
    """The `role` register: where this node sits in the reduction chain."""

    first: 1
    last: 1
    _reserved: 14


#: the `ctrl` register's bit fields (write: start, clear; read: busy, passes), from the Structs above
NI_CTRL = Register("ctrl", 0, "rw", "reduction control / status",
                   struct_fields(NiCtrlWrite, "w", {"start": "start a reduction (at the chain's first core)",
                                                    "clear": "clear the flits/stalls/active counters"}) +
                   struct_fields(NiCtrlStatus, "r", {"busy": "the reducer is busy",
                                                     "passes": "reduction passes done"}))
assert REGS[NI_CTRL.offset] == NI_CTRL.name


def pack_node(cfg: MeshConfig, node: int) -> int:
    x, y = cfg.coords(node)
    return pack(NodeCoord, x=x, y=y)


class ReduceNode(wiring.Component):
    def __init__(self, cfg: MeshConfig, x: int, y: int, addr_width: int, g_base: int, g_size: int,
                 block: int = 32, add_depth: int = 4):
        if not isinstance(addr_width, int) or not 1 <= addr_width <= cfg.flit_width - 17:
            raise ValueError(f"addr_width must be an int in 1..{cfg.flit_width - 17} (flit_width - 16 data bits - "
                             f"1 register bit), got {addr_width!r}")
        self.cfg, self.x, self.y, self.addr_width = cfg, x, y, addr_width
        self.reducer = GradReducer(cfg, x, y, addr_width, g_base, g_size, block, add_depth)
        self.bridge = BusBridge(cfg, x, y, addr_width + 1)
        layout = flit_layout(cfg.flit_width)
        super().__init__({
            "net_in": In(stream.Signature(layout)),
            "net_out": Out(stream.Signature(layout)),
            "bus": Out(BusSignature(addr_width, 16)),
        })

    @property
    def host_addr_width(self) -> int:
        """Address bits of a host request (the core's bus + the register bit)."""
        return self.addr_width + 1

    def elaborate(self, platform):
        m = Module()
        aw = self.addr_width
        br = m.submodules.bridge = self.bridge
        red = m.submodules.reducer = self.reducer

        # ---- net_in demux by packet type (latched at the head for the body)
        fin = self.net_in.payload
        hdr = data.View(Header, fin.data[:HEADER_BITS])
        to_red_l = Signal()
        to_red = Signal()
        m.d.comb += to_red.eq(Mux(fin.head, hdr.ptype == PacketType.WEIGHT, to_red_l))
        with m.If(self.net_in.valid & self.net_in.ready & fin.head):
            m.d.sync += to_red_l.eq(hdr.ptype == PacketType.WEIGHT)
        m.d.comb += [br.net_in.payload.eq(fin), red.net_in.payload.eq(fin),
                     br.net_in.valid.eq(self.net_in.valid & ~to_red), red.net_in.valid.eq(self.net_in.valid & to_red),
                     self.net_in.ready.eq(Mux(to_red, red.net_in.ready, br.net_in.ready))]

        # ---- net_out mux: whole packets; the bridge first when both start one
        locked, owner_red = Signal(), Signal()
        sel_red = Signal()
        m.d.comb += sel_red.eq(Mux(locked, owner_red, ~br.net_out.valid))
        src_valid = Mux(sel_red, red.net_out.valid, br.net_out.valid)
        src = Mux(sel_red, red.net_out.payload.as_value(), br.net_out.payload.as_value())
        m.d.comb += [self.net_out.valid.eq(src_valid), self.net_out.payload.eq(src),
                     br.net_out.ready.eq(self.net_out.ready & ~sel_red),
                     red.net_out.ready.eq(self.net_out.ready & sel_red)]
        with m.If(self.net_out.valid & self.net_out.ready):
            with m.If(self.net_out.payload.tail):
                m.d.sync += locked.eq(0)
            with m.Elif(self.net_out.payload.head):
                m.d.sync += [locked.eq(1), owner_red.eq(sel_red)]

        # ---- the bridge's bus: registers (top address bit) or the core
        regs = {name: Signal(16, name=f"reg_{name}") for name in REGS}
        bb = br.bus
        is_reg = bb.addr[aw]
        roff = bb.addr[:3]
        reg_rdata = Signal(16)
        with m.Switch(roff):
            for i, name in enumerate(REGS):
                with m.Case(i):
                    if name == "ctrl":
                        m.d.comb += reg_rdata.eq(Cat(red.busy, red.passes))
                    else:
                        m.d.comb += reg_rdata.eq(regs[name])
        reg_write = bb.req_valid & is_reg & bb.we
        role, wctrl = Role(regs["role"]), NiCtrlWrite(bb.w_data)
        m.d.comb += [red.first.eq(role.first), red.last.eq(role.last), red.next.eq(regs["next"]),
                     red.prev.eq(regs["prev"]), red.host.eq(regs["host"]),
                     red.start.eq(reg_write & (roff == 0) & wctrl.start)]
        clear = reg_write & (roff == 0) & wctrl.clear
        with m.If(reg_write):
            with m.Switch(roff):
                for i, name in enumerate(REGS):
                    if name in ("role", "next", "prev", "host"):
                        with m.Case(i):
                            m.d.sync += regs[name].eq(bb.w_data)
        with m.If(clear):
            m.d.sync += [regs["flits"].eq(0), regs["stalls"].eq(0), regs["active"].eq(0)]
        with m.Else():
            m.d.sync += [regs["flits"].eq(regs["flits"] + red.out_flits),
                         regs["stalls"].eq(regs["stalls"] + red.out_stall),
                         regs["active"].eq(regs["active"] + red.busy)]

        # ---- core bus arbiter: bridge (core addresses) and reducer; a read holds it until its answer.
        # The arbiter's request goes to the core through a register (`_request_register`): the core takes its
        # bus request combinationally (region compares -> memory address), and without the register the
        # reducer's issue logic and this mux were on the same path (the 4- and 7-core ECP5 builds' critical path)
        arb = BusSignature(aw, 16).create(path=("arb",))
        self._request_register(m, arb, self.bus)
        br_req = bb.req_valid & ~is_reg
        pend, pend_red = Signal(), Signal()
        grant_red = Signal()
        m.d.comb += grant_red.eq(red.bus.req_valid)
        free = Signal()
        m.d.comb += free.eq(~pend | arb.r_valid)  # a new request may go out with the previous read's answer
        with m.If(free):
            m.d.comb += [arb.req_valid.eq(Mux(grant_red, 1, br_req)),
                         arb.addr.eq(Mux(grant_red, red.bus.addr, bb.addr[:aw])),
                         arb.we.eq(Mux(grant_red, red.bus.we, bb.we)),
                         arb.w_data.eq(Mux(grant_red, red.bus.w_data, bb.w_data))]
        fire = arb.req_valid & arb.req_ready
        with m.If(pend & arb.r_valid):
            m.d.sync += pend.eq(0)
        with m.If(fire & ~arb.we):
            m.d.sync += [pend.eq(1), pend_red.eq(grant_red)]
        # who a read answer belongs to: from the registered owner only (no path from a request to its own
        # answer), so the target must answer at least one cycle after the transfer (the core does)
        ans_red = pend_red
        m.d.comb += [red.bus.req_ready.eq(free & arb.req_ready),
                     red.bus.r_valid.eq(arb.r_valid & pend & ans_red), red.bus.r_data.eq(arb.r_data),
                     bb.req_ready.eq(Mux(is_reg, 1, free & ~grant_red & arb.req_ready)),
                     bb.r_valid.eq(Mux(is_reg & bb.req_valid, ~bb.we, arb.r_valid & pend & ~ans_red)),
                     bb.r_data.eq(Mux(is_reg & bb.req_valid, reg_rdata, arb.r_data))]
        return m

    @staticmethod
    def _request_register(m: Module, up, down) -> None:
        """Bus `up` (from the arbiter) to bus `down` (the core) through a request register slice (a `StreamSlice`
        of addr/we/w_data: a 2-entry skid buffer): `down`'s request comes from flip-flops and `up.req_ready` from
        a flip-flop, so no combinational path runs from the arbiter into the core's bus or back. A request
        reaches the core one cycle after its transfer on `up` (writes still stream one per cycle; a read's
        answer comes a cycle later, so a read costs a cycle more); read answers pass straight back (in order:
        the arbiter issues no request while a read is unanswered)."""
        aw = len(down.addr)
        req = m.submodules.core_req = StreamSlice(data.StructLayout({"addr": aw, "we": 1, "w_data": 16}))
        m.d.comb += [req.i.valid.eq(up.req_valid), req.i.payload.addr.eq(up.addr), req.i.payload.we.eq(up.we),
                     req.i.payload.w_data.eq(up.w_data), up.req_ready.eq(req.i.ready),
                     down.req_valid.eq(req.o.valid), down.addr.eq(req.o.payload.addr), down.we.eq(req.o.payload.we),
                     down.w_data.eq(req.o.payload.w_data), req.o.ready.eq(down.req_ready),
                     up.r_valid.eq(down.r_valid), up.r_data.eq(down.r_data)]


def chain_registers(cfg: MeshConfig, chain: list[int], host: int) -> dict[int, dict[str, int]]:
    """Register values (`REGS` names) that set up a reduction along `chain` (first .. last) for each node."""
    out = {}
    for i, c in enumerate(chain):
        out[c] = {"role": pack(Role, first=i == 0, last=i == len(chain) - 1),
                  "next": pack_node(cfg, chain[i + 1]) if i + 1 < len(chain) else 0,
                  "prev": pack_node(cfg, chain[i - 1]) if i > 0 else 0,
                  "host": pack_node(cfg, host)}
    return out
