"""Bit-exact, vectorised golden model of the floating-point units (add, sub, mul, fma, compares, min/max,
int -> float), generic over `FPFormat`.

Everything is exact integer arithmetic on numpy arrays of raw bit patterns: operands are unpacked into
(sign, exponent of the significand's LSB, integer significand), combined exactly (with sticky-bit jamming
where an operand lies wholly below the rounding position) and rounded by ONE shared routine,
`_round_pack`. No float16/float32 arithmetic is used, so numpy/SoftFloat can serve as references.

Semantics (RISC-V F style; documented in docs/fp.md "## Golden model"):
- round to nearest, ties to even, only; full subnormals (no flush to zero);
- tininess is detected AFTER rounding (the result rounded to `precision` bits with an unbounded exponent
  is below the smallest normal); UF is raised only when tiny AND inexact;
- overflow rounds to infinity and raises OF and NX;
- every NaN result is `fmt.canonical_nan` (no payload propagation); NV on any signalling-NaN operand, on
  inf - inf, 0 * inf, and fma(0, inf, c) / fma(inf, 0, c) even when c is a quiet NaN;
- an exact zero sum is +0, except (-0) + (-0) = -0 (and x - x = +0); the same rule holds for fma's
  final addition: the sign of a zero product is sign(a) ^ sign(b).

Flags are uint8 arrays in the `Flag` (RISC-V fflags) layout: NX=1, UF=2, OF=4, NV=16. DZ is never set.
Formats up to precision 30 run in int64; wider ones (e.g. binary64) fall back to Python ints in
object arrays (slow but exact).
"""
from __future__ import annotations

import enum
from typing import Any

import numpy as np

from spikemesh.rtl.formats import Flag, FPFormat

__all__ = [
    "FPClass", "add", "sub", "mul", "fma", "lt", "le", "eq", "fmin", "fmax", "from_int",
    "to_float", "from_float", "classify", "random_operands", "OPERAND_KINDS",
]

_NX, _UF, _OF, _NV = int(Flag.NX), int(Flag.UF), int(Flag.OF), int(Flag.NV)
_VERY_NEG = -(1 << 24)  # exponent standing in for "no bits" (a zero term) in alignments


class FPClass(enum.IntEnum):
    """Operand classes returned by `classify` (sign is not part of the class)."""

    ZERO = 0
    SUBNORMAL = 1
    NORMAL = 2
    INF = 3
    QNAN = 4
    SNAN = 5


# ---------------------------------------------------------------------------------------------- helpers

def _wide(fmt: FPFormat) -> bool:
    """True when significand products/alignments need more than int64 (precision > 30)."""
    return fmt.precision > 30


def _window(fmt: FPFormat) -> int:
    """Bits kept when aligning two terms: >= 2p+1 (an FMA product fits) and >= p+3 (jam bit below round bit)."""
    return 61 if not _wide(fmt) else 2 * fmt.precision + 8


def _bits(fmt: FPFormat, x: Any, name: str = "operand") -> np.ndarray:
    """Raw bit patterns as a uint64 array, masked to the format width."""
    arr = np.asarray(x)
    if arr.dtype == object or arr.dtype.kind not in "ui":
        if arr.dtype.kind == "b":
            arr = arr.astype(np.uint64)
        else:
            try:
                arr = np.asarray(arr, dtype=np.uint64)
            except (OverflowError, ValueError, TypeError) as exc:
                raise ValueError(f"{name} must be raw bit patterns (unsigned ints < 2**{fmt.width})") from exc
    elif arr.dtype.kind == "i" and np.any(arr < 0):
        raise ValueError(f"{name} must be raw bit patterns (unsigned ints < 2**{fmt.width}), got a negative value")
    arr = arr.astype(np.uint64, copy=False)
    mask = np.uint64((1 << fmt.width) - 1)
    return arr & mask


def _bitlen(x: np.ndarray) -> np.ndarray:
    """Vectorised int.bit_length() of a non-negative int64 (or object) array."""
    if x.dtype == object:
        return np.frompyfunc(int.bit_length, 1, 1)(x).astype(np.int64)
    _, ex = np.frexp(x.astype(np.float64))
    ex = ex.astype(np.int64)
    # float64 may round x up to the next power of two: correct that case.
    lo = np.left_shift(np.int64(1), np.maximum(ex - 1, 0))
    return np.where((ex > 0) & (x < lo), ex - 1, ex)


def _shift_amount(s: np.ndarray, dt: Any) -> np.ndarray:
    return s.astype(object) if dt == object else s


def _unpack(fmt: FPFormat, a: np.ndarray) -> dict[str, np.ndarray]:
    """Split bits into sign, significand (hidden bit made explicit) and the exponent of its LSB."""
    m = fmt.man_bits
    sign = ((a >> np.uint64(fmt.width - 1)) & np.uint64(1)).astype(np.int64)
    bexp = ((a >> np.uint64(m)) & np.uint64(fmt.exp_max)).astype(np.int64)
    frac = (a & np.uint64((1 << m) - 1)).astype(np.int64)
    special = bexp == fmt.exp_max
    sig = np.where((bexp != 0) & ~special, frac | (1 << m), np.where(special, 0, frac))
    if _wide(fmt):
        sig = sig.astype(object)
    e = np.maximum(bexp, 1) - fmt.bias - m
    qbit = (frac >> (m - 1)) & 1
    return {
        "sign": sign, "e": e, "sig": sig,
        "zero": (bexp == 0) & (frac == 0),
        "inf": special & (frac == 0),
        "nan": special & (frac != 0),
        "snan": special & (frac != 0) & (qbit == 0),
    }


def _rshift_round(sig: np.ndarray, shift: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Round sig * 2**-shift to an integer, RNE. shift <= 0 is an exact left shift. Returns (q, inexact).

    For int64, sig must be < 2**62: shifts are clamped to 63, which then rounds every such sig to 0
    (correct for any larger shift too)."""
    wide = sig.dtype == object
    sl = np.clip(-shift, 0, None if wide else 62)
    sr = np.clip(shift, 0, None if wide else 63)
    sl_, sr_ = _shift_amount(sl, sig.dtype), _shift_amount(sr, sig.dtype)
    q = sig >> sr_
    rem = sig - (q << sr_)
    half = np.where(sr > 0, 1 << _shift_amount(np.maximum(sr - 1, 0), sig.dtype), 0)
    if not wide:
        half = half.astype(np.int64)
    up = (rem > half) | ((rem == half) & (rem != 0) & ((q & 1) == 1))
    q = q + up.astype(sig.dtype)
    q = np.where(shift <= 0, sig << sl_, q)
    return q, (shift > 0) & (rem != 0)


def _round_pack(fmt: FPFormat, sign: np.ndarray, e: np.ndarray, sig: np.ndarray
                ) -> tuple[np.ndarray, np.ndarray]:
    """THE rounding routine: value (-1)**sign * sig * 2**e -> (bits, flags), RNE, tininess after rounding.

    sig must be exact, or jammed (an odd LSB standing for non-zero bits below it) at least two bits
    below the rounding position. sig == 0 gives a zero with the given sign and no flags."""
    p, m = fmt.precision, fmt.man_bits
    emin = 1 - fmt.bias
    e = e.astype(np.int64)
    n = _bitlen(sig)
    top = e + n - 1  # exponent of the MSB
    lsb = np.maximum(top - (p - 1), emin - m)
    q, inexact = _rshift_round(sig, lsb - e)
    # Tininess after rounding: round to p bits with an unbounded exponent; tiny if still below 2**emin.
    q_unb, _ = _rshift_round(sig, top - (p - 1) - e)
    carry_unb = q_unb >= (1 << p)
    tiny = (top < emin - 1) | ((top == emin - 1) & ~carry_unb.astype(bool))
    q = q.astype(np.int64)
    # Normal: ((biased - 1) << m) + q, the hidden bit carries into the exponent (also on a rounding carry).
    base = lsb + m + fmt.bias - 1
    exp_field = base + (q >> m)
    overflow = exp_field >= fmt.exp_max
    mag = (np.clip(base, 0, fmt.exp_max).astype(np.uint64) << np.uint64(m)) + q.astype(np.uint64)
    mag = np.where(overflow, np.uint64(fmt.inf), mag)
    zero = sig == 0
    mag = np.where(zero, np.uint64(0), mag)
    inexact = inexact.astype(bool) & ~zero
    flags = (np.where(inexact | overflow, _NX, 0) | np.where(tiny & inexact, _UF, 0)
             | np.where(overflow & ~zero, _OF, 0))
    bits = mag | (sign.astype(np.uint64) << np.uint64(fmt.width - 1))
    return bits.astype(np.uint64), flags.astype(np.uint8)


def _align(fmt: FPFormat, sig: np.ndarray, d: np.ndarray) -> np.ndarray:
    """sig * 2**d as an integer: exact left shift for d >= 0, right shift with sticky jammed into the LSB."""
    wide = sig.dtype == object
    sl = np.clip(d, 0, None if wide else 62)
    sr = np.clip(-d, 0, None if wide else 63)
    sl_, sr_ = _shift_amount(sl, sig.dtype), _shift_amount(sr, sig.dtype)
    r = sig >> sr_
    sticky = (r << sr_) != sig
    jammed = r | sticky.astype(sig.dtype)
    return np.where(d >= 0, sig << sl_, jammed)


def _sum_terms(fmt: FPFormat, s1, e1, m1, s2, e2, m2) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(-1)**s1*m1*2**e1 + (-1)**s2*m2*2**e2 as (sign, e, magnitude), exact or jammed far below rounding.

    Both terms are aligned to e_c = M - (W-1), M the larger MSB exponent: the larger term (<= 2p bits)
    shifts left exactly; a term reaching below e_c lies more than p+2 bits under the result's MSB and is
    jammed. An exact zero result gets sign + (RNE); callers handle the both-zero case."""
    w = _window(fmt)
    top1 = np.where(m1 != 0, e1 + _bitlen(m1) - 1, _VERY_NEG)
    top2 = np.where(m2 != 0, e2 + _bitlen(m2) - 1, _VERY_NEG)
    ec = np.maximum(top1, top2) - (w - 1)
    a1 = _align(fmt, m1, e1 - ec)
    a2 = _align(fmt, m2, e2 - ec)
    total = np.where(s1 == 1, -a1, a1) + np.where(s2 == 1, -a2, a2)
    sign = (total < 0).astype(np.int64)
    mag = np.where(total < 0, -total, total)
    return sign, ec, mag


def _result(shape: tuple[int, ...], bits: np.ndarray, flags: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    return (np.asarray(bits, dtype=np.uint64).reshape(shape), np.asarray(flags, dtype=np.uint8).reshape(shape))


def _prepare(fmt: FPFormat, *xs: Any) -> tuple[tuple[int, ...], list[np.ndarray]]:
    if not isinstance(fmt, FPFormat):
        raise ValueError(f"fmt must be an FPFormat, got {fmt!r}")
    arrs = np.broadcast_arrays(*[_bits(fmt, x, f"operand {i}") for i, x in enumerate(xs)])
    shape = arrs[0].shape
    return shape, [np.ascontiguousarray(a).reshape(-1) for a in arrs]


# ---------------------------------------------------------------------------------------------- arithmetic

def add(fmt: FPFormat, a: Any, b: Any) -> tuple[np.ndarray, np.ndarray]:
    """a + b, rounded once (RNE). inf + (-inf) is NV; exact zero sums are +0 except (-0) + (-0) = -0."""
    shape, (a, b) = _prepare(fmt, a, b)
    ua, ub = _unpack(fmt, a), _unpack(fmt, b)
    sign, e, mag = _sum_terms(fmt, ua["sign"], ua["e"], ua["sig"], ub["sign"], ub["e"], ub["sig"])
    bits, flags = _round_pack(fmt, sign, e, mag)
    sbit = np.uint64(fmt.sign_bit)
    both_zero = ua["zero"] & ub["zero"]
    bits = np.where(both_zero, (ua["sign"] & ub["sign"]).astype(np.uint64) * sbit, bits)
    any_inf = ua["inf"] | ub["inf"]
    inf_sign = np.where(ua["inf"], ua["sign"], ub["sign"]).astype(np.uint64)
    bits = np.where(any_inf, np.uint64(fmt.inf) | inf_sign * sbit, bits)
    invalid = ua["inf"] & ub["inf"] & (ua["sign"] != ub["sign"])
    nan_out = ua["nan"] | ub["nan"] | invalid
    bits = np.where(nan_out, np.uint64(fmt.canonical_nan), bits)
    special = both_zero | any_inf | nan_out
    flags = np.where(special, 0, flags) | np.where(invalid | ua["snan"] | ub["snan"], _NV, 0)
    return _result(shape, bits, flags)


def sub(fmt: FPFormat, a: Any, b: Any) -> tuple[np.ndarray, np.ndarray]:
    """a - b = a + (-b) (negating a NaN keeps it a NaN of the same kind)."""
    shape, (a, b) = _prepare(fmt, a, b)
    bits, flags = add(fmt, a, b ^ np.uint64(fmt.sign_bit))
    return _result(shape, bits, flags)


def mul(fmt: FPFormat, a: Any, b: Any) -> tuple[np.ndarray, np.ndarray]:
    """a * b, rounded once (RNE). 0 * inf is NV; the sign of zeros and infinities is sign(a) ^ sign(b)."""
    shape, (a, b) = _prepare(fmt, a, b)
    ua, ub = _unpack(fmt, a), _unpack(fmt, b)
    sign = ua["sign"] ^ ub["sign"]
    bits, flags = _round_pack(fmt, sign, ua["e"] + ub["e"], ua["sig"] * ub["sig"])
    sbit = np.uint64(fmt.sign_bit)
    any_zero = ua["zero"] | ub["zero"]
    any_inf = ua["inf"] | ub["inf"]
    signed = sign.astype(np.uint64) * sbit
    bits = np.where(any_zero, signed, bits)
    bits = np.where(any_inf, np.uint64(fmt.inf) | signed, bits)
    invalid = any_zero & any_inf
    nan_out = ua["nan"] | ub["nan"] | invalid
    bits = np.where(nan_out, np.uint64(fmt.canonical_nan), bits)
    special = any_zero | any_inf | nan_out
    flags = np.where(special, 0, flags) | np.where(invalid | ua["snan"] | ub["snan"], _NV, 0)
    return _result(shape, bits, flags)


def fma(fmt: FPFormat, a: Any, b: Any, c: Any) -> tuple[np.ndarray, np.ndarray]:
    """a * b + c with ONE rounding (RNE).

    NV: any sNaN, 0 * inf (also when c is a quiet NaN, as RISC-V does), inf*x + (-inf). A zero product has
    sign(a) ^ sign(b); an exact zero result is +0 unless product and c are both zeros of sign -."""
    shape, (a, b, c) = _prepare(fmt, a, b, c)
    ua, ub, uc = _unpack(fmt, a), _unpack(fmt, b), _unpack(fmt, c)
    sp = ua["sign"] ^ ub["sign"]
    prod = ua["sig"] * ub["sig"]
    sign, e, mag = _sum_terms(fmt, sp, ua["e"] + ub["e"], prod, uc["sign"], uc["e"], uc["sig"])
    bits, flags = _round_pack(fmt, sign, e, mag)
    sbit = np.uint64(fmt.sign_bit)
    p_zero = ua["zero"] | ub["zero"]
    p_inf = ua["inf"] | ub["inf"]
    both_zero = p_zero & uc["zero"]
    bits = np.where(both_zero, (sp & uc["sign"]).astype(np.uint64) * sbit, bits)
    any_inf = p_inf | uc["inf"]
    inf_sign = np.where(p_inf, sp, uc["sign"]).astype(np.uint64)
    bits = np.where(any_inf, np.uint64(fmt.inf) | inf_sign * sbit, bits)
    p_nan = ua["nan"] | ub["nan"]
    invalid = (p_zero & p_inf) | (p_inf & ~p_nan & uc["inf"] & (sp != uc["sign"]))
    nan_out = ua["nan"] | ub["nan"] | uc["nan"] | invalid
    bits = np.where(nan_out, np.uint64(fmt.canonical_nan), bits)
    special = both_zero | any_inf | nan_out
    snan = ua["snan"] | ub["snan"] | uc["snan"]
    flags = np.where(special, 0, flags) | np.where(invalid | snan, _NV, 0)
    return _result(shape, bits, flags)


# ---------------------------------------------------------------------------------------------- compares

def _order_key(fmt: FPFormat, a: np.ndarray, zero_equal: bool) -> np.ndarray:
    """A signed integer that orders non-NaN values; -0 == +0 unless zero_equal is False (then -0 < +0)."""
    mag = (a & np.uint64(fmt.sign_bit - 1)).astype(np.int64)
    neg = (a & np.uint64(fmt.sign_bit)) != 0
    return np.where(neg, -mag - (0 if zero_equal else 1), mag)


def _compare(fmt: FPFormat, a: Any, b: Any, op: str) -> tuple[np.ndarray, np.ndarray]:
    shape, (a, b) = _prepare(fmt, a, b)
    ua, ub = _unpack(fmt, a), _unpack(fmt, b)
    ka, kb = _order_key(fmt, a, True), _order_key(fmt, b, True)
    res = {"lt": ka < kb, "le": ka <= kb, "eq": ka == kb}[op]
    any_nan = ua["nan"] | ub["nan"]
    res = res & ~any_nan
    nv = any_nan if op != "eq" else (ua["snan"] | ub["snan"])
    return _result(shape, res.astype(np.uint64), np.where(nv, _NV, 0))


def lt(fmt: FPFormat, a: Any, b: Any) -> tuple[np.ndarray, np.ndarray]:
    """a < b as 0/1; signalling: NV on any NaN operand (result 0). -0 == +0."""
    return _compare(fmt, a, b, "lt")


def le(fmt: FPFormat, a: Any, b: Any) -> tuple[np.ndarray, np.ndarray]:
    """a <= b as 0/1; signalling: NV on any NaN operand (result 0). -0 == +0."""
    return _compare(fmt, a, b, "le")


def eq(fmt: FPFormat, a: Any, b: Any) -> tuple[np.ndarray, np.ndarray]:
    """a == b as 0/1; quiet: NV only on a signalling NaN (result 0 for any NaN). -0 == +0."""
    return _compare(fmt, a, b, "eq")


def _minmax(fmt: FPFormat, a: Any, b: Any, want_max: bool) -> tuple[np.ndarray, np.ndarray]:
    shape, (a, b) = _prepare(fmt, a, b)
    ua, ub = _unpack(fmt, a), _unpack(fmt, b)
    ka, kb = _order_key(fmt, a, False), _order_key(fmt, b, False)
    pick_a = (ka >= kb) if want_max else (ka <= kb)
    res = np.where(pick_a, a, b)
    res = np.where(ua["nan"], b, np.where(ub["nan"], a, res))
    res = np.where(ua["nan"] & ub["nan"], np.uint64(fmt.canonical_nan), res)
    return _result(shape, res, np.where(ua["snan"] | ub["snan"], _NV, 0))


def fmin(fmt: FPFormat, a: Any, b: Any) -> tuple[np.ndarray, np.ndarray]:
    """minNum as RISC-V F (2.2) defines it: a NaN operand is ignored, two NaNs give the canonical NaN,
    -0 < +0, NV if either operand is a signalling NaN."""
    return _minmax(fmt, a, b, False)


def fmax(fmt: FPFormat, a: Any, b: Any) -> tuple[np.ndarray, np.ndarray]:
    """maxNum as RISC-V F defines it (see `fmin`)."""
    return _minmax(fmt, a, b, True)


# ---------------------------------------------------------------------------------------------- conversions

def from_int(fmt: FPFormat, x: Any, width: int, signed: bool) -> tuple[np.ndarray, np.ndarray]:
    """Integer -> fmt, RNE. x holds the two's complement bits of a `width`-bit integer (width 1..64)."""
    if not isinstance(width, int) or not 1 <= width <= 64:
        raise ValueError(f"width must be an int in 1..64, got {width!r}")
    if not isinstance(fmt, FPFormat):
        raise ValueError(f"fmt must be an FPFormat, got {fmt!r}")
    arr = np.asarray(x)
    if arr.dtype.kind == "i":  # negative numbers given as such: take their two's complement bits
        arr = arr.astype(np.int64).view(np.uint64)
    else:
        arr = np.asarray(arr, dtype=np.uint64)
    shape = arr.shape
    mask = np.uint64((1 << width) - 1)
    u = arr.reshape(-1) & mask
    if signed:
        neg = ((u >> np.uint64(width - 1)) & np.uint64(1)) == 1
        # two's complement magnitude within `width` bits (handles -2**(width-1))
        mag = np.where(neg, ((~u) + np.uint64(1)) & mask, u)
    else:
        neg = np.zeros(u.shape, dtype=bool)
        mag = u
    sign = neg.astype(np.int64)
    if _wide(fmt):
        sig = np.array([int(v) for v in mag], dtype=object)
        e = np.zeros(mag.shape, dtype=np.int64)
    else:
        # Compress to < 2**61 with a jammed sticky bit: >= 31 bits stay above it, enough for p <= 30.
        hi, lo = (mag >> np.uint64(32)).astype(np.int64), (mag & np.uint64(0xFFFFFFFF)).astype(np.int64)
        nbits = np.where(hi != 0, _bitlen(hi) + 32, _bitlen(lo))
        k = np.maximum(nbits - 61, 0).astype(np.uint64)
        kept = mag >> k
        sticky = (kept << k) != mag
        sig = (kept | sticky.astype(np.uint64)).astype(np.int64)
        e = k.astype(np.int64)
    bits, flags = _round_pack(fmt, sign, e, sig)
    return bits.reshape(shape), flags.reshape(shape)


_FP64 = FPFormat(11, 52, "fp64")


def to_float(fmt: FPFormat, bits: Any) -> np.ndarray:
    """Bits -> float64 values, exact for every valid FPFormat (exp_bits <= 11, man_bits <= 52). NaN -> np.nan."""
    shape, (a,) = _prepare(fmt, bits)
    u = _unpack(fmt, a)
    sig = u["sig"].astype(np.float64)
    val = np.ldexp(sig, u["e"].astype(np.int64))
    val = np.where(u["inf"], np.inf, val)
    val = np.where(u["nan"], np.nan, val)
    val = np.where(u["sign"] == 1, -val, val)
    val = np.where(u["zero"] & (u["sign"] == 1), -0.0, val)
    return val.reshape(shape)


def from_float(fmt: FPFormat, x: Any) -> np.ndarray:
    """float64 values -> bits of fmt, RNE (overflow -> inf; NaN -> canonical NaN). Flags are dropped."""
    arr = np.asarray(x, dtype=np.float64)
    shape = arr.shape
    raw = arr.reshape(-1).view(np.uint64)
    u = _unpack(_FP64, raw)
    sig = u["sig"].astype(np.int64) if u["sig"].dtype == object else u["sig"]
    if _wide(fmt):
        sig = sig.astype(object)
    bits, _ = _round_pack(fmt, u["sign"], u["e"], sig)
    sbit = np.uint64(fmt.sign_bit)
    bits = np.where(u["inf"], np.uint64(fmt.inf) | u["sign"].astype(np.uint64) * sbit, bits)
    bits = np.where(u["nan"], np.uint64(fmt.canonical_nan), bits)
    return bits.astype(np.uint64).reshape(shape)


def classify(fmt: FPFormat, bits: Any) -> np.ndarray:
    """`FPClass` value (int8) of each operand: zero, subnormal, normal, inf, quiet NaN, signalling NaN."""
    shape, (a,) = _prepare(fmt, bits)
    u = _unpack(fmt, a)
    bexp = (a >> np.uint64(fmt.man_bits)) & np.uint64(fmt.exp_max)
    cls = np.where(u["zero"], FPClass.ZERO, np.where(bexp == 0, FPClass.SUBNORMAL, FPClass.NORMAL))
    cls = np.where(u["inf"], FPClass.INF, cls)
    cls = np.where(u["nan"], np.where(u["snan"], FPClass.SNAN, FPClass.QNAN), cls)
    return cls.astype(np.int8).reshape(shape)


# ---------------------------------------------------------------------------------------------- stimulus

OPERAND_KINDS = ("uniform", "special", "cancel", "expdiff", "subnormal", "overflow", "tie", "mixed")


def _compose(fmt: FPFormat, sign: np.ndarray, bexp: np.ndarray, frac: np.ndarray) -> np.ndarray:
    return ((sign.astype(np.uint64) << np.uint64(fmt.width - 1))
            | (bexp.astype(np.uint64) << np.uint64(fmt.man_bits)) | frac.astype(np.uint64))


def _rand_frac(fmt: FPFormat, n: int, rng: np.random.Generator) -> np.ndarray:
    """Random fractions, half of them with long runs of ones/zeros at the bottom (carry/tie corners)."""
    m = fmt.man_bits
    frac = rng.integers(0, 1 << m, n, dtype=np.uint64)
    run = rng.integers(0, m + 1, n).astype(np.uint64)
    low = (np.uint64(1) << run) - np.uint64(1)
    style = rng.integers(0, 4, n)
    frac = np.where(style == 1, frac | low, np.where(style == 2, frac & ~low, frac))
    return frac & np.uint64((1 << m) - 1)


def _special_values(fmt: FPFormat) -> np.ndarray:
    m = fmt.man_bits
    mx = (1 << m) - 1
    vals = [0, 1, 2, 3, mx, mx - 1, 1 << m, (1 << m) + 1, fmt.bias << m, (fmt.bias << m) + 1,
            ((fmt.bias - 1) << m) | mx, (fmt.exp_max - 1) << m, ((fmt.exp_max - 1) << m) | mx,
            ((fmt.exp_max - 1) << m) | (mx - 1), fmt.inf, fmt.canonical_nan, fmt.inf | 1,
            fmt.inf | mx, 1 << (m - 1)]
    vals = sorted(set(v for v in vals if 0 <= v < fmt.sign_bit))
    return np.array(vals + [v | fmt.sign_bit for v in vals], dtype=np.uint64)


def random_operands(fmt: FPFormat, n: int, rng: np.random.Generator, kind: str = "mixed",
                    arity: int = 2) -> tuple[np.ndarray, ...]:
    """`arity` uint64 arrays of n operands each, biased by `kind` (see OPERAND_KINDS):

    uniform: random bit patterns; special: zeros, ones, min/max subnormal and normal, inf, NaNs, sNaNs;
    cancel: b (and for arity 3, c) close to -a (resp. -a*b): same or adjacent exponent, opposite sign;
    expdiff: exponent difference 0 or 1; subnormal: subnormals and the smallest normals (results that
    underflow); overflow: exponents near the top; tie: a second operand whose bits land on the first's
    rounding position; mixed: an even mix of all of the above."""
    if kind not in OPERAND_KINDS:
        raise ValueError(f"kind must be one of {OPERAND_KINDS}, got {kind!r}")
    if not isinstance(arity, int) or not 1 <= arity <= 3:
        raise ValueError(f"arity must be an int in 1..3, got {arity!r}")
    if not isinstance(n, int) or n < 0:
        raise ValueError(f"n must be an int >= 0, got {n!r}")
    if kind == "mixed":
        kinds = [k for k in OPERAND_KINDS if k != "mixed"]
        pick = rng.integers(0, len(kinds), n)
        outs = [np.zeros(n, dtype=np.uint64) for _ in range(arity)]
        for i, k in enumerate(kinds):
            sel = np.flatnonzero(pick == i)
            part = random_operands(fmt, len(sel), rng, k, arity)
            for o, p_ in zip(outs, part):
                o[sel] = p_
        return tuple(outs)
    m, emax = fmt.man_bits, fmt.exp_max
    mask = np.uint64((1 << fmt.width) - 1)
    sgn = lambda: rng.integers(0, 2, n)  # noqa: E731
    if kind == "uniform":
        return tuple(rng.integers(0, 1 << fmt.width, n, dtype=np.uint64) & mask for _ in range(arity))
    if kind == "special":
        sv = _special_values(fmt)
        outs = [sv[rng.integers(0, len(sv), n)] for _ in range(arity)]
        # mix in random finite values so specials meet ordinary operands too
        for o in outs[1:]:
            r = rng.random(n) < 0.3
            o[r] = rng.integers(0, fmt.inf, int(r.sum()), dtype=np.uint64)
        return tuple(outs)
    if kind == "subnormal":
        def one() -> np.ndarray:
            be = rng.integers(0, 3, n) * (rng.random(n) < 0.6)
            be = np.where(rng.random(n) < 0.2, rng.integers(0, emax, n), be)
            return _compose(fmt, sgn(), be, _rand_frac(fmt, n, rng))
        outs = [one() for _ in range(arity)]
        if arity >= 2:
            # products that land near the subnormal range: exponents summing to about emin
            be_a = rng.integers(1, emax, n)
            be_b = np.clip(fmt.bias - (be_a - fmt.bias) + rng.integers(-fmt.man_bits - 3, 3, n), 0, emax - 1)
            sel = rng.random(n) < 0.5
            outs[0] = np.where(sel, _compose(fmt, sgn(), be_a, _rand_frac(fmt, n, rng)), outs[0])
            outs[1] = np.where(sel, _compose(fmt, sgn(), be_b, _rand_frac(fmt, n, rng)), outs[1])
        return tuple(outs)
    if kind == "overflow":
        def big() -> np.ndarray:
            return _compose(fmt, sgn(), emax - 1 - rng.integers(0, 3, n), _rand_frac(fmt, n, rng))
        outs = [big() for _ in range(arity)]
        if arity >= 2:
            # products near the top: exponents summing to about emax
            be_a = rng.integers(fmt.bias, emax, n)
            be_b = np.clip(fmt.bias + (emax - 1 - be_a) + rng.integers(-1, 2, n), 1, emax - 1)
            sel = rng.random(n) < 0.5
            outs[0] = np.where(sel, _compose(fmt, sgn(), be_a, _rand_frac(fmt, n, rng)), outs[0])
            outs[1] = np.where(sel, _compose(fmt, sgn(), be_b, _rand_frac(fmt, n, rng)), outs[1])
        return tuple(outs)
    be_a = rng.integers(0, emax, n)
    a = _compose(fmt, sgn(), be_a, _rand_frac(fmt, n, rng))
    if kind == "expdiff":
        be_b = np.clip(be_a + rng.integers(-1, 2, n), 0, emax - 1)
        outs = [a, _compose(fmt, sgn(), be_b, _rand_frac(fmt, n, rng))]
        if arity == 3:
            # c with an exponent near that of a*b
            be_c = np.clip(be_a + be_b - fmt.bias + rng.integers(-2, 3, n), 0, emax - 1)
            outs.append(_compose(fmt, sgn(), be_c, _rand_frac(fmt, n, rng)))
        return tuple(outs[:arity])
    if kind == "cancel":
        delta = rng.integers(-4, 5, n).astype(np.int64)
        near = (a.astype(np.int64) + delta) & ((1 << (fmt.width - 1)) - 1)
        near = np.minimum(near, fmt.inf - 1).astype(np.uint64)
        b = near | ((a & np.uint64(fmt.sign_bit)) ^ np.uint64(fmt.sign_bit))
        if arity < 3:
            return (a, b)[:arity]
        b = _compose(fmt, sgn(), np.clip(fmt.bias + rng.integers(-3, 4, n), 1, emax - 1), _rand_frac(fmt, n, rng))
        prod, _ = mul(fmt, a, b)
        d = rng.integers(-3, 4, n).astype(np.int64)
        cm = np.clip((prod & np.uint64(fmt.sign_bit - 1)).astype(np.int64) + d, 0, fmt.inf - 1).astype(np.uint64)
        c = cm | ((prod & np.uint64(fmt.sign_bit)) ^ np.uint64(fmt.sign_bit))
        return a, b, c
    # tie: the second operand sits p or p+1 binades below, so its leading bits hit the round bit
    shift = rng.integers(fmt.precision - 1, fmt.precision + 2, n)
    be_b = np.clip(be_a - shift, 0, emax - 1)
    frac_b = np.where(rng.random(n) < 0.5, np.uint64(0), _rand_frac(fmt, n, rng))
    b = _compose(fmt, sgn(), be_b, frac_b)
    outs = [a, b]
    if arity == 3:
        # fma: small a*b (powers of two times short fractions) against c
        low = np.uint64((1 << m) - 1) ^ np.uint64((1 << max(m - 3, 0)) - 1)
        be_a2 = np.clip(fmt.bias + rng.integers(-4, 5, n), 1, emax - 1)
        be_b2 = np.clip(be_a - shift + rng.integers(-1, 2, n), 0, emax - 1)
        a2 = _compose(fmt, sgn(), be_a2, _rand_frac(fmt, n, rng) & low)
        b2 = _compose(fmt, sgn(), be_b2, _rand_frac(fmt, n, rng) & low)
        outs = [a2, b2, a]
    return tuple(outs[:arity])
