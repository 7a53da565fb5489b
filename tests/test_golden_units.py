"""Unit checks of the golden model's pieces against independent, written-out references."""
import math

import numpy as np
import pytest

from spikemesh.sim.golden import (SNNConfig, bits, canon, encode, forward, init_weights, lfsr_sequence,
                                  load_digits_split, predict, rate_spikes, sample_seed, state_bytes,
                                  surrogate, surrogate_table, train_sample)
from spikemesh.sim.golden.numerics import accumulate_rows


# ---- LFSR -------------------------------------------------------------------------------------------------
def _lfsr_bits(state: int) -> int:
    """Independent bit-level form of x^16 + x^14 + x^13 + x^11 + 1 (Galois, right shift)."""
    b = [(state >> i) & 1 for i in range(16)]
    out = b[0]
    nb = b[1:] + [0]
    for tap in (15, 13, 12, 10):  # exponents 16, 14, 13, 11 land on bits 15, 13, 12, 10 after the shift
        nb[tap] ^= out
    return sum(v << i for i, v in enumerate(nb))


def test_lfsr_matches_bit_level_reference_and_has_full_period():
    seq = lfsr_sequence(0xACE1, 70000)
    s = 0xACE1
    for i in range(2000):
        s = _lfsr_bits(s)
        assert seq[i] == s
    assert seq[0] == 0xE270  # 0xACE1 >> 1 = 0x5670; the lsb was 1, so ^ 0xB400
    first_repeat = np.flatnonzero(seq == 0xACE1)
    assert first_repeat[0] == 65534  # state returns after 65535 steps
    assert len(np.unique(seq[:65535])) == 65535 and 0 not in seq


def test_rate_spikes_draw_order_and_rates():
    pixels = np.array([0, 16, 8, 4] * 16)
    seed = sample_seed(0xACE1, 5)
    sp = rate_spikes(pixels, 8, seed)
    draws = lfsr_sequence(seed, 4 * 8 * 64)[3::4].reshape(8, 64)  # every 4th state: t outer, j inner
    assert np.array_equal(sp, (draws >> 12) < pixels[None, :])
    assert not sp[:, pixels == 0].any() and sp[:, pixels == 16].all()
    many = rate_spikes(np.full(64, 8), 64, sample_seed(0xACE1, 0))
    assert abs(many.mean() - 0.5) < 0.03
    assert sample_seed(0xACE1, 0) == 0xACE1 and 1 <= sample_seed(1, 123456) <= 65535


def test_encode_direct_exact_and_rate_deterministic():
    cfg = SNNConfig(sizes=(4, 3, 2), T=3)
    x = encode(cfg, np.array([0, 1, 8, 16]))
    assert x.dtype == np.float16 and x.shape == (3, 4)
    assert list(x[0].astype(float)) == [0.0, 1 / 16, 0.5, 1.0]
    rc = cfg.replace(encoding="rate")
    assert np.array_equal(encode(rc, np.array([3, 9, 12, 16]), 7), encode(rc, np.array([3, 9, 12, 16]), 7))
    with pytest.raises(ValueError, match="0..16"):
        encode(rc, np.array([3, 9, 17, 16]))


# ---- surrogates -------------------------------------------------------------------------------------------
def test_surrogate_tables_are_rounded_float64_functions():
    xs = np.arange(1 << 16, dtype=np.uint32).astype(np.uint16).view(np.float16)
    x64 = xs.astype(np.float64)
    fin = np.isfinite(x64)
    with np.errstate(over="ignore"):
        sig = 1.0 / (1.0 + np.exp(-4.0 * x64[fin]))
    ref = np.zeros(1 << 16)
    ref[fin] = 4.0 * sig * (1 - sig)
    assert np.array_equal(bits(surrogate_table("sigmoid", 1.0)), bits(ref.astype(np.float16)))
    ref_atan = np.zeros(1 << 16)
    ref_atan[fin] = 0.5 / (1.0 + (math.pi * x64[fin] / 2.0) ** 2)
    assert np.array_equal(bits(surrogate_table("atan", 2.0)), bits(ref_atan.astype(np.float16)))
    x = np.array([0.0, -0.0, 0.25, -3.0, np.inf, np.nan], np.float16)
    got = surrogate("sigmoid", 1.0, x)
    assert got[0] == 1.0 and got[1] == 1.0 and got[4] == 0 and got[5] == 0
    assert np.array_equal(bits(got), bits(surrogate_table("sigmoid", 1.0)[bits(x)]))


def test_rect_and_tri_edges():
    x = np.array([-0.5, -0.4995, 0.0, 0.4995, 0.5, 1.0, -1.0, 0.25], np.float16)
    assert list(surrogate("rect", 1.0, x).astype(float)) == [0, 1, 1, 1, 0, 0, 0, 1]
    assert list(surrogate("rect", 0.5, np.array([0.2, 0.25], np.float16)).astype(float)) == [2.0, 0.0]
    tri = surrogate("tri", 1.0, x)
    for xi, pi in zip(x.astype(float), tri.astype(float)):
        expect = np.float16(1.0) - np.float16(abs(np.float16(xi)) * np.float16(1.0)) if abs(xi) < 1 else 0.0
        assert pi == float(expect)
    tri2 = surrogate("tri", 2.0, np.array([0.3], np.float16))  # 1/2 - fl(0.3 * 1/4)
    assert bits(tri2)[0] == bits(np.float16(0.5) - np.float16(np.float16(0.3) * np.float16(0.25)))


# ---- accumulation, canonical zero -------------------------------------------------------------------------
def test_accumulate_rows_is_sequential_rne():
    rng = np.random.default_rng(0)
    terms = (rng.standard_normal((50, 40)) * np.exp2(rng.integers(-12, 8, (50, 40)))).astype(np.float16)
    got = accumulate_rows(terms, 40, np.float16)
    for i in range(40):
        acc = np.float16(0.0)
        for k in range(50):
            acc = np.float16(float(acc) + float(terms[k, i]))  # exact in float64, one rounding
        assert bits(np.array([acc + np.float16(0)]))[0] == bits(got[i:i + 1])[0]
    pairwise = np.add.reduce(terms.astype(np.float32), axis=0).astype(np.float16)
    assert not np.array_equal(bits(got), bits(pairwise))  # the forbidden wide reduction really differs


def test_canon():
    z = canon(np.array([-0.0, 0.0, -1.0], np.float16))
    assert list(bits(z)) == [0, 0, bits(np.array([-1.0], np.float16))[0]]


# ---- loss, update -----------------------------------------------------------------------------------------
def _tiny(**kw):
    base = dict(sizes=(3, 2), T=2, theta=1.0, lam=0.5, loss_scale=8, lr=2.0**-3)
    base.update(kw)
    return SNNConfig(**base)


def test_mse_step_error_and_update_rule_by_hand():
    # one layer, direct input: W chosen so output 0 fires at both steps and output 1 never
    cfg = _tiny(rule="sltt", surrogate="rect", surrogate_width=4.0)
    W = [np.array([[1.0, 0.5, 0.0], [0.25, -0.5, 0.125]], np.float16)]
    x = np.array([16, 8, 4])  # x = 1, 0.5, 0.25
    r = train_sample(cfg, W, x, label=1, record=True)
    tr = r.trace
    # I0 = 1 + fl(0.5*0.5) = 1.25 (x_3 * 0 skipped? no: W=0 term still added, x != 0), I1 = 0.25 - 0.25 + 0.03125
    assert float(tr.get("I", 0, 1)[0]) == 1.25 and float(tr.get("I", 0, 1)[1]) == 0.03125
    assert list(tr.get("s", 0, 1)) == [True, False]
    # c = S/T = 4: gs = (s - y) * c = [4, -4]
    assert list(tr.get("gs", 0, 1).astype(float)) == [4.0, -4.0]
    # psi (rect width 4): x = h - 1 = 0.25 / -0.96875 -> both |x| < 2 -> 1/4;  delta = [1, -1]
    assert list(tr.get("delta", 0, 1).astype(float)) == [1.0, -1.0]
    # step 1: v0 = 0.25 -> h0 = 0.125 + 1.25 = 1.375 fires; v1 = 0.03125 -> h1 = 0.046875
    assert list(tr.get("h", 1, 1).astype(float)) == [1.375, 0.046875]
    G = tr.select("G", 1, 1)[-1].value.astype(float)
    np.testing.assert_array_equal(G, [[2.0, 1.0, 0.5], [-2.0, -1.0, -0.5]])
    # update: W - fl(G * eta), eta = 2^-3 / 8 = 2^-6
    expect = (W[0].astype(float) - G * 2.0**-6).astype(np.float16)
    assert np.array_equal(bits(r.weights[0]), bits(expect))


def test_sub_ulp_update_vanishes_under_rne():
    cfg = _tiny(rule="sltt", surrogate="rect", surrogate_width=4.0, lr=2.0**-16, loss_scale=1)
    W = [np.array([[1.0, 0.5, 0.0], [0.25, -0.5, 0.125]], np.float16)]
    r = train_sample(cfg, W, np.array([16, 8, 4]), label=1)
    # G*eta ~ 2^-16 (scaled gradient 0.5..2 x 2^-17): below ulp(1)/2 = 2^-11, so W_00 = 1.0 does not move
    assert r.weights[0][0, 0] == 1.0 and r.work.update.events > 0
    r32 = train_sample(cfg.replace(weight_update="fp32_master"), W, np.array([16, 8, 4]), label=1)
    assert r32.weights[0][0, 0] == 1.0  # master moved, fp16 copy rounds back


def test_prediction_tiebreak():
    assert predict(np.array([2, 5, 5, 1]), np.array([0, 1.0, 2.0, 9], np.float16)) == 2
    assert predict(np.array([2, 5, 5, 1]), np.array([0, 2.0, 2.0, 9], np.float16)) == 1
    assert predict(np.array([0, 0, 0]), np.array([-1, -0.5, -2], np.float16)) == 1


# ---- config validation ------------------------------------------------------------------------------------
@pytest.mark.parametrize("kw, match", [
    (dict(rule="bogus"), "rule must be one of"),
    (dict(sizes=(64,)), "sizes"),
    (dict(sizes=(64, 0, 10)), "sizes"),
    (dict(T=0), "T must be"),
    (dict(lam=0.3), "lam"),
    (dict(theta=-1.0), "theta"),
    (dict(surrogate="relu"), "surrogate must"),
    (dict(surrogate_width=0.75), "surrogate_width"),
    (dict(rule="sltt_k"), "k_steps"),
    (dict(rule="sltt_k", k_steps=(3, 1)), "k_steps"),
    (dict(rule="sltt_k", k_steps=(1, 8)), "k_steps"),
    (dict(k_steps=(1,)), "k_steps is only"),
    (dict(rule="tbptt", window=9), "window"),
    (dict(window=2), "window is only"),
    (dict(rule="local", blocks=(1, 1)), "blocks"),
    (dict(loss="hinge"), "loss must"),
    (dict(loss_scale=3), "loss_scale"),
    (dict(lr=0.03), "lr must"),
    (dict(lr=2.0**-16, loss_scale=2**14), "eta"),
    (dict(fmt="fp8"), "fmt must"),
    (dict(encoding="latency"), "encoding"),
    (dict(lfsr_seed=0), "lfsr_seed"),
    (dict(reset="none"), "reset"),
    (dict(weight_update="sround"), "weight_update"),
    (dict(weight_update="sr", fmt="fp32"), "weight_update 'sr'"),
    (dict(k_random=True), "k_random is only"),
    (dict(rule="opzo", sizes=(64, 10)), "opzo needs"),
    (dict(rule="opzo", opzo_sigma=0.3), "opzo_sigma"),
    (dict(rule="opzo", opzo_beta=1.0), "opzo_beta"),
    (dict(readout="potential"), "readout must"),
    (dict(rule="opzo", readout="membrane"), "readout 'membrane'"),
    (dict(momentum=1.0), "momentum"),
])
def test_config_errors_name_the_parameter(kw, match):
    with pytest.raises(ValueError, match=match):
        SNNConfig(**kw)


def test_weight_shape_errors():
    cfg = SNNConfig(sizes=(4, 3, 2), T=2)
    with pytest.raises(ValueError, match="weights"):
        train_sample(cfg, [np.zeros((3, 4), np.float16)], np.zeros(4), 0)
    with pytest.raises(ValueError, match=r"weights\[1\]"):
        train_sample(cfg, [np.zeros((3, 4)), np.zeros((3, 2))], np.zeros(4), 0)
    with pytest.raises(ValueError, match="label"):
        train_sample(cfg, init_weights(cfg, 0), np.zeros(4), 2)


# ---- state, data, init ------------------------------------------------------------------------------------
def test_state_bytes_per_rule():
    base = dict(sizes=(64, 128, 128, 10), T=8)
    n, w = 128 + 128 + 10, 64 * 128 + 128 * 128 + 10 * 128
    fixed = 2 * (n + w) + 2 * 64
    bp = state_bytes(SNNConfig(rule="bptt", **base))
    assert bp.fixed == fixed and bp.temporal == 8 * n * 17 // 8
    assert state_bytes(SNNConfig(rule="bptt", **base), T=16).temporal == 2 * bp.temporal
    assert state_bytes(SNNConfig(rule="tbptt", window=2, **base)).temporal == (2 * n * 17 + 7) // 8
    assert state_bytes(SNNConfig(rule="sltt", **base)).temporal == 0
    ot = state_bytes(SNNConfig(rule="ottt_a", **base))
    assert ot.temporal == 0 and ot.fixed == fixed + 2 * (64 + 128 + 128)
    assert state_bytes(SNNConfig(rule="ottt_a", **base), T=100) == ot


def test_digits_split_and_init_are_fixed():
    Xtr, ytr, Xte, yte = load_digits_split()
    assert Xtr.shape == (1437, 64) and Xte.shape == (360, 64) and Xtr.max() == 16
    assert sorted(np.bincount(yte)) == sorted(np.bincount(yte)) and len(np.unique(ytr)) == 10
    cfg = SNNConfig()
    a, b = init_weights(cfg, 3), init_weights(cfg, 3)
    assert all(np.array_equal(bits(u), bits(v)) for u, v in zip(a, b))
    assert not np.array_equal(bits(a[0]), bits(init_weights(cfg, 4)[0]))
    assert forward(cfg, a, Xte[0]).prediction == forward(cfg, b, Xte[0]).prediction


# ---- trace order -------------------------------------------------------------------------------------------
def _phases(trace):
    return [(e.phase, e.t, e.layer, e.name) for e in trace.events]


def test_trace_records_everything_in_computed_order():
    cfg = SNNConfig(sizes=(6, 5, 3), T=3, rule="bptt", surrogate="sigmoid")
    w = init_weights(cfg, 1, gain=2.0)
    ev = _phases(train_sample(cfg, w, np.arange(6) * 3, 1, record=True).trace)
    fwd = [e for e in ev if e[0] == "fp"]
    assert fwd[:5] == [("fp", 0, 0, "x"), ("fp", 0, 1, "I"), ("fp", 0, 1, "h"), ("fp", 0, 1, "s"), ("fp", 0, 1, "v")]
    first_bp = next(i for i, e in enumerate(ev) if e[0] == "bp")
    assert all(e[0] == "fp" for e in ev[:first_bp]) and len(fwd) == 3 * (1 + 2 * 4)
    bp_steps = [e[1] for e in ev if e[0] == "bp" and e[3] == "delta"]
    assert bp_steps == [2, 2, 1, 1, 0, 0]  # t descending, two layers each (L..1)
    assert [e[2] for e in ev if e[0] == "bp" and e[3] == "delta"] == [2, 1] * 3
    assert [e for e in ev if e[0] == "update"] == [("update", -1, 1, "W"), ("update", -1, 2, "W")]
    # sltt interleaves: backward of step t right after its forward; ottt_o updates every step
    ev2 = _phases(train_sample(cfg.replace(rule="ottt_o"), w, np.arange(6) * 3, 1, record=True).trace)
    order = [(e[0], e[1]) for e in ev2 if e[3] in ("x", "delta", "W")]
    assert order == [("fp", 0), ("bp", 0), ("bp", 0), ("update", 0), ("update", 0),
                     ("fp", 1), ("bp", 1), ("bp", 1), ("update", 1), ("update", 1),
                     ("fp", 2), ("bp", 2), ("bp", 2), ("update", 2), ("update", 2)]
    assert any(e[3] == "a" for e in ev2)  # OTTT traces recorded
