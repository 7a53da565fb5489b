"""UART at bit level, once, on Icarus (small and quick to build)."""
from amaranth import Module
from amaranth.lib import stream, wiring
from amaranth.lib.wiring import In, Out

from spikemesh.rtl.link.uart import UARTRx, UARTTx
from spikemesh.sim.cocotb_run import run_cocotb

CPB = 8


class UartPair(wiring.Component):
    rx: In(1, init=1)
    tx: Out(1, init=1)
    rx_data: Out(stream.Signature(8))
    tx_data: In(stream.Signature(8))
    frame_error: Out(1)

    def elaborate(self, platform):
        m = Module()
        m.submodules.urx = urx = UARTRx(CPB)
        m.submodules.utx = utx = UARTTx(CPB)
        m.d.comb += [urx.rx.eq(self.rx), self.tx.eq(utx.tx), self.frame_error.eq(urx.frame_error)]
        wiring.connect(m, urx.data, wiring.flipped(self.rx_data))
        wiring.connect(m, wiring.flipped(self.tx_data), utx.data)
        return m


def test_uart_bit_level():
    run_cocotb(UartPair, toplevel="link_uart_pair", test_module="spikemesh.sim.benches.link_uart_bench",
               sim="icarus", params={"cpb": CPB})
