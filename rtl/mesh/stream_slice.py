"""A register slice for a stream (a skid buffer): cuts every combinational path through it.

`i.ready` and `o.valid`/`o.payload` all come from flip-flops, and two entries keep one transfer per cycle
under any ready pattern. Placed between a router's local port and a core's interface, it keeps the
interface's accept logic (which looks at the core's bus) off the router's arbiter paths: without it the
4-core ECP5 build's critical path ran router -> interface -> core -> interface -> router (docs/mesh.md).
"""
from __future__ import annotations

from amaranth import Module, Signal
from amaranth.lib import stream, wiring
from amaranth.lib.wiring import In, Out


class StreamSlice(wiring.Component):
    def __init__(self, payload_shape):
        self.payload_shape = payload_shape
        super().__init__({"i": In(stream.Signature(payload_shape)), "o": Out(stream.Signature(payload_shape))})

    def elaborate(self, platform):
        m = Module()
        skid = Signal(self.payload_shape)
        skid_valid = Signal()
        m.d.comb += self.i.ready.eq(~skid_valid)
        with m.If(self.o.ready | ~self.o.valid):  # the output register takes a new value
            with m.If(skid_valid):
                m.d.sync += [self.o.payload.eq(skid), self.o.valid.eq(1), skid_valid.eq(0)]
            with m.Else():
                m.d.sync += [self.o.payload.eq(self.i.payload), self.o.valid.eq(self.i.valid)]
        with m.Elif(self.i.valid & ~skid_valid):  # output held: the accepted transfer waits in the skid
            m.d.sync += [skid.eq(self.i.payload), skid_valid.eq(1)]
        return m
