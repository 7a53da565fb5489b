"""8N1 UART receiver and transmitter with a bit time of `clocks_per_bit` clock cycles."""
from __future__ import annotations

from amaranth import Module, Signal
from amaranth.lib import stream, wiring
from amaranth.lib.cdc import FFSynchronizer
from amaranth.lib.wiring import In, Out


def _check_cpb(clocks_per_bit: int) -> None:
    if not isinstance(clocks_per_bit, int) or not 4 <= clocks_per_bit <= 65535:
        raise ValueError(f"clocks_per_bit must be an int in 4..65535, got {clocks_per_bit!r}")


class UARTRx(wiring.Component):
    """Receiver: 2-flop synchroniser, start bit re-checked at mid-bit, data sampled at mid-bit.

    `data` is a stream with no back-pressure from the line: a byte not taken before the next one
    completes is lost and counted in `overrun`; a missing stop bit pulses `frame_error`.
    """

    def __init__(self, clocks_per_bit: int):
        _check_cpb(clocks_per_bit)
        self.clocks_per_bit = clocks_per_bit
        super().__init__({
            "rx": In(1, init=1),
            "data": Out(stream.Signature(8)),
            "frame_error": Out(1),
            "overrun": Out(1),
        })

    def elaborate(self, platform):
        m = Module()
        cpb = self.clocks_per_bit
        rx = Signal(init=1)
        m.submodules.sync = FFSynchronizer(self.rx, rx, init=1)
        timer = Signal(range(cpb))
        bit = Signal(range(9))
        shreg = Signal(8)

        with m.If(self.data.ready):
            m.d.sync += self.data.valid.eq(0)
        m.d.sync += [self.frame_error.eq(0), self.overrun.eq(0)]
        with m.FSM():
            with m.State("IDLE"):
                with m.If(~rx):
                    m.d.sync += timer.eq(cpb // 2 - 1)
                    m.next = "START"
            with m.State("START"):
                with m.If(timer != 0):
                    m.d.sync += timer.eq(timer - 1)
                with m.Elif(rx):  # a glitch, not a start bit
                    m.next = "IDLE"
                with m.Else():
                    m.d.sync += [timer.eq(cpb - 1), bit.eq(0)]
                    m.next = "DATA"
            with m.State("DATA"):
                with m.If(timer != 0):
                    m.d.sync += timer.eq(timer - 1)
                with m.Else():
                    m.d.sync += [timer.eq(cpb - 1), shreg.eq(shreg[1:] | (rx << 7)), bit.eq(bit + 1)]
                    with m.If(bit == 7):
                        m.next = "STOP"
            with m.State("STOP"):
                with m.If(timer != 0):
                    m.d.sync += timer.eq(timer - 1)
                with m.Else():
                    with m.If(rx):
                        m.d.sync += [self.data.payload.eq(shreg), self.data.valid.eq(1)]
                        m.d.sync += self.overrun.eq(self.data.valid & ~self.data.ready)
                    with m.Else():
                        m.d.sync += self.frame_error.eq(1)
                    m.next = "IDLE"  # IDLE waits for the line to go low again
        return m


class UARTTx(wiring.Component):
    """Transmitter: takes a byte from `data`, sends start, 8 data bits LSB first, stop."""

    def __init__(self, clocks_per_bit: int):
        _check_cpb(clocks_per_bit)
        self.clocks_per_bit = clocks_per_bit
        super().__init__({
            "tx": Out(1, init=1),
            "data": In(stream.Signature(8)),
            "busy": Out(1),
        })

    def elaborate(self, platform):
        m = Module()
        cpb = self.clocks_per_bit
        timer = Signal(range(cpb))
        bits = Signal(range(11))
        shreg = Signal(10, init=0x3FF)
        # `ready` as one plain assignment (an `always @*` that no input ever wakes stays X in Icarus).
        m.d.comb += [self.tx.eq(shreg[0]), self.busy.eq(bits != 0), self.data.ready.eq(bits == 0)]
        with m.If(bits == 0):
            with m.If(self.data.valid):
                m.d.sync += [shreg.eq((self.data.payload << 1) | (1 << 9)), bits.eq(10), timer.eq(cpb - 1)]
        with m.Elif(timer != 0):
            m.d.sync += timer.eq(timer - 1)
        with m.Else():
            m.d.sync += [shreg.eq((shreg >> 1) | (1 << 9)), bits.eq(bits - 1), timer.eq(cpb - 1)]
        return m
