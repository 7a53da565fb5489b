"""Network interface that lets any mesh node read and write a core's register/memory bus.

The training core (rtl/core) talks only through its `bus` target port, so this is how a core hangs on a
mesh local port: request packets come in, bus transfers go out, one response packet goes back.

Request: CONTROL packet, head extra `ControlExtra` write = 1 (write) / 0 (read), one body flit per bus transfer with
`addr` in bits [0, addr_width) and (writes) `data` in bits [addr_width, addr_width + data_width).
Response to the request's source, same seq and op bit: a head, then one flit per transfer in order,
`addr | data << addr_width` (reads: the data read; writes: the data written, as an acknowledgement);
the last one carries tail. Transfers run one at a time in packet order (the bus allows one outstanding).
"""
from __future__ import annotations

from amaranth import Cat, Module, Signal
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out

from ..bus import BusSignature, struct_value
from .flit import HEADER_BITS, ControlExtra, Header, MeshConfig, PacketType, flit_layout


class BusBridge(wiring.Component):
    def __init__(self, cfg: MeshConfig, x: int, y: int, addr_width: int, data_width: int = 16):
        if not isinstance(x, int) or not 0 <= x < cfg.cols:
            raise ValueError(f"x must be an int in 0..{cfg.cols - 1}, got {x!r}")
        if not isinstance(y, int) or not 0 <= y < cfg.rows:
            raise ValueError(f"y must be an int in 0..{cfg.rows - 1}, got {y!r}")
        if not isinstance(addr_width, int) or not 1 <= addr_width <= cfg.flit_width - data_width:
            raise ValueError(f"addr_width must be an int in 1..{cfg.flit_width - data_width} (flit_width "
                             f"{cfg.flit_width} - data_width {data_width}), got {addr_width!r}")
        self.cfg, self.x, self.y = cfg, x, y
        self.addr_width, self.data_width = addr_width, data_width
        layout = flit_layout(cfg.flit_width)
        super().__init__({
            "net_in": In(stream.Signature(layout)),    # from the mesh's local_out
            "net_out": Out(stream.Signature(layout)),  # to the mesh's local_in
            "bus": Out(BusSignature(addr_width, data_width)),
        })

    def elaborate(self, platform):
        m = Module()
        aw, dw = self.addr_width, self.data_width
        fin = self.net_in.payload
        req_hdr = data.View(Header, fin.data[:HEADER_BITS])
        req_ext = data.View(ControlExtra, fin.data[HEADER_BITS:HEADER_BITS + ControlExtra.as_shape().size])
        src_x, src_y = Signal.like(req_hdr.src_x), Signal.like(req_hdr.src_y)
        seq = Signal.like(req_hdr.seq)
        write = Signal()
        addr, wdata, rdata = Signal(aw), Signal(dw), Signal(dw)
        last = Signal()

        resp_head = Signal(Header)
        m.d.comb += [resp_head.dst_x.eq(src_x), resp_head.dst_y.eq(src_y), resp_head.src_x.eq(self.x),
                     resp_head.src_y.eq(self.y), resp_head.ptype.eq(PacketType.CONTROL), resp_head.seq.eq(seq)]
        m.d.comb += [self.bus.addr.eq(addr), self.bus.we.eq(write), self.bus.w_data.eq(wdata)]

        with m.FSM():
            with m.State("IDLE"):
                m.d.comb += self.net_in.ready.eq(1)
                with m.If(self.net_in.valid & fin.head):
                    m.d.sync += [src_x.eq(req_hdr.src_x), src_y.eq(req_hdr.src_y), seq.eq(req_hdr.seq),
                                 write.eq(req_ext.write)]
                    with m.If(~fin.tail):  # a request without transfers gets no response
                        m.next = "HEAD"
            with m.State("HEAD"):
                m.d.comb += [self.net_out.valid.eq(1), self.net_out.payload.head.eq(1),
                             self.net_out.payload.data.eq(Cat(resp_head.as_value(), struct_value(ControlExtra, write=write)))]
                with m.If(self.net_out.ready):
                    m.next = "BODY"
            with m.State("BODY"):
                m.d.comb += self.net_in.ready.eq(1)
                with m.If(self.net_in.valid):
                    m.d.sync += [addr.eq(fin.data[:aw]), wdata.eq(fin.data[aw:aw + dw]), last.eq(fin.tail)]
                    m.next = "BUS"
            with m.State("BUS"):
                m.d.comb += self.bus.req_valid.eq(1)
                with m.If(self.bus.req_ready):
                    with m.If(write):
                        m.d.sync += rdata.eq(wdata)
                        m.next = "OUT"
                    with m.Else():
                        m.next = "WAIT"
                # a zero-latency read answer arrives with the transfer
                with m.If(self.bus.req_ready & ~write & self.bus.r_valid):
                    m.d.sync += rdata.eq(self.bus.r_data)
                    m.next = "OUT"
            with m.State("WAIT"):
                with m.If(self.bus.r_valid):
                    m.d.sync += rdata.eq(self.bus.r_data)
                    m.next = "OUT"
            with m.State("OUT"):
                m.d.comb += [self.net_out.valid.eq(1), self.net_out.payload.tail.eq(last),
                             self.net_out.payload.data.eq(Cat(addr, rdata))]
                with m.If(self.net_out.ready):
                    m.next = "BODY"
                    with m.If(last):
                        m.next = "IDLE"
        return m
