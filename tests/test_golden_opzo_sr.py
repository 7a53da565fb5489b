"""OPZO (vs a PyTorch float32 transcription of its equations), stochastic-rounding updates (vs an exact
Fraction reference and a scalar LFSR walk), and SLTT-K's random step sets."""
import zlib
from fractions import Fraction

import numpy as np
import pytest

from spikemesh.sim.golden import (SNNConfig, bits, forward, init_weights, lfsr_step, load_digits_split,
                                  sample_gradients, train_sample)
from spikemesh.sim.golden.core import sample_k_steps
from spikemesh.sim.golden.lfsr import (STREAM_K_STEPS, STREAM_OPZO_NOISE, STREAM_SR, noise_signs,
                                       random_k_steps, stream_seed)
from spikemesh.sim.golden.numerics import sr_round_fp16

# ---- stochastic rounding: exact reference ------------------------------------------------------------------
_POS16 = np.arange(0x7C00, dtype=np.uint16).view(np.float16).astype(np.float64)  # +0 .. 65504, ascending


def _sr_ref(w: float, u: float, r: int) -> float:
    """Independent: exact difference as a Fraction, its fp16 neighbours by search over all fp16 values."""
    d = Fraction(w) - Fraction(u)
    m = abs(d)
    i = int(np.searchsorted(_POS16, float(m), side="right")) - 1  # float(m) is exact (fp16 - fp16 fits)
    lo = Fraction(_POS16[i])
    if lo == m:
        res = lo
    else:
        hi = Fraction(_POS16[i + 1]) if i + 1 < len(_POS16) else Fraction(65536)
        D = int((m - lo) / (hi - lo) * 65536)  # floor: the first 16 discarded bits
        res = hi if D + r >= 65536 else lo
    if res == 65536:
        return float("inf") if d > 0 else float("-inf")
    return float(res if d >= 0 else -res) + 0.0  # a zero result is +0


def test_sr_matches_exact_reference_on_random_pairs():
    rng = np.random.default_rng(5)
    n = 4000
    w = (rng.standard_normal(n) * np.exp2(rng.integers(-14, 6, n))).astype(np.float16)
    u = (w.astype(np.float64) * np.exp2(-rng.integers(0, 16, n)) * rng.choice([-1, 1], n)).astype(np.float16)
    u[:200] = (rng.standard_normal(200) * 2.0**-20).astype(np.float16)  # subnormal steps
    w[200:400] = (rng.standard_normal(200) * 2.0**-16).astype(np.float16)  # subnormal weights
    u[400:410] = w[400:410]  # exact zero differences
    r = rng.integers(1, 65536, n)
    got = sr_round_fp16(w.astype(np.float64) - u.astype(np.float64), r)
    ref = np.array([_sr_ref(float(a), float(b), int(c)) for a, b, c in zip(w, u, r)], np.float16)
    assert np.array_equal(bits(got), bits(ref))
    assert not np.any(bits(got) == 0x8000)  # never -0
    # SR differs from RNE on a good share of inexact pairs (the test can see a wrong rounding direction)
    rne = (w - u).astype(np.float16)
    assert 0.1 < np.mean(got != rne) < 0.9


def test_sr_is_unbiased_over_all_random_words():
    rng = np.random.default_rng(9)
    r = np.arange(1, 65536)
    for _ in range(20):
        w, u = np.float16(rng.standard_normal()), np.float16(rng.standard_normal() * 2.0**-9)
        d = float(w) - float(u)
        mean = float(np.mean(sr_round_fp16(np.full(len(r), d), r).astype(np.float64)))
        ulp = float(np.spacing(np.float16(abs(d))))
        assert abs(mean - d) <= ulp * 2.0**-14


def test_sr_update_consumes_one_word_per_nonzero_g_in_column_major_layer_order():
    X, y, _, _ = load_digits_split()
    cfg = SNNConfig(sizes=(64, 12, 10), T=8, rule="sltt", lr=2.0**-3, loss_scale=64, weight_update="sr",
                    surrogate="tri", surrogate_width=4.0)
    w = init_weights(cfg, 3)
    for n in range(3):
        G = sample_gradients(cfg, w, X[n], int(y[n]), sample_index=n)
        new = train_sample(cfg, w, X[n], int(y[n]), sample_index=n).weights
        s = stream_seed(cfg.lfsr_seed, n, STREAM_SR)
        eta = np.float16(cfg.eta)
        used = 0
        for li in range(len(w)):
            exp = w[li].copy()
            for j in range(exp.shape[1]):  # the hardware UPD's order: columns, rows within a column
                for i in range(exp.shape[0]):
                    if G[li][i, j] != 0:
                        for _ in range(16):
                            s = lfsr_step(s)
                        u = np.float16(G[li][i, j] * eta)
                        exp[i, j] = _sr_ref(float(w[li][i, j]), float(u), s)
                        used += 1
            assert np.array_equal(bits(new[li]), bits(exp)), (n, li)
        assert used > 100
        w = new
    rne = train_sample(cfg.replace(weight_update="rne"), w, X[5], int(y[5]), sample_index=5).weights
    sr = train_sample(cfg, w, X[5], int(y[5]), sample_index=5).weights
    assert any(not np.array_equal(a, b) for a, b in zip(rne, sr))


def test_sr_k_random_opzo_membrane_sparse_equals_dense():
    rng = np.random.default_rng(zlib.crc32(b"sr"))
    for kw in (dict(rule="sltt", weight_update="sr"), dict(rule="ottt_o", weight_update="sr", momentum=0.5),
               dict(rule="sltt_k", k_steps=(0, 3), k_random=True), dict(rule="opzo", weight_update="sr"),
               dict(rule="bptt", readout="membrane", loss="ce_step"), dict(rule="ottt_o", readout="membrane")):
        cfg = SNNConfig(sizes=(12, 16, 16, 4), T=6, loss_scale=64, lr=2.0**-3, encoding="rate", **kw)
        ws = [(rng.standard_normal(s) * 0.8).astype(np.float16) for s in cfg.weight_shapes()]
        for n in range(3):
            x = rng.integers(0, 17, 12)
            a = train_sample(cfg, ws, x, n % 4, record=True, sample_index=n)
            b = train_sample(cfg.replace(dense=True), ws, x, n % 4, record=True, sample_index=n)
            assert all(np.array_equal(bits(p), bits(q)) for p, q in zip(a.weights, b.weights)), kw
            ws = a.weights


# ---- SLTT-K with random step sets --------------------------------------------------------------------------
def test_random_k_steps_scalar_reference_and_training_equivalence():
    T, k = 8, 3
    sets = set()
    for n in range(200):
        seed = stream_seed(0xACE1, n, STREAM_K_STEPS)
        got = random_k_steps(T, k, seed)
        s, chosen = seed, []
        for t in range(T):  # written out: 16 LFSR steps per draw, selection sampling
            for _ in range(16):
                s = lfsr_step(s)
            if (s - 1) * (T - t) < (k - len(chosen)) * 65535:
                chosen.append(t)
        assert got == tuple(chosen) and len(got) == k
        sets.add(got)
    assert len(sets) > 30  # many different step sets across samples
    X, y, _, _ = load_digits_split()
    cfg = SNNConfig(sizes=(64, 16, 10), T=T, rule="sltt_k", k_steps=(1, 3, 5), k_random=True)
    w = init_weights(cfg, 0)
    for n in range(4):
        ks = sample_k_steps(cfg, n)
        assert ks != cfg.k_steps or n > 0
        a = train_sample(cfg, w, X[n], int(y[n]), sample_index=n).weights
        b = train_sample(cfg.replace(k_random=False, k_steps=ks), w, X[n], int(y[n]), sample_index=n).weights
        assert all(np.array_equal(bits(p), bits(q)) for p, q in zip(a, b))
        w = a


# ---- OPZO --------------------------------------------------------------------------------------------------
def test_opzo_noise_signs_follow_the_lfsr_and_only_in_training():
    seed = stream_seed(0xACE1, 7, STREAM_OPZO_NOISE)
    z = noise_signs(seed, 500)
    s, ref = seed, []
    for _ in range(500):
        s = lfsr_step(s)
        ref.append(1 if s & 1 else -1)
    assert list(z) == ref and abs(np.mean(z)) < 0.15
    X, y, _, _ = load_digits_split()
    cfg = SNNConfig(sizes=(64, 16, 12, 10), T=4, rule="opzo")
    w = init_weights(cfg, 0)
    assert [a.shape for a in w] == [(16, 64), (12, 16), (10, 12), (10, 16), (10, 12)]
    assert not w[3].any() and not w[4].any()
    r = train_sample(cfg, w, X[7], int(y[7]), record=True, sample_index=7)
    zs = np.concatenate([r.trace.get("z", t, l) for t in range(4) for l in (1, 2)])
    assert np.array_equal(zs, noise_signs(seed, 4 * 28))
    assert r.weights[3].any() or r.weights[4].any() or not r.counts.any()
    assert forward(cfg, w, X[7]).prediction == forward(cfg, w, X[7]).prediction


def _opzo_case(seed):
    rng = np.random.default_rng(seed)
    cfg = SNNConfig(sizes=(64, 32, 24, 10), T=6, rule="opzo", fmt="fp32", surrogate="tri", surrogate_width=2.0,
                    lr=2.0**-4)
    w = init_weights(cfg, seed)
    w = [a if i < 3 else (rng.standard_normal(a.shape) * 0.3).astype(np.float32) for i, a in enumerate(w)]
    return cfg, w


def test_opzo_fp32_matches_torch_float32_transcription():
    torch = pytest.importorskip("torch")  # noqa: F841
    from spikemesh.sim.golden.torch_ref import TorchOPZO

    X, y, _, _ = load_digits_split()
    cfg, w = _opzo_case(1)
    ref = TorchOPZO(cfg, w)
    hidden_checked = 0
    for n in range(25):
        g = sample_gradients(cfg, w, X[n], int(y[n]), sample_index=n)
        tg, tB = ref.gradients(X[n], int(y[n]), sample_index=n)
        for li, (a, b) in enumerate(zip(g, tg)):
            scale = max(1e-12, float(np.abs(b).max()))
            assert float(np.abs(a / cfg.loss_scale - b).max()) <= 1e-5 * scale, (n, li)
            hidden_checked += li < 2 and scale > 1e-6
        r = train_sample(cfg, w, X[n], int(y[n]), sample_index=n)
        for a, b in zip(r.weights[3:], tB):
            assert np.allclose(a, b, rtol=1e-5, atol=1e-6)
        ref.sgd_sample(X[n], int(y[n]), sample_index=n)
        for a, b in zip(r.weights, ref.weights()):
            assert np.allclose(a, b, rtol=1e-5, atol=1e-6), n
        w = r.weights
    assert hidden_checked >= 20  # the top-down path carried a signal that was compared


def test_opzo_torch_comparison_detects_wrong_noise():
    pytest.importorskip("torch")
    from spikemesh.sim.golden.torch_ref import TorchOPZO

    X, y, _, _ = load_digits_split()
    cfg, w = _opzo_case(2)
    ref = TorchOPZO(cfg.replace(lfsr_seed=0x1234), w)  # different noise stream: must not match
    worst = 0.0
    for n in range(5):
        g = sample_gradients(cfg, w, X[n], int(y[n]), sample_index=n)
        tg, _ = ref.gradients(X[n], int(y[n]), sample_index=n)
        for a, b in zip(g[:2], tg[:2]):
            worst = max(worst, float(np.abs(a / cfg.loss_scale - b).max()) / max(1e-12, float(np.abs(b).max())))
    assert worst > 1e-3


def test_opzo_state_bytes_count_feedback_matrices():
    from spikemesh.sim.golden import state_bytes

    o, a = state_bytes(SNNConfig(rule="opzo")), state_bytes(SNNConfig(rule="ottt_a"))
    assert o.temporal == 0 and o.fixed == a.fixed + 2 * 10 * (128 + 128)
