"""Host side of the link: transports (pyserial / `serial_for_url`), framing, stop-and-wait with retries.

The same code talks to a board's USB-UART (`/dev/ttyUSB0`) and to the simulated board
(`socket://127.0.0.1:PORT`).  Every request is sent as 0x00 + frame (the leading delimiter resynchronises
the device's parser after garbage); it is retransmitted with the same sequence number on timeout or NAK.
"""
from __future__ import annotations

import random
import select
import time
from dataclasses import dataclass

import serial

from spikemesh.rtl.link import protocol as P


class LinkError(RuntimeError):
    """The link failed in a way retrying does not fix."""


class LinkTimeout(LinkError):
    """The board did not answer (after all retries)."""


class DeviceError(LinkError):
    """The board answered with an error status (a malformed request: not retried)."""


def open_transport(port: str, baud: int = 3_000_000, timeout: float = 0.05):
    """A pyserial port: a device path, or any URL `serial_for_url` knows (socket://, loop://, rfc2217://)."""
    try:
        ser = serial.serial_for_url(port, baudrate=baud, timeout=timeout)
    except (serial.SerialException, OSError, ValueError) as exc:
        raise LinkError(f"cannot open {port!r}: {exc}") from None
    return _SocketChunks(ser) if port.startswith("socket://") else ser


class _SocketChunks:
    """pyserial's socket:// port reads one byte per select() (its in_waiting is 0 or 1): read whole chunks."""

    def __init__(self, ser):
        self.ser, self.timeout = ser, ser.timeout
        self.in_waiting = 0

    def read(self, n: int = 1) -> bytes:
        sock = self.ser._socket  # pyserial keeps the connected socket here
        ready, _, _ = select.select([sock], [], [], self.timeout)
        if not ready:
            return b""
        data = sock.recv(max(n, 65536))
        if not data:
            raise LinkError("the simulated board closed the connection")
        return data

    def write(self, data: bytes) -> int:
        return self.ser.write(data)

    def close(self) -> None:
        self.ser.close()


@dataclass
class LinkStats:
    requests: int = 0
    retries: int = 0
    timeouts: int = 0
    naks: int = 0
    corrupt: int = 0
    stale: int = 0
    bytes_out: int = 0
    bytes_in: int = 0


class Link:
    """Stop-and-wait request/response over a byte transport (anything with read/write/in_waiting)."""

    def __init__(self, transport, *, timeout: float = 0.5, retries: int = 8, seq: int | None = None):
        if timeout <= 0:
            raise ValueError(f"timeout must be > 0 seconds, got {timeout!r}")
        if not isinstance(retries, int) or retries < 0:
            raise ValueError(f"retries must be an int >= 0, got {retries!r}")
        self.transport = transport
        self.timeout = timeout
        self.retries = retries
        # Start at a random sequence number so a fresh host never collides with the device's last one.
        self.seq = random.randrange(256) if seq is None else seq & 0xFF
        self.stats = LinkStats()
        self._rx = bytearray()

    def close(self) -> None:
        self.transport.close()

    def _read_frame(self, deadline: float) -> bytes | None:
        """Bytes of the next frame (without delimiter), or None at the deadline."""
        while True:
            cut = self._rx.find(0)
            if cut >= 0:
                raw = bytes(self._rx[:cut])
                del self._rx[:cut + 1]
                if raw:
                    return raw
                continue
            if time.monotonic() >= deadline:
                return None
            chunk = self.transport.read(max(1, getattr(self.transport, "in_waiting", 0) or 1))
            if chunk:
                self.stats.bytes_in += len(chunk)
                self._rx += chunk

    def transact(self, body: bytes, retries: int | None = None) -> bytes:
        """Send one request (payload without its seq byte); return the response data (after seq, status).
        `retries`: this request's retransmissions instead of the link's (a request the board answers late)."""
        retries = self.retries if retries is None else retries
        seq = self.seq
        self.seq = (self.seq + 1) & 0xFF
        if seq == P.NAK_SEQ:  # keep 0xFF for NAK frames so they are never taken for an answer
            seq, self.seq = 0, 1
        wire = b"\x00" + P.frame(bytes([seq]) + body)
        self.stats.requests += 1
        for attempt in range(retries + 1):
            if attempt:
                self.stats.retries += 1
            self.transport.write(wire)
            self.stats.bytes_out += len(wire)
            deadline = time.monotonic() + self.timeout
            while True:
                raw = self._read_frame(deadline)
                if raw is None:
                    self.stats.timeouts += 1
                    break
                try:
                    payload = P.unframe(raw)
                except P.FrameError:
                    self.stats.corrupt += 1
                    continue  # a damaged answer: wait for the timeout, then retransmit
                if len(payload) < P.RESP_HEADER:
                    self.stats.corrupt += 1
                    continue
                rseq, status = payload[0], payload[1]
                if status == P.Status.NAK:
                    self.stats.naks += 1
                    break
                if rseq != seq:
                    self.stats.stale += 1  # the answer to an earlier retransmission
                    continue
                if status != P.Status.OK:
                    raise DeviceError(f"board refused request (status {P.Status(status).name})"
                                      if status in P.Status._value2member_map_ else f"status 0x{status:02x}")
                return payload[P.RESP_HEADER:]
        raise LinkTimeout(f"board not answering: no valid response after {retries + 1} attempts "
                          f"({self.timeout:.2f} s timeout each); check the port, baud rate and bitstream")


class FaultInjector:
    """Wraps a transport and damages traffic, deterministically from `seed`, to test the recovery paths.

    Host->device frames (one `write` = one frame) are dropped, duplicated, corrupted (a byte flipped) or
    truncated (cut in half, no delimiter) with the given probabilities; device->host BYTES are corrupted
    or dropped with probability `p_rx_corrupt` / `p_rx_drop` each.  `on_write(n, data)` (optional) is called
    before the n-th write, e.g. to schedule a reset of the simulated board in the middle of that frame.
    """

    def __init__(self, inner, *, seed: int = 1, p_drop=0.0, p_dup=0.0, p_corrupt=0.0, p_truncate=0.0,
                 p_rx_corrupt=0.0, p_rx_drop=0.0, on_write=None):
        self.inner = inner
        self.rng = random.Random(seed)
        self.p = dict(drop=p_drop, dup=p_dup, corrupt=p_corrupt, truncate=p_truncate)
        self.p_rx_corrupt, self.p_rx_drop = p_rx_corrupt, p_rx_drop
        self.on_write = on_write
        self.writes = 0
        self.injected = {k: 0 for k in ("drop", "dup", "corrupt", "truncate", "rx_corrupt", "rx_drop")}

    @property
    def in_waiting(self):
        return self.inner.in_waiting

    def write(self, data: bytes) -> int:
        if self.on_write:
            self.on_write(self.writes, data)
        self.writes += 1
        r = self.rng.random()
        acc = 0.0
        for kind in ("drop", "dup", "corrupt", "truncate"):
            acc += self.p[kind]
            if r < acc:
                self.injected[kind] += 1
                if kind == "drop":
                    return len(data)
                if kind == "dup":
                    self.inner.write(data)
                    return self.inner.write(data)
                if kind == "corrupt":
                    buf = bytearray(data)
                    i = self.rng.randrange(1, len(buf) - 1)
                    buf[i] ^= 1 << self.rng.randrange(8)
                    return self.inner.write(bytes(buf))
                self.inner.write(data[: len(data) // 2])
                return len(data)
        return self.inner.write(data)

    def read(self, n: int = 1) -> bytes:
        out = bytearray()
        for b in self.inner.read(n):  # per byte, so the rate does not depend on how reads are chunked
            r = self.rng.random()
            if r < self.p_rx_drop:
                self.injected["rx_drop"] += 1
            elif r < self.p_rx_drop + self.p_rx_corrupt:
                self.injected["rx_corrupt"] += 1
                out.append(b ^ (1 << self.rng.randrange(8)))
            else:
                out.append(b)
        return bytes(out)

    def close(self):
        self.inner.close()
