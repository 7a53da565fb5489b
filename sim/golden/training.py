"""Whole-data-set helpers: deterministic init, one epoch of per-sample SGD, accuracy."""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from .config import SNNConfig
from .core import forward, train_sample
from .numerics import canon, dtype_of
from .work import WorkCounts

INIT_GAIN = 1.0


def init_weights(cfg: SNNConfig, seed: int = 0, gain: float = INIT_GAIN) -> list[np.ndarray]:
    """W ~ U(-b, b), b = gain * sqrt(6 / fan_in) (He-uniform), drawn in float64 by numpy's PCG64
    (default_rng(seed)), layer by layer (heads last), rounded once to the format; zeros stored as +0.0.
    opzo's feedback matrices (after the main layers) start at +0."""
    rng = np.random.default_rng(seed)
    dt = dtype_of(cfg.fmt)
    out = []
    for rows, cols in cfg.weight_shapes()[:cfg.n_lif]:
        b = gain * np.sqrt(6.0 / cols)
        out.append(canon(rng.uniform(-b, b, size=(rows, cols)).astype(dt)))
    out += [np.zeros(shp, dt) for shp in cfg.weight_shapes()[cfg.n_lif:]]  # opzo: B_l start at +0
    return out


def evaluate(cfg: SNNConfig, weights: list[np.ndarray], X: np.ndarray, y: np.ndarray,
             index_offset: int = 0) -> float:
    """Accuracy (fraction) with the documented prediction rule; sample i uses LFSR index index_offset + i."""
    correct = 0
    for i in range(len(X)):
        correct += forward(cfg, weights, X[i], sample_index=index_offset + i).prediction == int(y[i])
    return correct / len(X)


@dataclass
class EpochStats:
    loss: float
    train_acc: float  # from each sample's own forward pass while training
    seconds: float
    samples_per_s: float
    work: WorkCounts = field(default_factory=WorkCounts)


def train_epoch(cfg: SNNConfig, weights: list[np.ndarray], X: np.ndarray, y: np.ndarray, seed: int = 0,
                progress: Callable[[int], None] | None = None) -> tuple[list[np.ndarray], EpochStats]:
    """One epoch of batch-1 SGD in the order numpy default_rng(seed).permutation(len(X)).
    The LFSR sample index is the sample's index in X (so encodings do not depend on the order)."""
    order = np.random.default_rng(seed).permutation(len(X))
    work = WorkCounts()
    loss = 0.0
    correct = 0
    t0 = time.perf_counter()
    for n, i in enumerate(order):
        r = train_sample(cfg, weights, X[i], int(y[i]), sample_index=int(i))
        weights = r.weights
        loss += r.loss
        correct += r.prediction == int(y[i])
        work += r.work
        if progress is not None:
            progress(1)
    dt = time.perf_counter() - t0
    return weights, EpochStats(loss / len(X), correct / len(X), dt, len(X) / dt, work)
