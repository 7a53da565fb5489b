"""A small, independent restatement of docs/golden-contract.md for the SLTT family, used to cross-check the
core (and the golden model) step by step. numpy float16 scalar ops only: every + and x rounds once (RNE)."""
from __future__ import annotations

import numpy as np

F = np.float16


def _canon(x):
    return F(0.0) if x == 0 else x


def surrogate(kind: str, a: float, x):
    ax = abs(x)
    if kind == "rect":
        return F(1 / a) if ax < F(a / 2) else F(0.0)
    return F(F(1 / a) - F(ax * F(1 / (a * a)))) if ax < F(a) else F(0.0)


def sltt_sample(weights, inputs, label, *, lam=0.5, theta=1.0, T, loss_scale, lr, surrogate_kind="rect",
                width=1.0, reset="soft", direct=True, k_steps=None):
    """One SLTT(-K) sample. `inputs[t]` is the FP16 input vector (direct) or 0/1 spikes at step t.
    Returns (new weights, G, trace) with trace[t][l] = dict(s, v, psi, gs, delta)."""
    lam, theta = F(lam), F(theta)
    c, eta = F(loss_scale / T), F(lr / loss_scale)
    L = len(weights)
    W = [w.astype(F) for w in weights]
    G = [np.zeros_like(w) for w in W]
    v = [np.zeros(w.shape[0], F) for w in W]
    back = set(range(T)) if k_steps is None else set(k_steps)
    trace = []
    for t in range(T):
        s_in = [np.asarray(inputs[t], F)]
        hs, st = [], []
        for l in range(L):
            n_out, n_in = W[l].shape
            I = np.zeros(n_out, F)
            for jj in range(n_in):
                xj = s_in[l][jj]
                if xj == 0:
                    continue
                for i in range(n_out):
                    term = W[l][i, jj] if (l > 0 or not direct) else F(W[l][i, jj] * xj)
                    I[i] = F(I[i] + term)
            I = np.array([_canon(q) for q in I], F)
            h = np.array([F(F(lam * v[l][i]) + I[i]) for i in range(n_out)], F)
            s = (h >= theta)
            x = np.array([F(h[i] - theta) for i in range(n_out)], F)
            if reset == "soft":
                v[l] = np.where(s, x, h).astype(F)
            else:
                v[l] = np.where(s, F(0.0), h).astype(F)
            psi = np.array([surrogate(surrogate_kind, width, q) for q in x], F)
            hs.append(psi)
            st.append(dict(s=s.copy(), v=v[l].copy(), psi=psi))
            s_in.append(s.astype(F))
        if t in back:
            y = np.zeros(W[-1].shape[0], F)
            y[label] = 1
            gs = np.array([F(F(F(sv) - yv) * c) for sv, yv in zip(st[-1]["s"].astype(F), y)], F)
            gs = np.array([_canon(q) for q in gs], F)
            for l in range(L - 1, -1, -1):
                delta = np.array([_canon(F(hs[l][i] * gs[i])) for i in range(len(gs))], F)
                st[l]["gs"], st[l]["delta"] = gs, delta
                n_out, n_in = W[l].shape
                for jj in range(n_in):
                    a = s_in[l][jj]
                    if a == 0:
                        continue
                    for i in range(n_out):
                        if delta[i] == 0:
                            continue
                        term = delta[i] if (l > 0 or not direct) else F(delta[i] * a)
                        G[l][i, jj] = F(G[l][i, jj] + term)
                if l > 0:
                    g2 = np.zeros(n_in, F)
                    for k in range(n_out):
                        if delta[k] == 0:
                            continue
                        for jj in range(n_in):
                            g2[jj] = F(g2[jj] + F(W[l][k, jj] * delta[k]))
                    gs = np.array([_canon(q) for q in g2], F)
        trace.append(st)
    Wn = [np.array([[F(W[l][i, jj] - F(G[l][i, jj] * eta)) for jj in range(W[l].shape[1])]
                    for i in range(W[l].shape[0])], F) for l in range(L)]
    return Wn, G, trace
