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
    val_history: list[float] = field(default_factory=list)  # validation accuracy per epoch (when a val set is given)

    @property
    def samples_per_s(self) -> float:
        n = sum(int(round(s.samples_per_s * s.seconds)) for s, _ in self.history)
        return n / max(1e-9, sum(s.seconds for s, _ in self.history))


def train_digits(cfg: SNNConfig, epochs: int = DEFAULT_EPOCHS, seed: int = 0,
                 full_lr_epochs: int | None = None, eval_every_epoch: bool = True,
                 progress: Callable[[int], None] | None = None,
                 on_epoch: Callable[[int, EpochStats, float], None] | None = None,
                 limit: int | None = None, split_seed: int | None = None, val_fraction: float | None = None,
                 data: tuple[np.ndarray, ...] | None = None) -> TrainResult:
    """Train on the fixed 1437-sample split (or its first `limit` samples) (init_weights(cfg, seed), epoch e
    shuffled with seed + e) and return the weights and test accuracy on the 360 held-out samples.

    split_seed: a stratified 80/20 split with that seed instead (data.digits_split); data: (X_train, y_train,
    X_test, y_test) given directly (e.g. data.load_npz). val_fraction: a stratified validation part carved
    from the training part (random_state = split_seed or 0); its accuracy is in val_history per epoch."""
    from .data import digits_split, stratified_split

    if not isinstance(epochs, int) or epochs < 1:
        raise ValueError(f"epochs must be an int >= 1, got {epochs!r}")
    Xtr, ytr, Xte, yte = data if data is not None else digits_split(split_seed)
    Xv = yv = None
    if val_fraction is not None:
        if not (isinstance(val_fraction, float) and 0.0 < val_fraction <= 0.5):
            raise ValueError(f"--val-fraction must be in (0, 0.5], got {val_fraction!r}")
        Xtr, ytr, Xv, yv = stratified_split(Xtr, ytr, val_fraction, 0 if split_seed is None else int(split_seed))
    if limit is not None:  # quick runs: the first `limit` training samples
        Xtr, ytr = Xtr[:limit], ytr[:limit]
    w = init_weights(cfg, seed)
    res = TrainResult(cfg=cfg, weights=w, test_acc=float("nan"))
    t0 = time.perf_counter()
    for e in range(epochs):
        ce = cfg.replace(lr=lr_for_epoch(cfg, e, full_lr_epochs))
        w, st = train_epoch(ce, w, Xtr, ytr, seed=seed + e, progress=progress)
        if Xv is not None:
            res.val_history.append(evaluate(cfg, w, Xv, yv))
        acc = (evaluate(cfg, w, Xte, yte) if Xte is not None and (eval_every_epoch or e == epochs - 1)
               else float("nan"))
        res.history.append((st, acc))
        if on_epoch is not None:
            on_epoch(e, st, acc)
    res.weights, res.test_acc = w, res.history[-1][1]
    res.seconds = time.perf_counter() - t0
    return res


# ---- hyper-parameters chosen on validation data only -------------------------------------------------------
# TUNED[rule] = (lr, epochs) for the table's runs (`spikemesh golden table`), chosen by
# `spikemesh golden tune` from VALIDATION accuracy only: the training part of each tuning split, minus a
# stratified 20% validation part, trains; the test part is never loaded. Grid: lr in TUNE_LRS, epochs 1..TUNE_EPOCHS,
# schedule lr_for_epoch with TUNED_FULL_LR_EPOCHS; the best mean validation accuracy wins (ties: fewer
# epochs, then smaller lr). The network structure (sizes, T, surrogate, window, K, blocks) is RULE_EXTRAS.
# The table network: smaller than DIGITS so that 5 splits x every rule x fp16/fp32 (and the tuning grid) fit
# a shared 2-core machine in well under an hour (64-128-128-10 at T = 8 ran ~100 samples/s there, 64-64-64-10
# at T = 4 ~300). Structure per rule as RULE_EXTRAS, scaled to T = 4.
TABLE_NET = {"sizes": (64, 64, 64, 10), "T": 4}
TABLE_EXTRAS: dict[str, dict] = {"tbptt": {"window": 2}, "sltt_k": {"k_steps": (1, 3)},
                                 "local": {"blocks": (1, 1, 1), "window": 4}}


def table_config(rule: str, fmt: str = "fp16", **changes) -> SNNConfig:
    """The table's (and the tuner's) network for `rule`: digits_config + TABLE_NET + TABLE_EXTRAS + changes."""
    kw = dict(TABLE_NET)
    kw.update(TABLE_EXTRAS.get(rule, {}))
    kw.update(changes)
    return digits_config(rule, fmt, **kw)


TUNE_LRS = (2.0**-5, 2.0**-4, 2.0**-3, 2.0**-2)
TUNE_EPOCHS = 8
TUNED_FULL_LR_EPOCHS = 2
TUNE_SPLIT_SEEDS = (100,)
# Chosen on VALIDATION data by `spikemesh golden tune` (defaults: TABLE_NET, split seed 100, 20% validation,
# lr 2^-5..2^-2, epochs 1..8, fp16; 534 s on the shared 2-core machine, 2026-12-06); pasted from its last line.
TUNED: dict[str, tuple[float, int]] = {
    "bptt": (2.0**-3, 8), "tbptt": (2.0**-3, 5), "sltt": (2.0**-2, 8), "sltt_k": (2.0**-2, 7),
    "ottt_a": (2.0**-2, 4), "ottt_o": (2.0**-2, 3), "local": (2.0**-3, 7), "opzo": (2.0**-3, 6),
}


def tuned_recipe(rule: str) -> tuple[float, int]:
    """(lr, epochs) chosen on validation; falls back to the CI recipe (chosen on the fixed test split) when the
    rule has not been tuned."""
    if rule in TUNED:
        return TUNED[rule]
    return table_config(rule).lr, recipe_epochs(rule)


def tune(cfg: SNNConfig, lrs=TUNE_LRS, max_epochs: int = TUNE_EPOCHS, split_seeds=TUNE_SPLIT_SEEDS,
         val_fraction: float = 0.2, seed: int = 0, limit: int | None = None,
         data: tuple[np.ndarray, ...] | None = None) -> tuple[tuple[float, int], np.ndarray]:
    """Grid search on validation accuracy only: returns ((lr, epochs), acc[lr index, epoch - 1]) with acc the
    mean over split_seeds of the validation accuracy. The test parts are dropped before training."""
    acc = np.zeros((len(lrs), max_epochs))
    for ss in split_seeds:
        if data is not None:
            Xtr, ytr = data[0], data[1]
        else:
            from .data import digits_split

            Xtr, ytr, _, _ = digits_split(ss)
        for i, lr in enumerate(lrs):
            res = train_digits(cfg.replace(lr=lr), epochs=max_epochs, seed=seed,
                               full_lr_epochs=TUNED_FULL_LR_EPOCHS, split_seed=ss, val_fraction=val_fraction,
                               data=(Xtr, ytr, None, None), limit=limit)
            acc[i] += np.array(res.val_history) / len(split_seeds)
    best = None
    for e in range(max_epochs):  # ties: fewer epochs first, then the smaller lr
        for i in range(len(lrs)):
            if best is None or acc[i, e] > acc[best[0], best[1]] + 1e-12:
                best = (i, e)
    return (float(lrs[best[0]]), best[1] + 1), acc
