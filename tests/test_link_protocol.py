"""Link protocol units: COBS/CRC framing against the PyPI packages, the gateware CRC taps, retry logic."""
import random
import struct

import crc
import pytest
from cobs import cobs

from spikemesh.firmware.link import DeviceError, FaultInjector, Link, LinkTimeout
from spikemesh.rtl.link import protocol as P
from spikemesh.rtl.link.engine import _TAPS


def _cases():
    rng = random.Random(5)
    out = [b"", b"\x00", b"\x00\x00", bytes(range(1, 255)), bytes([1] * 254), bytes([1] * 255),
           bytes([1] * 253) + b"\x00", bytes([7] * 600)]
    for _ in range(200):
        n = rng.randrange(1, 700)
        out.append(bytes(rng.choice([0, rng.randrange(256)]) for _ in range(n)))
    return out


def test_frame_roundtrip_matches_packages():
    calc = crc.Calculator(crc.Crc16.IBM_3740)  # poly 0x1021, init 0xFFFF
    for data in _cases():
        wire = P.frame(data)
        assert wire.endswith(b"\x00") and wire.count(0) == 1
        body = cobs.decode(wire[:-1])
        assert body[:-2] == data and int.from_bytes(body[-2:], "big") == calc.checksum(data)
        assert P.crc16(body) == 0  # the residue the gateware checks
        assert P.unframe(wire[:-1]) == data


def test_crc_update_and_gateware_taps_equal_package():
    calc = crc.Calculator(crc.Crc16.IBM_3740)
    rng = random.Random(1)
    for _ in range(300):
        data = bytes(rng.randrange(256) for _ in range(rng.randrange(1, 40)))
        c = t = 0xFFFF
        for b in data:
            c = P.crc16_update(c, b)
            nt = 0
            for o, (cb, bb) in enumerate(_TAPS):  # the XOR trees the gateware builds
                v = 0
                for i in cb:
                    v ^= t >> i & 1
                for i in bb:
                    v ^= b >> i & 1
                nt |= v << o
            t = nt
        assert c == t == calc.checksum(data)


def test_unframe_rejects_damage():
    wire = P.frame(b"\x05\x02abcdef")[:-1]
    for i in range(len(wire)):
        bad = bytearray(wire)
        bad[i] ^= 0x04
        if 0 in bad:
            continue
        with pytest.raises(P.FrameError):
            P.unframe(bytes(bad))
    with pytest.raises(P.FrameError):
        P.unframe(wire[:3])


def test_ident_pack_roundtrip_and_config_errors():
    ident = P.Ident(1, 24, 16, 1, 256, 25, 75_000_000, bytes(range(8)), b"abcd", "ulx3s-85f/default")
    assert P.Ident.unpack(ident.pack()) == ident
    with pytest.raises(P.FrameError, match="magic"):
        P.Ident.unpack(b"XXXX" + ident.pack()[4:])
    with pytest.raises(ValueError, match="clocks_per_bit"):
        P.LinkConfig(clocks_per_bit=2)
    with pytest.raises(ValueError, match="max_words"):
        P.LinkConfig(max_words=0)


class RefDevice:
    """A Python model of the device side (stop-and-wait, duplicate detection, NAK), as a byte transport."""

    def __init__(self, words=1024, silent=False):
        self.mem = [0] * words
        self.silent = silent
        self.rx = bytearray()
        self.tx = bytearray()
        self.last = None  # (seq, response wire bytes)
        self.executed = 0

    in_waiting = property(lambda self: len(self.tx))

    def write(self, data):
        self.rx += data
        while 0 in self.rx:
            cut = self.rx.index(0)
            raw = bytes(self.rx[:cut])
            del self.rx[:cut + 1]
            if raw and not self.silent:
                self._frame(raw)
        return len(data)

    def _frame(self, raw):
        try:
            req = P.unframe(raw)
            if len(req) < 2:
                raise P.FrameError("short")
        except P.FrameError:
            self.tx += P.NAK_FRAME
            return
        seq, cmd = req[0], req[1]
        if self.last and self.last[0] == seq:
            self.tx += self.last[1]
            return
        self.executed += 1
        status, data = P.Status.OK, b""
        if cmd == P.Cmd.READ:
            addr, n = struct.unpack("<IH", req[2:8])
            data = struct.pack(f"<{n}H", *self.mem[addr:addr + n])
        elif cmd == P.Cmd.WRITE:
            addr, n = struct.unpack("<IH", req[2:8])
            self.mem[addr:addr + n] = struct.unpack(f"<{n}H", req[8:8 + 2 * n])
        else:
            status = P.Status.BAD_CMD
        wire = P.frame(bytes([seq, status]) + data)
        self.last = (seq, wire)
        self.tx += wire

    def read(self, n=1):
        out = bytes(self.tx[:n])
        del self.tx[:n]
        return out

    def close(self):
        pass


def _read(link, addr, n):
    return list(struct.unpack(f"<{n}H", link.transact(P.request_read(0, addr, n)[1:])))


def test_link_retries_through_faults_without_reexecuting():
    dev = RefDevice()
    faulty = FaultInjector(dev, seed=3, p_drop=0.15, p_dup=0.15, p_corrupt=0.15, p_truncate=0.1,
                           p_rx_corrupt=0.002, p_rx_drop=0.002)  # per byte
    link = Link(faulty, timeout=0.01, retries=30)
    rng = random.Random(2)
    ref = [0] * 1024
    for i in range(150):
        addr, n = rng.randrange(1000), rng.randrange(1, 24)
        words = [rng.randrange(65536) for _ in range(n)]
        link.transact(P.request_write(0, addr, words)[1:])
        ref[addr:addr + n] = words
        assert _read(link, addr, n) == ref[addr:addr + n]
    assert dev.mem == ref
    assert all(v > 0 for v in faulty.injected.values()), faulty.injected
    assert link.stats.retries > 0 and link.stats.naks > 0
    assert dev.executed <= link.stats.requests  # duplicates were answered, not re-executed


def test_link_timeout_and_device_error():
    link = Link(RefDevice(silent=True), timeout=0.01, retries=2)
    with pytest.raises(LinkTimeout, match="not answering.*3 attempts"):
        link.transact(bytes([P.Cmd.IDENTIFY]))
    link = Link(RefDevice(), timeout=0.01, retries=2)
    with pytest.raises(DeviceError, match="BAD_CMD"):
        link.transact(bytes([0x7E]))
