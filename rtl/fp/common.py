"""Building blocks shared by every FP unit: parameter checks, operand unpacking, hand-placed pipeline cuts,
a leading-zero counter and THE rounder (normalise -> round to nearest even -> pack, with RISC-V flags).

Every unit computes a wide unrounded intermediate `(sign, e, sig, sticky)` whose value is
`sig * 2**(e - bias - (len(sig) - 1))` (e is the biased exponent of sig's MSB position, signed, may be out
of range) and hands it to `normalize` + `round_pack`. Special operands (NaN, inf) bypass on a side path.
"""
from __future__ import annotations

from types import SimpleNamespace

from amaranth.hdl import Cat, Const, Module, Mux, Signal, Value

from ...gen.formats import Flag, FPFormat


def check_format(fmt: object) -> FPFormat:
    if not isinstance(fmt, FPFormat):
        raise ValueError(f"fmt must be an FPFormat (e.g. spikemesh.gen.formats.FP16), got {fmt!r}")
    return fmt


def check_depth(depth: object, max_depth: int, unit: str) -> int:
    if not isinstance(depth, int) or isinstance(depth, bool) or not 0 <= depth <= max_depth:
        raise ValueError(f"depth must be an int in 0..{max_depth} for {unit}, got {depth!r}")
    return depth


def check_dsp(dsp: object) -> str:
    if dsp not in ("auto", "ecp5", "generic"):
        raise ValueError(f"dsp must be one of 'auto', 'ecp5', 'generic', got {dsp!r}")
    return dsp  # type: ignore[return-value]


class Stages:
    """Hand-placed pipeline registers: `cut(name, values)` registers the values (gated by `en`) if `name` is
    one of the cuts chosen for this depth, else passes them through. Nothing is retimed by the tools."""

    def __init__(self, m: Module, cuts: frozenset[str], en: Value) -> None:
        self.m, self.cuts, self.en = m, cuts, en

    def cut(self, name: str, values: dict[str, Value]) -> SimpleNamespace:
        out = {}
        for key, v in values.items():
            v = Value.cast(v)
            reg = Signal(v.shape(), name=f"{name}_{key}")
            if name in self.cuts:
                with self.m.If(self.en):
                    self.m.d.sync += reg.eq(v)
            else:  # a named wire: also stops Amaranth from re-emitting shared expressions at every use
                self.m.d.comb += reg.eq(v)
            out[key] = reg
        return SimpleNamespace(**out)


def wire(m: Module, v: Value | int, name: str) -> Signal:
    """Materialise an expression once (Amaranth re-emits a Python expression at every use)."""
    v = Value.cast(v)
    sig = Signal(v.shape(), name=name)
    m.d.comb += sig.eq(v)
    return sig


def unpack(fmt: FPFormat, bits: Value, m: Module, name: str) -> SimpleNamespace:
    """Classify an operand; `sig` has the hidden bit (p bits), `e` is the effective biased exponent (>= 1)."""
    ns = _unpack(fmt, bits)
    return SimpleNamespace(**{k: wire(m, v, f"{name}_{k}") for k, v in vars(ns).items()})


def _unpack(fmt: FPFormat, bits: Value) -> SimpleNamespace:
    m_bits = fmt.man_bits
    frac = bits[:m_bits]
    exp = bits[m_bits:m_bits + fmt.exp_bits]
    exp_zero = exp == 0
    exp_ones = exp == fmt.exp_max
    frac_zero = frac == 0
    return SimpleNamespace(
        sign=bits[fmt.width - 1],
        exp=exp,
        frac=frac,
        sig=Cat(frac, ~exp_zero),
        e=Mux(exp_zero, 1, exp),
        is_zero=exp_zero & frac_zero,
        is_inf=exp_ones & frac_zero,
        is_nan=exp_ones & ~frac_zero,
        is_snan=exp_ones & ~frac_zero & ~frac[m_bits - 1],
    )


def as_signed(v: Value | int) -> Value:
    """Value as signed without reinterpreting an unsigned MSB as the sign (zero-extend first)."""
    v = Value.cast(v)
    return v if v.shape().signed else Cat(v, Const(0, 1)).as_signed()


def lzc(m: Module, v: Value) -> Value:
    """Leading-zero count of `v` as a balanced tree (log depth)."""
    n = len(v)
    size = 1
    while size < n:
        size *= 2
    padded = Cat(Const(0, size - n), v) if size > n else v
    # A zero pad below the LSB only matters for v == 0, where the count is clamped to n.
    zero, count = _lzc_tree(m, padded)
    return wire(m, Mux(zero, n, count), "lzc")


def _lzc_tree(m: Module, v: Value) -> tuple[Value, Value]:
    """Return (all_zero, count) for a power-of-two width v; count is exact when not all zero."""
    n = len(v)
    if n == 1:
        return ~v[0], Const(0, 0)  # a single bit has no count bits: only 'all zero' matters
    half = n // 2
    hz, hc = _lzc_tree(m, v[half:])
    lz, lc = _lzc_tree(m, v[:half])
    # The high half wins when it has a one; otherwise count = half + low count (top bit set, low bits = lc).
    count = Mux(hz, Cat(lc, Const(1, 1)), Cat(hc, Const(0, 1)))
    return wire(m, hz & lz, f"lzc{n}_z"), wire(m, count, f"lzc{n}_c")


def tzc(m: Module, v: Value) -> Value:
    """Trailing-zero count (len(v) when v == 0)."""
    return lzc(m, v[::-1])


def sticky_below(m: Module, v: Value, n: Value) -> Value:
    """OR of the bits of `v` below position `n` (signed, any range), without a shifter: tz(v) < n."""
    return wire(m, (v != 0) & (tzc(m, v) < n), "sticky_below")


def normalize(m: Module, fmt: FPFormat, sign: Value, e: Value, sig: Value, sticky: Value | int = 0,
              right: bool = True) -> dict[str, Value]:
    """Shift `sig` so its MSB is the hidden bit (left by min(lzc, e-1), or right by 1-e into the subnormal
    range when `right`), keeping p bits + guard + round + sticky. Only the kept p+2 bits go through a
    shifter; the sticky is `tz(sig) < number of bits below them` (cheaper than shifting them out)."""
    p = fmt.precision
    keep = p + 2
    w = len(sig)
    if w < keep:
        sig = Cat(Const(0, keep - w), sig)
        w = keep
    e = wire(m, as_signed(e), "norm_e")
    n_lz = lzc(m, sig)
    e_m1 = wire(m, e - 1, "norm_e_m1")
    # Left shift stops at the minimum exponent (gradual underflow); never past the leading one.
    left = wire(m, Mux(e_m1 < n_lz, Mux(e_m1 < 0, 0, e_m1[:len(n_lz)]), n_lz), "norm_left")
    window = wire(m, (sig << left)[w - keep:w], "norm_window")
    exp = e - left
    low_bits = (w - keep) - left  # bits of sig below the kept window
    if right:
        # e < 1: no left shift; the top `keep` bits move right by 1-e (saturated), the rest is sticky.
        amt_max = keep + 1
        need = wire(m, e < 1, "norm_need_right")
        one_minus_e = 1 - e
        r_amt = wire(m, Mux(need, Mux(one_minus_e > amt_max, amt_max, one_minus_e[:amt_max.bit_length()]), 0),
                     "norm_rshift")
        window = wire(m, Mux(need, sig[w - keep:] >> r_amt, window), "norm_window_r")
        low_bits = low_bits + r_amt
        exp = Mux(need, 1, exp)
    s_low = sticky_below(m, sig, low_bits)
    kept = window[keep - p:]
    return dict(sign=sign, exp=exp, kept=kept, g=window[1], r=window[0], s=s_low | sticky, zero=sig == 0)


def round_pack(m: Module, fmt: FPFormat, v: SimpleNamespace, zero_sign: Value) -> tuple[Value, Value]:
    """Round to nearest even and pack; returns (bits, flags). Tininess is detected after rounding."""
    p, mb = fmt.precision, fmt.man_bits
    kept, g, r, s = v.kept, v.g, v.r, v.s
    up = g & (r | s | kept[0])
    # (E-1) << m + kept: the hidden bit carries into the exponent, so subnormal->normal needs no fix-up.
    exp_m1 = (v.exp - 1).as_unsigned()
    packed = wire(m, (exp_m1 << mb) + kept + up, "rnd_packed")
    exp_field = packed >> mb
    overflow = wire(m, ~v.zero & (exp_field >= fmt.exp_max), "rnd_overflow")
    nx = wire(m, g | r | s, "rnd_nx")
    tiny = ~kept[p - 1] & ~(kept[:mb].all() & g & r)
    uf = tiny & nx & ~overflow
    body = packed[:fmt.width - 1]
    result = Mux(v.zero, Cat(Const(0, fmt.width - 1), zero_sign),
                 Mux(overflow, Cat(Const(fmt.inf, fmt.width - 1), v.sign), Cat(body, v.sign)))
    flags = Mux(v.zero, 0,
                Mux(overflow, int(Flag.OF | Flag.NX),
                    Cat(nx, uf, Const(0, 3))))
    return wire(m, result, "rnd_result"), wire(m, flags, "rnd_flags")


def flags_value(nv: Value) -> Value:
    """A 5-bit flags word with only NV (invalid) possibly set."""
    return Cat(Const(0, 4), nv)
