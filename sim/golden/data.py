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


TEST_FRACTION = 0.2


@lru_cache(maxsize=1)
def _digits() -> tuple[np.ndarray, np.ndarray]:
    from sklearn.datasets import load_digits

    d = load_digits()
    return d.data.astype(np.uint8), d.target.astype(np.int64)


def stratified_split(X: np.ndarray, y: np.ndarray, fraction: float, seed: int) -> tuple[np.ndarray, ...]:
    """(X_a, y_a, X_b, y_b): sklearn train_test_split(test_size=fraction, random_state=seed, stratify=y);
    part b holds ceil(fraction * n) samples."""
    from sklearn.model_selection import train_test_split

    if not (isinstance(fraction, float) and 0.0 < fraction < 1.0):
        raise ValueError(f"split fraction must be in (0, 1), got {fraction!r}")
    Xa, Xb, ya, yb = train_test_split(X, y, test_size=fraction, random_state=seed, stratify=y)
    return Xa, ya, Xb, yb


def digits_split(split_seed: int | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """None: the fixed split (load_digits_split); N: a stratified 80/20 split with random_state N
    (1437 / 360; split seed 0 is the fixed split)."""
    if split_seed is None:
        return load_digits_split()
    if not isinstance(split_seed, (int, np.integer)) or not 0 <= split_seed <= 2**32 - 1:
        raise ValueError(f"--split-seed must be an int in 0..{2**32 - 1}, got {split_seed!r}")
    X, y = _digits()
    return stratified_split(X, y, TEST_FRACTION, int(split_seed))


def load_npz(path: str, split_seed: int | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """A user's data set: arrays x (n, features) of PIXELS in 0..16 (the encoders divide by 16; rate encoding
    needs integers) and y (n,) integer labels 0..C-1 (C >= 2); optional x_test / y_test, else a stratified
    20% test split is carved with split_seed (default 0)."""
    import os

    if not os.path.isfile(path):
        raise ValueError(f"--data: no such file {path!r}")
    try:
        f = np.load(path, allow_pickle=False)
    except Exception as e:  # noqa: BLE001 - report any unreadable file the same way
        raise ValueError(f"--data: cannot read {path!r} as .npz ({e})") from None
    names = set(f.files)
    for need in ("x", "y"):
        if need not in names:
            raise ValueError(f"--data: {path!r} must hold arrays 'x' and 'y' (has {sorted(names)})")
    if ("x_test" in names) != ("y_test" in names):
        raise ValueError("--data: give both x_test and y_test, or neither")

    def check(xn, yn):
        x, y = np.asarray(f[xn]), np.asarray(f[yn])
        if x.ndim != 2 or x.shape[0] < 2 or x.shape[1] < 1:
            raise ValueError(f"--data: {xn} must be a 2-D array (n samples, features), got shape {x.shape}")
        if not np.issubdtype(x.dtype, np.number) or not np.all(np.isfinite(x)) or x.min() < 0 or x.max() > 16:
            raise ValueError(f"--data: {xn} must hold pixel values in 0..16 (the model's input scale), "
                             f"got range {float(x.min()):g}..{float(x.max()):g}")
        if y.shape != (x.shape[0],) or not np.issubdtype(y.dtype, np.integer) or y.min() < 0:
            raise ValueError(f"--data: {yn} must be {x.shape[0]} integer labels >= 0, got shape {y.shape}, "
                             f"dtype {y.dtype}")
        return x.astype(np.float64), y.astype(np.int64)

    x, y = check("x", "y")
    if int(y.max()) < 1:
        raise ValueError("--data: y must hold at least 2 classes (labels 0..C-1)")
    if "x_test" in names:
        xt, yt = check("x_test", "y_test")
        if xt.shape[1] != x.shape[1]:
            raise ValueError(f"--data: x_test has {xt.shape[1]} features, x has {x.shape[1]}")
        if yt.max() > y.max():
            raise ValueError(f"--data: y_test has label {yt.max()} that y never has (max {y.max()})")
        return x, y, xt, yt
    return stratified_split(x, y, TEST_FRACTION, 0 if split_seed is None else int(split_seed))


def upsample_digits(X: np.ndarray, side: int = 28) -> np.ndarray:
    """Digits images (n, 64), pixels 0..16, resized to side x side (bilinear, scipy.ndimage.zoom) and rounded back
    to integer pixels 0..16: MNIST-sized inputs (784 for side 28) the rate encoding takes as it takes the 8 x 8."""
    from scipy.ndimage import zoom

    X = np.asarray(X, np.float64).reshape(-1, 8, 8)
    out = np.stack([zoom(img, side / 8, order=1, grid_mode=True, mode="nearest") for img in X])
    if out.shape[1:] != (side, side):
        raise ValueError(f"side: zoom gave {out.shape[1:]}, not {side} x {side}")
    return np.clip(np.rint(out), 0, 16).astype(np.uint8).reshape(len(X), side * side)
