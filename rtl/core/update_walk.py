"""The sparse weight update's column walk: which columns of G a `UPD l` visits (docs/core.md, "Sparse update").

The core keeps one bit per input j of each layer (memory `tch`, t_max bits on a `wg_table` core): column j of
G_l has had a WG pass since the last UPD of layer l. The walk reads those bits one column ahead, in ascending j,
and hands each touched column to the MAC stream unit (the core starts the wide pass W[:, j] -= fl(eta * G[:, j]),
G[:, j] := +0) through a one-column slot, clearing the bits as it takes them. Every other column of G is +0, so
skipping it leaves W bit-identical to the dense update. `all` walks every column (the dense update, or G written
over the bus). Passes write disjoint columns, so they follow each other without the SAFE spacing.
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
    column left and the slot empty. Ports: `tch_r` (the bits, read a column ahead), `tch_w` (clears them)."""

    def __init__(self, cfg: CoreConfig, lay: CoreLayout):
        self.cfg, self.lay = cfg, lay
        NB, TW = lay.nb, lay.tch_width
        super().__init__({
            "start": In(1), "count": In(NB + 1), "abase": In(16), "all": In(1), "mask": In(TW),
            "mac_issuing": In(1),
            "issue": Out(1), "take": Out(1), "col": Out(NB), "bits": Out(TW), "done": Out(1),
            "tch_r": Out(read_port_signature(16, TW)), "tch_w": Out(write_port_signature(16, TW, TW)),
        })

    def elaborate(self, platform) -> Module:
        NB, TW = self.lay.nb, self.lay.tch_width
        m = Module()
        active = Signal(name="uw_active")
        count = Signal(NB + 1, name="uw_count")
        u_all = Signal(name="uw_all")
        u_ra = Signal(NB + 1, name="uw_ra")  # the next column bit to read
        u_ri = Signal(NB, name="uw_ri")  # the column whose bit is on the read port
        # abase + u_ra and abase + u_ri, kept as registers: no adder in front of the bit memory's read address
        u_ra_a = Signal(16, name="uw_ra_a")
        u_ri_a = Signal(16, name="uw_ri_a")
        u_rv = Signal(name="uw_rv")  # the read port holds column u_ri's bits
        u_pend = Signal(name="uw_pend")  # the slot's column waits for the MAC stream unit
        u_bit = Signal(name="uw_bit")
        done_rd = Signal(name="uw_done_rd")  # the read of u_ri is used up this cycle
        m.d.comb += [self.bits.eq(self.tch_r.data & self.mask), self.col.eq(u_ri),
                     u_bit.eq(self.bits.any() | u_all),
                     self.issue.eq(active & u_pend & ~self.mac_issuing),
                     self.take.eq(active & u_rv & u_bit & (~u_pend | self.issue)),
                     done_rd.eq(~u_rv | ~u_bit | self.take),
                     # the next column's bit, or the held one until the slot frees
                     self.tch_r.addr.eq(Mux(done_rd, u_ra_a, u_ri_a))]
        with m.If(active):
            with m.If(self.take):
                m.d.sync += u_pend.eq(1)
                m.d.comb += [self.tch_w.addr.eq(u_ri_a), self.tch_w.data.eq(0), self.tch_w.en.eq((1 << TW) - 1)]
            with m.Elif(self.issue):
                m.d.sync += u_pend.eq(0)
            with m.If(done_rd):
                with m.If(u_ra < count):
                    m.d.sync += [u_ri.eq(u_ra), u_ra.eq(u_ra + 1), u_ri_a.eq(u_ra_a), u_ra_a.eq(u_ra_a + 1),
                                 u_rv.eq(1)]
                with m.Else():
                    m.d.sync += u_rv.eq(0)
                    with m.If(~self.take & (~u_pend | self.issue)):
                        m.d.comb += self.done.eq(1)
                        m.d.sync += active.eq(0)
        with m.If(self.start):
            m.d.sync += [active.eq(1), count.eq(self.count), u_all.eq(self.all), u_ra.eq(0),
                         u_ra_a.eq(self.abase), u_rv.eq(0), u_pend.eq(0)]
        return m
