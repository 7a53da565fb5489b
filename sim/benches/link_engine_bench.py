"""cocotb bench: the link engine against a bus memory model with idle and back-pressure on every port.

Every response is compared byte for byte with `protocol.frame(...)` of what a reference model expects
(so the gateware COBS encoder and CRC are checked against the `cobs` and `crc` packages).
"""
import random
import struct

import cocotb
from cocotb.clock import Clock
from cocotb.triggers import ClockCycles, FallingEdge

from spikemesh.rtl.link import protocol as P
from spikemesh.sim.cocotb_run import cocotb_param

STATS = ("frame_ok", "nak", "dup", "bad_cmd", "watchdog", "dropped")


class TB:
    def __init__(self, dut):
        self.dut, self.p = dut, cocotb_param()
        self.rng = random.Random(11)
        self.mem = {}                        # the bus target's memory
        self.transfers = 0                   # bus transfers seen
        self.rx_queue = []                   # bytes to send
        self.tx_bytes = bytearray()          # bytes received from the engine
        self.stats = dict.fromkeys(STATS, 0)
        self.pending = []                    # (cycles left, data) read responses
        self.cycle = 0

    async def start(self):
        d = self.dut
        cocotb.start_soon(Clock(d.clk, 10, unit="ns").start())
        d.rst.value = 1
        for s in (d.rx__valid, d.rx__payload, d.tx__ready, d.bus__req_ready, d.bus__r_valid, d.bus__r_data):
            s.value = 0
        await ClockCycles(d.clk, 3)
        d.rst.value = 0
        cocotb.start_soon(self._run())

    async def _run(self):
        """One coroutine drives and samples every port at the falling edge (outputs are settled there)."""
        d, rng = self.dut, self.rng
        while True:
            await FallingEdge(d.clk)
            self.cycle += 1
            for s in STATS:
                if getattr(d, f"stats__{s}").value:
                    self.stats[s] += 1
            # rx: idle gaps between bytes (ready is always 1: the engine never back-pressures the line)
            if self.rx_queue and rng.random() < 0.75:
                d.rx__valid.value, d.rx__payload.value = 1, self.rx_queue.pop(0)
            else:
                d.rx__valid.value = 0
            # tx: back-pressure
            ready = rng.random() < 0.6
            d.tx__ready.value = int(ready)
            if ready and d.tx__valid.value:
                self.tx_bytes.append(d.tx__payload.value.to_unsigned())
            # bus target: random stalls, read latency 1..3 cycles
            d.bus__r_valid.value = 0
            self.pending = [(n - 1, v) for n, v in self.pending]
            if self.pending and self.pending[0][0] == 0:
                d.bus__r_valid.value, d.bus__r_data.value = 1, self.pending.pop(0)[1]
            can = not self.pending and rng.random() < 0.7
            d.bus__req_ready.value = int(can)
            if can and d.bus__req_valid.value:
                self.transfers += 1
                addr = d.bus__addr.value.to_unsigned()
                if d.bus__we.value:
                    self.mem[addr] = d.bus__w_data.value.to_unsigned()
                else:
                    self.pending.append((rng.randrange(1, 4), self.mem.get(addr, 0)))

    async def wait_frames(self, n=1, limit=200_000):
        for _ in range(limit):
            if self.tx_bytes.count(0) >= n and not self.rx_queue:
                break
            await FallingEdge(self.dut.clk)
        else:
            raise AssertionError(f"no response after {limit} cycles; got {bytes(self.tx_bytes).hex()}")
        cut = [i for i, b in enumerate(self.tx_bytes) if b == 0][n - 1]
        out = bytes(self.tx_bytes[:cut + 1])
        del self.tx_bytes[:cut + 1]
        return out

    async def request(self, payload, *, lead=True):
        self.rx_queue += list((b"\x00" if lead else b"") + P.frame(payload))
        return await self.wait_frames()

    async def quiet(self, cycles):
        await ClockCycles(self.dut.clk, cycles)
        assert not self.tx_bytes, f"unexpected output {bytes(self.tx_bytes).hex()}"


def ok(seq, data=b""):
    return P.frame(bytes([seq, P.Status.OK]) + data)


@cocotb.test()
async def link_engine(dut):
    tb = TB(dut)
    await tb.start()
    p, rng = tb.p, tb.rng
    max_words, ident, wdog = p["max_words"], bytes.fromhex(p["ident"]), p["watchdog"]
    ref = {}

    def words_le(ws):
        return struct.pack(f"<{len(ws)}H", *ws)

    seq = 0

    def nxt():
        nonlocal seq
        seq = (seq + 1) % 255
        return seq

    # identify
    s = nxt()
    assert await tb.request(P.request_identify(s)) == ok(s, ident)

    # a long run without zero bytes (COBS 0xFF blocks), then zeros, then random blocks incl. max size
    patterns = [[0x0101 + i for i in range(max_words)], [0] * 7, [0x00FF, 0xFF00] * 20]
    for _ in range(12):
        n = rng.choice([1, 2, max_words, rng.randrange(1, max_words + 1)])
        patterns.append([rng.choice([0, 0x0100, rng.randrange(65536)]) for _ in range(n)])
    addr = 0x100
    for ws in patterns:
        s = nxt()
        assert await tb.request(P.request_write(s, addr, ws)) == ok(s)
        for i, w in enumerate(ws):
            ref[addr + i] = w
        s = nxt()
        exp = [ref.get(addr + i, 0) for i in range(len(ws))]
        assert await tb.request(P.request_read(s, addr, len(ws))) == ok(s, words_le(exp))
        addr = (addr + rng.randrange(1, 300)) % 0x8000
    assert tb.mem == ref

    # duplicate: same seq again -> the same answer, no bus transfer
    s = nxt()
    wr = P.request_write(s, 0x40, [1, 2, 3])
    first = await tb.request(wr)
    before = tb.transfers
    assert await tb.request(wr) == first == ok(s)
    s = nxt()
    rd = P.request_read(s, 0x40, 3)
    first = await tb.request(rd)
    assert await tb.request(rd) == first == ok(s, words_le([1, 2, 3]))
    assert tb.transfers == before + 3 and tb.stats["dup"] == 2

    # bad CRC -> NAK; malformed requests -> BAD_CMD (not NAK)
    bad = bytearray(P.frame(P.request_read(nxt(), 0, 4)))
    bad[3] ^= 0x01 if bad[3] != 0x01 else 0x02
    tb.rx_queue += list(b"\x00" + bytes(bad))
    assert await tb.wait_frames() == P.NAK_FRAME
    for req in (bytes([nxt(), 0x7E]), P.request_read(nxt(), 0, 0), P.request_read(nxt(), 0, max_words + 1),
                P.request_write(nxt(), 0, [1, 2])[:-1], P.request_read(nxt(), 0, 1) + b"\x00"):
        assert await tb.request(req) == P.frame(bytes([req[0], P.Status.BAD_CMD]))
    # a frame longer than the RX buffer -> NAK
    long = P.request_write(nxt(), 0, [7] * max_words) + b"\x07" * 40
    assert await tb.request(long) == P.NAK_FRAME
    # empty frames are ignored
    tb.rx_queue += [0, 0, 0]
    await tb.quiet(200)

    # cut-off frame: the watchdog discards it, then a frame WITHOUT a leading delimiter works
    s = nxt()
    half = P.frame(P.request_write(s, 0x10, [9] * 20))
    tb.rx_queue += list(half[: len(half) // 2])
    await tb.quiet(wdog + 200)
    assert tb.stats["watchdog"] == 1
    s = nxt()
    assert await tb.request(P.request_read(s, 0x40, 3), lead=False) == ok(s, words_le([1, 2, 3]))

    # garbage, then a delimiter, then a good frame: one NAK for the garbage, then the answer
    tb.rx_queue += [0x13, 0x37, 0xAB]
    s = nxt()
    tb.rx_queue += list(b"\x00" + P.frame(P.request_read(s, 0x41, 1)))
    assert await tb.wait_frames(2) == P.NAK_FRAME + ok(s, words_le([2]))

    # bytes arriving while a request executes are dropped; the parser skips to the next delimiter
    s = nxt()
    tb.rx_queue += list(b"\x00" + P.frame(P.request_read(s, 0x100, max_words)) + b"\x11\x22\x33")
    resp = await tb.wait_frames()
    assert resp == ok(s, words_le([ref.get(0x100 + i, 0) for i in range(max_words)]))
    assert tb.stats["dropped"] >= 1
    s = nxt()
    assert await tb.request(P.request_read(s, 0x42, 1)) == ok(s, words_le([3]))

    await tb.quiet(100)
    assert tb.stats["nak"] == 3 and tb.stats["bad_cmd"] == 5
    assert not tb.rx_queue and not tb.pending
