"""The digits training recipe shared by the CI accuracy tests, `spikemesh golden train` and the docs table."""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from .config import SNNConfig
from .data import load_digits_split
from .training import EpochStats, evaluate, init_weights, train_epoch

# 64-128-128-10, T = 8, tau = 2 (lam = 0.5), theta = 1, soft reset (detached), rect surrogate of width 2,
# mse_step, S = 256, lr = 2^-4 for FULL_LR_EPOCHS epochs, then halved every epoch (stays a power of two).
DIGITS = SNNConfig(sizes=(64, 128, 128, 10), T=8, surrogate="rect", surrogate_width=2.0, loss_scale=256,
                   lr=2.0**-4)
DEFAULT_EPOCHS = 5
FULL_LR_EPOCHS = 2
RULE_EXTRAS: dict[str, dict] = {
    "bptt": {"surrogate": "tri"},
    "sltt": {"lr": 2.0**-3},
    "tbptt": {"window": 4},
    "sltt_k": {"k_steps": (1, 3, 5, 7)},
    "local": {"blocks": (1, 1, 1), "window": 8},
}
RULE_EPOCHS: dict[str, int] = {"bptt": 4, "ottt_a": 4, "sltt": 3}
RULE_FULL_LR_EPOCHS: dict[str, int] = {"sltt": 3}
CI_RULES = ("bptt", "sltt", "ottt_a")  # the rules whose FP16 digits accuracy CI checks (>= 97%)


def recipe_epochs(rule: str) -> int:
    return RULE_EPOCHS.get(rule, DEFAULT_EPOCHS)


def digits_config(rule: str = "bptt", fmt: str = "fp16", **changes) -> SNNConfig:
    kw = dict(RULE_EXTRAS.get(rule, {}))
    kw.update(changes)
    return DIGITS.replace(rule=rule, fmt=fmt, **kw)


def lr_for_epoch(cfg: SNNConfig, epoch: int, full_lr_epochs: int | None = None) -> float:
    """lr for `epoch`: cfg.lr for the rule's first full_lr_epochs epochs, then halved every epoch."""
    if full_lr_epochs is None:
        full_lr_epochs = RULE_FULL_LR_EPOCHS.get(cfg.rule, FULL_LR_EPOCHS)
    return cfg.lr * 2.0 ** -max(0, epoch - full_lr_epochs + 1)


@dataclass
class TrainResult:
    cfg: SNNConfig
    weights: list[np.ndarray]
    test_acc: float
    history: list[tuple[EpochStats, float]] = field(default_factory=list)  # (stats, test accuracy) per epoch
    seconds: float = 0.0

    @property
    def samples_per_s(self) -> float:
        n = sum(int(round(s.samples_per_s * s.seconds)) for s, _ in self.history)
        return n / max(1e-9, sum(s.seconds for s, _ in self.history))


def train_digits(cfg: SNNConfig, epochs: int = DEFAULT_EPOCHS, seed: int = 0,
                 full_lr_epochs: int | None = None, eval_every_epoch: bool = True,
                 progress: Callable[[int], None] | None = None,
                 on_epoch: Callable[[int, EpochStats, float], None] | None = None,
                 limit: int | None = None) -> TrainResult:
    """Train on the fixed 1437-sample split (or its first `limit` samples) (init_weights(cfg, seed), epoch e shuffled with seed + e) and
    return the weights and test accuracy on the 360 held-out samples."""
    if not isinstance(epochs, int) or epochs < 1:
        raise ValueError(f"epochs must be an int >= 1, got {epochs!r}")
    Xtr, ytr, Xte, yte = load_digits_split()
    if limit is not None:  # quick runs: the first `limit` training samples
        Xtr, ytr = Xtr[:limit], ytr[:limit]
    w = init_weights(cfg, seed)
    res = TrainResult(cfg=cfg, weights=w, test_acc=float("nan"))
    t0 = time.perf_counter()
    for e in range(epochs):
        ce = cfg.replace(lr=lr_for_epoch(cfg, e, full_lr_epochs))
        w, st = train_epoch(ce, w, Xtr, ytr, seed=seed + e, progress=progress)
        acc = evaluate(cfg, w, Xte, yte) if (eval_every_epoch or e == epochs - 1) else float("nan")
        res.history.append((st, acc))
        if on_epoch is not None:
            on_epoch(e, st, acc)
    res.weights, res.test_acc = w, res.history[-1][1]
    res.seconds = time.perf_counter() - t0
    return res
