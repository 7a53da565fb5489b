"""The register/memory bus between the host link and everything the host can read or write.

Protocol (one outstanding request, in order):
- the initiator holds `req_valid` with `addr`, `we` and `w_data` until the target raises `req_ready`
  (a transfer is a cycle where both are 1);
- for a read, the target later returns exactly one `r_valid` pulse with `r_data` (any latency >= 0 cycles
  after the transfer; a new request may be accepted only after r_valid for the previous read).
Addresses are in words of `data_width` bits.

Every target describes what it exposes as `Region`s; `MemoryMap` assigns base addresses and is the ONE
machine-readable map the host reads (JSON), never constants copied by hand.
"""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field

from amaranth import Module, Signal
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out


class BusSignature(wiring.Signature):
    """Initiator-side view of the bus (flip it for a target)."""

    def __init__(self, addr_width: int, data_width: int = 16):
        if not isinstance(addr_width, int) or not 1 <= addr_width <= 32:
            raise ValueError(f"addr_width must be an int in 1..32, got {addr_width!r}")
        if data_width not in (8, 16, 32):
            raise ValueError(f"data_width must be 8, 16 or 32, got {data_width!r}")
        self._addr_width = addr_width
        self._data_width = data_width
        super().__init__({
            "req_valid": Out(1),
            "req_ready": In(1),
            "addr": Out(addr_width),
            "we": Out(1),
            "w_data": Out(data_width),
            "r_valid": In(1),
            "r_data": In(data_width),
        })

    @property
    def addr_width(self) -> int:
        return self._addr_width

    @property
    def data_width(self) -> int:
        return self._data_width

    def __eq__(self, other):
        return (isinstance(other, BusSignature) and other.addr_width == self.addr_width
                and other.data_width == self.data_width)

    def __repr__(self):
        return f"BusSignature(addr_width={self.addr_width}, data_width={self.data_width})"


@dataclass(frozen=True)
class Region:
    """A named window of words a target exposes. `offset` is relative to the target's base."""

    name: str
    offset: int
    size: int  # words
    access: str = "rw"  # "r", "w" or "rw"
    description: str = ""
    fields: dict = field(default_factory=dict)  # extra machine-readable facts (element format, layout, ...)

    def __post_init__(self):
        if self.access not in ("r", "w", "rw"):
            raise ValueError(f"Region {self.name!r}: access must be 'r', 'w' or 'rw', got {self.access!r}")
        if self.size <= 0 or self.offset < 0:
            raise ValueError(f"Region {self.name!r}: size must be > 0 and offset >= 0")


@dataclass
class MemoryMap:
    """Targets placed at power-of-two aligned bases; serialisable to the JSON the host driver loads."""

    addr_width: int
    data_width: int = 16
    targets: list[dict] = field(default_factory=list)

    def add(self, name: str, regions: list[Region]) -> int:
        """Place a target; return its base address (aligned to its own power-of-two span)."""
        span = 1
        end = max(r.offset + r.size for r in regions)
        while span < end:
            span <<= 1
        base = 0
        for t in self.targets:
            base = max(base, t["base"] + t["span"])
        base = (base + span - 1) // span * span
        if base + span > (1 << self.addr_width):
            raise ValueError(f"memory map: target {name!r} does not fit in addr_width={self.addr_width} "
                             f"(needs up to 0x{base + span:x})")
        self.targets.append({"name": name, "base": base, "span": span,
                             "regions": [asdict(r) for r in regions]})
        return base

    def region(self, target: str, region: str) -> tuple[int, int]:
        """(absolute base, size) of one region."""
        for t in self.targets:
            if t["name"] == target:
                for r in t["regions"]:
                    if r["name"] == region:
                        return t["base"] + r["offset"], r["size"]
        raise KeyError(f"{target}.{region}")

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=1, sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> "MemoryMap":
        return cls(**json.loads(text))


class BusDecoder(wiring.Component):
    """Routes one initiator to several targets by address (targets placed by a `MemoryMap`)."""

    def __init__(self, memory_map: MemoryMap, target_names: list[str]):
        self._map = memory_map
        self._names = list(target_names)
        sig = BusSignature(memory_map.addr_width, memory_map.data_width)
        members = {"bus": In(sig)}
        for name in self._names:
            members[f"t_{name}"] = Out(sig)
        super().__init__(members)

    def elaborate(self, platform):
        m = Module()
        targets = {t["name"]: t for t in self._map.targets}
        # Remember which target owes a read response.
        owner = Signal(range(max(len(self._names), 1)))
        hit_any = Signal()
        for idx, name in enumerate(self._names):
            t, port = targets[name], getattr(self, f"t_{name}")
            hit = Signal(name=f"hit_{name}")
            m.d.comb += [
                hit.eq((self.bus.addr >= t["base"]) & (self.bus.addr < t["base"] + t["span"])),
                port.addr.eq(self.bus.addr - t["base"]),
                port.we.eq(self.bus.we),
                port.w_data.eq(self.bus.w_data),
                port.req_valid.eq(self.bus.req_valid & hit),
            ]
            with m.If(hit):
                m.d.comb += [hit_any.eq(1), self.bus.req_ready.eq(port.req_ready)]
                with m.If(self.bus.req_valid & port.req_ready & ~self.bus.we):
                    m.d.sync += owner.eq(idx)
            with m.If(owner == idx):
                m.d.comb += [self.bus.r_valid.eq(port.r_valid), self.bus.r_data.eq(port.r_data)]
        # An unmapped address completes at once (reads return 0) so the host never hangs.
        unmapped_read = Signal()
        with m.If(~hit_any):
            m.d.comb += self.bus.req_ready.eq(1)
        m.d.sync += unmapped_read.eq(self.bus.req_valid & ~hit_any & ~self.bus.we)
        with m.If(unmapped_read):
            m.d.comb += [self.bus.r_valid.eq(1), self.bus.r_data.eq(0)]
        return m
