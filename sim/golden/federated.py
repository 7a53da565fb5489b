"""Federated learning, golden side: data partitions, the FedAvg arithmetic, and a pure-golden federated run.

The FedAvg contract (docs/golden-contract.md, "Federated averaging"): the results of a round are taken in
ascending worker id (never arrival order); for every weight element, in float64,
    acc = 0;  for each worker k in ascending id: acc = acc + n_k * w_k     (each product exact in float64)
    global = fp16_rne(acc / N),   N = sum of n_k
(each float64 `+` and the `/` round to nearest even; the final cast rounds to nearest even FP16).
The server strategy calls `fedavg` itself, so the chip's federated run and `golden_federated` agree bit
for bit whenever every worker's local training does.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Partition:
    worker: int
    train: np.ndarray  # indices into the training split, in the order the worker trains them
    val: np.ndarray    # the worker's own validation slice (held out from its training)


def parse_partition(text: str) -> tuple[str, float | None]:
    """'iid' -> ("iid", None); 'dirichlet:0.5' -> ("dirichlet", 0.5)."""
    if text == "iid":
        return "iid", None
    if text.startswith("dirichlet:"):
        try:
            alpha = float(text.split(":", 1)[1])
        except ValueError:
            alpha = -1.0
        if not alpha > 0:
            raise ValueError(f"partition: dirichlet needs alpha > 0, e.g. dirichlet:0.5, got {text!r}")
        return "dirichlet", alpha
    raise ValueError(f"partition must be 'iid' or 'dirichlet:ALPHA' (e.g. dirichlet:0.5), got {text!r}")


def make_partitions(labels: np.ndarray, workers: int, scheme: str = "iid", *, seed: int = 0,
                    val_fraction: float = 0.2, min_samples: int = 4) -> list[Partition]:
    """Split sample indices among `workers` with a fixed seed.

    iid: a seeded permutation cut into equal parts.  dirichlet:ALPHA: label skew; for each class, its samples
    are shared among the workers in proportions drawn from Dirichlet(ALPHA) (smaller ALPHA: more skew), the
    usual non-IID benchmark split; redrawn (same generator) until every worker has `min_samples`.
    Each worker's last `val_fraction` (of its shuffled share) is its validation slice."""
    labels = np.asarray(labels)
    if not isinstance(workers, int) or not 1 <= workers <= len(labels) // max(min_samples, 1):
        raise ValueError(f"workers must be an int in 1..{len(labels) // max(min_samples, 1)}, got {workers!r}")
    if not 0 <= val_fraction < 1:
        raise ValueError(f"val_fraction must be in [0, 1), got {val_fraction!r}")
    kind, alpha = parse_partition(scheme)
    rng = np.random.default_rng(seed)
    if kind == "iid":
        shares = np.array_split(rng.permutation(len(labels)), workers)
    else:
        for _ in range(1000):
            shares = [[] for _ in range(workers)]
            for c in np.unique(labels):
                idx = rng.permutation(np.flatnonzero(labels == c))
                cuts = (np.cumsum(rng.dirichlet([alpha] * workers)) * len(idx)).astype(int)[:-1]
                for k, part in enumerate(np.split(idx, cuts)):
                    shares[k] += part.tolist()
            if min(len(s) for s in shares) >= min_samples:
                break
        else:
            raise ValueError(f"partition: no dirichlet:{alpha} split gives every one of {workers} workers "
                             f"{min_samples} samples")
        shares = [rng.permutation(np.array(s, dtype=np.int64)) for s in shares]
    out = []
    for k, share in enumerate(shares):
        n_val = int(round(len(share) * val_fraction))
        n_train = len(share) - n_val
        out.append(Partition(k, np.asarray(share[:n_train], np.int64), np.asarray(share[n_train:], np.int64)))
    return out


def fedavg(results: list[tuple[int, int, list[np.ndarray]]]) -> list[np.ndarray]:
    """(worker id, samples, FP16 weights) per worker -> the FP16 global weights (the contract above)."""
    if not results:
        raise ValueError("fedavg needs at least one result")
    ids = [r[0] for r in results]
    if len(set(ids)) != len(ids):
        raise ValueError(f"fedavg: worker ids must be unique, got {ids}")
    ordered = sorted(results, key=lambda r: r[0])
    shapes = [w.shape for w in ordered[0][2]]
    for wid, n, ws in ordered:
        if not isinstance(n, (int, np.integer)) or n <= 0:
            raise ValueError(f"fedavg: worker {wid} reported {n!r} samples; must be > 0")
        if [w.shape for w in ws] != shapes:
            raise ValueError(f"fedavg: worker {wid}'s weight shapes {[w.shape for w in ws]} != {shapes}")
    total = np.float64(sum(int(r[1]) for r in ordered))
    out = []
    for layer in range(len(shapes)):
        acc = np.zeros(shapes[layer], np.float64)
        for _, n, ws in ordered:
            acc = acc + np.float64(n) * np.asarray(ws[layer], np.float16).astype(np.float64)
        out.append((acc / total).astype(np.float16))
    return out


def local_train(snn, weights, X: np.ndarray, y: np.ndarray, epochs: int) -> list[np.ndarray]:
    """What one worker's board computes in `fit`: `epochs` passes over its samples in order (sample index =
    position in the worker's array, as the host driver numbers them)."""
    from .core import train_sample

    w = weights
    for _ in range(epochs):
        for n in range(len(y)):
            w = train_sample(snn, w, X[n], int(y[n]), sample_index=n).weights
    return w


def golden_federated(snn, w0, X: np.ndarray, y: np.ndarray, parts: list[Partition], rounds: int,
                     local_epochs: int, absent: dict[int, set[int]] | None = None) -> list[list[np.ndarray]]:
    """The global weights after each round of a pure-golden federated run; `absent[r]` (1-based round):
    the workers whose result round r lacks (a worker that disappeared)."""
    absent = absent or {}
    w, history = w0, []
    for r in range(1, rounds + 1):
        results = [(p.worker, len(p.train), local_train(snn, w, X[p.train], y[p.train], local_epochs))
                   for p in parts if p.worker not in absent.get(r, set())]
        w = fedavg(results)
        history.append(w)
    return history
