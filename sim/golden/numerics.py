"""The number formats and the few exact primitives the golden model is built from.

Every array holds values of the configured format in its numpy dtype (float16 / float32). numpy's float16
element-wise `+`, `-`, `*` and `np.add.accumulate` along an axis are correctly rounded (RNE) at every step;
BLAS-style reductions (`np.sum`, `@`, `np.dot`, `np.add.reduce`) are never used: they accumulate wider.
"""
from __future__ import annotations

import ml_dtypes
import numpy as np

# bf16: ml_dtypes' bfloat16 computes each element-wise op in float32 and rounds once to bf16; float32's 24 bits
# >= 2 * 8 + 2 make that double rounding innocuous, and tests/test_golden_bf16.py checks it bit for bit against
# spikemesh.sim.fp (the RTL's reference) on random operands, subnormals included.
_DTYPES = {"fp16": np.float16, "fp32": np.float32, "bf16": ml_dtypes.bfloat16}


def bf16_available() -> bool:
    """BF16 arrays come from ml_dtypes (a dependency), so the format is always available."""
    return True


def dtype_of(fmt: str):
    return _DTYPES[fmt]


def to_format(x: np.ndarray, fmt: str) -> np.ndarray:
    """Round float64 values once (RNE) to the format."""
    return np.asarray(x, np.float64).astype(_DTYPES[fmt])


def bits(x: np.ndarray) -> np.ndarray:
    """Raw encodings for bit comparisons (uint16 for fp16 and bf16, uint32 for fp32)."""
    x = np.asarray(x)
    return x.view(np.uint16 if x.dtype.itemsize == 2 else np.uint32)


def canon(x: np.ndarray) -> np.ndarray:
    """Sign-canonicalise: a zero is stored as +0.0 (x + (+0.0) is exactly that under RNE)."""
    return x + x.dtype.type(0.0)


def accumulate_rows(terms: np.ndarray, n: int, dt) -> np.ndarray:
    """Sum the rows of `terms` (n_terms x n) one at a time, first row first, from +0.0; canonicalised."""
    if terms.shape[0] == 0:
        return np.zeros(n, dt)
    return canon(np.add.accumulate(terms, axis=0)[-1])


def sr_round_fp16(d: np.ndarray, r: np.ndarray) -> np.ndarray:
    """Stochastically round exact float64 values d to fp16 with 16-bit random words r (docs/golden.md):
    |d| = lo + f * ulp (lo = |d| truncated to the fp16 grid, 0 <= f < 1); D = floor(f * 2^16) (the first 16
    discarded bits); the magnitude rounds up to lo + ulp iff D + r >= 2^16 (the carry out of a 16-bit add);
    the sign is d's; a zero result is +0; |result| >= 65520 overflows to inf; an infinite d stays that inf and
    a NaN d gives the canonical NaN 0x7E00 (as every FP unit of the gateware returns, rtl/fp/sr_add.py)."""
    d = np.asarray(d, np.float64)
    r = np.asarray(r, np.int64)
    m = np.abs(d)
    fin = np.isfinite(m)
    mf = np.where(fin, m, 0.0)
    _, k = np.frexp(mf)  # mf = f 2^k, f in [0.5, 1): binade exponent e = k - 1
    ulp = np.ldexp(1.0, np.maximum(k - 1, -14) - 10)
    scaled = mf / ulp  # exact: power-of-two scaling
    q = np.floor(scaled)
    D = np.floor((scaled - q) * 65536.0).astype(np.int64)
    up = (D + r) >= 65536
    mag = (q + up) * ulp
    with np.errstate(over="ignore"):  # a magnitude of 65536 or more is inf by definition
        out = canon(np.where(fin, np.copysign(mag, d), d).astype(np.float16))
    return np.where(np.isnan(d), np.uint16(0x7E00).view(np.float16), out)
