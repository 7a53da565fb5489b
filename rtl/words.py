"""Host-side packing of the words whose layout the gateware defines as `amaranth.lib.data` shapes.

A word (an instruction, a flit header, a loader record, a register) is defined once, as a `data.Struct` /
`data.StructLayout` (fields LSB first); the gateware reads it through a view of that shape, and the host, the
golden models and the tests pack and unpack plain Python ints with `pack` / `unpack` here, which take every
offset and width from the same layout.  Nothing shifts or masks a field by hand.
"""
from __future__ import annotations

from amaranth.hdl import Shape, ShapeCastable
from amaranth.lib import data


def _layout(layout) -> data.StructLayout:
    return data.Layout.cast(layout)


def field_width(layout, name: str) -> int:
    """Width in bits of field `name` of `layout`."""
    return Shape.cast(_layout(layout)[name].shape).width


def field_offset(layout, name: str) -> int:
    """Offset of field `name` of `layout` (bit 0: the word's LSB)."""
    return _layout(layout)[name].offset


def field_mask(layout, name: str) -> int:
    """The word with every bit of field `name` set."""
    return ((1 << field_width(layout, name)) - 1) << field_offset(layout, name)


def pack(layout, **values) -> int:
    """The word of `layout` whose named fields hold `values` (ints, bools, enum members, or a dict of the fields
    of a nested Struct field; every other bit 0).
    A value that does not fit its field is an error, not silently truncated."""
    lay = _layout(layout)
    word = 0
    for name, v in values.items():
        try:
            f = lay[name]
        except KeyError:
            raise KeyError(f"{layout!r} has no field {name!r} (fields: {[n for n, _ in lay]})") from None
        width = Shape.cast(f.shape).width
        if isinstance(v, dict):  # a nested Struct field, given by its own fields
            raw = pack(f.shape, **v)
        else:
            raw = int(v.value if hasattr(v, "value") and not isinstance(v, int) else v)
        if not 0 <= raw < (1 << width):
            raise ValueError(f"field {name!r}: {v!r} does not fit in {width} bit(s)")
        word |= raw << f.offset
    return word


def unpack(layout, word: int) -> dict:
    """{field: value} of `word` read with `layout`: enum fields as their members, the rest as unsigned ints."""
    lay = _layout(layout)
    word = int(word)
    out = {}
    for name, f in lay:
        width = Shape.cast(f.shape).width
        raw = (word >> f.offset) & ((1 << width) - 1)
        shape = f.shape
        if isinstance(shape, ShapeCastable) and hasattr(shape, "__members__"):
            raw = shape(raw)
        out[name] = raw
    return out


def pack_words(layout, word_width: int = 16, **values) -> list[int]:
    """`pack` split into `word_width`-bit words, least significant first (a record of several bus words)."""
    size = _layout(layout).size
    if size % word_width:
        raise ValueError(f"{layout!r} is {size} bits, not a whole number of {word_width}-bit words")
    v = pack(layout, **values)
    return [(v >> (word_width * k)) & ((1 << word_width) - 1) for k in range(size // word_width)]
