"""The weight memory W of a P-lane core: P one-element banks with a skew, so that a P-element word of a COLUMN
(W[k..k+P-1, j], what FWD and UPD read) and of a ROW (W[k, j..j+P-1], what GS reads) are both one read.

Element (k, j) of a layer (flat element address e = wbase + j * stride + k, stride a multiple of P) lives in
bank (k + j) mod P at bank address e // P. So
- a column word (k a multiple of P, column j): every bank at address e // P; logical lane q is bank
  (q + j) mod P: the port rotates by `rot` = j mod P;
- a row word (row k, columns j0..j0+P-1, j0 a multiple of P): lane q (column j0 + q) is bank (k + q) mod P at
  address e // P + q * stride / P: bank b adds `boff[b]` = ((b - k) mod P) * stride / P, and the port rotates
  by `rot` = k mod P.
The bus sees the banks as they are (element address a: bank a mod P, address a // P); the host skews and
unskews whole matrices (CoreLayout.pack_matrix / unpack_matrix with skew=True). With P = 1 this is the plain
memory of lanemem.lane_memory.
"""
from __future__ import annotations

from amaranth import Array, Cat, Const, Module, Mux, Signal
from amaranth.lib.memory import Memory

from .lanemem import LaneReadPort, LaneWritePort, lane_memory


class SkewReadPort(LaneReadPort):
    """LaneReadPort plus `rot` (logical lane q = bank (q + rot) mod P) and `boff` (per-bank word offsets);
    both are read with `addr` and default to 0 (the bus's plain view). With `use_baddr`, bank b reads word
    `baddr[b]` instead of `addr // P + boff[b]` (a user that registers the bank addresses a stage early; `addr`
    still selects the lane of `data`)."""

    def __init__(self, name: str, depth: int, lanes: int, off_width: int):
        super().__init__(name, depth, lanes)
        lg = max(1, lanes.bit_length() - 1)
        self.rot = Signal(lg, name=f"{name}_rot")
        self.boff = [Signal(off_width, name=f"{name}_boff{b}") for b in range(lanes)]
        self.use_baddr = Signal(name=f"{name}_use_baddr")
        self.baddr = [Signal(off_width, name=f"{name}_baddr{b}") for b in range(lanes)]
        # the bank outputs as they leave the RAMs, and the rotation / bank `word` and `data` apply to them: a user
        # that registers `raw` and rotates after the register (`unskew`) keeps the RAM -> rotation path short
        self.raw = Signal(16 * lanes, name=f"{name}_raw")
        self.rot_q = Signal(lg, name=f"{name}_rot_q")
        self.bank_q = Signal(lg, name=f"{name}_bank_q")


class SkewWritePort(LaneWritePort):
    """LaneWritePort plus `rot`: a wide write puts logical lane q into bank (q + rot) mod P."""

    def __init__(self, name: str, depth: int, lanes: int):
        super().__init__(name, depth, lanes)
        lg = max(1, lanes.bit_length() - 1)
        self.rot = Signal(lg, name=f"{name}_wrot")


def unskew(raw, rot, bank, lanes: int):
    """(word, data) of a read from the bank outputs `raw`: the P lanes in logical order (rotated down by `rot`)
    and the one element of bank `bank` (SkewReadPort.raw / rot_q / bank_q, or registered copies of them)."""
    return _rotate(raw, rot, lanes), raw.word_select(bank, 16)


def _rotate(word: Signal, r, lanes: int) -> Array:
    """Lanes of `word` rotated down by r: result lane q = word lane (q + r) mod P (r a signal)."""
    lanes_in = [word[16 * b:16 * b + 16] for b in range(lanes)]
    return Cat(*[Array([lanes_in[(q + s) % lanes] for s in range(lanes)])[r] for q in range(lanes)])


def skewed_memory(m: Module, name: str, depth: int, lanes: int, off_width: int):
    """W as `lanes` skewed banks of depth // lanes elements; returns (read port, write port, banks). P = 1: the
    plain lane memory with inert rot/boff signals."""
    if lanes == 1:
        r, w = lane_memory(m, name, depth, 1)
        sr, sw = SkewReadPort(name, depth, 1, off_width), SkewWritePort(name, depth, 1)
        m.d.comb += [r.addr.eq(sr.addr), sr.data.eq(r.data), sr.word.eq(r.word),
                     w.addr.eq(sw.addr), w.data.eq(sw.data), w.en.eq(sw.en), w.wide.eq(sw.wide), w.wdata.eq(sw.wdata)]
        sr.banks = [r.mem]
        return sr, sw, [r.mem]
    lg = lanes.bit_length() - 1
    words = max(1, -(-depth // lanes))
    banks = []
    for b in range(lanes):
        mem = Memory(shape=16, depth=words, init=[])
        m.submodules[f"mem_{name}{b}"] = mem
        banks.append(mem)
    r = _read_port(m, name, banks, lanes, off_width, words)
    w = SkewWritePort(name, words * lanes, lanes)
    word_addr = w.addr[lg:]
    bank_of = w.addr[:lg]
    # bank b takes logical lane (b - rot) mod P of a wide write
    lanes_w = [w.wdata[16 * q:16 * q + 16] for q in range(lanes)]
    for b, mem in enumerate(banks):
        wp = mem.write_port()
        m.d.comb += [wp.addr.eq(word_addr),
                     wp.data.eq(Array([lanes_w[(b - s) % lanes] for s in range(lanes)])[w.rot]),
                     wp.en.eq(w.en & (w.wide | (bank_of == b)))]
        with m.If(~w.wide):
            m.d.comb += wp.data.eq(w.data)
    r.banks = banks
    return r, w, banks


def _read_port(m: Module, name: str, banks: list, lanes: int, off_width: int, words: int) -> SkewReadPort:
    lg = lanes.bit_length() - 1
    r = SkewReadPort(name, words * lanes, lanes, off_width)
    rot_r = Signal(lg, name=f"{name}_rot_r")  # rot of the read issued last cycle (sync read data)
    bank_r = Signal(lg, name=f"{name}_rbank")  # the bank holding the element that read addressed: (lane + rot) mod P
    m.d.sync += [rot_r.eq(r.rot), bank_r.eq(r.addr[:lg] + r.rot)]
    phys = []
    for b, mem in enumerate(banks):
        rp = mem.read_port()
        m.d.comb += rp.addr.eq(Mux(r.use_baddr, r.baddr[b], r.addr[lg:] + r.boff[b]))
        phys.append(rp.data)
    m.d.comb += [r.raw.eq(Cat(*phys)), r.rot_q.eq(rot_r), r.bank_q.eq(bank_r)]
    word, data = unskew(r.raw, rot_r, bank_r, lanes)
    m.d.comb += [r.word.eq(word), r.data.eq(data)]  # one mux after the banks for data, not rotate then select
    return r


def extra_skew_read_port(m: Module, primary: SkewReadPort, name: str, lanes: int, off_width: int) -> SkewReadPort:
    """A second read port on the banks behind `primary` (yosys duplicates each bank for it)."""
    if lanes == 1:
        from .lanemem import extra_read_port

        r = extra_read_port(m, _Plain(primary.banks[0]), name, 1)
        sr = SkewReadPort(name, primary.banks[0].depth, 1, off_width)
        m.d.comb += [r.addr.eq(sr.addr), sr.data.eq(r.data), sr.word.eq(r.word)]
        return sr
    return _read_port(m, name, primary.banks, lanes, off_width, primary.banks[0].depth)


class _Plain:
    def __init__(self, mem):
        self.mem = mem
