"""Board top: clock (PLL), reset, UART pins, status LEDs around the SoC."""
from __future__ import annotations

from amaranth import ClockDomain, Elaboratable, Module, Signal
from amaranth.lib import io
from amaranth.lib.cdc import ResetSynchronizer

from spikemesh.rtl.soc.top import SoC

from .pll import ecp5_pll, ice40_pll
from .profiles import BoardProfile


class BoardTop(Elaboratable):
    """LED 0 heartbeat, LED 1 busy, LED 2 link error; the rest show the SoC's `leds` register."""

    def __init__(self, profile: BoardProfile, soc: SoC):
        self.profile, self.soc = profile, soc

    def elaborate(self, platform):
        m = Module()
        prof = self.profile
        clk_in = platform.request(platform.default_clk, dir="-")
        m.domains.sync = sync = ClockDomain("sync")
        if prof.clk_hz == prof.clk_in_hz:
            m.submodules.clkbuf = buf = io.Buffer("i", clk_in)
            m.d.comb += sync.clk.eq(buf.i)
            locked = Signal(init=1)  # the pin's own Clock() constraint applies
        else:
            m.submodules.clkbuf = buf = io.Buffer("i", clk_in)
            make = ecp5_pll if prof.family == "ecp5" else ice40_pll
            inst, clk_out, locked, _ = make(buf.i, prof.clk_in_hz, prof.clk_hz)
            m.submodules.pll = inst
            # No per-net constraint: its name does not survive synthesis; nextpnr gets --freq instead.
            m.d.comb += sync.clk.eq(clk_out)
        m.submodules.rst_sync = ResetSynchronizer(~locked, domain="sync")

        m.submodules.soc = soc = self.soc
        uart = platform.request("uart", 0, dir="-")
        m.submodules.uart_rx = rx = io.Buffer("i", uart.rx)
        m.submodules.uart_tx = tx = io.Buffer("o", uart.tx)
        m.d.comb += [soc.uart_rx.eq(rx.i), tx.o.eq(soc.uart_tx)]
        status = [soc.heartbeat, soc.busy, soc.link_error]
        for i in range(8):
            if not _has(platform, "led", i):
                break
            m.submodules[f"led{i}"] = led = io.Buffer("o", platform.request("led", i, dir="-"))
            m.d.comb += led.o.eq(status[i] if i < len(status) else soc.leds[i - len(status)])
        return m


def _has(platform, name: str, number: int) -> bool:
    try:
        platform.lookup(name, number)
        return True
    except Exception:
        return False
