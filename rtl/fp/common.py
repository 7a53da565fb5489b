"""Building blocks shared by every FP unit: parameter checks, operand unpacking, hand-placed pipeline cuts,
a leading-zero counter and THE rounder (normalise -> round to nearest even -> pack, with RISC-V flags).

Every unit computes a wide unrounded intermediate `(sign, e, sig, sticky)` whose value is
`sig * 2**(e - bias - (len(sig) - 1))` (e is the biased exponent of sig's MSB position, signed, may be out
of range) and hands it to `normalize` + `round_pack`. Special operands (NaN, inf) bypass on a side path.
"""
from __future__ import annotations

from types import SimpleNamespace

from amaranth.hdl import Cat, Const, Module, Mux, Signal, Value

from ..formats import Flag, FPFormat


def check_format(fmt: object) -> FPFormat:
    if not isinstance(fmt, FPFormat):
        raise ValueError(f"fmt must be an FPFormat (e.g. spikemesh.rtl.formats.FP16), got {fmt!r}")
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


def add_cin(a: Value, b: Value, cin: Value) -> Value:
    """Unsigned a + b + cin as ONE carry chain (yosys builds two chains for a + b + cin): the carry-in rides
    in an extra low bit of both operands."""
    a, b = Value.cast(a), Value.cast(b)
    return (Cat(cin, a) + Cat(cin, b))[1:]


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


def gt_const(v: Value, c: int) -> Value:
    """Unsigned `v > c` for a constant c as plain AND/OR logic from the MSB down (a few LUTs, no carry chain,
    which is what yosys would build for a comparison)."""
    v = Value.cast(v)
    if c < 0:
        return Const(1, 1)
    if c >= (1 << len(v)) - 1:
        return Const(0, 1)
    res = Const(0, 1)  # v > c over the bits seen so far (LSB first): equal so far -> not greater
    for i in range(len(v)):
        res = (v[i] & res) if (c >> i) & 1 else (v[i] | res)
    return res


def below_mask_or(m: Module, v: Value, n: Value, name: str, offset: int = 0) -> Value:
    """OR of the bits of `v` below position `n + offset` (`n` unsigned) through a thermometer mask: bit i
    counts when n > i - offset, a compare against a constant (a few LUTs), then one OR tree."""
    terms = [v[i] & gt_const(n, i - offset) for i in range(len(v))]
    return wire(m, Cat(*terms).any() if terms else Const(0, 1), name)


def limit_mask(m: Module, fmt: FPFormat, e: Value, width: int) -> Value:
    """A one-hot `width`-bit mask with a one where the normaliser must stop shifting left (the minimum
    exponent): ORed into the significand, its leading-zero count IS min(lzc, e - 1), no compare. Depends on
    the exponent only, so it can be decoded a stage before the significand is known."""
    w = max(width, fmt.precision + 2)
    e_m1 = as_signed(e) - 1
    bits = [e_m1 == (w - 1 - j) for j in range(w)]
    bits[w - 1] = bits[w - 1] | (e_m1 < 0)  # never left-shift below the minimum exponent
    return wire(m, Cat(*bits), "norm_limit")


def _left_bits(fmt: FPFormat, w: int, max_left: int | None) -> int:
    n = w if max_left is None else max_left + 1  # bits the leading-zero count looks at
    return max(n.bit_length(), (fmt.precision + 3).bit_length())


def norm_prep(m: Module, fmt: FPFormat, e: Value, w: int, max_left: int | None = None) -> dict[str, Value]:
    """What `normalize_plan` needs from the exponent alone (for a `w`-bit significand, right shifts allowed):
    the limit mask, e - 1, whether the result goes subnormal (e < 1) and R - (1 - e) for the shared shifter.
    Computed a stage early (beside a multiplier or an adder), it takes the exponent logic off the path."""
    keep = fmt.precision + 2
    w = max(w, keep)
    e = as_signed(e)
    amt_max = keep + 1
    k = _left_bits(fmt, w, max_left)
    # R - min(1 - e, amt_max) = e + R - 1 unless saturated; the add and the compare run side by side
    r_to = Mux(e < 1 - amt_max, (1 << k) - amt_max, (e + ((1 << k) - 1))[:k + 1])
    return dict(limit=limit_mask(m, fmt, e, w), e_m1=wire(m, e - 1, "norm_e_m1"),
                need=wire(m, e < 1, "norm_need_right"), r_to=wire(m, r_to[:k + 1], "norm_r_to"))


def normalize_plan(m: Module, fmt: FPFormat, e: Value, sig: Value, right: bool = True,
                   limit: Value | None = None, max_left: int | None = None,
                   prep: dict | None = None) -> dict[str, Value]:
    """First half of `normalize`: the shift amounts (leading-zero count, clamped at the minimum exponent, or
    the right shift into the subnormal range). Registering its result splits normalisation across a cut.
    `limit`: `limit_mask(e)` decoded earlier, which replaces the compare against e - 1. `max_left`: the caller
    guarantees the left shift never exceeds it when sig != 0 and no right shift is needed (a multiplier's
    product has at most p leading zeros): only the top max_left + 1 bits are counted, a narrower shifter.
    `prep`: `norm_prep(e)` from an earlier stage (then `e` and `limit` are ignored; right shifts allowed)."""
    p = fmt.precision
    keep = p + 2
    w = max(len(sig), keep)
    if len(sig) < keep:
        sig = Cat(Const(0, keep - len(sig)), sig)
    if prep is not None:
        prep = prep if isinstance(prep, dict) else vars(prep)
        v = sig | prep["limit"]
        k = _left_bits(fmt, w, max_left)
        left = wire(m, lzc(m, v if max_left is None else v[w - 1 - max_left:]), "norm_left")
        amt = Mux(prep["need"], prep["r_to"], Cat(left, Const(0, k - len(left)), Const(1, 1)))
        return dict(e_m1=prep["e_m1"], left=left, need=prep["need"], amt=wire(m, amt[:k + 1], "norm_amt"))
    e = wire(m, as_signed(e), "norm_e")
    if limit is None:
        n_lz = lzc(m, sig)
        e_m1 = wire(m, e - 1, "norm_e_m1")
    # Left shift stops at the minimum exponent (gradual underflow); never past the leading one.
    if limit is None:
        left = wire(m, Mux(e_m1 < n_lz, Mux(e_m1 < 0, 0, e_m1[:len(n_lz)]), n_lz), "norm_left")
    else:
        v = sig | limit
        left = wire(m, lzc(m, v if max_left is None else v[w - 1 - max_left:]), "norm_left")
    plan = dict(e_m1=wire(m, e - 1, "norm_e_m1"), left=left)
    if right:
        # e < 1: no left shift; the top `keep` bits move right by 1-e (saturated), the rest is sticky.
        amt_max = keep + 1
        need = wire(m, e < 1, "norm_need_right")
        one_minus_e = 1 - e
        r_amt = wire(m, Mux(one_minus_e > amt_max, amt_max, one_minus_e[:amt_max.bit_length()]), "norm_rshift")
        # One shifter for both directions: sig << amt, read R bits higher, with amt = R + left or R - r_amt
        # (R a power of two: R + left is wiring, R - r_amt depends on e alone).
        k = max(len(left), amt_max.bit_length())
        plan["need"] = need
        plan["amt"] = wire(m, Mux(need, (1 << k) - r_amt, Cat(left, Const(0, k - len(left)), Const(1, 1)))[:k + 1],
                           "norm_amt")
    return plan


def normalize_apply(m: Module, fmt: FPFormat, sign: Value, sig: Value, plan, sticky: Value | int = 0
                    ) -> dict[str, Value]:
    """Second half of `normalize`: shift by the planned amount, keep p bits + guard + round + sticky. Only the
    kept p+2 bits go through a shifter; the sticky is a thermometer mask over the bits below them."""
    plan = plan if isinstance(plan, dict) else vars(plan)
    p = fmt.precision
    keep = p + 2
    w = len(sig)
    if w < keep:
        sig = Cat(Const(0, keep - w), sig)
        w = keep
    e_m1, left = plan["e_m1"], plan["left"]
    exp_m1 = e_m1 - left  # biased exponent - 1: what the rounder adds to the significand
    low = w - keep  # bits of sig below the kept window before any shift
    if "need" not in plan:
        window = wire(m, (sig << left)[w - keep:w], "norm_window")
        # Left by `left`: the bits below the window are sig[:low - left] (none once left >= low).
        # i < low - left  <=>  left < low - i  <=>  not (left > low - 1 - i)
        s_low = Cat(*[sig[i] & ~gt_const(left, low - 1 - i) for i in range(low)]).any() if low else Const(0, 1)
        s_low = wire(m, s_low, "norm_s_left")
    else:
        need, amt = plan["need"], plan["amt"]
        rr = 1 << (len(amt) - 1)  # R
        # Left by amt - R (>= 0) or right by R - amt: bits [w - keep, w) of sig << (amt - R).
        window = wire(m, (sig << amt)[w + rr - keep:w + rr], "norm_window")
        # Bits of sig below the window: i < low + R - amt  <=>  not (amt > low + R - 1 - i)
        s_low = wire(m, Cat(*[sig[i] & ~gt_const(amt, low + rr - 1 - i) for i in range(w)]).any(), "norm_s_low")
        exp_m1 = Mux(need, 0, exp_m1)
    kept = window[keep - p:]
    return dict(sign=sign, exp_m1=wire(m, exp_m1, "norm_exp_m1"), kept=kept, g=window[1], r=window[0],
                s=wire(m, s_low | sticky, "norm_s"), zero=sig == 0)


def normalize(m: Module, fmt: FPFormat, sign: Value, e: Value, sig: Value, sticky: Value | int = 0,
              right: bool = True) -> dict[str, Value]:
    """Shift `sig` so its MSB is the hidden bit (left by min(lzc, e-1), or right by 1-e into the subnormal
    range when `right`), keeping p bits + guard + round + sticky: `normalize_plan` then `normalize_apply`."""
    return normalize_apply(m, fmt, sign, sig, normalize_plan(m, fmt, e, sig, right), sticky)


def round_prep(m: Module, fmt: FPFormat, v) -> dict[str, Value]:
    """First half of `round_pack`: the round-up decision and the packed sum (exponent - 1, significand,
    rounding increment in one adder), inexact and tininess. Registering it splits rounding across a cut."""
    v = v if isinstance(v, dict) else vars(v)
    p, mb = fmt.precision, fmt.man_bits
    kept, g, r, s = v["kept"], v["g"], v["r"], v["s"]
    up = g & (r | s | kept[0])
    # (E-1) << m + kept: the hidden bit carries into the exponent, so subnormal->normal needs no fix-up.
    exp_m1 = Value.cast(v["exp_m1"]).as_unsigned()
    packed = wire(m, add_cin(exp_m1 << mb, kept, up), "rnd_packed")
    nx = wire(m, g | r | s, "rnd_nx")
    tiny = wire(m, ~kept[p - 1] & ~(kept[:mb].all() & g & r), "rnd_tiny")
    return dict(packed=packed, nx=nx, tiny=tiny, zero=v["zero"], sign=v["sign"])


def round_finish(m: Module, fmt: FPFormat, v, zero_sign: Value) -> tuple[Value, Value]:
    """Second half of `round_pack`: overflow to infinity, zero, pack; returns (bits, flags)."""
    v = v if isinstance(v, dict) else vars(v)
    mb = fmt.man_bits
    packed, zero, sign, nx = v["packed"], v["zero"], v["sign"], v["nx"]
    exp_field = packed >> mb
    overflow = wire(m, ~zero & (exp_field >= fmt.exp_max), "rnd_overflow")
    uf = v["tiny"] & nx & ~overflow
    body = packed[:fmt.width - 1]
    result = Mux(zero, Cat(Const(0, fmt.width - 1), zero_sign),
                 Mux(overflow, Cat(Const(fmt.inf, fmt.width - 1), sign), Cat(body, sign)))
    flags = Mux(zero, 0,
                Mux(overflow, int(Flag.OF | Flag.NX),
                    Cat(nx, uf, Const(0, 3))))
    return wire(m, result, "rnd_result"), wire(m, flags, "rnd_flags")


def round_pack(m: Module, fmt: FPFormat, v: SimpleNamespace, zero_sign: Value) -> tuple[Value, Value]:
    """Round to nearest even and pack; returns (bits, flags). Tininess is detected after rounding."""
    return round_finish(m, fmt, round_prep(m, fmt, v), zero_sign)


def flags_value(nv: Value) -> Value:
    """A 5-bit flags word with only NV (invalid) possibly set."""
    return Cat(Const(0, 4), nv)
