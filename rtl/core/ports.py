"""Port signatures shared by the core's engines: what an engine sees of a memory it reads or writes (the core
wires them to its memories, a test to its own)."""
from __future__ import annotations

from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out


def _bits(depth: int) -> int:
    """Address bits of a memory port of `depth` words (amaranth's range(depth))."""
    return max(0, (depth - 1).bit_length())


def read_port_signature(addr_bits: int, data_bits: int, en: bool = False) -> wiring.Signature:
    """A synchronous read port as its user sees it: `addr` out, `data` in one cycle later; with `en`, also
    whether the read is its user's this cycle (a port it shares)."""
    return wiring.Signature({"addr": Out(addr_bits), "data": In(data_bits), **({"en": Out(1)} if en else {})})


def skew_read_port_signature(addr_bits: int, lanes: int) -> wiring.Signature:
    """A read port on W's skewed banks (rtl/core/skewmem.py): element `addr` and bank rotation `rot` out; the
    banks' raw outputs with the rotation / bank of that read in (`unskew` after a register), or the plain
    word at P = 1."""
    lg = max(1, lanes.bit_length() - 1)
    return wiring.Signature({"addr": Out(addr_bits), "rot": Out(lg), "raw": In(16 * lanes), "rot_q": In(lg),
                             "bank_q": In(lg), "word": In(16 * lanes)})


def lane_write_port_signature(addr_bits: int, lanes: int) -> wiring.Signature:
    """A P-lane memory's write port (rtl/core/lanemem.py): element `addr`, one element `data` or, with `wide`,
    the word `wdata`."""
    return wiring.Signature({"addr": Out(addr_bits), "data": Out(16), "en": Out(1), "wide": Out(1),
                             "wdata": Out(16 * lanes)})


def write_port_signature(addr_bits: int, data_bits: int, en_bits: int = 1) -> wiring.Signature:
    """A plain write port: `addr`, `data`, `en` (one bit per lane of a memory with write granularity)."""
    return wiring.Signature({"addr": Out(addr_bits), "data": Out(data_bits), "en": Out(en_bits)})
