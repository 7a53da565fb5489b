"""FP compare: lt/le (signaling: NV on any NaN), eq (quiet: NV on sNaN only), and min/max in the
IEEE 754-2019 minimumNumber/maximumNumber sense used by RISC-V (a NaN operand yields the other one,
-0 < +0, two NaNs give the canonical NaN, NV on sNaN)."""
from __future__ import annotations

from amaranth.hdl import Const, Module, Mux
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from ..formats import FLAG_WIDTH, FP16, FPFormat
from .common import Stages, check_depth, check_format, flags_value, unpack

CMP_CUTS: dict[int, frozenset[str]] = {
    0: frozenset(),
    1: frozenset({"out"}),
    2: frozenset({"in", "out"}),
}


class FPComparePipe(wiring.Component):
    """All compare results at once. `flags` belongs to lt/le (signaling), `quiet_flags` to eq/min/max."""

    MAX_DEPTH = 2

    def __init__(self, fmt: FPFormat = FP16, depth: int = 1) -> None:
        self.fmt = check_format(fmt)
        self.depth = check_depth(depth, self.MAX_DEPTH, "FPComparePipe")
        w = fmt.width
        super().__init__({"a": In(w), "b": In(w), "i_valid": In(1), "en": In(1, init=1),
                          "lt": Out(1), "le": Out(1), "eq": Out(1), "min": Out(w), "max": Out(w),
                          "flags": Out(FLAG_WIDTH), "quiet_flags": Out(FLAG_WIDTH), "o_valid": Out(1)})

    @property
    def latency(self) -> int:
        return self.depth

    @property
    def module_name(self) -> str:
        return f"fp_cmp_{self.fmt.tag}_d{self.depth}"

    def elaborate(self, platform):
        m = Module()
        fmt, w = self.fmt, self.fmt.width
        st = Stages(m, CMP_CUTS[self.depth], self.en)
        x = st.cut("in", dict(valid=self.i_valid, a=self.a, b=self.b))
        ua, ub = unpack(fmt, x.a, m, "a"), unpack(fmt, x.b, m, "b")
        any_nan = ua.is_nan | ub.is_nan
        both_zero = ua.is_zero & ub.is_zero
        mag_a, mag_b = x.a[:w - 1], x.b[:w - 1]
        # Sign-magnitude order: differing signs -> the negative one is smaller (unless both are zeros).
        lt_num = Mux(ua.sign != ub.sign, ua.sign & ~both_zero,
                     Mux(ua.sign, mag_a > mag_b, mag_a < mag_b))
        eq = ~any_nan & ((x.a == x.b) | both_zero)
        lt = ~any_nan & lt_num
        # Total order on numbers for min/max: -0 below +0.
        a_first = lt_num | (both_zero & ua.sign & ~ub.sign)
        cnan = Const(fmt.canonical_nan, w)
        mn = Mux(ua.is_nan & ub.is_nan, cnan, Mux(ua.is_nan, x.b, Mux(ub.is_nan, x.a, Mux(a_first, x.a, x.b))))
        mx = Mux(ua.is_nan & ub.is_nan, cnan, Mux(ua.is_nan, x.b, Mux(ub.is_nan, x.a, Mux(a_first, x.b, x.a))))
        x = st.cut("out", dict(valid=x.valid, lt=lt, le=lt | eq, eq=eq, mn=mn, mx=mx,
                               flags=flags_value(any_nan), quiet_flags=flags_value(ua.is_snan | ub.is_snan)))
        m.d.comb += [self.lt.eq(x.lt), self.le.eq(x.le), self.eq.eq(x.eq), self.min.eq(x.mn), self.max.eq(x.mx),
                     self.flags.eq(x.flags), self.quiet_flags.eq(x.quiet_flags), self.o_valid.eq(x.valid)]
        return m
