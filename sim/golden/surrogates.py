"""Surrogate gradients psi(x), x = fl(h - theta), all with peak 1/a for width a (a power of two).

rect: psi = 1/a for |x| < a/2, else +0.0                                (a compare)
tri:  psi = fl(1/a - fl(|x| * (1/a^2))) for |x| < a, else +0.0          (one multiply, one add)
sigmoid: psi = k sig(k x) (1 - sig(k x)), k = 4/a;  atan: psi = (1/a) / (1 + (pi x / a)^2)
The smooth ones are 65536-entry FP16 tables indexed by the FP16 bits of x, each entry the float64 value
rounded once (RNE); NaN and infinite x map to +0.0. In fp32 mode the same float64 function is rounded
once to float32 (no table).
"""
from __future__ import annotations

from functools import lru_cache

import numpy as np


def _smooth64(kind: str, x: np.ndarray, a: float) -> np.ndarray:
    x = np.asarray(x, np.float64)
    out = np.zeros_like(x)
    ok = np.isfinite(x)
    xf = x[ok]
    if kind == "sigmoid":
        k = 4.0 / a
        sg = 0.5 * (1.0 + np.tanh(0.5 * k * xf))  # 1/(1+exp(-kx)) without overflow
        out[ok] = k * sg * (1.0 - sg)
    elif kind == "atan":
        out[ok] = (1.0 / a) / (1.0 + (np.pi * xf / a) ** 2)
    else:
        raise ValueError(f"surrogate must be 'sigmoid' or 'atan' for a table, got {kind!r}")
    return out


@lru_cache(maxsize=16)
def surrogate_table(kind: str, width: float) -> np.ndarray:
    """The 65536-entry FP16 table: TABLE[bits(x)] = fp16(psi64(x))."""
    xs = np.arange(1 << 16, dtype=np.uint32).astype(np.uint16).view(np.float16)
    table = _smooth64(kind, xs.astype(np.float64), width).astype(np.float16)
    table.setflags(write=False)
    return table


def surrogate(kind: str, width: float, x: np.ndarray) -> np.ndarray:
    """psi(x) in x's dtype (float16 or float32)."""
    dt = x.dtype.type
    zero = dt(0.0)
    ax = np.abs(x)
    if kind == "rect":
        return np.where(ax < dt(width / 2), dt(1.0 / width), zero)
    if kind == "tri":
        val = dt(1.0 / width) - ax * dt(1.0 / (width * width))
        return np.where(ax < dt(width), val, zero)
    if x.dtype == np.float16:
        return surrogate_table(kind, float(width))[x.view(np.uint16)]
    return _smooth64(kind, x.astype(np.float64), width).astype(x.dtype)
