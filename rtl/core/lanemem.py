"""P-lane memories of the training core: one BRAM word holds P FP16 elements (element e in word e // P,
lane e % P). Narrow users keep ELEMENT addresses (the read data is the addressed lane, the write enables
only that lane); wide passes read the whole word (`word`) and write all P lanes (`wide`, `wdata`).
With P = 1 this is a plain 16-bit memory, so a one-lane core is the same hardware as before lanes existed.
"""
from __future__ import annotations

from amaranth import Cat, Const, Module, Mux, Signal
from amaranth.lib.memory import Memory


class LaneReadPort:
    """`addr`: element address (driven combinationally); `data`: the addressed lane one cycle later (sync
    read, like a plain port); `word`: the whole P-lane word of that read."""

    def __init__(self, name: str, depth: int, lanes: int):
        self.addr = Signal(range(max(2, depth)), name=f"{name}_ra")
        self.data = Signal(16, name=f"{name}_rd")
        self.word = Signal(16 * lanes, name=f"{name}_rword")


class LaneWritePort:
    """Narrow write: `addr` (element), `data`, `en`. Wide write: also `wide` high, `wdata` = P lanes, `addr` the
    word's first element."""

    def __init__(self, name: str, depth: int, lanes: int):
        self.addr = Signal(range(max(2, depth)), name=f"{name}_wa")
        self.data = Signal(16, name=f"{name}_wd")
        self.en = Signal(name=f"{name}_we")
        self.wide = Signal(name=f"{name}_wwide")
        self.wdata = Signal(16 * lanes, name=f"{name}_wword")


def lane_memory(m: Module, name: str, depth: int, lanes: int) -> tuple[LaneReadPort, LaneWritePort]:
    """A memory of `depth` FP16 elements (a multiple of `lanes`, the layout pads to words) with one sync
    read port and one write port (per-lane write enables: granularity 16)."""
    lg = lanes.bit_length() - 1
    words = max(1, -(-depth // lanes))
    mem = Memory(shape=16 * lanes, depth=words, init=[])
    m.submodules[f"mem_{name}"] = mem
    rp = mem.read_port()
    wp = mem.write_port(granularity=16 if lanes > 1 else None)
    r, w = LaneReadPort(name, words * lanes, lanes), LaneWritePort(name, words * lanes, lanes)
    r.mem = mem  # more read ports: extra_read_port (the forward engine's own W port)
    m.d.comb += r.word.eq(rp.data)
    if lanes == 1:
        m.d.comb += [rp.addr.eq(r.addr), r.data.eq(rp.data),
                     wp.addr.eq(w.addr), wp.data.eq(w.data), wp.en.eq(w.en)]  # no wide passes at P = 1
        return r, w
    lane_r = Signal(lg, name=f"{name}_rlane")  # lane of the read issued last cycle: selects the sync read data
    m.d.sync += lane_r.eq(r.addr[:lg])
    m.d.comb += [rp.addr.eq(r.addr[lg:]), r.data.eq(rp.data.word_select(lane_r, 16))]
    one_lane = Signal(lanes, name=f"{name}_wlane")
    m.d.comb += one_lane.eq((Const(1, lanes) << w.addr[:lg])[:lanes])
    m.d.comb += [wp.addr.eq(w.addr[lg:]),
                 wp.data.eq(Mux(w.wide, w.wdata, Cat(*([w.data] * lanes)))),
                 wp.en.eq(Mux(w.en, Mux(w.wide, Const((1 << lanes) - 1, lanes), one_lane), 0))]
    return r, w


def extra_read_port(m: Module, primary: LaneReadPort, name: str, lanes: int) -> LaneReadPort:
    """A second sync read port on the memory behind `primary` (yosys duplicates the BRAM for it)."""
    lg = lanes.bit_length() - 1
    rp = primary.mem.read_port()
    r = LaneReadPort(name, primary.mem.depth * lanes, lanes)
    m.d.comb += r.word.eq(rp.data)
    if lanes == 1:
        m.d.comb += [rp.addr.eq(r.addr), r.data.eq(rp.data)]
        return r
    lane_r = Signal(lg, name=f"{name}_rlane")
    m.d.sync += lane_r.eq(r.addr[:lg])
    m.d.comb += [rp.addr.eq(r.addr[lg:]), r.data.eq(rp.data.word_select(lane_r, 16))]
    return r
