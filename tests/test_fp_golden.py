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

from spikemesh.gen.formats import BF16, FP16, FP32, FPFormat, Flag
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
    while done < N_RANDOM:
        n = min(CHUNK, N_RANDOM - done)
        ops = fp.random_operands(fmt, n, rng, "mixed", ARITY[op])
        assert_same(fmt, model(fmt, *ops), ref_op(name, op, *ops), ops, f"{name} {op}",
                    value_is_bits=op not in ("lt", "le", "eq"))
        done += n


@pytest.mark.parametrize("signed", [False, True])
@pytest.mark.parametrize("name", list(FORMATS))
def test_from_int_random_vs_softfloat(name: str, signed: bool) -> None:
    fmt = FORMATS[name]
    rng = np.random.default_rng(7 + signed)
    n = max(N_RANDOM // 8, 1000)
    for width in (8, 24, 32, 64):
        x = rng.integers(0, 1 << 63, n, dtype=np.uint64) << np.uint64(1) | rng.integers(0, 2, n, dtype=np.uint64)
        # bias: short ints, long runs of ones (carry), ties at the rounding position
        nb = rng.integers(1, width + 1, n).astype(np.uint64)
        x = np.where(rng.random(n) < 0.5, x >> (np.uint64(64) - nb), x)
        tie = (np.uint64(1) << (nb - np.uint64(1))) | (np.uint64(1) << np.maximum(nb.astype(np.int64) - 1 - fmt.precision, 0).astype(np.uint64))
        x = np.where(rng.random(n) < 0.2, tie, x)
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
    a, b = fp.random_operands(fmt, 200_000, rng, "mixed", 2)
    assert_same(fmt, getattr(fp, op)(fmt, a, b), ref_minmax(fmt, a, b, op == "fmax"), (a, b), f"{name} {op}")
