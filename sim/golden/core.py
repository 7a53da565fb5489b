"""One sample through the network: forward steps, the rule's backward steps, the SGD update.

The order of every rounded operation is docs/golden-contract.md; docs/golden.md adds the rule details.
Vectorised across neurons only: each accumulation runs over its terms one at a time (np.add.accumulate).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .config import SNNConfig
from .encoding import encode
from .lfsr import (STREAM_K_STEPS, STREAM_OPZO_NOISE, STREAM_SR, WORD_STEPS, lfsr_draws, noise_signs,
                   random_k_steps, stream_seed)
from .numerics import accumulate_rows, canon, dtype_of, sr_round_fp16
from .surrogates import surrogate
from .trace import Trace
from .work import PhaseCounts, WorkCounts


@dataclass
class SampleResult:
    weights: list[np.ndarray]  # after this sample's update(s)
    prediction: int  # from the forward pass of this sample (weights before the update; ottt_o: as they evolve)
    counts: np.ndarray  # output spike count per class
    loss: float  # float64 host-side value of the configured loss (monitoring only)
    work: WorkCounts
    trace: Trace | None


@dataclass
class ForwardResult:
    spikes: list[np.ndarray]  # per main layer: (T, N_l) bool
    counts: np.ndarray
    h_sum: np.ndarray  # sum over t (ascending, in the format) of the output layer's h
    prediction: int


def predict(counts: np.ndarray, h_sum: np.ndarray) -> int:
    """argmax of output spike counts; ties -> larger summed output membrane h; then the lowest index."""
    hs = np.nan_to_num(h_sum.astype(np.float64), nan=-np.inf)
    order = np.lexsort((np.arange(len(counts)), -hs, -counts.astype(np.int64)))
    return int(order[0])


class _Sample:
    """Mutable state of one sample: weights, G, membranes, traces and what backward needs per step."""

    def __init__(self, cfg: SNNConfig, weights: list[np.ndarray], record: bool, sample_index: int = 0,
                 train: bool = False) -> None:
        all_shapes = cfg.weight_shapes()
        if len(weights) != len(all_shapes):
            raise ValueError(f"weights must be a list of {len(all_shapes)} arrays with shapes {all_shapes}, got {len(weights)}")
        self.cfg = cfg
        self.dt = dt = dtype_of(cfg.fmt)
        for i, (w, shp) in enumerate(zip(weights, all_shapes)):
            if np.shape(w) != shp:
                raise ValueError(f"weights[{i}] must have shape {shp}, got {np.shape(w)}")
        shapes = all_shapes[:cfg.n_lif]
        self.W = [np.array(w, dtype=dt, copy=True) for w in weights[:cfg.n_lif]]
        self.B = [np.array(w, dtype=dt, copy=True) for w in weights[cfg.n_lif:]]  # opzo feedback matrices
        # opzo noise (training passes only): sign z[t][l][j], one LFSR step per draw, t / layer / j ascending
        self.z = None
        if cfg.rule == "opzo" and train:
            hid = list(cfg.sizes[1:-1])
            signs = noise_signs(stream_seed(cfg.lfsr_seed, sample_index, STREAM_OPZO_NOISE), cfg.T * sum(hid))
            self.z = signs.reshape(cfg.T, sum(hid))
            self.z_off = np.concatenate([[0], np.cumsum(hid)])
        self.sr_state = stream_seed(cfg.lfsr_seed, sample_index, STREAM_SR) if cfg.weight_update == "sr" else None
        self.G = [np.zeros(s, dt) for s in shapes]
        self.M = [np.zeros(s, dt) for s in shapes] if cfg.momentum else None
        self.master = ([np.asarray(w, np.float32).copy() for w in weights[:cfg.n_lif]]
                       if cfg.weight_update == "fp32_master" and cfg.fmt != "fp32" else None)
        L = cfg.n_layers
        # layer index li (0-based into W) -> index of the layer whose spikes feed it (0 = network input)
        self.source = list(range(L)) + list(cfg.block_last_layers)
        self.n_out = [s[0] for s in shapes]
        self.lam, self.theta = dt(cfg.lam), dt(cfg.theta)
        self.c = dt(cfg.loss_scale / cfg.T)
        self.eta = dt(cfg.eta)
        self.use_trace = cfg.rule in ("ottt_a", "ottt_o", "opzo")
        self.v = [np.zeros(n, dt) for n in self.n_out]
        self.a = [np.zeros(s[1], dt) for s in shapes] if self.use_trace else None
        self.h: list[dict[int, np.ndarray]] = [{} for _ in shapes]
        self.s: list[dict[int, np.ndarray]] = [{} for _ in shapes]
        self.wg_in: list[dict[int, np.ndarray]] = [{} for _ in shapes]
        self.trace = Trace() if record else None
        self.work = WorkCounts()
        self._i1 = None  # layer-1 current for a constant direct input: same bits every step until W_1 changes

    def rec(self, phase: str, t: int, li: int, name: str, value: np.ndarray) -> None:
        if self.trace is not None:
            self.trace.add(phase, t, li + 1, name, value)

    # ---- forward ---------------------------------------------------------------------------------------
    def current(self, li: int, src: np.ndarray, real: bool) -> np.ndarray:
        W, n = self.W[li], self.n_out[li]
        dt = self.dt
        if self.cfg.dense:
            terms = W.T * src[:, None] if real else np.where(src[:, None] != 0, W.T, dt(0.0))
            nnz = int(np.count_nonzero(src))
        else:
            nz = np.flatnonzero(src)
            nnz = len(nz)
            terms = W.T[nz] * src[nz][:, None] if real else W.T[nz]
        fp = self.work.fp
        fp.events += nnz
        fp.adds += nnz * n
        fp.muls += nnz * n if real else 0
        fp.skipped += (len(src) - nnz) * n
        return accumulate_rows(terms, n, dt)

    def forward_step(self, t: int, x_t: np.ndarray) -> None:
        cfg, dt = self.cfg, self.dt
        real_input = cfg.encoding == "direct"
        outs = [x_t]
        if self.trace is not None:
            self.trace.add("fp", t, 0, "x", x_t)
        for li in range(len(self.W)):
            src = outs[self.source[li]]
            real = real_input and self.source[li] == 0
            if real and li == 0:
                if self._i1 is None:
                    self._i1 = self.current(li, src, real)
                else:  # the hardware recomputes it: count that work, reuse the identical bits
                    nnz = int(np.count_nonzero(src))
                    n = self.n_out[li]
                    self.work.fp += PhaseCounts(nnz, nnz * n, nnz * n, (len(src) - nnz) * n)
                I = self._i1
            else:
                I = self.current(li, src, real)
            n = self.n_out[li]
            if self.z is not None and li < cfg.n_layers - 1:  # opzo: I = fl(I + sigma z), z = +-1
                zt = self.z[t, self.z_off[li]:self.z_off[li + 1]]
                I = canon(I + np.where(zt > 0, dt(cfg.opzo_sigma), dt(-cfg.opzo_sigma)))
                self.work.fp.adds += n
                if self.trace is not None:
                    self.rec("fp", t, li, "z", zt)
            h = self.lam * self.v[li] + I
            s = h >= self.theta
            if cfg.readout == "membrane" and li == cfg.n_layers - 1:  # non-spiking output: v = h, no spikes
                s = np.zeros(n, bool)
                v = h
            elif cfg.reset == "soft":
                v = np.where(s, h - self.theta, h)
            else:
                v = np.where(s, dt(0.0), h)
            fp = self.work.fp
            fp.adds += n + (int(np.count_nonzero(s)) if cfg.reset == "soft" else 0)
            fp.muls += n
            if self.use_trace:
                self.a[li] = self.lam * self.a[li] + src
                fp.adds += len(src)
                fp.muls += len(src)
                self.wg_in[li][t] = self.a[li]
            else:
                self.wg_in[li][t] = src
            self.v[li] = v
            self.h[li][t] = h
            self.s[li][t] = s
            if li < cfg.n_layers:
                outs.append(s.astype(dt))
            if self.trace is not None:
                for name, val in (("I", I), ("h", h), ("s", s), ("v", v)):
                    self.rec("fp", t, li, name, val)
                if self.use_trace:
                    self.rec("fp", t, li, "a", self.a[li])

    # ---- loss, backward --------------------------------------------------------------------------------
    def loss_grad(self, s: np.ndarray, label: int) -> np.ndarray:
        dt = self.dt
        y = np.zeros(len(s), dt)
        y[label] = 1
        if self.cfg.loss == "mse_step":
            e = s.astype(dt) - y
        else:  # host-side softmax of the output spikes (membrane readout: of h) in float64, rounded once
            z = s.astype(np.float64)
            ez = np.exp(z - z.max())
            p = (ez / np.add.reduce(ez)).astype(dt)
            e = p - y
        return e * self.c

    def out_grad(self, li: int, t: int, label: int) -> np.ndarray:
        """Loss gradient of output layer li at step t: from its spikes, or (membrane readout, the final layer)
        from its membrane h."""
        if self.cfg.readout == "membrane" and li == self.cfg.n_layers - 1:
            return self.loss_grad(self.h[li][t], label)
        return self.loss_grad(self.s[li][t], label)

    def delta(self, li: int, t: int, gs: np.ndarray, dnext: np.ndarray | None) -> np.ndarray:
        cfg, dt = self.cfg, self.dt
        n = self.n_out[li]
        if cfg.readout == "membrane" and li == cfg.n_layers - 1:  # o = h: dL/dh = gs (+ lam * delta[t+1])
            d = gs
            if dnext is not None:
                d = d + self.lam * dnext
                self.work.bp.adds += n
                self.work.bp.muls += n
            d = canon(d)
            self.work.bp.events += int(np.count_nonzero(d))
            if self.trace is not None:
                self.rec("bp", t, li, "delta", d)
            return d
        h = self.h[li][t]
        x = h - self.theta
        psi = surrogate(cfg.surrogate, cfg.surrogate_width, x)
        d = psi * gs
        bp = self.work.bp
        bp.adds += n
        bp.muls += n
        if cfg.surrogate == "tri":
            k = int(np.count_nonzero(np.abs(x) < dt(cfg.surrogate_width)))
            bp.adds += k
            bp.muls += k
        if dnext is not None:
            tt = self.lam * dnext
            bp.muls += n
            if cfg.detach_reset:
                if cfg.reset == "hard":
                    tt = np.where(self.s[li][t], dt(0.0), tt)
            else:
                if cfg.reset == "soft":
                    factor = dt(1.0) - self.theta * psi
                else:  # v = h (1 - s): dv/dh = (1 - s) - h psi  (golden-only option)
                    factor = np.where(self.s[li][t], dt(0.0), dt(1.0)) - h * psi
                tt = tt * factor
                bp.adds += n
                bp.muls += 2 * n
            d = d + tt
            bp.adds += n
        d = canon(d)
        bp.events += int(np.count_nonzero(d))
        if self.trace is not None:
            self.rec("bp", t, li, "psi", psi)
            self.rec("bp", t, li, "delta", d)
        return d

    def propagate(self, li: int, d: np.ndarray, W: np.ndarray | None = None) -> np.ndarray:
        """gs for the layer feeding li: over k ascending (skipping delta = 0), fl(gs + fl(W[k, j] * d[k])).
        (opzo: W = the feedback matrix B_l, d = the output layer's loss gradient gs_L.)"""
        W = self.W[li] if W is None else W
        n_in = W.shape[1]
        if self.cfg.dense:
            terms = W * d[:, None]
            nnz = int(np.count_nonzero(d))
        else:
            nz = np.flatnonzero(d)
            nnz = len(nz)
            terms = W[nz] * d[nz][:, None]
        bp = self.work.bp
        bp.adds += nnz * n_in
        bp.muls += nnz * n_in
        bp.skipped += (len(d) - nnz) * n_in
        return accumulate_rows(terms, n_in, self.dt)

    def weight_grad(self, li: int, t: int, d: np.ndarray) -> None:
        inp = self.wg_in[li][t]
        real = self.use_trace or (self.cfg.encoding == "direct" and self.source[li] == 0)
        G, dt = self.G[li], self.dt
        if self.cfg.dense:
            term = d[:, None] * inp[None, :] if real else np.where(inp[None, :] != 0, d[:, None], dt(0.0))
            self.G[li] = canon(G + term)
            pairs = int(np.count_nonzero(d)) * int(np.count_nonzero(inp))
        else:
            nzi, nzj = np.flatnonzero(d), np.flatnonzero(inp)
            pairs = len(nzi) * len(nzj)
            if pairs:
                # no canon needed: G is never -0 and G + t (t != 0, or t = fl(d*a) = -0) cannot give -0
                ix = (nzi[:, None], nzj[None, :])
                term = d[nzi][:, None] * inp[nzj][None, :] if real else d[nzi][:, None]
                G[ix] = G[ix] + term
        wg = self.work.wg
        wg.events += pairs
        wg.adds += pairs
        wg.muls += pairs if real else 0
        wg.skipped += G.size - pairs
        if self.trace is not None:
            self.rec("wg", t, li, "G", self.G[li])

    def backward_opzo(self, t: int, label: int) -> None:
        """OPZO step t: output layer from its loss; every hidden layer l (L-1..1) from the direct top-down
        signal e_l = B_l^T gs_L (B before this step's update); G_l += delta_l (x) a_{l-1}; then every
        B_l = canon(fl(fl(beta * B_l) + q)), q[k, j] = s_L[t][k] ? (z_l[t][j] > 0 ? kappa : -kappa) : 0,
        kappa = fl((1 - beta) / sigma)."""
        cfg, dt = self.cfg, self.dt
        if self.z is None:
            raise ValueError("rule opzo trains only through train_sample / sample_gradients (noise needs train=True)")
        L = cfg.n_layers
        gs = self.loss_grad(self.s[L - 1][t], label)
        if self.trace is not None:
            self.rec("bp", t, L - 1, "gs", gs)
        d = self.delta(L - 1, t, gs, None)
        self.weight_grad(L - 1, t, d)
        for li in range(L - 2, -1, -1):
            e = self.propagate(li, gs, self.B[li])
            if self.trace is not None:
                self.rec("bp", t, li, "gs", e)
            d = self.delta(li, t, e, None)
            self.weight_grad(li, t, d)
        sL = self.s[L - 1][t]
        kappa = dt((1.0 - cfg.opzo_beta) / cfg.opzo_sigma)
        beta = dt(cfg.opzo_beta)
        for li in range(L - 1):
            zt = self.z[t, self.z_off[li]:self.z_off[li + 1]]
            q = np.where(sL[:, None], np.where(zt[None, :] > 0, kappa, -kappa), dt(0.0))
            self.B[li] = canon(beta * self.B[li] + q)
            self.work.bp.muls += self.B[li].size
            self.work.bp.adds += self.B[li].size
            if self.trace is not None:
                self.rec("bp", t, L + li, "B", self.B[li])

    def backward(self, steps: list[int], temporal: bool, label: int) -> None:
        """Backward over `steps` (descending); layers L..1 per step; each head just before its block's end."""
        cfg = self.cfg
        if cfg.rule == "opzo":
            for t in steps:
                self.backward_opzo(t, label)
            return
        L = cfg.n_layers
        heads = {e - 1: L + b for b, e in enumerate(cfg.block_last_layers)}  # main li -> head li
        dnext = [np.zeros(n, self.dt) for n in self.n_out] if temporal else None
        for t in steps:
            gs = {L - 1: self.out_grad(L - 1, t, label)}
            for li in range(L - 1, -1, -1):
                if li in heads:
                    hi = heads[li]
                    g_head = self.loss_grad(self.s[hi][t], label)
                    if self.trace is not None:
                        self.rec("bp", t, hi, "gs", g_head)
                    dh = self.delta(hi, t, g_head, dnext[hi] if temporal else None)
                    if temporal:
                        dnext[hi] = dh
                    gs[li] = self.propagate(hi, dh)
                    self.weight_grad(hi, t, dh)
                if self.trace is not None:
                    self.rec("bp", t, li, "gs", gs[li])
                d = self.delta(li, t, gs[li], dnext[li] if temporal else None)
                if temporal:
                    dnext[li] = d
                if li > 0 and (li - 1) not in heads:  # a block boundary detaches: gs comes from the head
                    gs[li - 1] = self.propagate(li, d)
                self.weight_grad(li, t, d)

    # ---- update ----------------------------------------------------------------------------------------
    def update(self, t: int) -> None:
        cfg, dt = self.cfg, self.dt
        up = self.work.update
        for li in range(len(self.W)):
            G, W = self.G[li], self.W[li]
            step = G
            if self.M is not None:
                self.M[li] = canon(dt(cfg.momentum) * self.M[li] + G)
                step = self.M[li]
                up.muls += G.size
                up.adds += G.size
                if self.trace is not None:
                    self.rec("update", t, li, "m", step)
            nz = step != 0
            nnz = int(np.count_nonzero(nz))
            if self.master is not None:  # FP32 master weights: the update is applied in float32
                self.master[li] = self.master[li] - step.astype(np.float32) * np.float32(cfg.eta)
                self.W[li] = self.master[li].astype(dt)
                up.vanished += int(np.count_nonzero(self.master[li][nz] == self.master[li][nz] + step[nz].astype(np.float32) * np.float32(cfg.eta)))
            elif self.sr_state is not None:  # W = SR(W - fl(step * eta)), one word draw per nonzero step
                # the hardware UPD's order: columns ascending, rows ascending within a column (column-major)
                idx = np.flatnonzero(nz.T)
                r, self.sr_state = lfsr_draws(self.sr_state, len(idx), WORD_STEPS)
                Wf = W.T.reshape(-1)
                u = step.T.reshape(-1)[idx] * self.eta
                new = sr_round_fp16(Wf[idx].astype(np.float64) - u.astype(np.float64), r)
                up.vanished += int(np.count_nonzero(new == Wf[idx]))
                Wf = Wf.copy()
                Wf[idx] = new
                self.W[li] = np.ascontiguousarray(Wf.reshape(W.T.shape).T)
            elif cfg.dense:
                self.W[li] = W - step * self.eta
                up.vanished += int(np.count_nonzero(self.W[li][nz] == W[nz]))
            else:
                new = W[nz] - step[nz] * self.eta
                up.vanished += int(np.count_nonzero(new == W[nz]))
                W[nz] = new
            up.events += nnz
            up.muls += nnz
            up.adds += nnz
            up.skipped += G.size - nnz
            self.G[li] = np.zeros_like(G)
            if self.trace is not None:
                self.rec("update", t, li, "W", self.W[li])
        self._i1 = None


def sample_k_steps(cfg: SNNConfig, sample_index: int) -> tuple[int, ...] | None:
    """SLTT-K's step set for this sample: cfg.k_steps, or with k_random len(k_steps) steps drawn from the
    LFSR stream STREAM_K_STEPS (lfsr.random_k_steps)."""
    if cfg.rule != "sltt_k":
        return None
    if not cfg.k_random:
        return cfg.k_steps
    return random_k_steps(cfg.T, len(cfg.k_steps), stream_seed(cfg.lfsr_seed, sample_index, STREAM_K_STEPS))


def _backward_plan(cfg: SNNConfig, t: int, k_steps: tuple[int, ...] | None = None) -> tuple[list[int], bool] | None:
    """Which steps run backward after forward step t, and whether the temporal term is kept."""
    r = cfg.rule
    if r == "bptt":
        return (list(range(cfg.T - 1, -1, -1)), True) if t == cfg.T - 1 else None
    if r in ("tbptt", "local"):
        k = cfg.k
        if (t + 1) % k == 0 or t == cfg.T - 1:
            start = (t // k) * k
            return list(range(t, start - 1, -1)), True
        return None
    if r == "sltt_k":
        return ([t], False) if t in (cfg.k_steps if k_steps is None else k_steps) else None
    return [t], False  # sltt, ottt_a, ottt_o, opzo


def _loss64(cfg: SNNConfig, out_spikes: list[np.ndarray], label: int) -> float:
    y = np.zeros(cfg.sizes[-1])
    y[label] = 1.0
    total = 0.0
    for s in out_spikes:
        z = s.astype(np.float64)
        if cfg.loss == "mse_step":
            total += 0.5 * float(np.add.reduce((z - y) ** 2))
        else:
            ez = np.exp(z - z.max())
            total -= float(np.log(ez[label] / np.add.reduce(ez)))
    return total / cfg.T


def train_sample(cfg: SNNConfig, weights: list[np.ndarray], x: np.ndarray, label: int, record: bool = False,
                 sample_index: int = 0) -> SampleResult:
    """Train on one sample (pixels 0..16, encoded per cfg.encoding) and return the updated weights.

    `sample_index` seeds the rate encoder's LFSR (ignored for direct input)."""
    if not 0 <= int(label) < cfg.sizes[-1]:
        raise ValueError(f"label must be in 0..{cfg.sizes[-1] - 1}, got {label!r}")
    run = _Sample(cfg, weights, record, sample_index, train=True)
    X = encode(cfg, x, sample_index)
    L = cfg.n_layers
    ks = sample_k_steps(cfg, sample_index)
    for t in range(cfg.T):
        run.forward_step(t, X[t])
        plan = _backward_plan(cfg, t, ks)
        if plan is not None:
            run.backward(plan[0], plan[1], int(label))
        if cfg.rule == "ottt_o":
            run.update(t)
    if cfg.rule != "ottt_o":
        run.update(-1)
    out = [run.h[L - 1][t] if cfg.readout == "membrane" else run.s[L - 1][t] for t in range(cfg.T)]
    counts, h_sum = _count_and_hsum(run, L - 1)
    return SampleResult(weights=run.W + run.B, prediction=predict(counts, h_sum), counts=counts,
                        loss=_loss64(cfg, out, int(label)), work=run.work, trace=run.trace)


def _count_and_hsum(run: _Sample, li: int) -> tuple[np.ndarray, np.ndarray]:
    T = run.cfg.T
    counts = np.zeros(run.n_out[li], np.int64)
    for t in range(T):
        counts += run.s[li][t]
    hs = np.stack([run.h[li][t] for t in range(T)])
    return counts, accumulate_rows(hs, run.n_out[li], run.dt)


def sample_gradients(cfg: SNNConfig, weights: list[np.ndarray], x: np.ndarray, label: int,
                     sample_index: int = 0) -> list[np.ndarray]:
    """G of every weight matrix (loss-scaled by S, in the format) as it stands right before the
    end-of-sample update; all rules but ottt_o (which updates after every step)."""
    if cfg.rule == "ottt_o":
        raise ValueError("rule ottt_o updates after every step; compare its weights (train_sample) instead")
    run = _Sample(cfg, weights, False, sample_index, train=True)
    X = encode(cfg, x, sample_index)
    ks = sample_k_steps(cfg, sample_index)
    for t in range(cfg.T):
        run.forward_step(t, X[t])
        plan = _backward_plan(cfg, t, ks)
        if plan is not None:
            run.backward(plan[0], plan[1], int(label))
    return [g.copy() for g in run.G]


def forward(cfg: SNNConfig, weights: list[np.ndarray], x: np.ndarray, sample_index: int = 0) -> ForwardResult:
    """Inference only: spikes of every main layer, output counts, summed output h, prediction."""
    run = _Sample(cfg, weights, False)
    X = encode(cfg, x, sample_index)
    for t in range(cfg.T):
        run.forward_step(t, X[t])
    L = cfg.n_layers
    counts, h_sum = _count_and_hsum(run, L - 1)
    spikes = [np.stack([run.s[li][t] for t in range(cfg.T)]) for li in range(L)]
    return ForwardResult(spikes=spikes, counts=counts, h_sum=h_sum, prediction=predict(counts, h_sum))
