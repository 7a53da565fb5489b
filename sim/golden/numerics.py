"""The number formats and the few exact primitives the golden model is built from.

Every array holds values of the configured format in its numpy dtype (float16 / float32). numpy's float16
element-wise `+`, `-`, `*` and `np.add.accumulate` along an axis are correctly rounded (RNE) at every step;
BLAS-style reductions (`np.sum`, `@`, `np.dot`, `np.add.reduce`) are never used: they accumulate wider.
"""
from __future__ import annotations

import numpy as np

_DTYPES = {"fp16": np.float16, "fp32": np.float32}


def bf16_available() -> bool:
    """BF16 needs a software BF16 rounding module (helper H1's `spikemesh.sim.fp`); not wired in yet."""
    return False


def dtype_of(fmt: str):
    return _DTYPES[fmt]


def to_format(x: np.ndarray, fmt: str) -> np.ndarray:
    """Round float64 values once (RNE) to the format."""
    return np.asarray(x, np.float64).astype(_DTYPES[fmt])


def bits(x: np.ndarray) -> np.ndarray:
    """Raw encodings for bit comparisons (uint16 for fp16, uint32 for fp32)."""
    x = np.asarray(x)
    return x.view(np.uint16 if x.dtype == np.float16 else np.uint32)


def canon(x: np.ndarray) -> np.ndarray:
    """Sign-canonicalise: a zero is stored as +0.0 (x + (+0.0) is exactly that under RNE)."""
    return x + x.dtype.type(0.0)


def accumulate_rows(terms: np.ndarray, n: int, dt) -> np.ndarray:
    """Sum the rows of `terms` (n_terms x n) one at a time, first row first, from +0.0; canonicalised."""
    if terms.shape[0] == 0:
        return np.zeros(n, dt)
    return canon(np.add.accumulate(terms, axis=0)[-1])
