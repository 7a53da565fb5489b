"""FP multiplier: unpack -> significand product (DSP-shaped register cut) -> shared normalise/round."""
from __future__ import annotations

from amaranth.hdl import Cat, Const, Module, Mux
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from ..formats import FLAG_WIDTH, FP16, FPFormat
from .common import (Stages, as_signed, check_depth, check_dsp, check_format, norm_prep, normalize_apply,
                     normalize_plan, round_finish, round_prep, unpack)
from .dsp import ecp5_mult18x18d_registered, use_ecp5_dsp

# Register cuts per depth, placed by hand: around the multiplier first (so it maps to a registered DSP).
MUL_CUTS: dict[int, frozenset[str]] = {
    0: frozenset(),
    1: frozenset({"mul_out"}),
    2: frozenset({"mul_in", "mul_out"}),
    3: frozenset({"mul_in", "mul_out", "norm"}),
    4: frozenset({"mul_in", "mul_out", "norm", "out"}),
    # Deeper, for clock rate: the normaliser's shift amount and the rounding sum get their own stages.
    5: frozenset({"mul_in", "mul_out", "nshift", "norm", "out"}),
    6: frozenset({"mul_in", "mul_out", "nshift", "norm", "rnd", "out"}),
}


def special_mul(ua, ub):
    """(is NaN, raises NV, is inf) for a*b from the operand classes."""
    inf_zero = (ua.is_inf & ub.is_zero) | (ua.is_zero & ub.is_inf)
    nan = ua.is_nan | ub.is_nan | inf_zero
    nv = ua.is_snan | ub.is_snan | inf_zero
    inf = (ua.is_inf | ub.is_inf) & ~nan
    return nan, nv, inf


def finish(fmt: FPFormat, m: Module, x, rounded, rflags):
    """Select the special-case result (canonical NaN / signed inf) over the rounder's."""
    w = fmt.width
    result = Mux(x.nan, Const(fmt.canonical_nan, w),
                 Mux(x.inf, Cat(Const(fmt.inf, w - 1), x.inf_sign), rounded))
    flags = Mux(x.nan, Cat(Const(0, 4), x.nv), Mux(x.inf, 0, rflags))
    return result, flags


class FPMulPipe(wiring.Component):
    """a*b, rounded once (RNE), in a plain pipeline of `depth` stages gated by `en`; latency == depth."""

    MAX_DEPTH = 6

    def __init__(self, fmt: FPFormat = FP16, depth: int = 2, *, dsp: str = "auto") -> None:
        self.fmt = check_format(fmt)
        self.depth = check_depth(depth, self.MAX_DEPTH, "FPMulPipe")
        self.dsp = check_dsp(dsp)
        w = fmt.width
        super().__init__({"a": In(w), "b": In(w), "i_valid": In(1), "en": In(1, init=1),
                          "result": Out(w), "flags": Out(FLAG_WIDTH), "o_valid": Out(1)})

    @property
    def latency(self) -> int:
        return self.depth

    @property
    def module_name(self) -> str:
        return f"fp_mul_{self.fmt.tag}_d{self.depth}"

    def elaborate(self, platform):
        m = Module()
        fmt, p = self.fmt, self.fmt.precision
        cuts = MUL_CUTS[self.depth]
        st = Stages(m, cuts, self.en)
        ua, ub = unpack(fmt, self.a, m, "a"), unpack(fmt, self.b, m, "b")
        nan, nv, inf = special_mul(ua, ub)
        sign = ua.sign ^ ub.sign
        # Product of two p-bit significands has its MSB at bit 2p-1: e = ea + eb - bias + 1.
        e = as_signed(ua.e) + as_signed(ub.e) - (fmt.bias - 1)
        side = dict(valid=self.i_valid, sign=sign, e=e, nan=nan, nv=nv, inf=inf)
        dsp = {"mul_in", "mul_out"} <= cuts and use_ecp5_dsp(self.dsp, platform, p)
        w = 2 * p
        # Beside the multiplier: everything the normaliser needs from the exponent alone.
        pre = lambda e: {f"prep_{k}": v for k, v in norm_prep(m, fmt, e, w, max_left=p).items()}
        if dsp:
            prod = ecp5_mult18x18d_registered(m, ua.sig, ub.sig, self.en)
            x = st.cut("mul_in", side)
            x = st.cut("mul_out", dict(vars(x), **pre(x.e)))
        else:
            x = st.cut("mul_in", dict(side, sa=ua.sig, sb=ub.sig))
            x = st.cut("mul_out", dict(valid=x.valid, sign=x.sign, nan=x.nan, nv=x.nv, inf=x.inf,
                                       prod=(x.sa * x.sb)[:w], **pre(x.e)))
            prod = x.prod
        # A nonzero product not bound for the subnormal range has at most p leading zeros (one operand is
        # normal, or e < 1): the left shift needs only the top p + 1 bits.
        plan = normalize_plan(m, fmt, None, prod, max_left=p,
                              prep={k[5:]: v for k, v in vars(x).items() if k.startswith("prep_")})
        side = dict(valid=x.valid, sign=x.sign, nan=x.nan, nv=x.nv, inf=x.inf)
        x = st.cut("nshift", dict(side, prod=prod, **{f"plan_{k}": v for k, v in plan.items()}))
        n = normalize_apply(m, fmt, x.sign, x.prod, {k: getattr(x, f"plan_{k}") for k in plan})
        x = st.cut("norm", dict(n, valid=x.valid, nan=x.nan, nv=x.nv, inf=x.inf))
        r = round_prep(m, fmt, x)
        x = st.cut("rnd", dict(r, valid=x.valid, nan=x.nan, nv=x.nv, inf=x.inf))
        rounded, rflags = round_finish(m, fmt, x, zero_sign=x.sign)
        x.inf_sign = x.sign
        result, flags = finish(fmt, m, x, rounded, rflags)
        x = st.cut("out", dict(valid=x.valid, result=result, flags=flags))
        m.d.comb += [self.result.eq(x.result), self.flags.eq(x.flags), self.o_valid.eq(x.valid)]
        return m
