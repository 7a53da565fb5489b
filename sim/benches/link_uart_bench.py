"""cocotb bench: the UART at bit level (receiver with mid-bit sampling, glitch and framing checks; transmitter)."""
import random

import cocotb
from cocotb.clock import Clock
from cocotb.triggers import ClockCycles, RisingEdge

from spikemesh.sim.cocotb_run import cocotb_param


class TB:
    def __init__(self, dut):
        self.dut, self.p = dut, cocotb_param()
        self.cpb = self.p["cpb"]
        self.received, self.errors = [], 0

    async def start(self):
        d = self.dut
        cocotb.start_soon(Clock(d.clk, 10, unit="ns").start())
        d.rst.value, d.rx.value, d.rx_data__ready.value, d.tx_data__valid.value = 1, 1, 0, 0
        await ClockCycles(d.clk, 3)
        d.rst.value = 0
        cocotb.start_soon(self._monitor())

    async def _monitor(self):
        d = self.dut
        ready = iter(lambda: random.random() < 0.7, None)  # back-pressure on the received bytes
        while True:
            d.rx_data__ready.value = int(next(ready))
            await RisingEdge(d.clk)
            if d.rx_data__valid.value and d.rx_data__ready.value:
                self.received.append(d.rx_data__payload.value.to_unsigned())
            if d.frame_error.value:
                self.errors += 1

    async def send_bits(self, byte, bit_cycles, stop=1):
        d = self.dut
        for level in [0] + [(byte >> i) & 1 for i in range(8)] + [stop]:
            d.rx.value = level
            await ClockCycles(d.clk, bit_cycles)
        d.rx.value = 1


@cocotb.test()
async def uart_rx_tx(dut):
    random.seed(7)
    tb = TB(dut)
    await tb.start()
    cpb = tb.cpb
    # Receiver: clean bytes, bytes at +-3% baud error, a glitch shorter than half a bit, a framing error.
    data = [0x00, 0xFF, 0x55, 0xAA] + [random.randrange(256) for _ in range(12)]
    for i, b in enumerate(data):
        await tb.send_bits(b, cpb)
        if i % 3 == 0:
            await ClockCycles(dut.clk, random.randrange(1, 3 * cpb))  # idle gaps
    for b, skew in ((0x3C, 1.03), (0xC3, 0.97)):
        await tb.send_bits(b, round(cpb * skew))
    dut.rx.value = 0
    await ClockCycles(dut.clk, cpb // 2 - 2)  # glitch: must not start a byte
    dut.rx.value = 1
    await ClockCycles(dut.clk, 3 * cpb)
    await tb.send_bits(0x81, cpb, stop=0)  # framing error: no byte, one error pulse
    await ClockCycles(dut.clk, 3 * cpb)
    await tb.send_bits(0x42, cpb)
    await ClockCycles(dut.clk, 2 * cpb)
    assert tb.received == data + [0x3C, 0xC3, 0x42], [hex(x) for x in tb.received]
    assert tb.errors == 1

    # Transmitter: decode the tx pin at mid-bit, with idle gaps between bytes.
    out = [random.randrange(256) for _ in range(10)] + [0x00, 0xFF]
    got = []

    async def decode():
        while len(got) < len(out):
            await RisingEdge(dut.clk)
            if dut.tx.value == 0:
                await ClockCycles(dut.clk, cpb // 2)
                assert dut.tx.value == 0, "start bit too short"
                v = 0
                for i in range(8):
                    await ClockCycles(dut.clk, cpb)
                    v |= int(dut.tx.value) << i
                await ClockCycles(dut.clk, cpb)
                assert dut.tx.value == 1, "stop bit missing"
                got.append(v)

    dec = cocotb.start_soon(decode())
    for b in out:
        dut.tx_data__valid.value, dut.tx_data__payload.value = 1, b
        await RisingEdge(dut.clk)
        while not dut.tx_data__ready.value:
            await RisingEdge(dut.clk)
        dut.tx_data__valid.value = 0
        await ClockCycles(dut.clk, random.randrange(0, 2 * cpb))
    await dec
    assert got == out
