"""The host-link wire protocol: the ONE definition both the gateware and the host driver import.

Frame on the wire: COBS(payload + CRC16) + 0x00.  CRC-16/IBM-3740 ("CCITT-FALSE": poly 0x1021,
init 0xFFFF, no reflection, xorout 0) over the payload, appended most-significant byte first, so the
CRC of payload+CRC is 0 (the device checks that residue).  Multi-byte fields are little-endian.

Request  payload: seq:u8 cmd:u8 [addr:u32 count:u16 [data: count x u16]]
Response payload: seq:u8 status:u8 [data]
Stop-and-wait: the host sends one request and waits for its response; it retransmits the SAME seq
on timeout or NAK.  The device executes a request whose seq differs from the last executed one and
re-sends its stored response for a duplicate.  A frame that fails CRC/length/COBS checks is answered
with the constant NAK frame (seq field 0xFF, status NAK); empty frames (0x00 0x00) are ignored, so
the host may lead every frame with a 0x00 to resynchronise the device's parser.
"""
from __future__ import annotations

import enum
import hashlib
import struct
from dataclasses import dataclass

import crc as _crc
from cobs import cobs as _cobs

PROTOCOL_VERSION = 1
MAGIC = b"SPKM"
CRC_CONFIG = _crc.Crc16.IBM_3740.value  # poly 0x1021, init 0xFFFF, no reflection, xorout 0
_CRC = _crc.Calculator(CRC_CONFIG)


class Cmd(enum.IntEnum):
    IDENTIFY = 0x01
    READ = 0x02
    WRITE = 0x03


class Status(enum.IntEnum):
    OK = 0x00
    NAK = 0x01      # frame lost on the way in (CRC, COBS, too short/long): retransmit
    BAD_CMD = 0x02  # a valid frame with an unknown command, bad count or wrong length: do not retry


NAK_SEQ = 0xFF
REQ_HEADER = 8        # seq, cmd, addr u32, count u16
RESP_HEADER = 2       # seq, status
CRC_BYTES = 2
SUMMARY_BYTES = 32
IDENT_FORMAT = "<4sBBBBHHI8s4s32s"   # see `Ident`
IDENT_BYTES = struct.calcsize(IDENT_FORMAT)


def crc16(data: bytes) -> int:
    return _CRC.checksum(bytes(data))


def crc16_update(crc: int, byte: int) -> int:
    """One byte of the CRC, MSB first: the reference the gateware's comb update is checked against."""
    crc ^= byte << 8
    for _ in range(8):
        crc = ((crc << 1) ^ 0x1021) if crc & 0x8000 else (crc << 1)
        crc &= 0xFFFF
    return crc


def frame(payload: bytes) -> bytes:
    """Payload -> bytes on the wire (COBS-encoded payload+CRC, then the 0x00 delimiter)."""
    body = bytes(payload) + crc16(payload).to_bytes(2, "big")
    return _cobs.encode(body) + b"\x00"


class FrameError(Exception):
    """A received frame that does not decode or whose CRC is wrong."""


def unframe(encoded: bytes) -> bytes:
    """One frame's bytes WITHOUT the delimiter -> payload; FrameError if COBS or CRC is bad."""
    try:
        body = _cobs.decode(bytes(encoded))
    except _cobs.DecodeError as exc:
        raise FrameError(f"COBS decode failed: {exc}") from None
    if len(body) < CRC_BYTES:
        raise FrameError(f"frame too short ({len(body)} bytes)")
    if crc16(body) != 0:
        raise FrameError("CRC mismatch")
    return body[:-CRC_BYTES]


NAK_FRAME = frame(bytes([NAK_SEQ, Status.NAK]))


def request_identify(seq: int) -> bytes:
    return bytes([seq & 0xFF, Cmd.IDENTIFY])


def request_read(seq: int, addr: int, count: int) -> bytes:
    return struct.pack("<BBIH", seq & 0xFF, Cmd.READ, addr, count)


def request_write(seq: int, addr: int, words) -> bytes:
    words = [int(w) for w in words]
    return struct.pack("<BBIH", seq & 0xFF, Cmd.WRITE, addr, len(words)) + struct.pack(f"<{len(words)}H", *words)


@dataclass(frozen=True)
class LinkConfig:
    """Generator parameters of the link engine."""

    clocks_per_bit: int = 25        # UART bit time in clock cycles (75 MHz / 3 Mbaud)
    max_words: int = 256            # largest READ/WRITE block, in bus words
    watchdog_cycles: int = 1 << 16  # a frame idle this long mid-way is discarded

    def __post_init__(self):
        if not isinstance(self.clocks_per_bit, int) or not 4 <= self.clocks_per_bit <= 65535:
            raise ValueError(f"clocks_per_bit must be an int in 4..65535, got {self.clocks_per_bit!r}")
        if not isinstance(self.max_words, int) or not 1 <= self.max_words <= 4096:
            raise ValueError(f"max_words must be an int in 1..4096, got {self.max_words!r}")
        if not isinstance(self.watchdog_cycles, int) or not 16 <= self.watchdog_cycles <= (1 << 30):
            raise ValueError(f"watchdog_cycles must be an int in 16..2**30, got {self.watchdog_cycles!r}")

    @property
    def rx_buffer_bytes(self) -> int:
        return REQ_HEADER + 2 * self.max_words + CRC_BYTES

    @property
    def tx_buffer_bytes(self) -> int:
        return RESP_HEADER + max(2 * self.max_words, IDENT_BYTES) + CRC_BYTES


@dataclass(frozen=True)
class Ident:
    """What IDENTIFY returns (packed with IDENT_FORMAT)."""

    version: int
    addr_width: int
    data_width: int
    flags: int
    max_words: int
    clocks_per_bit: int
    clk_hz: int
    build_id: bytes   # 8 bytes: hash of generator config + memory map
    map_hash: bytes   # 4 bytes: hash of the memory-map JSON text
    summary: str      # short ASCII config summary

    def pack(self) -> bytes:
        s = self.summary.encode("ascii")[:SUMMARY_BYTES].ljust(SUMMARY_BYTES, b" ")
        return struct.pack(IDENT_FORMAT, MAGIC, self.version, self.addr_width, self.data_width, self.flags,
                           self.max_words, self.clocks_per_bit, self.clk_hz, self.build_id, self.map_hash, s)

    @classmethod
    def unpack(cls, data: bytes) -> "Ident":
        if len(data) != IDENT_BYTES:
            raise FrameError(f"IDENTIFY answer has {len(data)} bytes, expected {IDENT_BYTES}")
        magic, ver, aw, dw, flags, mw, cpb, hz, bid, mh, s = struct.unpack(IDENT_FORMAT, data)
        if magic != MAGIC:
            raise FrameError(f"IDENTIFY magic {magic!r} is not {MAGIC!r}: not a spikemesh board")
        return cls(ver, aw, dw, flags, mw, cpb, hz, bid, mh, s.decode("ascii", "replace").rstrip())


def map_hash(map_json: str) -> bytes:
    """4-byte hash of the memory map's JSON text (as `MemoryMap.to_json` writes it)."""
    return hashlib.sha256(map_json.encode()).digest()[:4]


def build_id(config_json: str, map_json: str) -> bytes:
    """8-byte build ID: generator configuration + memory map + protocol version."""
    h = hashlib.sha256()
    for part in (str(PROTOCOL_VERSION), config_json, map_json):
        h.update(part.encode() + b"\x00")
    return h.digest()[:8]
