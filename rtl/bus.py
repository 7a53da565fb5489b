"""The register/memory bus between the host link and everything the host can read or write.

Protocol (one outstanding request, in order):
- the initiator holds `req_valid` with `addr`, `we` and `w_data` until the target raises `req_ready`
  (a transfer is a cycle where both are 1);
- for a read, the target later returns exactly one `r_valid` pulse with `r_data` (any latency >= 0 cycles
  after the transfer; a new request may be accepted only after r_valid for the previous read).
Addresses are in words of `data_width` bits.

Every target describes what it exposes as `Region`s; `MemoryMap` assigns base addresses and is the ONE
machine-readable map the host reads (JSON), never constants copied by hand.  A register's bit fields are
defined as an `amaranth.lib.data.Struct` (the gateware reads the register through a view of it) and its
`Field`s, which the map carries, are derived from that Struct (`struct_fields`).
"""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field

from amaranth import Cat, Const, Module, Shape, Signal, Value
from amaranth.lib import data, wiring
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
class Field:
    """A bit field of a register (like LiteX's csr.csv fields): bits offset..offset+width-1 of the word.
    `access`: "r" (the bit reads back this), "w" (a write acts on it; reads something else) or "rw"."""

    name: str
    offset: int
    width: int = 1
    access: str = "rw"
    description: str = ""

    def __post_init__(self):
        if self.access not in ("r", "w", "rw"):
            raise ValueError(f"Field {self.name!r}: access must be 'r', 'w' or 'rw', got {self.access!r}")
        if self.offset < 0 or self.width < 1:
            raise ValueError(f"Field {self.name!r}: offset must be >= 0 and width >= 1")

    @property
    def mask(self) -> int:
        return ((1 << self.width) - 1) << self.offset


@dataclass(frozen=True)
class Register:
    """A named register inside a region: `offset` words into it, `words` long (low word first), with optional
    bit fields. A register without fields is one value of `words` x data_width bits."""

    name: str
    offset: int
    access: str = "rw"
    description: str = ""
    fields: tuple = ()  # Field
    words: int = 1

    def __post_init__(self):
        if self.access not in ("r", "w", "rw"):
            raise ValueError(f"Register {self.name!r}: access must be 'r', 'w' or 'rw', got {self.access!r}")
        names = [f.name for f in self.fields]
        if len(set(names)) != len(names):
            raise ValueError(f"Register {self.name!r}: duplicate field names {names}")

    def field(self, name: str) -> Field:
        for f in self.fields:
            if f.name == name:
                return f
        raise KeyError(f"register {self.name!r} has no field {name!r} (fields: {[f.name for f in self.fields]})")

    def encode(self, **values: int) -> int:
        """The word that sets the named writable fields (every other bit 0): encode(start=1, clear=1)."""
        return encode_fields(self.name, [asdict(f) for f in self.fields], values)

    def layout(self, access: str, width: int = 16) -> data.FlexibleLayout:
        """The `width`-bit layout of the fields a read ("r") or a write ("w") sees, for a view of the word."""
        if access not in ("r", "w"):
            raise ValueError(f"access must be 'r' or 'w', got {access!r}")
        return data.FlexibleLayout(width * self.words, {
            f.name: data.Field(f.width, f.offset) for f in self.fields if access in f.access})


def struct_fields(shape, access: str = "rw", descriptions: dict[str, str] | None = None) -> tuple[Field, ...]:
    """The `Field`s of a register whose bits are the `data.Struct` (or StructLayout) `shape`, each with `access`
    and its description from `descriptions`; fields named with a leading underscore are padding (not listed)."""
    descriptions = descriptions or {}
    lay = data.Layout.cast(shape)
    missing = set(descriptions) - {name for name, _ in lay}
    if missing:
        raise KeyError(f"descriptions of fields {sorted(missing)} that {shape!r} does not have")
    return tuple(Field(name, f.offset, Shape.cast(f.shape).width, access, descriptions.get(name, ""))
                 for name, f in lay if not name.startswith("_"))


def struct_value(shape, **values):
    """The gateware value of a `shape` word whose named fields are driven by `values` (every other bit 0),
    as one `Cat` in field order, its high unnamed bits left to the destination's zero extension."""
    lay = data.Layout.cast(shape)
    parts, pos = [], 0
    for name, f in sorted(((n, f) for n, f in lay if n in values), key=lambda nf: nf[1].offset):
        if f.offset > pos:
            parts.append(Const(0, f.offset - pos))
        width, value = Shape.cast(f.shape).width, Value.cast(values.pop(name))
        if len(value) > width:
            raise ValueError(f"field {name!r}: a {len(value)}-bit value in {width} bit(s)")
        parts.append(value)  # a narrower value: the gap before the next field is zero-filled
        pos = f.offset + len(value)
    if values:
        raise KeyError(f"{shape!r} has no field(s) {sorted(values)}")
    return Cat(*parts)


def encode_fields(reg: str, fields: list[dict], values: dict) -> int:
    """`values` {field: value} packed into one word by the field dicts of a register (memory map JSON)."""
    by_name = {f["name"]: f for f in fields}
    word = 0
    for name, v in values.items():
        f = by_name.get(name)
        if f is None:
            raise KeyError(f"register {reg!r} has no field {name!r} (fields: {list(by_name)})")
        if f["access"] == "r":
            raise ValueError(f"field {reg}.{name} is read-only")
        v = int(v)
        if not 0 <= v < (1 << f["width"]):
            raise ValueError(f"field {reg}.{name}: {v} does not fit in {f['width']} bit(s)")
        word |= v << f["offset"]
    return word


def decode_fields(fields: list[dict], word: int) -> dict[str, int]:
    """{field: value} of the readable fields of a register word (field dicts from the memory map JSON)."""
    return {f["name"]: (int(word) >> f["offset"]) & ((1 << f["width"]) - 1) for f in fields if f["access"] != "w"}


def find_register(regions: list[dict], name: str) -> tuple[int, dict]:
    """(offset in the target, register dict) of register `name` among a target's region dicts: "region.reg",
    a register name unique in the target, or a one-word region without registers (a register by itself)."""
    region, _, reg = name.rpartition(".")
    hits = []
    for r in regions:
        if region and r["name"] != region:
            continue
        for g in r.get("registers", ()):
            if g["name"] == reg:
                hits.append((r["offset"] + g["offset"], g))
        if not region and r["name"] == reg and not r.get("registers") and r["size"] <= 2:
            hits.append((r["offset"], {"name": reg, "offset": 0, "access": r["access"],
                                       "description": r["description"], "fields": [], "words": r["size"]}))
    if len(hits) != 1:
        raise KeyError(f"register {name!r}: {'ambiguous' if hits else 'not in the memory map'}")
    return hits[0]


@dataclass(frozen=True)
class Region:
    """A named window of words a target exposes. `offset` is relative to the target's base."""

    name: str
    offset: int
    size: int  # words
    access: str = "rw"  # "r", "w" or "rw"
    description: str = ""
    fields: dict = field(default_factory=dict)  # extra machine-readable facts (element format, layout, ...)
    registers: tuple = ()  # Register: the named words of a register region and their bit fields

    def __post_init__(self):
        if self.access not in ("r", "w", "rw"):
            raise ValueError(f"Region {self.name!r}: access must be 'r', 'w' or 'rw', got {self.access!r}")
        if self.size <= 0 or self.offset < 0:
            raise ValueError(f"Region {self.name!r}: size must be > 0 and offset >= 0")
        for r in self.registers:
            if r.offset + r.words > self.size:
                raise ValueError(f"Region {self.name!r}: register {r.name!r} lies outside its {self.size} words")


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

    def target(self, name: str) -> dict:
        for t in self.targets:
            if t["name"] == name:
                return t
        raise KeyError(f"memory map has no target {name!r} (targets: {[t['name'] for t in self.targets]})")

    def register(self, target: str, name: str) -> tuple[int, dict]:
        """(absolute address, register dict) of register `name` of `target`; see `find_register`."""
        t = self.target(target)
        off, reg = find_register(t["regions"], name)
        return t["base"] + off, reg

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
            inside = self.bus.addr < t["base"] + t["span"]
            if t["base"]:  # (addr >= 0 is always true: no comparison for a target at 0)
                inside = (self.bus.addr >= t["base"]) & inside
            m.d.comb += [
                hit.eq(inside),
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
