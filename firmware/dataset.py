"""Datasets as the board stores them: 8-bit pixels packed two per 16-bit bus word, then the label."""
from __future__ import annotations

import numpy as np


def load_digits_u8() -> tuple[np.ndarray, np.ndarray]:
    """sklearn's bundled 8x8 digits: (N, 64) uint8 pixels 0..16 and (N,) labels."""
    from sklearn.datasets import load_digits

    d = load_digits()
    return d.data.astype(np.uint8), d.target.astype(np.uint8)


def pack_samples(pixels: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """(N, P) uint8 + (N,) labels -> words: per sample ceil(P/2) words (pixel 2i low byte) + 1 label word."""
    pixels = np.asarray(pixels, dtype=np.uint8)
    n, p = pixels.shape
    if p % 2:
        pixels = np.concatenate([pixels, np.zeros((n, 1), np.uint8)], axis=1)
    words = pixels[:, 0::2].astype(np.uint16) | (pixels[:, 1::2].astype(np.uint16) << 8)
    return np.concatenate([words, np.asarray(labels, np.uint16)[:, None]], axis=1).ravel()


def unpack_samples(words: np.ndarray, n_pixels: int) -> tuple[np.ndarray, np.ndarray]:
    per = (n_pixels + 1) // 2 + 1
    w = np.asarray(words, dtype=np.uint16).reshape(-1, per)
    px = np.empty((w.shape[0], 2 * (per - 1)), np.uint8)
    px[:, 0::2], px[:, 1::2] = w[:, :-1] & 0xFF, w[:, :-1] >> 8
    return px[:, :n_pixels], w[:, -1].astype(np.uint8)


def words_per_sample(n_pixels: int) -> int:
    return (n_pixels + 1) // 2 + 1
