"""The mesh's host port as a bus target: the UART link writes whole packets into a TX FIFO injected at the
host node, and reads the packets that come back out of an RX FIFO.

Regions (word offsets from the target's base; `flit_width` W, `wpf` = ceil(W / 16) data words per flit, <= 3):
- `ctl`: 0 `rx_wait` (rw: how long a read of `rx` word 0 may wait for a whole packet, in units of 16 cycles),
  1 `rx_level` (r: flits in the RX FIFO), 2 `rx_packets` (r: whole packets, i.e. tails, in it),
  3 `tx_level` (r: flits not yet injected), 4 `flags` (rw: bit 0 drop the bus bridges' write responses
  instead of queueing them: the host then reads only read answers and reduction "done" packets),
  5 `acks` (r: write responses dropped, wraps).
- `tx` (writes at any offset, in order): a packet is `n` (its flit count, >= 1) then n x wpf words, flit by
  flit, least significant word first; head goes on the first flit, tail on the last.  A write that would
  overfill the TX FIFO waits (the link's bus transfer simply takes longer).
- `rx`: word 0 = the number of flits in the RX FIFO; reading it waits until at least one whole packet is
  there or `rx_wait` x 16 cycles have passed (a long poll: one link request per wait).  Then 4 words per flit
  (flit k at 1 + 4k): `flags` (bit 0 valid, 1 head, 2 tail), data words 0..2; reading word 3 of a flit
  whose `flags` read said valid pops it, so a read of more flits than there are loses nothing.
The host must not have more response flits outstanding than the RX FIFO holds (it would block the mesh's
host node while the link waits on a full TX FIFO).
"""
from __future__ import annotations

from amaranth import Cat, Module, Mux, Signal
from amaranth.lib import data, stream, wiring
from amaranth.lib.fifo import SyncFIFOBuffered
from amaranth.lib.wiring import In, Out

from ..bus import BusSignature, Region
from .flit import HEADER_BITS, ControlExtra, Header, PacketType, flit_layout

CTL_REGS = ("rx_wait", "rx_level", "rx_packets", "tx_level", "flags", "acks")
TX_OFFSET, RX_OFFSET = 256, 512
RX_FLIT_WORDS = 4  # flags + up to 3 data words per flit in the rx region


class HostPort(wiring.Component):
    def __init__(self, flit_width: int, addr_width: int = 10, tx_depth: int = 64, rx_depth: int = 256):
        if not isinstance(flit_width, int) or not 22 <= flit_width <= 48:
            raise ValueError(f"flit_width must be an int in 22..48 (3 words per flit), got {flit_width!r}")
        if not isinstance(addr_width, int) or addr_width < 10:
            raise ValueError(f"addr_width must be an int >= 10 (the port spans 1024 words), got {addr_width!r}")
        for name, d in (("tx_depth", tx_depth), ("rx_depth", rx_depth)):
            if not isinstance(d, int) or not 4 <= d <= 4096:
                raise ValueError(f"{name} must be an int in 4..4096 flits, got {d!r}")
        self.flit_width, self.tx_depth, self.rx_depth = flit_width, tx_depth, rx_depth
        layout = flit_layout(flit_width)
        super().__init__({"bus": In(BusSignature(addr_width, 16)),
                          "tx": Out(stream.Signature(layout)),   # into the mesh's host_in
                          "rx": In(stream.Signature(layout)),    # from the mesh's host_out
                          "busy": Out(1)})

    @property
    def words_per_flit(self) -> int:
        return -(-self.flit_width // 16)

    @staticmethod
    def regions_static(fields: dict | None = None) -> list[Region]:
        return [Region("ctl", 0, len(CTL_REGS), "rw", "rx_wait (x16 cycles), rx_level, rx_packets, tx_level, "
                       "flags (bit 0: drop write acks), acks", dict(fields or {})),
                Region("tx", TX_OFFSET, 256, "w", "packets: flit count n, then n x ceil(W/16) words"),
                Region("rx", RX_OFFSET, 512, "r", "word 0: flits waiting (long poll); then per flit: "
                       "flags (valid | head << 1 | tail << 2), 3 data words; reading word 3 pops")]

    def elaborate(self, platform):
        m = Module()
        W, wpf = self.flit_width, self.words_per_flit
        bus = self.bus
        m.submodules.txf = txf = SyncFIFOBuffered(width=W + 2, depth=self.tx_depth)
        m.submodules.rxf = rxf = SyncFIFOBuffered(width=W + 2, depth=self.rx_depth)

        # mesh side
        flags, acks = Signal(16), Signal(16)
        fin = self.rx.payload
        hdr = data.View(Header, fin.data[:HEADER_BITS])
        ext = data.View(ControlExtra, fin.data[HEADER_BITS:HEADER_BITS + ControlExtra.as_shape().size])
        drop_l, drop = Signal(), Signal()
        m.d.comb += drop.eq(Mux(fin.head, flags[0] & (hdr.ptype == PacketType.CONTROL) & ext.write,
                                drop_l))
        with m.If(self.rx.valid & self.rx.ready & fin.head):
            m.d.sync += drop_l.eq(drop)
        with m.If(self.rx.valid & self.rx.ready & fin.tail & drop):
            m.d.sync += acks.eq(acks + 1)
        m.d.comb += [self.tx.valid.eq(txf.r_rdy), self.tx.payload.eq(txf.r_data), txf.r_en.eq(self.tx.ready),
                     rxf.w_data.eq(self.rx.payload), rxf.w_en.eq(self.rx.valid & ~drop),
                     self.rx.ready.eq(rxf.w_rdy | drop)]
        tails = Signal(range(self.rx_depth + 2))
        push_tail = rxf.w_en & rxf.w_rdy & self.rx.payload.tail
        pop_tail = Signal()
        m.d.sync += tails.eq(tails + push_tail - pop_tail)

        # bus side
        off = bus.addr[:10]
        is_ctl, is_tx, is_rx = off < TX_OFFSET, (off >= TX_OFFSET) & (off < RX_OFFSET), off >= RX_OFFSET
        p = Signal(9)
        m.d.comb += p.eq(off - RX_OFFSET - 1)
        rx_wait = Signal(16)
        timer = Signal(21)
        remaining = Signal(16)          # flits of the current TX packet still to come
        first = Signal()
        word = Signal(range(max(wpf, 2)))
        held = [Signal(16, name=f"held_{i}") for i in range(wpf - 1)]
        seen = Signal()                 # the last flags read found a flit

        rd = Signal(16)
        ready = Signal()
        m.d.comb += ready.eq(1)
        with m.If(is_ctl):
            with m.Switch(off[:3]):
                with m.Case(0):
                    m.d.comb += rd.eq(rx_wait)
                with m.Case(1):
                    m.d.comb += rd.eq(rxf.level)
                with m.Case(2):
                    m.d.comb += rd.eq(tails)
                with m.Case(3):
                    m.d.comb += rd.eq(txf.level)
                with m.Case(4):
                    m.d.comb += rd.eq(flags)
                with m.Case(5):
                    m.d.comb += rd.eq(acks)
        with m.Elif(is_rx):
            with m.If(off == RX_OFFSET):
                waited = timer >= (rx_wait << 4)
                m.d.comb += [rd.eq(rxf.level), ready.eq((tails != 0) | waited)]
            with m.Else():
                flit = rxf.r_data
                with m.Switch(p[:2]):
                    with m.Case(0):
                        m.d.comb += rd.eq(Cat(rxf.r_rdy, flit[W], flit[W + 1]))
                    for i in range(1, 4):
                        with m.Case(i):
                            lo = 16 * (i - 1)
                            if lo < W:
                                m.d.comb += rd.eq(flit[lo:min(lo + 16, W)])
        with m.Elif(is_tx & bus.we & (remaining != 0) & (word == wpf - 1)):
            m.d.comb += ready.eq(txf.w_rdy)
        m.d.comb += bus.req_ready.eq(ready)
        transfer = bus.req_valid & ready
        m.d.sync += [bus.r_valid.eq(transfer & ~bus.we), bus.r_data.eq(rd)]

        # the long poll's timer runs while a read of rx word 0 waits
        with m.If(bus.req_valid & ~bus.we & is_rx & (off == RX_OFFSET) & ~transfer):
            m.d.sync += timer.eq(timer + 1)
        with m.Else():
            m.d.sync += timer.eq(0)

        with m.If(transfer & bus.we & is_ctl & (off[:3] == 0)):
            m.d.sync += rx_wait.eq(bus.w_data)
        with m.If(transfer & bus.we & is_ctl & (off[:3] == 4)):
            m.d.sync += flags.eq(bus.w_data)
        with m.If(transfer & ~bus.we & is_rx & (off != RX_OFFSET)):
            with m.If(p[:2] == 0):
                m.d.sync += seen.eq(rxf.r_rdy)
            with m.If((p[:2] == 3) & seen):
                m.d.comb += [rxf.r_en.eq(1), pop_tail.eq(rxf.r_data[W + 1])]
                m.d.sync += seen.eq(0)

        with m.If(transfer & bus.we & is_tx):
            with m.If(remaining == 0):
                m.d.sync += [remaining.eq(bus.w_data), first.eq(1), word.eq(0)]
            with m.Elif(word != wpf - 1):
                for i in range(wpf - 1):
                    with m.If(word == i):
                        m.d.sync += held[i].eq(bus.w_data)
                m.d.sync += word.eq(word + 1)
            with m.Else():
                word_data = Cat(*held, bus.w_data)[:W]
                m.d.comb += [txf.w_en.eq(1), txf.w_data.eq(Cat(word_data, first, remaining == 1))]
                m.d.sync += [remaining.eq(remaining - 1), first.eq(0), word.eq(0)]
        m.d.comb += self.busy.eq(txf.r_rdy | (remaining != 0))
        return m
