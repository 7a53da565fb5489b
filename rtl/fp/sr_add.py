"""FP16 subtraction with stochastic rounding: SR(a - b) with a 16-bit random word r (golden
numerics.sr_round_fp16, docs/golden.md "Stochastic rounding").

Every finite fp16 value is an integer multiple of 2^-24 below 2^41 units, so the difference is formed EXACTLY as
a 41-bit magnitude M (units of 2^-24), then normalised by a leading-zero count. The 11 bits under the leading one
are kept (fewer below 2^11 units, where the fp16 grid is 2^-24 and nothing is discarded), the next 16 are D, and
the magnitude rounds up iff D + r carries out of 16 bits. Rounding up is +1 on the 15-bit magnitude encoding:
fp16 encodings are ordered, so the carry runs into the exponent and 0x7BFF + 1 is inf.
"""
from __future__ import annotations

from amaranth.hdl import Cat, Const, Module, Mux, Signal
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from ..formats import FP16
from .common import Stages, check_depth, lzc, unpack, wire

W = 41  # the exact difference's magnitude bits (units of 2^-24): < 2 * 65504 * 2^24 < 2^41
KEEP = 11  # significand bits with the hidden one
SHIFT_MAX = W - KEEP  # below 2^11 units the grid is 1 unit (subnormals, first binade): normalise no further

# Cuts by depth. The leading-zero count and the normalising shift are the deep logic (one stage each from
# depth 4); unpack, alignment shift and the exact sum share the first stage below depth 5 (a shifter and a
# carry chain, with no magnitude compare in front: both differences are formed and the borrow picks one).
SR_CUTS: dict[int, frozenset[str]] = {
    0: frozenset(),
    1: frozenset({"lz"}),
    2: frozenset({"lz", "out"}),
    3: frozenset({"sum", "lz", "out"}),
    4: frozenset({"sum", "lz", "norm", "out"}),
    5: frozenset({"align", "sum", "lz", "norm", "out"}),
}


class FPSRSubPipe(wiring.Component):
    """SR(a - b) for fp16 a, b and a random word r (1..65535 from the LFSR; any 16-bit value is accepted).
    Specials: a NaN operand or inf - inf gives the canonical NaN, an inf operand otherwise gives that inf, a
    zero difference is +0. A plain pipeline gated by `en`, latency == depth (depths past the named cuts add
    output registers, so the unit can take the place of an FPAddPipe of the same depth)."""

    MAX_DEPTH = 7

    def __init__(self, depth: int = 2) -> None:
        self.depth = check_depth(depth, self.MAX_DEPTH, "FPSRSubPipe")
        super().__init__({"a": In(16), "b": In(16), "r": In(16), "i_valid": In(1), "en": In(1, init=1),
                          "result": Out(16), "o_valid": Out(1)})

    @property
    def latency(self) -> int:
        return self.depth

    def elaborate(self, platform):
        m = Module()
        fmt = FP16
        st = Stages(m, SR_CUTS[min(self.depth, 5)], self.en)
        ua, ub = unpack(fmt, self.a, m, "a"), unpack(fmt, self.b, m, "b")
        sb = ~ub.sign  # a - b = a + (-b)
        # specials beside the datapath
        nan = wire(m, ua.is_nan | ub.is_nan | (ua.is_inf & ub.is_inf & (ua.sign != sb)), "sr_nan")
        inf = wire(m, (ua.is_inf | ub.is_inf) & ~nan, "sr_inf")
        inf_sign = wire(m, Mux(ua.is_inf, ua.sign, sb), "sr_inf_sign")
        # integers in units of 2^-24: sig << (e - 1), e the effective biased exponent (1..30)
        big_a = wire(m, (ua.sig << (ua.e - 1)[:5])[:W - 1], "sr_ia")
        big_b = wire(m, (ub.sig << (ub.e - 1)[:5])[:W - 1], "sr_ib")
        x = st.cut("align", dict(valid=self.i_valid, ia=big_a, ib=big_b, eff_sub=ua.sign ^ sb, sa=ua.sign, sb=sb,
                                 nan=nan, inf=inf, inf_sign=inf_sign, r=self.r))
        d_ab = wire(m, x.ia - x.ib, "sr_d_ab")  # W - 1 bits and the borrow (sign) on top
        d_ba = wire(m, x.ib - x.ia, "sr_d_ba")
        neg = d_ab[W - 1]  # |b| > |a|: the difference takes b's (negated) sign
        mag = wire(m, Mux(x.eff_sub, Mux(neg, d_ba[:W - 1], d_ab[:W - 1]), (x.ia + x.ib)[:W]), "sr_mag")
        sign = Mux(x.eff_sub & neg, x.sb, x.sa)
        side = ("valid", "sign", "nan", "inf", "inf_sign", "r")
        x = st.cut("sum", dict({k: getattr(x, k) for k in side if k != "sign"}, sign=sign, mag=mag))
        lz = lzc(m, x.mag)
        x = st.cut("lz", dict({k: getattr(x, k) for k in side}, mag=x.mag,
                              shift=Mux(lz > SHIFT_MAX, SHIFT_MAX, lz)[:5]))
        norm = wire(m, (x.mag << x.shift)[:W], "sr_norm")
        x = st.cut("norm", dict({k: getattr(x, k) for k in side}, norm=norm, shift=x.shift,
                                zero=x.mag == 0))
        q = x.norm[W - KEEP:]  # hidden one (clear below 2^10 units: subnormal) and 10 fraction bits
        d = x.norm[W - KEEP - 16:W - KEEP]  # the first 16 discarded bits
        up = (Cat(d, Const(0, 1)) + x.r)[16]
        exp = Mux(q[KEEP - 1], SHIFT_MAX + 1 - x.shift, 0)[:5]  # 31 = the exact magnitude overflowed
        enc = wire(m, Mux(exp == 31, Const(0x7C00, 15), (Cat(q[:KEEP - 1], exp) + up)[:15]), "sr_enc")
        result = Mux(x.nan, Const(fmt.canonical_nan, 16),
                     Mux(x.inf, Cat(Const(0x7C00, 15), x.inf_sign),
                         Mux(x.zero, Const(0, 16), Cat(enc, x.sign))))
        x = st.cut("out", dict(valid=x.valid, result=result))
        res, valid = x.result, x.valid
        for i in range(max(0, self.depth - 5)):  # deeper than the named cuts: output registers
            r2, v2 = Signal(16, name=f"sr_out{i}"), Signal(name=f"sr_outv{i}")
            with m.If(self.en):
                m.d.sync += [r2.eq(res), v2.eq(valid)]
            res, valid = r2, v2
        m.d.comb += [self.result.eq(res), self.o_valid.eq(valid)]
        return m
