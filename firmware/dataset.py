"""Datasets as the board stores them: 8-bit pixels packed two per 16-bit bus word, then the label."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from spikemesh.rtl.soc.loader import MAX_SEGMENT_WORDS, DataSegment, IndexEntry, WaitSegment
from spikemesh.rtl.words import pack_words


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


@dataclass(frozen=True)
class Wait:
    """A wait segment: the loader reads the word at the write's address until `word & mask == value`, at most
    `limit` reads (then it counts a timeout and goes on)."""
    mask: int
    value: int
    limit: int = 1 << 24

    def __post_init__(self):
        for name in ("mask", "value"):
            if not 0 <= getattr(self, name) <= 0xFFFF:
                raise ValueError(f"{name} must be in 0..65535, got {getattr(self, name)!r}")
        if not 1 <= self.limit < (1 << 32):
            raise ValueError(f"limit must be in 1..2**32-1 reads, got {self.limit!r}")


def encode_records(samples: list[list[tuple[int, np.ndarray]]], capacity: int) -> np.ndarray:
    """Dataset words for the on-board sample loader (`spikemesh.rtl.soc.loader`).

    `samples[n]` is the list of (bus address, words) writes that load sample n; the result is an index
    table (`IndexEntry` n: offset of record n) followed by the records (`DataSegment` headers and their words,
    ended by a 0).  A write whose words are a `Wait` is a `WaitSegment`.  Raises ValueError when it does not
    fit in `capacity` words."""
    n = len(samples)
    if n > 1 << 16:
        raise ValueError(f"dataset: at most 65536 samples (a 16-bit sample register), got {n}")
    out: list[int] = [0] * (2 * n)
    for k, writes in enumerate(samples):
        out[2 * k:2 * k + 2] = pack_words(IndexEntry, offset=len(out))
        for addr, words in writes:
            if not 0 <= addr < (1 << 32):
                raise ValueError(f"record {k}: address {addr:#x} out of range 0..2**32-1")
            if isinstance(words, Wait):
                out += pack_words(WaitSegment, head={"wait": 1}, addr=addr, mask=words.mask, value=words.value,
                                  limit=words.limit)
                continue
            words = np.asarray(words, dtype=np.int64).ravel()
            for i in range(0, len(words), MAX_SEGMENT_WORDS):  # longer writes become several segments
                part = words[i:i + MAX_SEGMENT_WORDS]
                out += pack_words(DataSegment, head={"count": len(part)}, dest=addr + i) + \
                    [int(w) & 0xFFFF for w in part]
        out.append(0)
    if len(out) > capacity:
        raise ValueError(f"dataset: {n} samples need {len(out)} words, the on-board buffer holds "
                         f"{capacity} (capacity must be >= the encoded size)")
    return np.asarray(out, dtype=np.uint16)
