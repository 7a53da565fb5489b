"""The link engine: COBS/CRC frames in, bus transactions, COBS/CRC frames out (see `protocol`).

One request at a time (stop-and-wait): the decoded request is kept in an RX buffer until its CRC is
checked, then executed; the response is assembled in a TX buffer, which also serves duplicates.
Bytes that arrive while a request is executing are dropped and the parser skips to the next 0x00.
"""
from __future__ import annotations

from amaranth import Cat, Module, Mux, Signal
from amaranth.lib import stream, wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out

from ..bus import BusSignature
from .protocol import (CRC_BYTES, crc16_update, NAK_FRAME, REQ_HEADER, RESP_HEADER, Cmd, LinkConfig, Status)


def _crc_taps() -> list[tuple[list[int], list[int]]]:
    """The CRC update is linear over GF(2): for each output bit, the crc and byte bits XORed into it."""
    taps = []
    for o in range(16):
        cbits = [i for i in range(16) if crc16_update(1 << i, 0) >> o & 1]
        bbits = [i for i in range(8) if crc16_update(0, 1 << i) >> o & 1]
        taps.append((cbits, bbits))
    return taps


_TAPS = _crc_taps()


def crc16_next(crc, byte):
    """Comb CRC-16 (poly 0x1021, MSB first) update by one byte: XOR trees equal to `protocol.crc16_update`."""
    bits = []
    for cbits, bbits in _TAPS:
        terms = [crc[i] for i in cbits] + [byte[i] for i in bbits]
        acc = terms[0]
        for t in terms[1:]:
            acc = acc ^ t
        bits.append(acc)
    return Cat(*bits)


class LinkStats(wiring.Signature):
    """Event pulses the engine raises (counted by a status block)."""

    EVENTS = ("frame_ok", "nak", "dup", "bad_cmd", "watchdog", "dropped")

    def __init__(self):
        super().__init__({name: Out(1) for name in self.EVENTS})


class LinkEngine(wiring.Component):
    """Byte streams in/out, a bus initiator, an identify ROM (`ident` bytes)."""

    def __init__(self, config: LinkConfig, bus_addr_width: int, ident: bytes, bus_data_width: int = 16):
        if bus_data_width != 16:
            raise ValueError(f"bus_data_width must be 16 for the link engine, got {bus_data_width!r}")
        self.config = config
        self.ident = bytes(ident)
        room = config.tx_buffer_bytes - RESP_HEADER - CRC_BYTES
        if not 1 <= len(self.ident) <= room:
            raise ValueError(f"ident must be 1..{room} bytes, got {len(self.ident)}")
        super().__init__({
            "rx": In(stream.Signature(8)),
            "tx": Out(stream.Signature(8)),
            "bus": Out(BusSignature(bus_addr_width, 16)),
            "stats": Out(LinkStats()),
            "idle": Out(1),
        })

    def elaborate(self, platform):
        m = Module()
        cfg = self.config
        rx_depth, tx_depth = cfg.rx_buffer_bytes, cfg.tx_buffer_bytes
        # Event pulses are built comb (`ev`) and registered on the way out (timing, and a clean pulse).
        ev = {name: Signal(name=f"ev_{name}") for name in LinkStats.EVENTS}
        for name, sig in ev.items():
            m.d.sync += getattr(self.stats, name).eq(sig)
        m.submodules.rxbuf = rxbuf = Memory(shape=8, depth=rx_depth, init=[])
        m.submodules.txbuf = txbuf = Memory(shape=8, depth=tx_depth, init=[])
        m.submodules.ident = ident = Memory(shape=8, depth=len(self.ident), init=list(self.ident))
        m.submodules.nak = nak = Memory(shape=8, depth=len(NAK_FRAME), init=list(NAK_FRAME))
        rx_w, rx_r = rxbuf.write_port(), rxbuf.read_port()
        tx_w, tx_r = txbuf.write_port(), txbuf.read_port()
        id_r, nak_r = ident.read_port(), nak.read_port()

        # ---- receive: COBS decode + CRC into the RX buffer (one byte per cycle) ----
        receiving = Signal()            # bytes are accepted (RECV, or sending a NAK with no frame pending)
        pend, pend_good = Signal(), Signal()  # a frame ended while a NAK was going out
        skip = Signal()                 # discard until the next delimiter (dropped bytes / watchdog)
        remain = Signal(8)              # data bytes left in the current COBS block; 0: next is a code
        last_ff = Signal()              # current block's code was 0xFF (no implied zero after it)
        started = Signal()              # at least one code byte of this frame seen
        rx_len = Signal(range(rx_depth + 1))
        overflow = Signal()
        rx_crc = Signal(16, init=0xFFFF)
        wdog = Signal(range(cfg.watchdog_cycles + 1))
        frame_end = Signal()            # a delimiter ended a non-empty frame this cycle
        frame_good = Signal()

        m.d.comb += self.rx.ready.eq(1)
        byte = self.rx.payload
        emit, emit_data = Signal(), Signal(8)
        with m.If(self.rx.valid & receiving & ~skip):
            m.d.sync += wdog.eq(0)
            with m.If(byte == 0):
                with m.If(started):
                    m.d.comb += frame_end.eq(1)
                    m.d.comb += frame_good.eq(~overflow & (remain == 0) & (rx_len >= 4) & (rx_crc == 0))
                m.d.sync += [started.eq(0), remain.eq(0), rx_len.eq(0), overflow.eq(0), rx_crc.eq(0xFFFF)]
            with m.Elif(remain == 0):
                m.d.sync += [started.eq(1), remain.eq(byte - 1), last_ff.eq(byte == 0xFF)]
                m.d.comb += [emit.eq(started & ~last_ff), emit_data.eq(0)]
            with m.Else():
                m.d.sync += remain.eq(remain - 1)
                m.d.comb += [emit.eq(1), emit_data.eq(byte)]
        with m.Elif(self.rx.valid & receiving & skip):
            m.d.sync += wdog.eq(0)
            with m.If(byte == 0):
                m.d.sync += skip.eq(0)
        with m.Elif(self.rx.valid & ~receiving):
            m.d.comb += ev["dropped"].eq(1)
            m.d.sync += skip.eq(1)
        with m.Elif((started | skip) & receiving):
            m.d.sync += wdog.eq(wdog + 1)
            with m.If(wdog == cfg.watchdog_cycles):  # a cut-off frame: start over
                m.d.comb += ev["watchdog"].eq(1)
                m.d.sync += [started.eq(0), skip.eq(0), remain.eq(0), rx_len.eq(0), overflow.eq(0), rx_crc.eq(0xFFFF),
                             wdog.eq(0)]
        with m.If(emit):
            with m.If(rx_len == rx_depth):
                m.d.sync += overflow.eq(1)
            with m.Else():
                m.d.comb += [rx_w.addr.eq(rx_len), rx_w.data.eq(emit_data), rx_w.en.eq(1)]
                m.d.sync += [rx_len.eq(rx_len + 1), rx_crc.eq(crc16_next(rx_crc, emit_data))]
        frame_len = Signal(range(rx_depth + 1))
        with m.If(frame_end):
            m.d.sync += frame_len.eq(rx_len)
        got_frame = Signal()
        got_good = Signal()
        m.d.comb += [got_frame.eq(frame_end | pend), got_good.eq(Mux(pend, pend_good, frame_good))]

        # ---- request header, response assembly ----
        hdr = Signal(8 * REQ_HEADER)
        seq, cmd = hdr[0:8], hdr[8:16]
        addr, count = hdr[16:48], hdr[48:64]
        hidx = Signal(range(REQ_HEADER + 1))
        last_seq = Signal(8)
        last_valid = Signal()
        status = Signal(8)
        word_i = Signal(range(max(cfg.max_words, len(self.ident)) + 1))
        # `count` as wide as word_i + 1: exact in the READ/WRITE states, which DECODE enters only with
        # count <= max_words
        count_w = count[:len(word_i) + 1]
        word = Signal(16)
        tx_len = Signal(range(tx_depth + 1))
        tx_crc = Signal(16, init=0xFFFF)
        tx_byte, tx_we = Signal(8), Signal()
        with m.If(tx_we):  # every byte appended to the response also goes into its CRC
            m.d.comb += [tx_w.addr.eq(tx_len), tx_w.data.eq(tx_byte), tx_w.en.eq(1)]
            m.d.sync += [tx_len.eq(tx_len + 1), tx_crc.eq(crc16_next(tx_crc, tx_byte))]
        crc_final = Signal(16)
        ident_len = len(self.ident)
        max_words = cfg.max_words

        # ---- COBS encoder state (reads the TX buffer twice per block) ----
        p = Signal(range(tx_depth + 1))
        q = Signal(range(tx_depth + 1))
        k = Signal(range(tx_depth + 1))
        zero_hit = Signal()
        nidx = Signal(range(len(NAK_FRAME) + 1))

        m.d.comb += self.bus.addr.eq(addr + word_i)
        with m.FSM():
            with m.State("RECV"):
                m.d.comb += [receiving.eq(~pend), self.idle.eq(~started & ~pend)]
                m.d.sync += pend.eq(0)
                with m.If(got_frame & got_good):
                    m.d.comb += ev["frame_ok"].eq(1)
                    m.d.sync += hidx.eq(0)
                    m.next = "HEADER"
                with m.Elif(got_frame):
                    m.d.comb += ev["nak"].eq(1)
                    m.d.sync += nidx.eq(0)
                    m.next = "NAK"
            with m.State("HEADER"):  # RX buffer bytes 0..7 into hdr (read data lags the address by one)
                m.d.comb += rx_r.addr.eq(hidx)
                m.d.sync += hidx.eq(hidx + 1)
                with m.If(hidx != 0):
                    m.d.sync += hdr.eq(Cat(hdr[8:], rx_r.data))  # bytes shift in from the top
                with m.If(hidx == REQ_HEADER):
                    m.next = "DECODE"
            with m.State("DECODE"):
                n = frame_len - CRC_BYTES
                count_ok = (count != 0) & (count <= max_words)
                m.d.sync += [tx_len.eq(0), tx_crc.eq(0xFFFF), word_i.eq(0)]
                with m.If(last_valid & (seq == last_seq)):
                    m.d.comb += ev["dup"].eq(1)
                    m.d.sync += [p.eq(0), q.eq(0), zero_hit.eq(0), tx_len.eq(tx_len)]
                    m.next = "SCAN"
                with m.Elif((cmd == Cmd.IDENTIFY) & (n == 2)):
                    m.d.sync += status.eq(Status.OK)
                    m.next = "SEQ"
                with m.Elif((cmd == Cmd.READ) & (n == REQ_HEADER) & count_ok):
                    m.d.sync += status.eq(Status.OK)
                    m.next = "SEQ"
                with m.Elif((cmd == Cmd.WRITE) & (n == REQ_HEADER + 2 * count) & count_ok):
                    m.d.sync += status.eq(Status.OK)
                    m.next = "SEQ"
                with m.Else():
                    m.d.comb += ev["bad_cmd"].eq(1)
                    m.d.sync += status.eq(Status.BAD_CMD)
                    m.next = "SEQ"
            with m.State("SEQ"):
                m.d.comb += [tx_byte.eq(seq), tx_we.eq(1)]
                m.next = "STATUS"
            with m.State("STATUS"):
                m.d.comb += [tx_byte.eq(status), tx_we.eq(1)]
                with m.If(status != Status.OK):
                    m.next = "CRC_HI"
                with m.Elif(cmd == Cmd.IDENTIFY):
                    m.next = "ID_COPY"
                with m.Elif(cmd == Cmd.READ):
                    m.next = "RD_REQ"
                with m.Else():
                    m.next = "WR_LO"
            # IDENTIFY: copy the ROM (address word_i, data one cycle later)
            with m.State("ID_COPY"):
                m.d.comb += id_r.addr.eq(word_i)
                m.d.sync += word_i.eq(word_i + 1)
                with m.If(word_i != 0):
                    m.d.comb += [tx_byte.eq(id_r.data), tx_we.eq(1)]
                with m.If(word_i == ident_len):
                    m.d.sync += word_i.eq(0)
                    m.next = "CRC_HI"
            # READ: one bus read per word, little-endian into the response
            with m.State("RD_REQ"):
                m.d.comb += [self.bus.req_valid.eq(1), self.bus.we.eq(0)]
                with m.If(self.bus.req_ready):
                    with m.If(self.bus.r_valid):
                        m.d.sync += word.eq(self.bus.r_data)
                        m.next = "RD_LO"
                    with m.Else():
                        m.next = "RD_WAIT"
            with m.State("RD_WAIT"):
                with m.If(self.bus.r_valid):
                    m.d.sync += word.eq(self.bus.r_data)
                    m.next = "RD_LO"
            with m.State("RD_LO"):
                m.d.comb += [tx_byte.eq(word[:8]), tx_we.eq(1)]
                m.next = "RD_HI"
            with m.State("RD_HI"):
                m.d.comb += [tx_byte.eq(word[8:]), tx_we.eq(1)]
                m.d.sync += word_i.eq(word_i + 1)
                with m.If(word_i + 1 == count_w):
                    m.next = "CRC_HI"
                with m.Else():
                    m.next = "RD_REQ"
            # WRITE: two RX-buffer bytes per word, then one bus write
            with m.State("WR_LO"):
                m.d.comb += rx_r.addr.eq(REQ_HEADER + 2 * word_i)
                m.next = "WR_HI"
            with m.State("WR_HI"):
                m.d.comb += rx_r.addr.eq(REQ_HEADER + 2 * word_i + 1)
                m.d.sync += word[:8].eq(rx_r.data)
                m.next = "WR_LATCH"
            with m.State("WR_LATCH"):
                m.d.sync += word[8:].eq(rx_r.data)
                m.next = "WR_REQ"
            with m.State("WR_REQ"):
                m.d.comb += [self.bus.req_valid.eq(1), self.bus.we.eq(1), self.bus.w_data.eq(word)]
                with m.If(self.bus.req_ready):
                    m.d.sync += word_i.eq(word_i + 1)
                    with m.If(word_i + 1 == count_w):
                        m.next = "CRC_HI"
                    with m.Else():
                        m.next = "WR_LO"
            with m.State("CRC_HI"):
                m.d.comb += [tx_byte.eq(tx_crc[8:]), tx_we.eq(1)]
                m.d.sync += crc_final.eq(tx_crc)
                m.next = "CRC_LO"
            with m.State("CRC_LO"):
                m.d.comb += [tx_byte.eq(crc_final[:8]), tx_we.eq(1)]
                m.d.sync += [last_seq.eq(seq), last_valid.eq(1), p.eq(0), q.eq(0), zero_hit.eq(0)]
                m.next = "SCAN"
            # COBS encode the TX buffer [0, tx_len): find the block end q, send code, send [p, q)
            with m.State("SCAN"):
                with m.If((q == tx_len) | (q - p == 254)):
                    m.next = "CODE"
                with m.Else():
                    m.d.comb += tx_r.addr.eq(q)
                    m.next = "SCAN_CHK"
            with m.State("SCAN_CHK"):
                with m.If(tx_r.data == 0):
                    m.d.sync += zero_hit.eq(1)
                    m.next = "CODE"
                with m.Else():
                    m.d.sync += q.eq(q + 1)
                    m.next = "SCAN"
            with m.State("CODE"):
                m.d.comb += [self.tx.valid.eq(1), self.tx.payload.eq(q - p + 1)]
                with m.If(self.tx.ready):
                    m.d.sync += k.eq(p)
                    m.next = "DATA"
            with m.State("DATA"):
                with m.If(k == q):
                    m.next = "NEXT"
                with m.Else():
                    m.d.comb += tx_r.addr.eq(k)
                    m.next = "DATA_OUT"
            with m.State("DATA_OUT"):
                m.d.comb += [tx_r.addr.eq(k), self.tx.valid.eq(1), self.tx.payload.eq(tx_r.data)]
                with m.If(self.tx.ready):
                    m.d.sync += k.eq(k + 1)
                    m.next = "DATA"
            with m.State("NEXT"):
                m.d.sync += zero_hit.eq(0)
                with m.If(zero_hit):
                    m.d.sync += [p.eq(q + 1), q.eq(q + 1)]
                    m.next = "SCAN"
                with m.Elif(q == tx_len):
                    m.next = "DELIM"
                with m.Else():
                    m.d.sync += p.eq(q)
                    m.next = "SCAN"
            with m.State("DELIM"):
                m.d.comb += [self.tx.valid.eq(1), self.tx.payload.eq(0)]
                with m.If(self.tx.ready):
                    m.next = "RECV"
            # NAK: the constant pre-encoded frame (keeps the TX buffer for duplicates)
            with m.State("NAK"):
                m.d.comb += [nak_r.addr.eq(nidx), receiving.eq(~pend)]
                with m.If(frame_end):
                    m.d.sync += [pend.eq(1), pend_good.eq(frame_good)]
                m.next = "NAK_OUT"
            with m.State("NAK_OUT"):
                m.d.comb += [nak_r.addr.eq(nidx), self.tx.valid.eq(1), self.tx.payload.eq(nak_r.data),
                             receiving.eq(~pend)]
                with m.If(frame_end):
                    m.d.sync += [pend.eq(1), pend_good.eq(frame_good)]
                with m.If(self.tx.ready):
                    m.d.sync += nidx.eq(nidx + 1)
                    with m.If(nidx == len(NAK_FRAME) - 1):
                        m.next = "RECV"
                    with m.Else():
                        m.next = "NAK"
        return m
