"""Input encodings, the same function in host/firmware and model: pixels (integers 0..16) -> (T, N_0) values.

direct: x_j = fmt(p_j / 16) at every step (exact for 0..16);  rate: 0/1 spikes from the LFSR (lfsr.py).
"""
from __future__ import annotations

import numpy as np

from .config import SNNConfig
from .lfsr import rate_spikes, sample_seed
from .numerics import dtype_of


def encode(cfg: SNNConfig, pixels: np.ndarray, sample_index: int = 0) -> np.ndarray:
    p = np.asarray(pixels)
    if p.shape != (cfg.sizes[0],):
        raise ValueError(f"x must be a vector of {cfg.sizes[0]} pixels, got shape {p.shape}")
    dt = dtype_of(cfg.fmt)
    if cfg.encoding == "direct":
        x = (p.astype(np.float64) / 16.0).astype(dt)
        return np.broadcast_to(x, (cfg.T, len(x)))
    if not (np.all(p == np.round(p)) and p.min() >= 0 and p.max() <= 16):
        raise ValueError("rate encoding needs integer pixels in 0..16")
    return rate_spikes(p.astype(np.int64), cfg.T, sample_seed(cfg.lfsr_seed, sample_index)).astype(dt)
