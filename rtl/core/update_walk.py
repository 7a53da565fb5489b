"""The sparse weight update's column walk: which columns of G a `UPD l` visits (docs/core.md, "Sparse update").

The core keeps one bit per input j of each layer (memory `tch`, t_max bits on a `wg_table` core): column j of
G_l has had a WG pass since the last UPD of layer l. The walk reads those bits in ascending j, one column per
cycle while its small queue of found columns has room, and hands each touched column to the MAC stream unit (the
core starts the wide pass W[:, j] -= fl(eta * G[:, j]), G[:, j] := +0) through a one-column slot, clearing the bits
as it takes them. Every other column of G is +0, so skipping it leaves W bit-identical to the dense update. `all`
walks every column (the dense update, or G written over the bus). Passes write disjoint columns, so they follow
each other without the SAFE spacing.
"""
from __future__ import annotations

from amaranth import Module, Mux, Signal
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from .config import CoreConfig
from .layout import CoreLayout
from .ports import read_port_signature, write_port_signature


class UpdateWalk(wiring.Component):
    """UPD's column walk over `count` inputs whose bits live at `abase`, `abase + 1`, ...

    start (in, one cycle): begin; count / abase / all (in, with start). mask (in): the bits that count (a
    `wg_table` core's layer 1: the steps whose WG 1 ran since the last UPD; all ones otherwise). mac_issuing (in):
    the MAC stream unit still issues a pass. issue (out): start the pending column's pass this cycle. take (out):
    column `col` with bits `bits` enters the slot this cycle (the core latches them). done (out, one cycle): no
    column left and the slot empty. Ports: `tch_r` (the bits, read ahead of the slot), `tch_w` (clears them)."""

    def __init__(self, cfg: CoreConfig, lay: CoreLayout):
        self.cfg, self.lay = cfg, lay
        NB, TW = lay.nb, lay.tch_width
        super().__init__({
            "start": In(1), "count": In(NB + 1), "abase": In(16), "all": In(1), "mask": In(TW),
            "mac_issuing": In(1),
            "issue": Out(1), "take": Out(1), "col": Out(NB), "bits": Out(TW), "done": Out(1),
            "tch_r": Out(read_port_signature(16, TW)), "tch_w": Out(write_port_signature(16, TW, TW)),
        })

    #: found columns the walk may hold ahead of the slot: the bit memory is read every cycle while there is room,
    #: so its read address is a register and never waits on the bits just read or on the MAC stream unit
    QUEUE = 2

    def elaborate(self, platform) -> Module:
        NB, TW, D = self.lay.nb, self.lay.tch_width, self.QUEUE
        m = Module()
        active = Signal(name="uw_active")
        count = Signal(NB + 1, name="uw_count")
        u_all = Signal(name="uw_all")
        u_ra = Signal(NB + 1, name="uw_ra")  # the next column to read
        u_ra_a = Signal(16, name="uw_ra_a")  # abase + u_ra: no adder in front of the read address
        u_rv = Signal(name="uw_rv")  # the read port holds column u_ri's bits
        u_ri = Signal(NB, name="uw_ri")
        u_ri_a = Signal(16, name="uw_ri_a")
        u_pend = Signal(name="uw_pend")  # the slot's column waits for the MAC stream unit
        # the queue of found columns, oldest first: column, its bit-memory address (cleared when taken), masked bits
        q_col = [Signal(NB, name=f"uw_q{i}_col") for i in range(D)]
        q_adr = [Signal(16, name=f"uw_q{i}_adr") for i in range(D)]
        q_bits = [Signal(TW, name=f"uw_q{i}_bits") for i in range(D)]
        q_n = Signal(range(D + 1), name="uw_q_n")
        more = Signal(name="uw_more")  # columns left to read
        rd = Signal(name="uw_rd")  # read column u_ra now: room for it even if nothing leaves the queue
        found = Signal(name="uw_found")
        masked = Signal(TW, name="uw_masked")
        m.d.comb += [more.eq(u_ra < count), rd.eq(active & more & (q_n + u_rv < D)),
                     masked.eq(self.tch_r.data & self.mask), found.eq(u_rv & (masked.any() | u_all)),
                     self.tch_r.addr.eq(u_ra_a),
                     self.issue.eq(active & u_pend & ~self.mac_issuing),
                     self.take.eq(active & (q_n != 0) & (~u_pend | self.issue)),
                     self.col.eq(q_col[0]), self.bits.eq(q_bits[0])]
        with m.If(active):
            m.d.sync += u_rv.eq(rd)
            with m.If(rd):
                m.d.sync += [u_ri.eq(u_ra), u_ri_a.eq(u_ra_a), u_ra.eq(u_ra + 1), u_ra_a.eq(u_ra_a + 1)]
            with m.If(self.take):
                m.d.sync += u_pend.eq(1)
                m.d.comb += [self.tch_w.addr.eq(q_adr[0]), self.tch_w.data.eq(0), self.tch_w.en.eq((1 << TW) - 1)]
                for i in range(D - 1):
                    m.d.sync += [q_col[i].eq(q_col[i + 1]), q_adr[i].eq(q_adr[i + 1]), q_bits[i].eq(q_bits[i + 1])]
            with m.Elif(self.issue):
                m.d.sync += u_pend.eq(0)
            with m.If(found):  # into the first free entry after this cycle's take
                slot = q_n - self.take
                for i in range(D):
                    with m.If(slot == i):
                        m.d.sync += [q_col[i].eq(u_ri), q_adr[i].eq(u_ri_a), q_bits[i].eq(masked)]
            m.d.sync += q_n.eq(q_n + found - self.take)
            with m.If(~more & ~u_rv & (q_n == 0) & (~u_pend | self.issue)):
                m.d.comb += self.done.eq(1)
                m.d.sync += active.eq(0)
        with m.If(self.start):
            m.d.sync += [active.eq(1), count.eq(self.count), u_all.eq(self.all), u_ra.eq(0),
                         u_ra_a.eq(self.abase), u_rv.eq(0), u_pend.eq(0), q_n.eq(0)]
        return m
