"""sklearn's bundled 8x8 digits (no download): a fixed 1437 / 360 train / test split."""
from __future__ import annotations

from functools import lru_cache

import numpy as np


@lru_cache(maxsize=1)
def load_digits_split() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(X_train, y_train, X_test, y_test): pixels are uint8 0..16, shapes (1437, 64) / (360, 64).

    Split: sklearn train_test_split(test_size=360, random_state=0, stratify=y)."""
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    d = load_digits()
    X = d.data.astype(np.uint8)
    y = d.target.astype(np.int64)
    Xtr, Xte, ytr, yte = train_test_split(X, y, test_size=360, random_state=0, stratify=y)
    for a in (Xtr, Xte, ytr, yte):
        a.setflags(write=False)
    return Xtr, ytr, Xte, yte
