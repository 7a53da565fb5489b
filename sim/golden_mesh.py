"""Multi-core modes of the golden model (uses `spikemesh.sim.golden`, never changes its arithmetic).

- `data_parallel_step`: cores 0..B-1 each run `train_sample` on their own sample from the SAME weights; their
  gradients G_c (the G the single-core model holds just before its end-of-sample update) are combined in the
  plan's FIXED chain order: acc = G_{c0}; acc = canon(fl(acc + G_{c_i})) for i = 1.., element-wise in FP16;
  then W = fl(W - fl(G * eta)) exactly as the single-core update (only nonzero G touch W). The sum is not
  divided by B: a data-parallel step equals a mini-batch of B with the same eta (pick lr accordingly).
  With one core it is `train_sample` bit for bit (a test checks this).
- `data_parallel_batch_step`: the same with k samples per core: each core's G accumulates over its k samples
  (no update in between, `batch_gradient`), then one chain reduction and one update; k = 1 is the above.
- `model_parallel_exchange`: the messages cores exchange when layers sit on different cores: s_l[t]
  forward, gs_l[t] backward, in the order the single-core model computes them. Placement does not change
  any arithmetic, so the trained weights are `train_sample`'s.
- `local_block_train`: local learning with each block (+ head) on its own core: every block trained on its
  own as a TBPTT chain from the spikes the block below sends (nothing flows backward); the weights equal
  `train_sample`'s for rule local bit for bit (a test checks it), so the hardware is compared with that.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from spikemesh.firmware.placement import DataParallelPlan, ModelParallelPlan
from spikemesh.sim import golden
from spikemesh.sim.golden import SNNConfig

UNSUPPORTED_DP = {"ottt_o": "updates weights every step", "local": "heads are not reduced yet"}


def _check_cfg(cfg: SNNConfig) -> None:
    if cfg.fmt != "fp16":
        raise ValueError(f"fmt must be 'fp16' for the multi-core modes, got {cfg.fmt!r}")
    if cfg.momentum != 0.0 or cfg.weight_update != "rne":
        raise ValueError("multi-core modes need momentum = 0 and weight_update = 'rne' (the hardware's update)")


def sample_gradient(cfg: SNNConfig, weights: list[np.ndarray], x: np.ndarray, label: int,
                    sample_index: int = 0) -> tuple[list[np.ndarray], golden.SampleResult]:
    """G per layer just before the end-of-sample update (the last G the trace records for each layer)."""
    res = golden.train_sample(cfg, weights, x, label, record=True, sample_index=sample_index)
    grads = []
    for li, shape in enumerate(cfg.weight_shapes()):
        ev = res.trace.select("G", layer=li + 1)
        grads.append(ev[-1].value.copy() if ev else np.zeros(shape, np.float16))
    return grads, res


CANONICAL_NAN = np.uint16(0x7E00)  # the FP units' only NaN result (docs/fp.md): payloads never propagate


def chain_add(acc: np.ndarray, g: np.ndarray) -> np.ndarray:
    """One reduction step: canon(fl(acc + g)) element-wise in FP16; a NaN sum is the canonical NaN (numpy
    would keep an operand's payload or make 0xFE00 from inf - inf; the hardware adder never does)."""
    with np.errstate(invalid="ignore", over="ignore"):
        s = np.array(golden.canon(np.asarray(acc, np.float16) + np.asarray(g, np.float16)), np.float16, copy=True)
    s[np.isnan(s)] = CANONICAL_NAN.view(np.float16)
    return s


def reduce_in_order(grads: dict[int, list[np.ndarray]], chain: list[int]) -> list[np.ndarray]:
    """acc = G_chain[0]; acc = canon(acc + G_c) for the rest, FP16 element-wise (one rounding per add)."""
    acc = [np.array(g, np.float16, copy=True) for g in grads[chain[0]]]
    for c in chain[1:]:
        acc = [chain_add(a, g) for a, g in zip(acc, grads[c])]
    return acc


def sgd_update(cfg: SNNConfig, weights: list[np.ndarray], grads: list[np.ndarray]) -> list[np.ndarray]:
    """W = fl(W - fl(G * eta)) where G != 0 (the single-core update, docs/golden-contract.md)."""
    eta = np.float16(cfg.eta)
    out = []
    for W, G in zip(weights, grads):
        W = np.array(W, np.float16, copy=True)
        nz = G != 0
        W[nz] = W[nz] - G[nz] * eta
        out.append(W)
    return out


@dataclass
class DataParallelResult:
    weights: list[np.ndarray]          # after the combined update
    reduced: list[np.ndarray]          # the combined gradient
    core_grads: dict[int, list[np.ndarray]]
    chain: list[int]


def data_parallel_step(cfg: SNNConfig, plan: DataParallelPlan, weights: list[np.ndarray],
                       xs: list[np.ndarray], labels: list[int], sample_indices: list[int] | None = None
                       ) -> DataParallelResult:
    """One data-parallel step: plan.cores[i] trains on (xs[i], labels[i])."""
    _check_cfg(cfg)
    if cfg.rule in UNSUPPORTED_DP:
        raise ValueError(f"rule {cfg.rule!r} is not supported in data-parallel mode: {UNSUPPORTED_DP[cfg.rule]}")
    if not len(xs) == len(labels) == len(plan.cores):
        raise ValueError(f"need one sample per core: {len(plan.cores)} cores, {len(xs)} inputs, "
                         f"{len(labels)} labels")
    idx = sample_indices or list(range(len(xs)))
    grads = {c: sample_gradient(cfg, weights, x, y, i)[0] for c, x, y, i in zip(plan.cores, xs, labels, idx)}
    chain = plan.chain
    reduced = reduce_in_order(grads, chain)
    return DataParallelResult(sgd_update(cfg, weights, reduced), reduced, grads, chain)


def batch_gradient(cfg: SNNConfig, weights: list[np.ndarray], xs: list[np.ndarray], labels: list[int],
                   sample_indices: list[int]) -> list[np.ndarray]:
    """G of one core that trains k samples in order from the SAME weights without an update in between (the
    sample program compiled with update=False, run k times): G starts at +0.0 and every sample's weight-gradient
    terms are added to the G the previous sample left, in the single-core order (the core's G memory simply
    keeps its contents).  Everything else a sample uses (v, traces, the loss error) starts afresh, as in
    `train_sample`.  k = 1 is `sample_gradient`."""
    from spikemesh.sim.golden.core import _backward_plan, _Sample

    if not len(xs) == len(labels) == len(sample_indices) or not xs:
        raise ValueError(f"need k >= 1 samples with a label and an index each, got {len(xs)}, {len(labels)}, "
                         f"{len(sample_indices)}")
    G = None
    for x, label, idx in zip(xs, labels, sample_indices):
        if not 0 <= int(label) < cfg.sizes[-1]:
            raise ValueError(f"label must be in 0..{cfg.sizes[-1] - 1}, got {label!r}")
        run = _Sample(cfg, weights, False)
        if G is not None:
            run.G = [np.array(g, copy=True) for g in G]
        X = golden.encode(cfg, x, idx)
        for t in range(cfg.T):
            run.forward_step(t, X[t])
            plan = _backward_plan(cfg, t)
            if plan is not None:
                run.backward(plan[0], plan[1], int(label))
        G = run.G
    return [np.array(g, np.float16, copy=True) for g in G]


def data_parallel_batch_step(cfg: SNNConfig, plan: DataParallelPlan, weights: list[np.ndarray],
                             xs: list[list[np.ndarray]], labels: list[list[int]],
                             sample_indices: list[list[int]]) -> DataParallelResult:
    """One data-parallel step with k samples per core: plan.cores[i] trains xs[i] (a list of k samples) in order
    without an update (`batch_gradient`), the G's are combined in the plan's chain order exactly as in
    `data_parallel_step`, and every core applies the single-core update once.  k = 1 is `data_parallel_step`."""
    _check_cfg(cfg)
    if cfg.rule in UNSUPPORTED_DP:
        raise ValueError(f"rule {cfg.rule!r} is not supported in data-parallel mode: {UNSUPPORTED_DP[cfg.rule]}")
    if not len(xs) == len(labels) == len(sample_indices) == len(plan.cores):
        raise ValueError(f"need one list of samples per core: {len(plan.cores)} cores, {len(xs)} inputs, "
                         f"{len(labels)} labels, {len(sample_indices)} index lists")
    grads = {c: batch_gradient(cfg, weights, x, y, i) for c, x, y, i in zip(plan.cores, xs, labels, sample_indices)}
    reduced = reduce_in_order(grads, plan.chain)
    return DataParallelResult(sgd_update(cfg, weights, reduced), reduced, grads, plan.chain)


def model_parallel_exchange(cfg: SNNConfig, plan: ModelParallelPlan, weights: list[np.ndarray],
                            x: np.ndarray, label: int, sample_index: int = 0
                            ) -> tuple[list[dict], golden.SampleResult]:
    """Messages between cores for one training sample, in the order the model computes them.

    Each message: {"src", "dst", "kind": "spike"|"error", "t", "layer", "value"}; a spike message carries
    s_l[t] of layer l to the core of layer l+1, an error message gs_l[t] from the core of layer l+1 to l's."""
    _check_cfg(cfg)
    if cfg.rule == "local":
        raise ValueError("rule 'local' is not supported in model-parallel mode (heads cross blocks)")
    if len(plan.layer_core) != cfg.n_layers:
        raise ValueError(f"layer_core must name {cfg.n_layers} cores (one per layer), got {len(plan.layer_core)}")
    res = golden.train_sample(cfg, weights, x, label, record=True, sample_index=sample_index)
    core = plan.layer_core
    msgs = []
    for ev in res.trace.events:
        l = ev.layer  # 1-based main layer
        if ev.name == "s" and ev.phase == "fp" and l < cfg.n_layers and core[l - 1] != core[l]:
            msgs.append({"src": core[l - 1], "dst": core[l], "kind": "spike", "t": ev.t, "layer": l,
                         "value": ev.value.astype(bool)})
        elif ev.name == "gs" and ev.phase == "bp" and l < cfg.n_layers and core[l] != core[l - 1]:
            msgs.append({"src": core[l], "dst": core[l - 1], "kind": "error", "t": ev.t, "layer": l,
                         "value": np.asarray(ev.value, np.float16)})
    return msgs, res


@dataclass
class LocalBlockResult:
    weights: list[np.ndarray]          # trained, in the golden order (main W_1..W_L, then the heads)
    block_weights: list[list[np.ndarray]]  # per block core, in its layer order (placement.LocalBlock)
    spikes: list[list[np.ndarray]]     # per block boundary b: s[t] the core of block b sends to block b+1's


def local_block_config(cfg: SNNConfig, block) -> SNNConfig:
    """The chain a block core trains: the block's layers (+ head) with TBPTT over the local window; the first
    block keeps the input encoding, later ones take spikes (rate: binary, no multiply)."""
    import dataclasses

    return dataclasses.replace(cfg, sizes=block.core_layers, rule="tbptt", blocks=None,
                               encoding=cfg.encoding if block.index == 0 else "rate")


def local_block_train(cfg: SNNConfig, weights: list[np.ndarray], x: np.ndarray, label: int,
                      sample_index: int = 0) -> LocalBlockResult:
    """One local-learning sample trained block by block (see the module doc); blocks run in index order, each
    over all T steps (the order between blocks does not matter: block b reads only s[t] of block b-1)."""
    from spikemesh.firmware.placement import local_blocks
    from spikemesh.sim.golden.core import _backward_plan, _Sample

    _check_cfg(cfg)
    if cfg.rule != "local":
        raise ValueError(f"rule must be 'local' for a block-per-core split, got {cfg.rule!r}")
    if not 0 <= int(label) < cfg.sizes[-1]:
        raise ValueError(f"label must be in 0..{cfg.sizes[-1] - 1}, got {label!r}")
    X = golden.encode(cfg, x, sample_index)
    out_w: list = [None] * len(weights)
    per_block, sent = [], []
    for blk in local_blocks(cfg.sizes, cfg.blocks):
        bc = local_block_config(cfg, blk)
        run = _Sample(bc, [weights[i] for i in blk.weight_indices], False, sample_index, train=True)
        for t in range(cfg.T):
            run.forward_step(t, X[t])
            plan = _backward_plan(bc, t)
            if plan is not None:
                run.backward(plan[0], plan[1], int(label))
        run.update(-1)
        for i, w in zip(blk.weight_indices, run.W):
            out_w[i] = w
        per_block.append(list(run.W))
        s = [np.asarray(run.s[blk.send_layer - 1][t]) for t in range(cfg.T)]
        sent.append(s)
        X = [v.astype(run.dt) for v in s]  # the next block's layer-0 spikes
    return LocalBlockResult(out_w, per_block, sent[:-1])
