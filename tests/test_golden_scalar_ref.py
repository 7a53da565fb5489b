"""The vectorised golden model against a literal, scalar transcription of docs/golden-contract.md.

Every operation here is one Python-float64 computation rounded once to fp16 (exact for a single fp16 + or x),
with the loops written in the contract's order. Compares final weights and every recorded delta bit for bit.
"""
import math

import numpy as np
import pytest

from spikemesh.sim.golden import SNNConfig, bits, encode, train_sample

F = np.float16


def add(a, b):
    return F(float(a) + float(b))


def mul(a, b):
    return F(float(a) * float(b))


def cz(a):
    return F(0.0) if a == 0 else a


def psi_of(cfg, x):
    a = cfg.surrogate_width
    ax = abs(float(x))
    if cfg.surrogate == "rect":
        return F(1 / a) if ax < a / 2 else F(0.0)
    if cfg.surrogate == "tri":
        return add(F(1 / a), -mul(F(ax), F(1 / (a * a)))) if ax < a else F(0.0)
    xf = float(x)
    if not math.isfinite(xf):
        return F(0.0)
    if cfg.surrogate == "sigmoid":
        k = 4 / a
        sg = 1 / (1 + math.exp(-k * xf)) if xf > -50 else 0.0
        return F(k * sg * (1 - sg))
    return F((1 / a) / (1 + (math.pi * xf / a) ** 2))


def scalar_sample(cfg, weights, pixels, label):
    L = cfg.n_layers
    W = [[[F(w) for w in row] for row in Wl] for Wl in weights]
    N = cfg.sizes
    X = encode(cfg, pixels)
    lam, theta, c, eta = F(cfg.lam), F(cfg.theta), F(cfg.loss_scale / cfg.T), F(cfg.eta)
    real0 = cfg.encoding == "direct"
    ottt = cfg.rule in ("ottt_a", "ottt_o")
    v = [[F(0.0)] * N[l + 1] for l in range(L)]
    a = [[F(0.0)] * N[l] for l in range(L)]
    G = [[[F(0.0)] * N[l] for _ in range(N[l + 1])] for l in range(L)]
    h_hist, s_hist, in_hist = {}, {}, {}
    deltas = []

    def update():
        for l in range(L):
            for i in range(N[l + 1]):
                for j in range(N[l]):
                    W[l][i][j] = add(W[l][i][j], -mul(G[l][i][j], eta))
                    G[l][i][j] = F(0.0)

    def backward(steps, temporal):
        dnext = [[F(0.0)] * N[l + 1] for l in range(L)]
        for t in steps:
            gs = [add(F(float(s_hist[L - 1, t][i])), -F(i == label)) for i in range(N[L])]
            gs = [mul(g, c) for g in gs]
            for l in range(L - 1, -1, -1):
                d = []
                for i in range(N[l + 1]):
                    h = h_hist[l, t][i]
                    p = psi_of(cfg, add(h, -theta))
                    di = mul(p, gs[i])
                    if temporal:
                        tt = mul(lam, dnext[l][i])
                        if cfg.detach_reset and cfg.reset == "hard" and s_hist[l, t][i]:
                            tt = F(0.0)
                        if not cfg.detach_reset:
                            tt = mul(tt, add(F(1.0), -mul(theta, p)))
                        di = add(di, tt)
                    d.append(cz(di))
                dnext[l] = d
                deltas.append(d)
                if l > 0:
                    new = []
                    for j in range(N[l]):
                        acc = F(0.0)
                        for k in range(N[l + 1]):
                            if d[k] != 0:
                                acc = add(acc, mul(W[l][k][j], d[k]))
                        new.append(cz(acc))
                    gs = new
                inp = in_hist[l, t]
                real = ottt or (real0 and l == 0)
                for i in range(N[l + 1]):
                    if d[i] == 0:
                        continue
                    for j in range(N[l]):
                        if inp[j] != 0:
                            G[l][i][j] = cz(add(G[l][i][j], mul(d[i], inp[j]) if real else d[i]))

    for t in range(cfg.T):
        inp = [F(u) for u in X[t]]
        for l in range(L):
            real = real0 and l == 0
            hs, ss = [], []
            for i in range(N[l + 1]):
                I = F(0.0)
                for j in range(N[l]):
                    if inp[j] != 0:
                        I = add(I, mul(W[l][i][j], inp[j]) if real else W[l][i][j])
                h = add(mul(lam, v[l][i]), cz(I))
                s = h >= theta
                if cfg.reset == "soft":
                    v[l][i] = add(h, -theta) if s else h
                else:
                    v[l][i] = F(0.0) if s else h
                hs.append(h)
                ss.append(s)
            if ottt:
                a[l] = [add(mul(lam, a[l][j]), inp[j]) for j in range(N[l])]
                in_hist[l, t] = list(a[l])
            else:
                in_hist[l, t] = inp
            h_hist[l, t], s_hist[l, t] = hs, ss
            inp = [F(1.0) if s else F(0.0) for s in ss]
        r = cfg.rule
        if r == "bptt" and t == cfg.T - 1:
            backward(range(cfg.T - 1, -1, -1), True)
        elif r == "tbptt" and ((t + 1) % cfg.k == 0 or t == cfg.T - 1):
            backward(range(t, (t // cfg.k) * cfg.k - 1, -1), True)
        elif r == "sltt_k" and t in cfg.k_steps:
            backward([t], False)
        elif r in ("sltt", "ottt_a", "ottt_o"):
            backward([t], False)
        if r == "ottt_o":
            update()
    if cfg.rule != "ottt_o":
        update()
    return [np.array(Wl, F) for Wl in W], deltas


CASES = [
    ("bptt", {}, "rect", "soft", True, "direct"),
    ("bptt", {}, "tri", "hard", True, "rate"),
    ("bptt", {}, "sigmoid", "soft", False, "direct"),
    ("tbptt", {"window": 2}, "atan", "soft", True, "direct"),
    ("sltt", {}, "tri", "soft", True, "rate"),
    ("sltt_k", {"k_steps": (1, 3)}, "rect", "hard", True, "direct"),
    ("ottt_a", {}, "sigmoid", "soft", True, "direct"),
    ("ottt_o", {}, "rect", "soft", True, "rate"),
]


@pytest.mark.parametrize("rule, kw, sur, reset, detach, enc", CASES)
def test_vectorised_equals_scalar_transcription(rule, kw, sur, reset, detach, enc):
    cfg = SNNConfig(sizes=(7, 6, 5, 3), T=5, rule=rule, surrogate=sur, surrogate_width=2.0, reset=reset,
                    detach_reset=detach, encoding=enc, loss_scale=64, lr=2.0**-3, **kw)
    rng = np.random.default_rng(len(rule) * 7 + len(sur))
    for _ in range(20):  # draw until the sample has some nonzero error to propagate (deterministic)
        ws = [(rng.standard_normal(s) * 0.9).astype(np.float16) for s in cfg.weight_shapes()]
        x = rng.integers(0, 17, 7)
        got = train_sample(cfg, ws, x, 2, record=True)
        got_deltas = [e.value for e in got.trace.events if e.name == "delta"]
        if sum(int(np.count_nonzero(d)) for d in got_deltas) > 4:
            break
    ref_w, ref_deltas = scalar_sample(cfg, ws, x, 2)
    assert len(got_deltas) == len(ref_deltas) > 0
    assert any(np.any(d != 0) for d in got_deltas)
    for g, r in zip(got_deltas, ref_deltas):
        assert np.array_equal(bits(g), bits(np.array(r, F)))
    changed = 0
    for g, r, w0 in zip(got.weights, ref_w, ws):
        assert np.array_equal(bits(g), bits(r))
        changed += int(np.count_nonzero(bits(g) != bits(w0)))
    assert changed > 0
