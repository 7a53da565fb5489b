"""Independent PyTorch (autograd) reference of every rule, for tests and the float32-vs-PyTorch benchmark.

The network is written the textbook way (W @ s, autograd through a surrogate spike function) and each rule is
expressed by WHERE the graph is detached, as in the papers: BPTT (nothing), TBPTT (v at window starts),
SLTT / SLTT-K (v every step: spatial path only), OTTT (v every step, and the weight gradient routed through
the presynaptic trace a: I = W.detach() s + W a - (W a).detach()), local (block inputs detached, heads).
The loss is the true loss (no scaling): golden G / S is compared with these gradients.
torch is a test-only dependency: import this module only where torch is installed.
"""
from __future__ import annotations

import math

import numpy as np
import torch

from .config import SNNConfig
from .core import predict
from .encoding import encode


def _psi(kind: str, a: float, x: torch.Tensor) -> torch.Tensor:
    ax = x.abs()
    if kind == "rect":
        return (ax < a / 2).to(x.dtype) / a
    if kind == "tri":
        return torch.where(ax < a, 1.0 / a - ax / (a * a), torch.zeros_like(x))
    if kind == "sigmoid":
        k = 4.0 / a
        sg = torch.sigmoid(k * x)
        return k * sg * (1 - sg)
    return (1.0 / a) / (1.0 + (math.pi * x / a) ** 2)


class _Spike(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, kind, a):
        ctx.save_for_backward(x)
        ctx.kind, ctx.a = kind, a
        return (x >= 0).to(x.dtype)

    @staticmethod
    def backward(ctx, g):
        (x,) = ctx.saved_tensors
        return g * _psi(ctx.kind, ctx.a, x), None, None


def _step_loss(cfg: SNNConfig, s: torch.Tensor, label: int) -> torch.Tensor:
    if cfg.loss == "mse_step":
        y = torch.zeros_like(s)
        y[label] = 1
        return 0.5 * ((s - y) ** 2).sum() / cfg.T
    return -torch.log_softmax(s, 0)[label] / cfg.T


class TorchSNN:
    """One sample at a time, float64 by default; weights are leaf tensors (list, heads last)."""

    def __init__(self, cfg: SNNConfig, weights: list[np.ndarray], dtype=torch.float64) -> None:
        self.cfg = cfg
        self.dtype = dtype
        self.W = [torch.tensor(np.asarray(w, np.float64), dtype=dtype, requires_grad=True) for w in weights]
        L = cfg.n_layers
        self.source = list(range(L)) + list(cfg.block_last_layers)
        starts, acc = set(), 0
        for b in (cfg.blocks or ()):
            starts.add(acc)
            acc += b
        self.block_starts = starts - {0}  # 0-based layer indices whose input is a detached block boundary

    def _detach_v(self, t: int) -> bool:
        r = self.cfg.rule
        if r == "bptt":
            return False
        if r in ("tbptt", "local"):
            return t % self.cfg.k == 0
        return True

    def run(self, x: np.ndarray, label: int, sample_index: int = 0, steps: range | None = None,
            state: dict | None = None) -> tuple[torch.Tensor, dict, list[torch.Tensor]]:
        """Forward over `steps` (default all T), returning (loss, state, output spikes per step)."""
        cfg = self.cfg
        X = torch.tensor(np.asarray(encode(cfg, x, sample_index), np.float64), dtype=self.dtype)
        n_w = len(self.W)
        if state is None:
            state = {"v": [torch.zeros(w.shape[0], dtype=self.dtype) for w in self.W],
                     "a": [torch.zeros(w.shape[1], dtype=self.dtype) for w in self.W]}
        ottt = cfg.rule in ("ottt_a", "ottt_o")
        loss = torch.zeros((), dtype=self.dtype)
        outs = []
        for t in steps if steps is not None else range(cfg.T):
            spikes = [X[t]]
            for li in range(n_w):
                src = spikes[self.source[li]]
                if li in self.block_starts:
                    src = src.detach()
                W = self.W[li]
                v = state["v"][li]
                if self._detach_v(t):
                    v = v.detach()
                if ottt:
                    a = cfg.lam * state["a"][li] + src.detach()
                    state["a"][li] = a
                    I = W.detach() @ src + W @ a - (W @ a).detach()
                else:
                    I = W @ src
                h = cfg.lam * v + I
                if cfg.readout == "membrane" and li == cfg.n_layers - 1:  # non-spiking output: o = h, v = h
                    s, v = h, h
                else:
                    s = _Spike.apply(h - cfg.theta, cfg.surrogate, cfg.surrogate_width)
                    sr = s.detach() if cfg.detach_reset else s
                    v = h - cfg.theta * sr if cfg.reset == "soft" else h * (1 - sr)
                state["v"][li] = v
                if li < cfg.n_layers:
                    spikes.append(s)
                if li >= cfg.n_layers - 1 and (cfg.rule != "sltt_k" or t in cfg.k_steps):
                    loss = loss + _step_loss(cfg, s, label)
                if li == cfg.n_layers - 1:
                    outs.append(torch.zeros_like(h) if cfg.readout == "membrane" else s.detach())
                    state.setdefault("h_sum", torch.zeros_like(h))
                    state["h_sum"] = state["h_sum"] + h.detach()
        return loss, state, outs

    def gradients(self, x: np.ndarray, label: int, sample_index: int = 0) -> list[np.ndarray]:
        """dL/dW of the rule for one sample (all rules but ottt_o, which updates inside the sample)."""
        loss, _, _ = self.run(x, label, sample_index)
        grads = torch.autograd.grad(loss, self.W, allow_unused=True)
        return [np.zeros(w.shape) if g is None else g.detach().numpy().astype(np.float64)
                for g, w in zip(grads, self.W)]

    def sgd_sample(self, x: np.ndarray, label: int, sample_index: int = 0) -> None:
        """Train on one sample with plain SGD (lr), updating after every step for ottt_o."""
        cfg = self.cfg
        if cfg.rule == "ottt_o":
            state = None
            for t in range(cfg.T):
                loss, state, _ = self.run(x, label, sample_index, steps=range(t, t + 1), state=state)
                grads = torch.autograd.grad(loss, self.W, allow_unused=True)
                state = {k: [u.detach() for u in vs] if isinstance(vs, list) else vs.detach() for k, vs in state.items()}
                with torch.no_grad():
                    for w, g in zip(self.W, grads):
                        if g is not None:
                            w -= cfg.lr * g
            return
        grads = torch.autograd.grad(self.run(x, label, sample_index)[0], self.W, allow_unused=True)
        with torch.no_grad():
            for w, g in zip(self.W, grads):
                if g is not None:
                    w -= cfg.lr * g

    def predict(self, x: np.ndarray, sample_index: int = 0) -> int:
        with torch.no_grad():
            _, state, outs = self.run(x, 0, sample_index)
        counts = torch.stack(outs).sum(0).numpy().astype(np.int64)
        return predict(counts, state["h_sum"].numpy())  # the golden rule: counts, then summed h

    def weights(self) -> list[np.ndarray]:
        return [w.detach().numpy().copy() for w in self.W]


class TorchOPZO:
    """OPZO (Xiao et al. 2024, online pseudo-zeroth-order training) written from its equations with torch
    tensors (float32 by default): one forward pass per step with noise sigma*z injected into the input
    current of every hidden layer, the output layer's loss gradient g_o = dL_t/ds_L (autograd), a direct
    top-down signal B_l^T g_o through the momentum feedback matrices B_l, presynaptic traces a (online), and
    B_l <- beta B_l + (1 - beta)/sigma * s_L z_l^T after the step. Matrix products are torch's (W @ s), so the
    order of float32 roundings differs from the golden model's; the noise signs z come from the same LFSR
    stream (docs/golden.md: "OPZO")."""

    def __init__(self, cfg: SNNConfig, weights: list[np.ndarray], dtype=torch.float32) -> None:
        if cfg.rule != "opzo":
            raise ValueError(f"TorchOPZO needs rule opzo, got {cfg.rule!r}")
        self.cfg, self.dtype = cfg, dtype
        L = cfg.n_layers
        self.W = [torch.tensor(np.asarray(w, np.float64), dtype=dtype) for w in weights[:L]]
        self.B = [torch.tensor(np.asarray(w, np.float64), dtype=dtype) for w in weights[L:]]

    def _noise(self, sample_index: int) -> list[list[torch.Tensor]]:
        from .lfsr import STREAM_OPZO_NOISE, noise_signs, stream_seed

        cfg = self.cfg
        hid = list(cfg.sizes[1:-1])
        z = noise_signs(stream_seed(cfg.lfsr_seed, sample_index, STREAM_OPZO_NOISE), cfg.T * sum(hid))
        z = z.reshape(cfg.T, sum(hid)).astype(np.float64)
        off = np.concatenate([[0], np.cumsum(hid)])
        return [[torch.tensor(z[t, off[l]:off[l + 1]], dtype=self.dtype) for l in range(len(hid))]
                for t in range(cfg.T)]

    def gradients(self, x: np.ndarray, label: int, sample_index: int = 0) -> tuple[list[np.ndarray], list[np.ndarray]]:
        """(dL/dW_l estimates summed over the steps, B_l after the sample); W is not changed."""
        cfg, dt = self.cfg, self.dtype
        L = cfg.n_layers
        X = torch.tensor(np.asarray(encode(cfg, x, sample_index), np.float64), dtype=dt)
        Z = self._noise(sample_index)
        v = [torch.zeros(w.shape[0], dtype=dt) for w in self.W]
        a = [torch.zeros(w.shape[1], dtype=dt) for w in self.W]
        grads = [torch.zeros_like(w) for w in self.W]
        B = [b.clone() for b in self.B]
        for t in range(cfg.T):
            inp, hs = X[t], []
            for l in range(L):
                a[l] = cfg.lam * a[l] + inp
                I = self.W[l] @ inp
                if l < L - 1:
                    I = I + cfg.opzo_sigma * Z[t][l]
                h = cfg.lam * v[l] + I
                s = (h >= cfg.theta).to(dt)
                v[l] = h - cfg.theta * s if cfg.reset == "soft" else h * (1 - s)
                hs.append(h)
                inp = s
            sL = inp.clone().requires_grad_(True)
            (g_o,) = torch.autograd.grad(_step_loss(cfg, sL, label), sL)
            for l in range(L):
                e = g_o if l == L - 1 else B[l].T @ g_o
                delta = _psi(cfg.surrogate, cfg.surrogate_width, hs[l] - cfg.theta) * e
                grads[l] += torch.outer(delta, a[l])
            for l in range(L - 1):
                B[l] = cfg.opzo_beta * B[l] + ((1.0 - cfg.opzo_beta) / cfg.opzo_sigma) * torch.outer(inp, Z[t][l])
        return [g.numpy().astype(np.float64) for g in grads], [b.numpy().astype(np.float64) for b in B]

    def sgd_sample(self, x: np.ndarray, label: int, sample_index: int = 0) -> None:
        grads, B = self.gradients(x, label, sample_index)
        for w, g in zip(self.W, grads):
            w -= self.cfg.lr * torch.tensor(g, dtype=self.dtype)
        self.B = [torch.tensor(b, dtype=self.dtype) for b in B]

    def weights(self) -> list[np.ndarray]:
        return [w.numpy().copy() for w in self.W] + [b.numpy().copy() for b in self.B]
