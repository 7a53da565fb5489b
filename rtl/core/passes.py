"""The MAC stream unit's pass descriptor: what one pass reads, multiplies, accumulates and writes.

A pass is `count` issues of fl(m1 * m2) (+ the destination's old value unless `accz`): m1 from `m1src` at
m1base + n * m1stride, m2 a register value (`m2reg`), a list entry (`lst`) or acc (`m2acc`), the result to
`dmem` at dbase + n * dstride. The sequencer fills one `pass_layout` register per pass (`start_pass` in
rtl/core/core.py); the stages of the MAC pipeline carry the fields they still need.
"""
# (no `from __future__ import annotations`: the enum shapes are evaluated)
from amaranth.lib import data, enum

from .isa import LAYER_BITS


class Dst(enum.Enum, shape=3):
    """Where a pass writes its results."""

    ACC = 0  # acc: the currents I_l, the errors gs_l
    G = 1  # the gradient G_l (or the input-gradient table H)
    W = 2  # the weights (UPD: W - fl(G * eta))
    DLT = 3  # delta := fl(psi * gs) into the delta != 0 list (segment `oseg`)
    DP = 4  # dp_l, the temporal term (DCLR, DECAY)
    DLT_DP = 5  # DELTAT: delta := fl(fl(psi * gs) + dp) into dp and the delta != 0 list
    A = 6  # the OTTT input traces
    B = 7  # the OPZO feedback matrices (CoreConfig.opzo)


class M1(enum.Enum, shape=3):
    """Where a pass reads its first operand."""

    ZERO = 0  # +0.0 (a clear)
    W = 1
    G = 2
    LIST = 3  # the list entry's value (psi or delta)
    DP = 4
    A = 5
    ONE = 6  # 1.0
    B = 7  # OPZO feedback matrices


class ListSel(enum.Enum, shape=2):
    """The list a pass walks: its entries give the index k (and, with M1.LIST, m1)."""

    NONE = 0
    PSI = 1  # psi != 0 of (layer `lseg`, step `lt`)
    DLT = 2  # delta != 0 of layer `lseg`


def pass_layout(count_bits: int, addr_bits: int, layer_bits: int, t_bits: int, rot_bits: int,
                elems_bits: int | None = None) -> data.StructLayout:
    """The descriptor of one pass for a core whose counts need `count_bits`, strides and bases `addr_bits`,
    list layer fields `layer_bits`, steps `t_bits` and W bank rotations `rot_bits`; `elems_bits` (OPZO cores
    only) adds the B update's fields."""
    fields = dict(
        count=count_bits,  # issues (P-lane words when `wide`)
        lst=ListSel, lseg=layer_bits, lt=t_bits,
        dmem=Dst, dstride=addr_bits, accz=1,  # accz: start from +0, not the destination's value
        m1src=M1, m1stride=addr_bits,
        m2acc=1, m2base=addr_bits, m2reg=16,  # m2 = acc[m2base + k] (list passes) or the register value
        sub=1, gzero=1,  # UPD: subtract; clear G behind the read
        wide=1, rot=rot_bits, row=1, rl=LAYER_BITS,  # P-lane words; W bank rotation; W read by rows of layer rl
    )
    if elems_bits is not None:  # B update: acc := q (kappa signed by z_j on a fired output's row); lanes past `elems` are padding
        fields.update(bq=1, qs=1, elems=elems_bits)
    return data.StructLayout(fields)
