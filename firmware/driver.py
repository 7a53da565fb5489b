"""The host driver: identify and check a board (real or simulated), move words over `spikemesh.rtl.bus`.

Addresses come from the memory map the generator saved next to the build (memory_map.json) — never
from constants in this file.  `Board.connect` checks the board's build ID against build.json.
"""
from __future__ import annotations

import json
import random
from pathlib import Path

import numpy as np

from spikemesh.rtl.bus import MemoryMap
from spikemesh.rtl.link import protocol as P

from .link import Link, LinkError, open_transport


class BuildMismatch(LinkError):
    """The board runs a different build than the memory map / build info the host loaded."""


class BoardReset(LinkError):
    """The board was reset (or power-cycled) since the host last set it up: its session token is gone."""


class Board:
    def __init__(self, link: Link, memory_map: MemoryMap, ident: P.Ident):
        self.link, self.map, self.ident = link, memory_map, ident
        self.session_token = 0  # 0: no session begun (the register's value after a reset)

    @classmethod
    def connect(cls, port: str, build_dir: str | Path, *, baud: int = 3_000_000, timeout: float = 0.5,
                retries: int = 8, transport_wrapper=None) -> "Board":
        """Open `port` (device path or URL), IDENTIFY, and check it against `build_dir`'s build.json."""
        build_dir = Path(build_dir)
        map_path, info_path = build_dir / "memory_map.json", build_dir / "build.json"
        if not map_path.exists() or not info_path.exists():
            raise LinkError(f"{build_dir} has no memory_map.json/build.json: build the design first")
        map_json = map_path.read_text()
        info = json.loads(info_path.read_text())
        transport = open_transport(port, baud)
        if transport_wrapper is not None:
            transport = transport_wrapper(transport)
        link = Link(transport, timeout=timeout, retries=retries)
        try:
            ident = identify(link)
            check_build(ident, info, map_json)
        except Exception:
            link.close()
            raise
        return cls(link, MemoryMap.from_json(map_json), ident)

    def close(self) -> None:
        self.link.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    # ---- raw words ----
    def read(self, addr: int, count: int) -> np.ndarray:
        """`count` 16-bit words from bus address `addr` (split into blocks of max_words)."""
        out = np.empty(count, dtype="<u2")
        step = self.ident.max_words
        for i in range(0, count, step):
            n = min(step, count - i)
            data = self.link.transact(P.request_read(0, addr + i, n)[1:])
            if len(data) != 2 * n:
                raise LinkError(f"READ of {n} words returned {len(data)} bytes")
            out[i:i + n] = np.frombuffer(data, dtype="<u2")
        return out

    def write(self, addr: int, words, retries: int | None = None) -> None:
        """`retries`: per block, instead of the link's (a write the board answers only when a job is done)."""
        words = np.asarray(words)
        if words.size and (words.min() < 0 or words.max() > 0xFFFF):
            raise ValueError("words must be in 0..65535 (16-bit bus words)")
        words = words.astype("<u2").ravel()
        step = self.ident.max_words
        for i in range(0, len(words), step):
            self.link.transact(P.request_write(0, addr + i, words[i:i + step])[1:], retries=retries)

    # ---- named regions from the memory map ----
    def region(self, target: str, name: str) -> tuple[int, int]:
        return self.map.region(target, name)

    def read_region(self, target: str, name: str, count: int | None = None, offset: int = 0) -> np.ndarray:
        base, size = self.region(target, name)
        count = size - offset if count is None else count
        if offset < 0 or offset + count > size:
            raise ValueError(f"{target}.{name}: words {offset}..{offset + count} outside 0..{size}")
        return self.read(base + offset, count)

    def write_region(self, target: str, name: str, words, offset: int = 0) -> None:
        base, size = self.region(target, name)
        words = np.asarray(words).ravel()
        if offset < 0 or offset + len(words) > size:
            raise ValueError(f"{target}.{name}: {len(words)} words at {offset} do not fit in {size}")
        self.write(base + offset, words)

    def counters(self) -> dict[str, int]:
        """Link event counters and the cycle counter kept by the status block."""
        out = {}
        for t in self.map.targets:
            if t["name"] != "status":
                continue
            for r in t["regions"]:
                if r["name"] in ("build_id", "scratch", "leds", "session"):
                    continue
                v = self.read(t["base"] + r["offset"], r["size"])
                out[r["name"]] = int(v[0]) | (int(v[1]) << 16 if r["size"] == 2 else 0)
        return out

    # ---- session: proof that the board kept what the host set up ----
    def begin_session(self) -> int:
        """Write a fresh nonzero token into the status block's `session` register (0 after any reset)."""
        self.session_token = random.randrange(1, 0x10000)  # never 0, unrelated to any earlier host's token
        self.write_region("status", "session", [self.session_token])
        return self.session_token

    def check_session(self) -> None:
        """Raise `BoardReset` when the board no longer holds the token of the last `begin_session`."""
        got = int(self.read_region("status", "session")[0])
        if not self.session_token or got != self.session_token:
            raise BoardReset(f"the board was reset since it was set up (session token {got:#06x}, "
                             f"expected {self.session_token:#06x})")

    def reidentify(self) -> None:
        """IDENTIFY again and check the build (after a reset the board may run another bitstream)."""
        ident = identify(self.link)
        if ident.build_id != self.ident.build_id or ident.map_hash != self.ident.map_hash:
            raise BuildMismatch(f"after a reset the board runs build {ident.build_id.hex()}, "
                                f"not {self.ident.build_id.hex()}")

    def load_dataset(self, words, offset: int = 0) -> None:
        """Put (packed) samples into the on-board dataset buffer once; epochs then read them on the board."""
        self.write_region("dataset", "data", words, offset)


def identify(link: Link) -> P.Ident:
    """IDENTIFY, twice; the first requests of a connection.  The board remembers the sequence number of the
    last request it executed (of an earlier host, too) and answers a request with that number from its
    stored response: if this host's random first number happens to equal it (1 in 256), the first answer
    is that stale response.  The second request's number differs from the board's last one either way, so
    its answer is always the board's own."""
    link.transact(bytes([P.Cmd.IDENTIFY]))
    return P.Ident.unpack(link.transact(bytes([P.Cmd.IDENTIFY])))


def check_build(ident: P.Ident, info: dict, map_json: str) -> None:
    if ident.version != P.PROTOCOL_VERSION:
        raise BuildMismatch(f"board speaks link protocol v{ident.version}, host v{P.PROTOCOL_VERSION}")
    if ident.build_id.hex() != info["build_id"]:
        raise BuildMismatch(f"board build ID {ident.build_id.hex()} != {info['build_id']} in build.json: "
                            "flash the matching bitstream or point at the right build directory")
    if ident.map_hash != P.map_hash(map_json):
        raise BuildMismatch("memory_map.json does not belong to the build on the board (map hash differs)")
