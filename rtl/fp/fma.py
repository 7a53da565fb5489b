"""Fused multiply-add a*b + c with ONE rounding: the exact product and the aligned addend meet in a
3p+7-bit window, then the shared normalise/round. The addend is aligned while the multiplier works."""
from __future__ import annotations

from amaranth.hdl import Cat, Const, Module, Mux
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from ..formats import FLAG_WIDTH, FP16, FPFormat
from .common import (Stages, add_cin, as_signed, below_mask_or, check_depth, check_dsp, check_format, norm_prep,
                     normalize_apply, normalize_plan, round_finish, round_prep, unpack, wire)
from .dsp import ecp5_mult18x18d_registered, use_ecp5_dsp
from .mul import finish

FMA_CUTS: dict[int, frozenset[str]] = {
    0: frozenset(),
    1: frozenset({"mul_out"}),
    2: frozenset({"mul_in", "mul_out"}),
    3: frozenset({"mul_in", "mul_out", "norm"}),
    4: frozenset({"mul_in", "mul_out", "sum", "norm"}),
    5: frozenset({"mul_in", "mul_out", "sum", "norm", "out"}),
    # Deeper, for clock rate: the sum's sign fix-up, the normaliser's shift amount and the rounding sum each
    # get their own stage.
    6: frozenset({"mul_in", "mul_out", "sum", "nshift", "norm", "out"}),
    7: frozenset({"mul_in", "mul_out", "sum", "nshift", "norm", "rnd", "out"}),
    8: frozenset({"pre", "mul_in", "mul_out", "sum", "nshift", "norm", "rnd", "out"}),
    9: frozenset({"pre", "mul_in", "mul_out", "add", "sum", "nshift", "norm", "rnd", "out"}),
}


class FPFMAPipe(wiring.Component):
    """a*b + c rounded once (RNE); plain pipeline gated by `en`, latency == depth."""

    MAX_DEPTH = 9

    def __init__(self, fmt: FPFormat = FP16, depth: int = 3, *, dsp: str = "auto") -> None:
        self.fmt = check_format(fmt)
        self.depth = check_depth(depth, self.MAX_DEPTH, "FPFMAPipe")
        self.dsp = check_dsp(dsp)
        w = fmt.width
        super().__init__({"a": In(w), "b": In(w), "c": In(w), "i_valid": In(1), "en": In(1, init=1),
                          "result": Out(w), "flags": Out(FLAG_WIDTH), "o_valid": Out(1)})

    @property
    def latency(self) -> int:
        return self.depth

    @property
    def module_name(self) -> str:
        return f"fp_fma_{self.fmt.tag}_d{self.depth}"

    def elaborate(self, platform):
        m = Module()
        fmt, p = self.fmt, self.fmt.precision
        cuts = FMA_CUTS[self.depth]
        st = Stages(m, cuts, self.en)
        ua, ub, uc = unpack(fmt, self.a, m, "a"), unpack(fmt, self.b, m, "b"), unpack(fmt, self.c, m, "c")
        sp = ua.sign ^ ub.sign
        inf_zero = (ua.is_inf & ub.is_zero) | (ua.is_zero & ub.is_inf)
        p_inf = (ua.is_inf | ub.is_inf) & ~ua.is_nan & ~ub.is_nan  # NaN * inf is NaN, not inf
        inf_inf = p_inf & uc.is_inf & (sp ^ uc.sign) & ~inf_zero
        nan = ua.is_nan | ub.is_nan | uc.is_nan | inf_zero | inf_inf
        nv = ua.is_snan | ub.is_snan | uc.is_snan | inf_zero | inf_inf
        inf = (p_inf | uc.is_inf) & ~nan
        inf_sign = Mux(p_inf, sp, uc.sign)
        # Window (LSB first): 3 low bits | product (2p) | 3 gap bits | addend (p) | carry. Bit k weighs
        # 2^(ea+eb-2bias-2p-1+k); the addend sits at c_off and is shifted right by sh to its true place.
        c_off = 2 * p + 6
        sh = as_signed(ua.e) + as_signed(ub.e) - as_signed(uc.e) - (fmt.bias - p - 4)
        ep = as_signed(ua.e) + as_signed(ub.e) - (fmt.bias - p - 5)  # window MSB exponent, product-anchored
        x = st.cut("pre", dict(valid=self.i_valid, sp=sp, sc=uc.sign, csig=uc.sig, sh=sh, ep=ep,
                               ec1=as_signed(uc.e) + 1, p_zero=ua.is_zero | ub.is_zero, zero_sign=sp & uc.sign,
                               nan=nan, nv=nv, inf=inf, inf_sign=inf_sign, ma=ua.sig, mb=ub.sig))
        # The addend's alignment amount is settled before the multiplier's input registers, so the stage
        # beside the multiplier holds only the shifter. sh <= 0: the addend dominates, the product is sticky.
        # A zero product anchors nothing: then the window follows the addend too.
        c_dom = wire(m, (x.sh < 0) | x.p_zero, "fma_c_dom")
        catch = 3 * p + 6
        clamp = wire(m, Mux(c_dom, 0, Mux(x.sh > catch, catch, x.sh[:catch.bit_length()])), "fma_clamp")
        side = dict(valid=x.valid, sp=x.sp, sc=x.sc, csig=x.csig, clamp=clamp, e=Mux(c_dom, x.ec1, x.ep),
                    zero_sign=x.zero_sign, nan=x.nan, nv=x.nv, inf=x.inf, inf_sign=x.inf_sign)
        if {"mul_in", "mul_out"} <= cuts and use_ecp5_dsp(self.dsp, platform, p):
            prod = ecp5_mult18x18d_registered(m, x.ma, x.mb, self.en)
            x = st.cut("mul_in", side)
            mid = None
        else:
            x = st.cut("mul_in", dict(side, ma=x.ma, mb=x.mb))
            mid = (x.ma * x.mb)[:2 * p]
        # Addend alignment runs beside the multiplier.
        clamp = x.clamp
        shifted = Cat(Const(0, c_off), x.csig) >> clamp
        # Addend bits pushed below the window: one sticky bit, tz(csig) < clamp - c_off (no wide shifter).
        c_win = Cat(shifted[0] | below_mask_or(m, x.csig, clamp, "fma_sticky", offset=-c_off), shifted[1:])
        wt = 3 * p + 7
        # Beside the multiplier too: everything the normaliser needs from the exponent alone.
        prep = {f"prep_{k}": v for k, v in norm_prep(m, fmt, x.e, wt).items()}
        keep = dict(prep, valid=x.valid, sp=x.sp, sc=x.sc, c_win=c_win, zero_sign=x.zero_sign, nan=x.nan,
                    nv=x.nv, inf=x.inf, inf_sign=x.inf_sign)
        if mid is None:
            x = st.cut("mul_out", keep)
        else:
            x = st.cut("mul_out", dict(keep, prod=mid))
            prod = x.prod
        p_win = Cat(Const(0, 3), prod)
        eff_sub = x.sp ^ x.sc
        # One adder: p_win + (c_win ^ -eff_sub) + eff_sub; a negative difference is negated (one more adder).
        ones = (1 << (wt + 1)) - 1
        inv = Cat(x.c_win, Const(0, wt + 1 - len(x.c_win))) ^ Mux(eff_sub, ones, 0)
        total = wire(m, add_cin(Cat(p_win, Const(0, wt + 1 - len(p_win))), inv, eff_sub)[:wt + 1], "fma_total")
        prep = {k: getattr(x, k) for k in prep}
        side = dict(valid=x.valid, zero_sign=x.zero_sign, nan=x.nan, nv=x.nv, inf=x.inf, inf_sign=x.inf_sign)
        x = st.cut("add", dict(side, **prep, total=total, sp=x.sp, sc=x.sc))
        prep = {k: getattr(x, k) for k in prep}
        total = x.total
        neg = total[wt]
        mag = wire(m, ((total ^ Mux(neg, ones, 0)) + neg)[:wt], "fma_mag")
        side = {k: getattr(x, k) for k in side}
        x = st.cut("sum", dict(side, **prep, mag=mag, sign=Mux(neg, x.sc, x.sp)))
        plan = normalize_plan(m, fmt, None, x.mag, prep={k[5:]: getattr(x, k) for k in prep})
        side = {k: getattr(x, k) for k in side}
        x = st.cut("nshift", dict(side, sign=x.sign, mag=x.mag, **{f"plan_{k}": v for k, v in plan.items()}))
        n = normalize_apply(m, fmt, x.sign, x.mag, {k: getattr(x, f"plan_{k}") for k in plan})
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
