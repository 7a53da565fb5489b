"""FP adder/subtractor: unpack + magnitude swap -> align with sticky -> add -> shared normalise/round."""
from __future__ import annotations

from amaranth.hdl import Cat, Const, Module, Mux
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from ...gen.formats import FP16, FPFormat
from .common import (Stages, as_signed, check_depth, check_format, normalize, round_pack, sticky_below, unpack,
                     wire)
from .mul import finish

ADD_CUTS: dict[int, frozenset[str]] = {
    0: frozenset(),
    1: frozenset({"sum"}),
    2: frozenset({"sum", "norm"}),
    3: frozenset({"align", "sum", "norm"}),
    4: frozenset({"align", "sum", "norm", "out"}),
}


class FPAddPipe(wiring.Component):
    """a + b (sub=0) or a - b (sub=1), rounded once (RNE); plain pipeline gated by `en`, latency == depth."""

    MAX_DEPTH = 4

    def __init__(self, fmt: FPFormat = FP16, depth: int = 2) -> None:
        self.fmt = check_format(fmt)
        self.depth = check_depth(depth, self.MAX_DEPTH, "FPAddPipe")
        w = fmt.width
        super().__init__({"a": In(w), "b": In(w), "sub": In(1), "i_valid": In(1), "en": In(1, init=1),
                          "result": Out(w), "flags": Out(5), "o_valid": Out(1)})

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
        sb = ub.sign ^ self.sub
        inf_inf = ua.is_inf & ub.is_inf & (ua.sign ^ sb)
        nan = ua.is_nan | ub.is_nan | inf_inf
        nv = ua.is_snan | ub.is_snan | inf_inf
        inf = (ua.is_inf | ub.is_inf) & ~nan
        inf_sign = Mux(ua.is_inf, ua.sign, sb)
        # Bit patterns order finite magnitudes: the larger operand goes first, so the difference is >= 0.
        swap = self.b[:w - 1] > self.a[:w - 1]
        big_sig, small_sig = Mux(swap, ub.sig, ua.sig), Mux(swap, ua.sig, ub.sig)
        big_e, small_e = Mux(swap, ub.e, ua.e), Mux(swap, ua.e, ub.e)
        x = st.cut("align", dict(
            valid=self.i_valid, big_sig=big_sig, small_sig=small_sig, d=(big_e - small_e)[:fmt.exp_bits],
            e=big_e, sign=Mux(swap, sb, ua.sign), eff_sub=ua.sign ^ sb, zero_sign=ua.sign & sb,
            nan=nan, nv=nv, inf=inf, inf_sign=inf_sign))
        # Window (LSB first): guard, round, sticky, p significand bits, carry. Bits shifted past the
        # sticky position are ORed into it (exact for RNE with 3 extra bits, also for subtraction).
        # Only the p+3 window bits are shifted; the bits that fall below it are one sticky: tz(sig) < d - 3.
        shifted = Cat(Const(0, 3), x.small_sig) >> x.d
        small = Cat(shifted[0] | sticky_below(m, x.small_sig, as_signed(x.d) - 3), shifted[1:])
        big = Cat(Const(0, 3), x.big_sig, Const(0, 1))
        # One adder for both: big + ~small + 1 on effective subtraction.
        inv = Cat(small, Const(0, 1)) ^ Mux(x.eff_sub, (1 << (p + 4)) - 1, 0)
        total = wire(m, (big + inv + x.eff_sub)[:p + 4], "add_total")
        x = st.cut("sum", dict(valid=x.valid, sum=total, e=x.e + 1, sign=x.sign, zero_sign=x.zero_sign,
                               nan=x.nan, nv=x.nv, inf=x.inf, inf_sign=x.inf_sign))
        n = normalize(m, fmt, x.sign, x.e, x.sum, right=False)
        x = st.cut("norm", dict(n, valid=x.valid, zero_sign=x.zero_sign, nan=x.nan, nv=x.nv, inf=x.inf,
                                inf_sign=x.inf_sign))
        rounded, rflags = round_pack(m, fmt, x, zero_sign=x.zero_sign)
        result, flags = finish(fmt, m, x, rounded, rflags)
        x = st.cut("out", dict(valid=x.valid, result=result, flags=flags))
        m.d.comb += [self.result.eq(x.result), self.flags.eq(x.flags), self.o_valid.eq(x.valid)]
        return m
