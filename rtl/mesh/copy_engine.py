"""Core-to-core copies over the mesh: "read my local bus range X and write it to node D at address Y".

`CopyEngine` sits between a mesh local port and a `BusBridge` (the bridge is unchanged: requests that are
not copies pass through to it, its responses pass back). A COPY request is a CONTROL packet whose head extra
(`ControlExtra`) has copy = 1, write = 0 (`COPY_EXTRA`); its body is 3 flits, each a Struct from bit 0 of the
data word:
  1: `CopyRange`  src_addr | count                 local bus words src_addr .. src_addr + count - 1
  2: `CopyDest`   dst_addr | dst_x | dst_y | dst_aw   destination node and its bridge's addr_width
  3: `CopyRepack` src_nb | dst_nb | repack         spike-list entries: index | fired << nb re-packed per core
The host packs them with `copy_request_body`, from the same Structs.
The engine reads the words one by one from its core and streams them as ONE bus-bridge write request to
D (CONTROL, write, `addr | data << dst_aw` per flit) whose header names the REQUESTER as source and
carries the request's seq: D's bridge writes them and acknowledges to the requester, so the host waits for
one response (from D) that arrives only after every word is written. The data never passes the host.

While a copy runs the engine owns the bus and the local output; it starts one only when the bridge has no
request in progress (a forwarded request whose response tail has not left yet).
"""
# no `from __future__ import annotations`: data.Struct reads its field annotations as objects
from amaranth import Cat, Const, Module, Mux, Signal
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out

from ..bus import BusSignature, struct_value
from .bus_bridge import BusBridge
from ..words import field_width, pack
from .flit import COORD_BITS, HEADER_BITS, ControlExtra, Header, MeshConfig, PacketType, flit_layout
from .system import MeshSystem

#: head extra of a COPY request (a CONTROL packet that is not a bus-bridge write)
COPY_EXTRA = pack(ControlExtra, copy=1)
MIN_FLIT_WIDTH = 32


class CopyRange(data.Struct):
    """Body flit 1 of a COPY request: the source's local bus words src_addr .. src_addr + count - 1."""

    src_addr: 16
    count: 16


class CopyDest(data.Struct):
    """Body flit 2: where the words go (node coordinates) and the address width of that node's bridge."""

    dst_addr: 16
    dst_x: COORD_BITS
    dst_y: COORD_BITS
    dst_aw: 5


class CopyRepack(data.Struct):
    """Body flit 3: spike-list entries (index | fired << nb) re-packed from the source's nb to the destination's."""

    src_nb: 4
    dst_nb: 4
    repack: 1


def check_copy_cfg(cfg: MeshConfig) -> None:
    if cfg.flit_width < MIN_FLIT_WIDTH:
        raise ValueError(f"flit_width must be >= {MIN_FLIT_WIDTH} for copy requests, got {cfg.flit_width}")


def copy_request_body(cfg: MeshConfig, dst: int, src_addr: int, count: int, dst_addr: int, dst_aw: int,
                      src_nb: int = 0, dst_nb: int = 0, repack: bool = False) -> list[int]:
    """Body words of a COPY request (send them with head extra = COPY_EXTRA to the SOURCE node)."""
    check_copy_cfg(cfg)
    for name, v, hi in (("src_addr", src_addr, 0xFFFF), ("dst_addr", dst_addr, 0xFFFF), ("count", count, 0xFFFF),
                        ("dst_aw", dst_aw, 16), ("src_nb", src_nb, 15), ("dst_nb", dst_nb, 15)):
        lo = 1 if name in ("count", "dst_aw") else 0
        if not isinstance(v, int) or not lo <= v <= hi:
            raise ValueError(f"{name} must be an int in {lo}..{hi}, got {v!r}")
    if not 0 <= dst < cfg.n_nodes:
        raise ValueError(f"dst must be a node in 0..{cfg.n_nodes - 1}, got {dst!r}")
    dx, dy = cfg.coords(dst)
    return [pack(CopyRange, src_addr=src_addr, count=count),
            pack(CopyDest, dst_addr=dst_addr, dst_x=dx, dst_y=dy, dst_aw=dst_aw),
            pack(CopyRepack, src_nb=src_nb, dst_nb=dst_nb, repack=int(repack))]


class CopyEngine(wiring.Component):
    def __init__(self, cfg: MeshConfig, x: int, y: int, addr_width: int, data_width: int = 16):
        check_copy_cfg(cfg)
        if data_width != 16:
            raise ValueError(f"data_width must be 16 for the copy engine, got {data_width!r}")
        if not isinstance(addr_width, int) or not 1 <= addr_width <= 16:
            raise ValueError(f"addr_width must be an int in 1..16, got {addr_width!r}")
        self.cfg, self.x, self.y, self.addr_width = cfg, x, y, addr_width
        layout = flit_layout(cfg.flit_width)
        super().__init__({
            "net_in": In(stream.Signature(layout)),       # from the mesh's local_out
            "net_out": Out(stream.Signature(layout)),     # to the mesh's local_in
            "to_bridge": Out(stream.Signature(layout)),   # the bridge's net_in
            "from_bridge": In(stream.Signature(layout)),  # the bridge's net_out
            "bridge_bus": In(BusSignature(addr_width, 16)),  # the bridge, as initiator
            "bus": Out(BusSignature(addr_width, 16)),        # the core
        })

    def elaborate(self, platform):
        m = Module()
        aw = self.addr_width
        fin = self.net_in.payload
        hdr = data.View(Header, fin.data[:HEADER_BITS])
        ext = data.View(ControlExtra, fin.data[HEADER_BITS:HEADER_BITS + ControlExtra.as_shape().size])
        is_copy = (hdr.ptype == PacketType.CONTROL) & ext.copy & ~ext.write

        req_x, req_y = Signal.like(hdr.src_x), Signal.like(hdr.src_y)
        seq = Signal.like(hdr.seq)
        src_addr, count, dst_addr = Signal(16), Signal(16), Signal(16)
        dst_x, dst_y, dst_aw = (Signal(field_width(CopyDest, n), name=n) for n in ("dst_x", "dst_y", "dst_aw"))
        src_nb, dst_nb, repack = (Signal(field_width(CopyRepack, n), name=n) for n in ("src_nb", "dst_nb", "repack"))
        body = {s: data.View(s, fin.data[:s.as_shape().size]) for s in (CopyRange, CopyDest, CopyRepack)}
        i = Signal(16)
        word = Signal(16)
        bridge_busy = Signal()  # a forwarded request's response has not fully left
        copying = Signal()

        # bridge bookkeeping: a request with transfers is answered; its response ends with a tail
        with m.If(self.to_bridge.valid & self.to_bridge.ready & self.to_bridge.payload.head
                  & ~self.to_bridge.payload.tail):
            m.d.sync += bridge_busy.eq(1)
        with m.If(self.from_bridge.valid & self.from_bridge.ready & self.from_bridge.payload.tail):
            m.d.sync += bridge_busy.eq(0)

        # defaults: bridge's bus and output pass through unless a copy runs
        bb, nb_out, fb = self.bridge_bus, self.net_out, self.from_bridge
        with m.If(~copying):
            m.d.comb += [self.bus.req_valid.eq(bb.req_valid), self.bus.addr.eq(bb.addr), self.bus.we.eq(bb.we),
                         self.bus.w_data.eq(bb.w_data), bb.req_ready.eq(self.bus.req_ready),
                         bb.r_valid.eq(self.bus.r_valid), bb.r_data.eq(self.bus.r_data),
                         nb_out.valid.eq(fb.valid), nb_out.payload.eq(fb.payload), fb.ready.eq(nb_out.ready)]

        def pass_in():  # net_in -> the bridge
            m.d.comb += [self.to_bridge.valid.eq(self.net_in.valid), self.to_bridge.payload.eq(fin),
                         self.net_in.ready.eq(self.to_bridge.ready)]

        out_head = Signal(Header)
        m.d.comb += [out_head.dst_x.eq(dst_x), out_head.dst_y.eq(dst_y), out_head.src_x.eq(req_x),
                     out_head.src_y.eq(req_y), out_head.ptype.eq(PacketType.CONTROL), out_head.seq.eq(seq)]
        idx_mask = Signal(16)
        m.d.comb += idx_mask.eq((Const(1, 17) << src_nb) - 1)
        packed = Signal(16)
        m.d.comb += packed.eq(Mux(repack, (word & idx_mask) | ((word >> src_nb)[0] << dst_nb), word))
        waddr = Signal(16)
        m.d.comb += waddr.eq(dst_addr + i)

        with m.FSM(name="copy"):
            with m.State("IDLE"):  # pass requests to the bridge; take COPY requests
                with m.If(self.net_in.valid & fin.head & is_copy):
                    m.d.comb += self.net_in.ready.eq(~bridge_busy)
                    with m.If(~bridge_busy):
                        m.d.sync += [req_x.eq(hdr.src_x), req_y.eq(hdr.src_y), seq.eq(hdr.seq), i.eq(0)]
                        m.next = "P1"
                with m.Else():
                    pass_in()
                    with m.If(self.net_in.valid & self.net_in.ready & fin.head & ~fin.tail):
                        m.next = "PASS"
            with m.State("PASS"):
                pass_in()
                with m.If(self.net_in.valid & self.net_in.ready & fin.tail):
                    m.next = "IDLE"
            with m.State("P1"):
                m.d.comb += self.net_in.ready.eq(1)
                with m.If(self.net_in.valid):
                    r = body[CopyRange]
                    m.d.sync += [src_addr.eq(r.src_addr), count.eq(r.count)]
                    m.next = "P2"
            with m.State("P2"):
                m.d.comb += self.net_in.ready.eq(1)
                with m.If(self.net_in.valid):
                    d = body[CopyDest]
                    m.d.sync += [dst_addr.eq(d.dst_addr), dst_x.eq(d.dst_x), dst_y.eq(d.dst_y), dst_aw.eq(d.dst_aw)]
                    m.next = "P3"
            with m.State("P3"):
                m.d.comb += self.net_in.ready.eq(1)
                with m.If(self.net_in.valid):
                    r = body[CopyRepack]
                    m.d.sync += [src_nb.eq(r.src_nb), dst_nb.eq(r.dst_nb), repack.eq(r.repack)]
                    with m.If(fin.tail):
                        m.next = "HEAD"
            with m.State("HEAD"):
                m.d.comb += [copying.eq(1), self.net_out.valid.eq(1), self.net_out.payload.head.eq(1),
                             self.net_out.payload.data.eq(Cat(out_head.as_value(), struct_value(ControlExtra, write=Const(1, 1))))]
                with m.If(self.net_out.ready):
                    m.next = "RD"
            with m.State("RD"):
                m.d.comb += [copying.eq(1), self.bus.req_valid.eq(1), self.bus.addr.eq(src_addr + i)]
                with m.If(self.bus.req_ready):
                    m.next = "WAIT"
                    with m.If(self.bus.r_valid):  # a zero-latency read answer arrives with the transfer
                        m.d.sync += word.eq(self.bus.r_data)
                        m.next = "OUT"
            with m.State("WAIT"):  # the address stays on the bus until the answer (as the bridge does)
                m.d.comb += [copying.eq(1), self.bus.addr.eq(src_addr + i)]
                with m.If(self.bus.r_valid):
                    m.d.sync += word.eq(self.bus.r_data)
                    m.next = "OUT"
            with m.State("OUT"):
                last = i == count - 1
                m.d.comb += [copying.eq(1), self.net_out.valid.eq(1), self.net_out.payload.tail.eq(last),
                             self.net_out.payload.data.eq(waddr | (packed << dst_aw))]
                with m.If(self.net_out.ready):
                    m.d.sync += i.eq(i + 1)
                    m.next = "RD"
                    with m.If(last):
                        m.next = "IDLE"
        return m


def copy_interface(m: Module, cfg: MeshConfig, node: int, target: wiring.Component):
    """`MeshSystem` interface: a `CopyEngine` (`copy_<node>`) in front of a `BusBridge` (`bridge_<node>`)."""
    x, y = cfg.coords(node)
    aw, dw = target.bus.signature.addr_width, target.bus.signature.data_width
    bridge = m.submodules[f"bridge_{node}"] = BusBridge(cfg, x, y, aw, dw)
    copier = m.submodules[f"copy_{node}"] = CopyEngine(cfg, x, y, aw, dw)
    return copier.net_in, copier.net_out, [(copier.to_bridge, bridge.net_in), (bridge.net_out, copier.from_bridge),
                                           (bridge.bus, copier.bridge_bus), (copier.bus, target.bus)]


class CopyMeshSystem(MeshSystem):
    """`MeshSystem` with a `CopyEngine` in front of every target's `BusBridge` (same ports and nodes)."""

    def __init__(self, cfg: MeshConfig, targets):
        check_copy_cfg(cfg)
        super().__init__(cfg, targets, copy_interface)
