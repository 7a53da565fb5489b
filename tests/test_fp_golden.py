"""The floating-point golden model (spikemesh.sim.fp) against Berkeley SoftFloat (softfloatpy), results AND flags.

References: FP16/FP32 use SoftFloat's own f16_*/f32_*/i64_to_*/ui64_to_* (RNE, tininess after rounding set
explicitly). BF16 has no SoftFloat arithmetic: operands are widened exactly to binary128, the operation
is done there and then carried to binary32 with round-to-odd (round toward zero + the inexact flag
jammed into the LSB), then SoftFloat's f32_to_bf16 rounds RNE. Round-to-odd at >= p+2 bits followed by RNE
at p bits equals one RNE (Boldo & Melquiond 2008), and round-to-odd composes (f128 -> f32), so this is a
correctly rounded BF16 reference for add/sub/mul/fma/int conversion; UF/OF are taken from the final
rounding only (the f32 step sees tininess at 24 bits), NX from any step. min/max use a small
independent Python reference. NaN results are compared for NaN-ness only (SoftFloat propagates payloads;
the model always returns the canonical NaN, which is checked).

SPIKEMESH_FP_N sets the random operand sets per operation per format (default 10**6).
"""
from __future__ import annotations

import math
import os
import zlib
from fractions import Fraction

import numpy as np
import pytest

from spikemesh.rtl.formats import BF16, FP16, FP32, FPFormat, Flag
from spikemesh.sim import fp

sf = pytest.importorskip("softfloatpy")

N_RANDOM = int(os.environ.get("SPIKEMESH_FP_N", 1_000_000))
CHUNK = 125_000
FORMATS = {"fp16": FP16, "bf16": BF16, "fp32": FP32}
NX, UF, OF, NV = int(Flag.NX), int(Flag.UF), int(Flag.OF), int(Flag.NV)
RNE, RTZ = sf.RoundingMode.NEAR_EVEN, sf.RoundingMode.MIN_MAG


@pytest.fixture(autouse=True)
def _softfloat_mode():
    sf.set_rounding_mode(RNE)
    sf.set_tininess_mode(sf.TininessMode.AFTER_ROUNDING)
    sf.set_exception_flags(0)
    yield


# ---------------------------------------------------------------------------------------------- SoftFloat

def _objs(cls, nbytes: int, arr: np.ndarray) -> list:
    buf = arr.astype(f">u{nbytes}").tobytes()
    return [cls.from_bytes(buf[i:i + nbytes]) for i in range(0, len(buf), nbytes)]


def _run(fn, *cols) -> tuple[list, np.ndarray]:
    """Call fn elementwise, collecting results and the flags each call raised."""
    sef, gef = sf.set_exception_flags, sf.get_exception_flags
    res, flags = [], []
    rapp, fapp = res.append, flags.append
    for xs in zip(*cols):
        sef(0)
        rapp(fn(*xs))
        fapp(gef())
    return res, np.array(flags, dtype=np.uint8)


def _to_bits(res: list, nbytes: int) -> np.ndarray:
    return np.frombuffer(b"".join(r.to_bytes() for r in res), dtype=f">u{nbytes}").astype(np.uint64)


def _jam(res: list, flags: np.ndarray, cls) -> list:
    """Round-to-odd: set the LSB of every inexact (round-toward-zero) result."""
    out = []
    for r, f in zip(res, flags):
        if f & NX:
            b = bytearray(r.to_bytes())
            b[-1] |= 1
            r = cls.from_bytes(bytes(b))
        out.append(r)
    return out


_NATIVE = {"fp16": (sf.Float16, 2, "f16"), "fp32": (sf.Float32, 4, "f32")}
_SF_OP = {"add": "add", "sub": "sub", "mul": "mul", "fma": "mul_add", "lt": "lt", "le": "le", "eq": "eq"}


def _bf16_as_f32(arr: np.ndarray) -> list:
    return _objs(sf.Float32, 4, arr << np.uint64(16))  # exact widening, sNaN stays sNaN


def _bf16_round(res128: list, flags: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """binary128 values (already round-to-odd) -> bf16 bits: RTZ+jam to f32, then RNE to bf16."""
    sf.set_rounding_mode(RTZ)
    r32, f2 = _run(sf.f128_to_f32, res128)
    r32 = _jam(r32, f2, sf.Float32)
    sf.set_rounding_mode(RNE)
    r16, f3 = _run(sf.f32_to_bf16, r32)
    bits = _to_bits(r16, 2)
    nx = (flags | f2 | f3) & NX
    return bits, (nx | (f3 & (UF | OF)) | ((flags | f3) & NV)).astype(np.uint8)


def ref_op(name: str, op: str, *arrs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """SoftFloat reference for op on format `name`: (bits or 0/1, flags)."""
    if name in _NATIVE:
        cls, nb, pre = _NATIVE[name]
        res, flags = _run(getattr(sf, f"{pre}_{_SF_OP[op]}"), *[_objs(cls, nb, a) for a in arrs])
        if op in ("lt", "le", "eq"):
            return np.array(res, dtype=np.uint64), flags
        return _to_bits(res, nb), flags
    assert name == "bf16"
    cols32 = [_bf16_as_f32(a) for a in arrs]
    if op in ("lt", "le", "eq"):
        res, flags = _run(getattr(sf, f"f32_{op}"), *cols32)
        return np.array(res, dtype=np.uint64), flags
    cols128, f0 = [], np.zeros(len(arrs[0]), dtype=np.uint8)
    for col in cols32:
        c, f = _run(sf.f32_to_f128, col)  # exact; NV on a signalling NaN
        cols128.append(c)
        f0 |= f
    sf.set_rounding_mode(RTZ)
    res, f1 = _run(getattr(sf, f"f128_{_SF_OP[op]}"), *cols128)
    res = _jam(res, f1, sf.Float128)
    sf.set_rounding_mode(RNE)
    return _bf16_round(res, f0 | f1)


def ref_from_int(name: str, x: np.ndarray, width: int, signed: bool) -> tuple[np.ndarray, np.ndarray]:
    vals = [int(v) for v in x]
    if signed:
        vals = [v - (1 << width) if v >> (width - 1) else v for v in vals]
        ints = [sf.Int64.from_int(v) for v in vals]
    else:
        ints = [sf.UInt64.from_int(v) for v in vals]
    kind = "i64" if signed else "ui64"
    if name in _NATIVE:
        cls, nb, pre = _NATIVE[name]
        res, flags = _run(getattr(sf, f"{kind}_to_{pre}"), ints)
        return _to_bits(res, nb), flags
    res, f1 = _run(getattr(sf, f"{kind}_to_f128"), ints)  # exact: 64 <= 113 bits
    return _bf16_round(res, f1)


def assert_same(fmt: FPFormat, got: tuple[np.ndarray, np.ndarray], ref: tuple[np.ndarray, np.ndarray],
                operands: tuple[np.ndarray, ...], what: str, value_is_bits: bool = True) -> None:
    bits, flags = got
    rbits, rflags = ref
    if value_is_bits:
        ref_nan = fp.classify(fmt, rbits) >= fp.FPClass.QNAN
        bad_val = np.where(ref_nan, bits != fmt.canonical_nan, bits != rbits)
    else:
        bad_val = bits != rbits
    bad = bad_val | (flags != rflags)
    if bad.any():
        idx = np.flatnonzero(bad)[:8]
        rows = [f"  {tuple(hex(int(o[i])) for o in operands)} -> model {hex(int(bits[i]))}/{int(flags[i])}"
                f" ref {hex(int(rbits[i]))}/{int(rflags[i])}" for i in idx]
        pytest.fail(f"{what}: {int(bad.sum())} of {bits.size} differ\n" + "\n".join(rows))


# ---------------------------------------------------------------------------------------------- random vs SoftFloat

ARITY = {"add": 2, "sub": 2, "mul": 2, "fma": 3, "lt": 2, "le": 2, "eq": 2}


@pytest.mark.parametrize("op", list(ARITY))
@pytest.mark.parametrize("name", list(FORMATS))
def test_random_vs_softfloat(name: str, op: str) -> None:
    fmt = FORMATS[name]
    rng = np.random.default_rng(zlib.crc32(f"{name} {op}".encode()))
    model = getattr(fp, op)
    done = 0
    seen = {"NX": 0, "UF": 0, "OF": 0, "NV": 0, "zero": 0, "subnormal": 0, "true": 0, "false": 0}
    while done < N_RANDOM:
        n = min(CHUNK, N_RANDOM - done)
        ops = fp.random_operands(fmt, n, rng, "mixed", ARITY[op])
        ref = ref_op(name, op, *ops)
        assert_same(fmt, model(fmt, *ops), ref, ops, f"{name} {op}", value_is_bits=op not in ("lt", "le", "eq"))
        done += n
        for flag, bit in (("NX", NX), ("UF", UF), ("OF", OF), ("NV", NV)):
            seen[flag] += int(np.count_nonzero(ref[1] & bit))
        if op in ("lt", "le", "eq"):
            seen["true"] += int(np.count_nonzero(ref[0]))
            seen["false"] += int(np.count_nonzero(ref[0] == 0))
        else:
            cls = fp.classify(fmt, ref[0])
            seen["zero"] += int(np.count_nonzero(cls == fp.FPClass.ZERO))
            seen["subnormal"] += int(np.count_nonzero(cls == fp.FPClass.SUBNORMAL))
    # The biased stimulus must reach every outcome the operation can produce (adds never underflow:
    # a sum of two values on the subnormal grid is exact; compares only raise NV).
    need = {"lt": ["NV", "true", "false"], "le": ["NV", "true", "false"], "eq": ["NV", "true", "false"],
            "add": ["NX", "OF", "NV", "zero", "subnormal"], "sub": ["NX", "OF", "NV", "zero", "subnormal"],
            "mul": ["NX", "UF", "OF", "NV", "zero", "subnormal"], "fma": ["NX", "UF", "OF", "NV", "zero", "subnormal"]}
    assert all(seen[k] >= N_RANDOM // 1000 for k in need[op]), seen


@pytest.mark.parametrize("signed", [False, True])
@pytest.mark.parametrize("name", list(FORMATS))
def test_from_int_random_vs_softfloat(name: str, signed: bool) -> None:
    fmt = FORMATS[name]
    rng = np.random.default_rng(7 + signed)
    n = max(N_RANDOM // 8, 1000)
    for width in (8, 24, 32, 64):
        x = rng.integers(0, 1 << 64, n, dtype=np.uint64)
        # bias: short ints, runs of ones (rounding carry), exact ties at the rounding position
        nb = rng.integers(1, width + 1, n).astype(np.uint64)
        short = x >> (np.uint64(64) - nb)
        ones = (np.uint64(1) << nb) - np.uint64(1)  # nb = 64 wraps to 0 - 1 = all ones
        tie_pos = np.maximum(nb.astype(np.int64) - 1 - fmt.precision, 0).astype(np.uint64)
        one, msb = np.uint64(1), np.uint64(1) << (nb - np.uint64(1))
        middle = short & (msb - one) & ~((np.uint64(2) << tie_pos) - one)  # random bits above the round bit
        tie = msb | middle | (one << tie_pos)  # round bit set, nothing below: an exact tie
        pick = rng.integers(0, 4, n)
        x = np.select([pick == 0, pick == 1, pick == 2], [short, ones, tie], x)
        if width < 64:
            x &= np.uint64((1 << width) - 1)
        assert_same(fmt, fp.from_int(fmt, x, width, signed), ref_from_int(name, x, width, signed), (x,),
                    f"{name} from_int{width} signed={signed}")


@pytest.mark.parametrize("name", ["fp16", "bf16"])
def test_from_int_exhaustive_16bit(name: str) -> None:
    fmt = FORMATS[name]
    x = np.arange(1 << 16, dtype=np.uint64)
    for signed in (False, True):
        assert_same(fmt, fp.from_int(fmt, x, 16, signed), ref_from_int(name, x, 16, signed), (x,),
                    f"{name} from_int16 signed={signed}")


# ---------------------------------------------------------------------------------------------- exhaustive FP16

FIXED_FP16 = [0x0000, 0x8000, 0x0001, 0x8001, 0x03FF, 0x0400, 0x3C00, 0xBC00, 0x3C01, 0x7BFF, 0xFBFF,
              0x7C00, 0xFC00, 0x7E00, 0x7D00, 0xFD55, 0x5140]


@pytest.mark.parametrize("op", ["lt", "le", "eq"])
def test_fp16_compare_exhaustive(op: str) -> None:
    allv = np.arange(1 << 16, dtype=np.uint64)
    for v in FIXED_FP16:
        fixed = np.full(allv.shape, v, dtype=np.uint64)
        for a, b in ((fixed, allv), (allv, fixed)):
            assert_same(FP16, getattr(fp, op)(FP16, a, b), ref_op("fp16", op, a, b), (a, b), f"fp16 {op}",
                        value_is_bits=False)


def _np_value(fmt: FPFormat, a: np.ndarray) -> np.ndarray:
    """float64 values through numpy's own float16/float32 decoding (independent of the model)."""
    with np.errstate(invalid="ignore"):  # widening a signalling NaN quiets it: still a NaN
        if fmt == FP16:
            return a.astype(np.uint16).view(np.float16).astype(np.float64)
        if fmt == BF16:
            return (a << np.uint64(16)).astype(np.uint32).view(np.float32).astype(np.float64)
        assert fmt == FP32
        return a.astype(np.uint32).view(np.float32).astype(np.float64)


def ref_minmax(fmt: FPFormat, a: np.ndarray, b: np.ndarray, want_max: bool) -> tuple[np.ndarray, np.ndarray]:
    """Independent RISC-V fmin/fmax reference on float64 values (zeros told apart by np.signbit)."""
    fa, fb = _np_value(fmt, a), _np_value(fmt, b)
    nan_a, nan_b = np.isnan(fa), np.isnan(fb)
    quiet = np.uint64(1 << (fmt.man_bits - 1))
    snan = (nan_a & ((a & quiet) == 0)) | (nan_b & ((b & quiet) == 0))
    flags = np.where(snan, NV, 0).astype(np.uint8)
    with np.errstate(invalid="ignore"):
        a_wins = (fa > fb) if want_max else (fa < fb)
        tie = fa == fb  # only +0/-0 are equal yet distinct: max prefers +0, min prefers -0
    a_wins = np.where(tie, np.signbit(fa) != want_max, a_wins)
    res = np.where(a_wins, a, b)
    res = np.where(nan_a, b, np.where(nan_b, a, res))
    res = np.where(nan_a & nan_b, np.uint64(fmt.canonical_nan), res)
    return res.astype(np.uint64), flags


@pytest.mark.parametrize("op", ["fmin", "fmax"])
def test_fp16_minmax_exhaustive(op: str) -> None:
    allv = np.arange(1 << 16, dtype=np.uint64)
    want_max = op == "fmax"
    for v in FIXED_FP16:
        for a, b in ((np.full(allv.shape, v, dtype=np.uint64), allv), (allv, np.full(allv.shape, v, dtype=np.uint64))):
            assert_same(FP16, getattr(fp, op)(FP16, a, b), ref_minmax(FP16, a, b, want_max), (a, b), f"fp16 {op}")


@pytest.mark.parametrize("op", ["fmin", "fmax"])
@pytest.mark.parametrize("name", list(FORMATS))
def test_minmax_random(name: str, op: str) -> None:
    fmt = FORMATS[name]
    rng = np.random.default_rng(11)
    a, b = fp.random_operands(fmt, N_RANDOM, rng, "mixed", 2)
    assert_same(fmt, getattr(fp, op)(fmt, a, b), ref_minmax(fmt, a, b, op == "fmax"), (a, b), f"{name} {op}")


# ---------------------------------------------------------------------------------------------- hand-written corners

Q16, S16 = 0x7E00, 0x7D00  # fp16 quiet / signalling NaN
CORNERS = [
    # (format, op, operands, expected bits, expected flags)
    # add / sub: signed zeros, exact cancellation (exponent difference 0 and 1), subnormal boundary
    (FP16, "add", (0x0000, 0x8000), 0x0000, 0),
    (FP16, "add", (0x8000, 0x8000), 0x8000, 0),
    (FP16, "sub", (0x8000, 0x0000), 0x8000, 0),
    (FP16, "sub", (0x0000, 0x0000), 0x0000, 0),
    (FP16, "add", (0x3C00, 0xBC00), 0x0000, 0),
    (FP16, "sub", (0xBC00, 0xBC00), 0x0000, 0),
    (FP16, "sub", (0x3C00, 0x3BFF), 0x1000, 0),
    (FP16, "add", (0x0001, 0x0001), 0x0002, 0),
    (FP16, "add", (0x03FF, 0x0001), 0x0400, 0),
    (FP16, "sub", (0x0400, 0x0001), 0x03FF, 0),
    (FP16, "add", (0x8001, 0x0001), 0x0000, 0),
    # ties to even, largest finite, overflow
    (FP16, "add", (0x3C00, 0x1000), 0x3C00, NX),
    (FP16, "add", (0x3C01, 0x1000), 0x3C02, NX),
    (FP16, "add", (0x7BFF, 0x4BFF), 0x7BFF, NX),
    (FP16, "add", (0x7BFF, 0x4C00), 0x7C00, OF | NX),
    (FP16, "add", (0x7BFF, 0x7BFF), 0x7C00, OF | NX),
    (FP16, "sub", (0xFBFF, 0x7BFF), 0xFC00, OF | NX),
    (FP16, "add", (0x3C00, 0x0001), 0x3C00, NX),
    # inf / NaN
    (FP16, "add", (0x7C00, 0xFC00), Q16, NV),
    (FP16, "sub", (0x7C00, 0x7C00), Q16, NV),
    (FP16, "add", (0x7C00, 0x7C00), 0x7C00, 0),
    (FP16, "add", (0xFC00, 0x3C00), 0xFC00, 0),
    (FP16, "add", (0xFE01, 0x3C00), Q16, 0),
    (FP16, "add", (S16, 0x3C00), Q16, NV),
    (FP16, "add", (Q16, 0x7C00), Q16, 0),
    # mul: zeros, 0*inf, underflow (tiny after rounding), ties, overflow
    (FP16, "mul", (0x8000, 0x3C00), 0x8000, 0),
    (FP16, "mul", (0x8000, 0x8000), 0x0000, 0),
    (FP16, "mul", (0x0000, 0x7C00), Q16, NV),
    (FP16, "mul", (0x7C00, 0xBC00), 0xFC00, 0),
    (FP16, "mul", (0x0001, 0x3800), 0x0000, UF | NX),  # 2**-25: tie to even 0
    (FP16, "mul", (0x0003, 0x3800), 0x0002, UF | NX),  # 1.5 ulp: tie to even 2
    (FP16, "mul", (0x0001, 0x3C01), 0x0001, UF | NX),
    (FP16, "mul", (0x0002, 0x3800), 0x0001, 0),  # exact subnormal: no UF
    (FP16, "mul", (0x3BFF, 0x0400), 0x0400, UF | NX),  # exact value is 11 bits below 2**-14: tiny
    (FP16, "mul", (0x3C01, 0x03FF), 0x0400, NX),  # 2**-14 (1 - 2**-20): not tiny AFTER rounding
    (FP16, "mul", (0x3C01, 0x3E00), 0x3E02, NX),  # tie, round up to even
    (FP16, "mul", (0x3C01, 0x3C01), 0x3C02, NX),
    (FP16, "mul", (0x7BFF, 0x4000), 0x7C00, OF | NX),
    (FP16, "mul", (0x7BFF, 0x3C00), 0x7BFF, 0),
    (FP16, "mul", (S16, 0x0000), Q16, NV),
    # fma: one rounding, zero signs, NV rules
    (FP16, "fma", (0x3E00, 0x3C01, 0xBE00), 0x1600, 0),  # unfused would give 0x1800
    (FP16, "fma", (0x3C00, 0x3C00, 0xBC00), 0x0000, 0),
    (FP16, "fma", (0x8000, 0x3C00, 0x8000), 0x8000, 0),
    (FP16, "fma", (0x8000, 0x3C00, 0x0000), 0x0000, 0),
    (FP16, "fma", (0x0000, 0x7C00, Q16), Q16, NV),
    (FP16, "fma", (0x7C00, 0x0000, 0x3C00), Q16, NV),
    (FP16, "fma", (0x7C00, 0x3C00, 0xFC00), Q16, NV),
    (FP16, "fma", (0x7C00, 0x3C00, 0x7C00), 0x7C00, 0),
    (FP16, "fma", (0x3C00, 0x3C00, S16), Q16, NV),
    (FP16, "fma", (0x7C00, Q16, 0xFC00), Q16, 0),
    (FP16, "fma", (0x7BFF, 0x4000, 0xFBFF), 0x7BFF, 0),  # intermediate beyond range, result exact
    (FP16, "fma", (0x0001, 0x0001, 0x0000), 0x0000, UF | NX),
    (FP16, "fma", (0x0001, 0x0001, 0x8000), 0x0000, UF | NX),
    (FP16, "fma", (0x8001, 0x0001, 0x0000), 0x8000, UF | NX),
    (FP16, "fma", (0x3C00, 0x0001, 0x3C00), 0x3C00, NX),
    # compares (result 0/1): -0 == +0, signalling vs quiet NaN rules
    (FP16, "lt", (0x8000, 0x0000), 0, 0),
    (FP16, "le", (0x8000, 0x0000), 1, 0),
    (FP16, "eq", (0x8000, 0x0000), 1, 0),
    (FP16, "lt", (0xFC00, 0x7BFF), 1, 0),
    (FP16, "lt", (0x7C00, 0x7C00), 0, 0),
    (FP16, "le", (0xFC00, 0xFC00), 1, 0),
    (FP16, "lt", (0x8001, 0x0001), 1, 0),
    (FP16, "lt", (0xBC01, 0xBC00), 1, 0),
    (FP16, "lt", (Q16, 0x3C00), 0, NV),
    (FP16, "le", (0x3C00, Q16), 0, NV),
    (FP16, "eq", (Q16, Q16), 0, 0),
    (FP16, "eq", (S16, 0x3C00), 0, NV),
    # min / max
    (FP16, "fmin", (0x0000, 0x8000), 0x8000, 0),
    (FP16, "fmax", (0x8000, 0x0000), 0x0000, 0),
    (FP16, "fmin", (Q16, 0x3C00), 0x3C00, 0),
    (FP16, "fmax", (0xBC00, Q16), 0xBC00, 0),
    (FP16, "fmin", (S16, 0x3C00), 0x3C00, NV),
    (FP16, "fmin", (Q16, 0xFE00), Q16, 0),
    (FP16, "fmax", (S16, 0xFE00), Q16, NV),
    (FP16, "fmax", (0xFC00, 0x0001), 0x0001, 0),
    # bf16 and fp32: ties, overflow, underflow
    (BF16, "add", (0x3F80, 0x3B80), 0x3F80, NX),
    (BF16, "add", (0x3F81, 0x3B80), 0x3F82, NX),
    (BF16, "add", (0x7F7F, 0x7F7F), 0x7F80, OF | NX),
    (BF16, "mul", (0x0001, 0x3F00), 0x0000, UF | NX),
    (BF16, "mul", (0x0080, 0x3F00), 0x0040, 0),
    (BF16, "fma", (0x3F80, 0x3F80, 0xBF80), 0x0000, 0),
    (FP32, "add", (0x3F800000, 0x33800000), 0x3F800000, NX),
    (FP32, "add", (0x3F800001, 0x33800000), 0x3F800002, NX),
    (FP32, "sub", (0x3F800000, 0x3F7FFFFF), 0x33800000, 0),
    (FP32, "mul", (0x7F7FFFFF, 0x40000000), 0x7F800000, OF | NX),
    (FP32, "mul", (0x00000001, 0x3F000000), 0x00000000, UF | NX),
    (FP32, "fma", (0x3F800000, 0x3F800000, 0x00000001), 0x3F800000, NX),
    (FP32, "fma", (0x7F7FFFFF, 0x40000000, 0xFF7FFFFF), 0x7F7FFFFF, 0),
    (FP32, "fma", (0x3F800001, 0x3F800001, 0xBF800002), 0x28800000, 0),  # (1+u)^2-(1+2u) = u^2 exactly
]


@pytest.mark.parametrize("fmt,op,operands,bits,flags", CORNERS,
                         ids=[f"{c[0].name}-{c[1]}-{'-'.join(hex(o) for o in c[2])}" for c in CORNERS])
def test_corner(fmt: FPFormat, op: str, operands: tuple[int, ...], bits: int, flags: int) -> None:
    got_bits, got_flags = getattr(fp, op)(fmt, *operands)
    assert (hex(int(got_bits)), int(got_flags)) == (hex(bits), flags)


FROM_INT_CORNERS = [
    # (format, value bits, width, signed, expected bits, flags)
    (FP16, 65519, 32, False, 0x7BFF, NX),
    (FP16, 65520, 32, False, 0x7C00, OF | NX),
    (FP16, 2049, 16, False, 0x6800, NX),  # tie -> even
    (FP16, 2051, 16, False, 0x6802, NX),  # tie -> even (up)
    (FP16, 0xFFFF, 16, True, 0xBC00, 0),
    (FP16, 0x8000, 16, True, 0xF800, 0),
    (FP16, 0, 16, True, 0x0000, 0),
    (FP16, 1, 1, False, 0x3C00, 0),
    (FP16, 1, 1, True, 0xBC00, 0),
    (FP32, (1 << 64) - 1, 64, False, 0x5F800000, NX),
    (FP32, 1 << 63, 64, True, 0xDF000000, 0),
    (FP32, (1 << 24) + 1, 32, False, 0x4B800000, NX),
    (FP32, (1 << 24) + 3, 32, False, 0x4B800002, NX),
    (BF16, 257, 16, False, 0x4380, NX),
    (BF16, 0x7F, 8, True, 0x42FE, 0),
    (BF16, 0x80, 8, True, 0xC300, 0),
]


@pytest.mark.parametrize("fmt,x,width,signed,bits,flags", FROM_INT_CORNERS,
                         ids=[f"{c[0].name}-{c[1]:#x}-w{c[2]}-{'s' if c[3] else 'u'}" for c in FROM_INT_CORNERS])
def test_from_int_corner(fmt: FPFormat, x: int, width: int, signed: bool, bits: int, flags: int) -> None:
    got_bits, got_flags = fp.from_int(fmt, x, width, signed)
    assert (hex(int(got_bits)), int(got_flags)) == (hex(bits), flags)


def test_bad_parameters() -> None:
    with pytest.raises(ValueError, match="width"):
        fp.from_int(FP16, 1, 65, False)
    with pytest.raises(ValueError, match="kind"):
        fp.random_operands(FP16, 4, np.random.default_rng(0), "nope")
    with pytest.raises(ValueError, match="fmt"):
        fp.add("fp16", 1, 2)
    with pytest.raises(ValueError, match="raw bit patterns"):
        fp.mul(FP16, [1, -2], 3)
    with pytest.raises(ValueError, match="arity"):
        fp.random_operands(FP16, 4, np.random.default_rng(0), "uniform", 4)


def test_helpers_round_trip() -> None:
    allv = np.arange(1 << 16, dtype=np.uint64)
    vals = fp.to_float(FP16, allv)
    ref = allv.astype(np.uint16).view(np.float16).astype(np.float64)
    assert np.array_equal(np.isnan(vals), np.isnan(ref))
    finite = ~np.isnan(ref)
    assert np.array_equal(vals[finite], ref[finite]) and np.array_equal(np.signbit(vals), np.signbit(ref))
    back = fp.from_float(FP16, vals)
    assert np.array_equal(back[finite], allv[finite]) and np.all(back[~finite] == FP16.canonical_nan)
    # from_float rounds like numpy's float64 -> float16 cast (RNE, overflow to inf)
    x = np.random.default_rng(3).standard_normal(100_000) * np.exp2(np.random.default_rng(4).integers(-30, 20, 100_000))
    x32 = x * 1e30
    with np.errstate(over="ignore"):
        assert np.array_equal(fp.from_float(FP16, x), x.astype(np.float16).view(np.uint16).astype(np.uint64))
        assert np.array_equal(fp.from_float(FP32, x32), x32.astype(np.float32).view(np.uint32).astype(np.uint64))
    cls = fp.classify(FP16, np.array([0x8000, 0x0001, 0x3C00, 0xFC00, Q16, S16], dtype=np.uint64))
    assert list(cls) == [fp.FPClass.ZERO, fp.FPClass.SUBNORMAL, fp.FPClass.NORMAL, fp.FPClass.INF,
                         fp.FPClass.QNAN, fp.FPClass.SNAN]


# ---------------------------------------------------------------------------------------------- numpy cross-check

@pytest.mark.parametrize("name,np_t,u_t", [("fp16", np.float16, np.uint16), ("fp32", np.float32, np.uint32)])
def test_add_mul_match_numpy(name: str, np_t, u_t) -> None:
    """numpy's float16/float32 element-wise add and mul are correctly rounded: values must agree."""
    fmt = FORMATS[name]
    rng = np.random.default_rng(5)
    a, b = fp.random_operands(fmt, N_RANDOM, rng, "mixed", 2)
    fa, fb = a.astype(u_t).view(np_t), b.astype(u_t).view(np_t)
    with np.errstate(all="ignore"):
        for op, ref in (("add", fa + fb), ("mul", fa * fb)):
            got, _ = getattr(fp, op)(fmt, a, b)
            ref_bits = ref.view(u_t).astype(np.uint64)
            nan = np.isnan(ref)
            assert np.all(got[nan] == fmt.canonical_nan), op
            assert np.array_equal(got[~nan], ref_bits[~nan]), op


# ---------------------------------------------------------------------------------------------- other formats

def _ge_pow2(n: int, d: int, k: int) -> bool:
    """n/d >= 2**k for positive integers n, d."""
    return n >= d << k if k >= 0 else n << -k >= d


def _rne_int(n: int, d: int, lsb: int) -> int:
    """n/d rounded to the nearest multiple of 2**lsb (ties to even), as that multiple's integer count."""
    num, den = (n, d << lsb) if lsb >= 0 else (n << -lsb, d)
    q, r = divmod(num, den)
    return q + (2 * r > den or (2 * r == den and q % 2 == 1))


def frac_round(fmt: FPFormat, x: Fraction, zero_sign: int = 0) -> tuple[int, int]:
    """Exact rational -> (bits, flags) by the textbook definition: RNE, tininess after rounding."""
    if x == 0:
        return zero_sign * fmt.sign_bit, 0
    sign = int(x < 0)
    n, d = abs(x.numerator), x.denominator
    p, emin, m = fmt.precision, 1 - fmt.bias, fmt.man_bits
    top = n.bit_length() - d.bit_length()
    while not _ge_pow2(n, d, top):
        top -= 1
    while _ge_pow2(n, d, top + 1):
        top += 1
    q_unb = _rne_int(n, d, top - p + 1)
    tiny = top - p + 1 + q_unb.bit_length() - 1 < emin  # rounded with unbounded exponent < 2**emin
    lsb = max(top, emin) - p + 1
    q = _rne_int(n, d, lsb)
    inexact = Fraction(q) * Fraction(2) ** lsb != abs(x)
    flags = (NX if inexact else 0) | (UF if tiny and inexact else 0)
    if q >= 1 << p:  # rounding carried into the next binade
        q, lsb = q >> 1, lsb + 1
    if q < 1 << m:  # subnormal (or zero): lsb == emin - m
        return q | sign * fmt.sign_bit, flags
    biased = lsb + m + fmt.bias
    if biased >= fmt.exp_max:
        return fmt.inf | sign * fmt.sign_bit, OF | NX
    return (biased << m) | (q - (1 << m)) | sign * fmt.sign_bit, flags


def _frac(fmt: FPFormat, bits: int) -> Fraction:
    m, sign = fmt.man_bits, bits >> (fmt.width - 1)
    bexp, frac = (bits >> m) & fmt.exp_max, bits & ((1 << m) - 1)
    sig = frac | (1 << m) if bexp else frac
    v = sig * Fraction(2) ** (max(bexp, 1) - fmt.bias - m)
    return -v if sign else v


E4M3 = FPFormat(4, 3)  # IEEE-style 8-bit format (inf/NaN kept): exercises the generic code


def _finite_e4m3() -> list[int]:
    return [v for v in range(256) if (v >> 3) & 0xF != 0xF]


@pytest.mark.parametrize("op", ["add", "mul"])
def test_e4m3_exhaustive_vs_fraction(op: str) -> None:
    vals = _finite_e4m3()
    a = np.repeat(np.array(vals, dtype=np.uint64), len(vals))
    b = np.tile(np.array(vals, dtype=np.uint64), len(vals))
    fr = {v: _frac(E4M3, v) for v in vals}
    ref = []
    for x, y in zip(a.tolist(), b.tolist()):
        sx, sy = x >> 7, y >> 7
        if op == "add":
            ref.append(frac_round(E4M3, fr[x] + fr[y], sx & sy))
        else:
            ref.append(frac_round(E4M3, fr[x] * fr[y], sx ^ sy))
    rb = np.array([r for r, _ in ref], dtype=np.uint64)
    rf = np.array([f for _, f in ref], dtype=np.uint8)
    assert_same(E4M3, getattr(fp, op)(E4M3, a, b), (rb, rf), (a, b), f"e4m3 {op}")


@pytest.mark.parametrize("name", ["e4m3", "bf16"])
def test_fma_vs_fraction(name: str) -> None:
    """Finite fma against the exact rational model (independent of SoftFloat's f128 path for BF16)."""
    fmt = E4M3 if name == "e4m3" else BF16
    rng = np.random.default_rng(9)
    ops = fp.random_operands(fmt, 30_000, rng, "mixed", 3)
    finite = np.all([fp.classify(fmt, o) < fp.FPClass.INF for o in ops], axis=0)
    a, b, c = (o[finite] for o in ops)
    ref = []
    for x, y, z in zip(a.tolist(), b.tolist(), c.tolist()):
        sp, sc = (x ^ y) >> (fmt.width - 1), z >> (fmt.width - 1)
        ref.append(frac_round(fmt, _frac(fmt, x) * _frac(fmt, y) + _frac(fmt, z), sp & sc))
    rb = np.array([r for r, _ in ref], dtype=np.uint64)
    rf = np.array([f for _, f in ref], dtype=np.uint8)
    assert_same(fmt, fp.fma(fmt, a, b, c), (rb, rf), (a, b, c), f"{name} fma")


FP64 = FPFormat(11, 52, "fp64")


@pytest.mark.parametrize("op", ["add", "mul", "fma", "lt", "eq"])
def test_fp64_wide_path_vs_softfloat(op: str) -> None:
    """Precision > 30 runs on Python ints (object arrays): check it on a small binary64 sample."""
    rng = np.random.default_rng(13)
    ops = fp.random_operands(FP64, 3000, rng, "mixed", ARITY[op])
    res, flags = _run(getattr(sf, f"f64_{_SF_OP[op]}"), *[_objs(sf.Float64, 8, o) for o in ops])
    ref = (np.array(res, dtype=np.uint64) if op in ("lt", "eq") else _to_bits(res, 8), flags)
    assert_same(FP64, getattr(fp, op)(FP64, *ops), ref, ops, f"fp64 {op}", value_is_bits=op not in ("lt", "eq"))


@pytest.mark.parametrize("fmt", [FPFormat(2, 1), FPFormat(5, 2), FPFormat(6, 9), FPFormat(8, 29), FPFormat(7, 30)],
                         ids=lambda f: f.name)
@pytest.mark.parametrize("op", ["add", "mul", "fma"])
def test_generic_formats_vs_fraction(fmt: FPFormat, op: str) -> None:
    """Odd formats, including both sides of the int64 / Python-int switch (precision 30 | 31)."""
    rng = np.random.default_rng(17)
    ops = fp.random_operands(fmt, 1500, rng, "mixed", ARITY[op])
    finite = np.all([fp.classify(fmt, o) < fp.FPClass.INF for o in ops], axis=0)
    ops = tuple(o[finite] for o in ops)
    ref = []
    for xs in zip(*[o.tolist() for o in ops]):
        v = [_frac(fmt, x) for x in xs]
        s = [x >> (fmt.width - 1) for x in xs]
        if op == "add":
            ref.append(frac_round(fmt, v[0] + v[1], s[0] & s[1]))
        elif op == "mul":
            ref.append(frac_round(fmt, v[0] * v[1], s[0] ^ s[1]))
        else:
            ref.append(frac_round(fmt, v[0] * v[1] + v[2], (s[0] ^ s[1]) & s[2]))
    rb = np.array([r for r, _ in ref], dtype=np.uint64)
    rf = np.array([f for _, f in ref], dtype=np.uint8)
    assert_same(fmt, getattr(fp, op)(fmt, *ops), (rb, rf), ops, f"{fmt.name} {op}")
