"""FP adder/subtractor: unpack + magnitude swap -> align with sticky -> add -> shared normalise/round."""
from __future__ import annotations

from amaranth.hdl import Cat, Const, Module, Mux
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from ..formats import FLAG_WIDTH, FP16, FPFormat
from .common import (Stages, add_cin, below_mask_or, check_depth, check_format, limit_mask, normalize_apply, normalize_plan,
                     round_finish, round_prep, unpack, wire)
from .mul import finish

ADD_CUTS: dict[int, frozenset[str]] = {
    0: frozenset(),
    1: frozenset({"sum"}),
    2: frozenset({"sum", "norm"}),
    3: frozenset({"align", "sum", "norm"}),
    4: frozenset({"align", "sum", "norm", "out"}),
    # Deeper, for clock rate: the normaliser's shift amount, the rounding sum and the alignment shift each
    # get their own stage.
    5: frozenset({"align", "sum", "nshift", "norm", "out"}),
    6: frozenset({"align", "sum", "nshift", "norm", "rnd", "out"}),
    7: frozenset({"align", "shift", "sum", "nshift", "norm", "rnd", "out"}),
}


class FPAddPipe(wiring.Component):
    """a + b (sub=0) or a - b (sub=1), rounded once (RNE); plain pipeline gated by `en`, latency == depth."""

    MAX_DEPTH = 7

    def __init__(self, fmt: FPFormat = FP16, depth: int = 2) -> None:
        self.fmt = check_format(fmt)
        self.depth = check_depth(depth, self.MAX_DEPTH, "FPAddPipe")
        w = fmt.width
        super().__init__({"a": In(w), "b": In(w), "sub": In(1), "i_valid": In(1), "en": In(1, init=1),
                          "result": Out(w), "flags": Out(FLAG_WIDTH), "o_valid": Out(1)})

    @property
    def latency(self) -> int:
        return self.depth

    @property
    def module_name(self) -> str:
        return f"fp_add_{self.fmt.tag}_d{self.depth}"

    def elaborate(self, platform):
        m = Module()
        fmt, p, w = self.fmt, self.fmt.precision, self.fmt.width
        st = Stages(m, ADD_CUTS[self.depth], self.en)
        ua, ub = unpack(fmt, self.a, m, "a"), unpack(fmt, self.b, m, "b")
        sb = wire(m, ub.sign ^ self.sub, "add_sb")
        # Bit patterns order finite magnitudes: the larger operand goes first, so the difference is >= 0.
        swap = self.b[:w - 1] > self.a[:w - 1]
        big_sig, small_sig = Mux(swap, ub.sig, ua.sig), Mux(swap, ua.sig, ub.sig)
        big_e, small_e = Mux(swap, ub.e, ua.e), Mux(swap, ua.e, ub.e)
        # Both exponent differences in parallel with the compare; the swap only selects one.
        d = wire(m, Mux(swap, (ub.e - ua.e)[:fmt.exp_bits], (ua.e - ub.e)[:fmt.exp_bits]), "add_d")
        x = st.cut("align", dict(
            valid=self.i_valid, big_sig=big_sig, small_sig=small_sig, d=d,
            e=big_e, sign=Mux(swap, sb, ua.sign), eff_sub=ua.sign ^ sb, zero_sign=ua.sign & sb,
            sa=ua.sign, sb=sb, a_nan=ua.is_nan, a_snan=ua.is_snan, a_inf=ua.is_inf, b_nan=ub.is_nan,
            b_snan=ub.is_snan, b_inf=ub.is_inf))
        # Special operands combine a stage late, beside the alignment shifter (off the first stage's path).
        inf_inf = x.a_inf & x.b_inf & x.eff_sub
        nan = wire(m, x.a_nan | x.b_nan | inf_inf, "add_nan")
        nv = wire(m, x.a_snan | x.b_snan | inf_inf, "add_nv")
        inf = wire(m, (x.a_inf | x.b_inf) & ~nan, "add_inf")
        inf_sign = wire(m, Mux(x.a_inf, x.sa, x.sb), "add_inf_sign")
        # Window (LSB first): guard, round, sticky, p significand bits, carry. Bits shifted past the
        # sticky position are ORed into it (exact for RNE with 3 extra bits, also for subtraction).
        # Only the p+3 window bits are shifted; the bits that fall below it are one sticky: a mask d-3 > i.
        shifted = Cat(Const(0, 3), x.small_sig) >> x.d
        small = Cat(shifted[0] | below_mask_or(m, x.small_sig, x.d, "add_sticky", offset=-3), shifted[1:])
        # One adder for both: big + ~small + 1 on effective subtraction.
        inv = wire(m, Cat(small, Const(0, 1)) ^ Mux(x.eff_sub, (1 << (p + 4)) - 1, 0), "add_inv")
        side = dict(valid=x.valid, e=x.e + 1, sign=x.sign, zero_sign=x.zero_sign, nan=nan, nv=nv,
                    inf=inf, inf_sign=inf_sign)
        x = st.cut("shift", dict(side, big_sig=x.big_sig, inv=inv, eff_sub=x.eff_sub))
        big = Cat(Const(0, 3), x.big_sig, Const(0, 1))
        total = wire(m, add_cin(big, x.inv, x.eff_sub)[:p + 4], "add_total")
        side = dict(valid=x.valid, e=x.e, sign=x.sign, zero_sign=x.zero_sign, nan=x.nan, nv=x.nv, inf=x.inf,
                    inf_sign=x.inf_sign)
        x = st.cut("sum", dict(side, sum=total, limit=limit_mask(m, fmt, x.e, p + 4)))
        side = {k: getattr(x, k) for k in side}
        plan = normalize_plan(m, fmt, x.e, x.sum, right=False, limit=x.limit)
        x = st.cut("nshift", dict(side, sum=x.sum, **{f"plan_{k}": v for k, v in plan.items()}))
        n = normalize_apply(m, fmt, x.sign, x.sum, {k: getattr(x, f"plan_{k}") for k in plan})
        x = st.cut("norm", dict(n, valid=x.valid, zero_sign=x.zero_sign, nan=x.nan, nv=x.nv, inf=x.inf,
                                inf_sign=x.inf_sign))
        r = round_prep(m, fmt, x)
        x = st.cut("rnd", dict(r, valid=x.valid, zero_sign=x.zero_sign, nan=x.nan, nv=x.nv, inf=x.inf,
                               inf_sign=x.inf_sign))
        rounded, rflags = round_finish(m, fmt, x, zero_sign=x.zero_sign)
        result, flags = finish(fmt, m, x, rounded, rflags)
        x = st.cut("out", dict(valid=x.valid, result=result, flags=flags))
        m.d.comb += [self.result.eq(x.result), self.flags.eq(x.flags), self.o_valid.eq(x.valid)]
        return m
