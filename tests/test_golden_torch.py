"""float32 golden gradients vs PyTorch autograd (float64) of the same network, rule by rule.

BPTT is plain autograd; TBPTT detaches v at window starts; SLTT / SLTT-K detach v every step (spatial path
only; SLTT-K has loss only at the given steps); OTTT routes the weight gradient through the presynaptic trace
(published definition: grad W = sum_t delta[t] a[t]^T); local detaches block inputs and adds head losses.
"""
import numpy as np
import pytest

torch = pytest.importorskip("torch")  # torch is a declared test dependency (pyproject [test])

from spikemesh.sim.golden import SNNConfig, init_weights, sample_gradients, train_sample  # noqa: E402
from spikemesh.sim.golden.torch_ref import TorchSNN  # noqa: E402

RULES = {
    "bptt": {}, "tbptt": {"window": 3}, "sltt": {}, "sltt_k": {"k_steps": (1, 4, 5)}, "ottt_a": {},
    "local": {"blocks": (1, 2), "window": 4},
}
VARIANTS = [("rect", "soft", True, "mse_step"), ("tri", "hard", True, "mse_step"),
            ("sigmoid", "soft", False, "ce_step"), ("atan", "hard", False, "mse_step")]


def _cos(a, b):
    return float(np.dot(a, b) / (np.linalg.norm(a) * np.linalg.norm(b)))


def _golden_and_torch(cfg, w, x, label):
    """The golden fp32 gradients (loss scale divided out) and autograd's, each as one float64 vector."""
    got = np.concatenate([g.ravel().astype(np.float64) / cfg.loss_scale for g in sample_gradients(cfg, w, x, label)])
    ref = np.concatenate([g.ravel() for g in TorchSNN(cfg, w).gradients(x, label)])
    return got, ref


@pytest.mark.parametrize("rule", list(RULES))
def test_fp32_gradients_match_autograd(rule):
    rng = np.random.default_rng(11)
    checked = 0
    for sur, reset, detach, loss in VARIANTS:
        for trial in range(3):
            cfg = SNNConfig(sizes=(20, 24, 16, 5), T=7, rule=rule, fmt="fp32", surrogate=sur, reset=reset,
                            detach_reset=detach, loss=loss, surrogate_width=2.0, **RULES[rule])
            w = init_weights(cfg, 100 * trial + 7, gain=1.5)
            x = rng.integers(0, 17, 20)
            label = int(rng.integers(0, 5))
            got, ref = _golden_and_torch(cfg, w, x, label)
            if np.abs(ref).max() < 1e-3:
                assert np.abs(got).max() < 1e-6
                continue
            checked += 1
            assert _cos(got, ref) > 0.999999, (sur, reset, detach, trial)
            assert np.abs(got - ref).max() <= 1e-5 * np.abs(ref).max(), (sur, reset, detach, trial)
    assert checked >= 8


def test_ottt_o_per_step_updates_match_autograd_sgd():
    rng = np.random.default_rng(5)
    for sur in ("rect", "sigmoid"):
        cfg = SNNConfig(sizes=(20, 24, 16, 5), T=6, rule="ottt_o", fmt="fp32", surrogate=sur,
                        surrogate_width=2.0, lr=2.0**-3)
        w = init_weights(cfg, 3, gain=1.5)
        x = rng.integers(0, 17, 20)
        got = train_sample(cfg, w, x, 1).weights
        ref = TorchSNN(cfg, w)
        ref.sgd_sample(x, 1)
        dg = np.concatenate([(g.astype(np.float64) - w0).ravel() for g, w0 in zip(got, w)])
        dr = np.concatenate([(r - w0).ravel() for r, w0 in zip(ref.weights(), w)])
        assert np.abs(dr).max() > 1e-3
        assert _cos(dg, dr) > 0.9999 and np.abs(dg - dr).max() < 1e-5


def test_fp16_gradients_close_to_autograd():
    """fp16 is a rounding of the same computation: still close (a sanity bound, not bit-level)."""
    cfg = SNNConfig(sizes=(20, 24, 16, 5), T=7, rule="bptt", surrogate="sigmoid", surrogate_width=2.0)
    w = init_weights(cfg, 7, gain=1.5)
    x = np.random.default_rng(2).integers(0, 17, 20)
    got = np.concatenate([g.ravel().astype(np.float64) / cfg.loss_scale for g in sample_gradients(cfg, w, x, 3)])
    ref = np.concatenate([g.ravel() for g in TorchSNN(cfg, [u.astype(np.float64) for u in w]).gradients(x, 3)])
    assert np.abs(ref).max() > 1e-3 and _cos(got, ref) > 0.99


@pytest.mark.parametrize("rule", ["bptt", "tbptt", "sltt", "ottt_a", "local"])
def test_membrane_readout_gradients_match_autograd(rule):
    """readout='membrane': the output layer does not spike, the loss is on its membrane h (CE or MSE)."""
    rng = np.random.default_rng(23)
    checked = 0
    for trial, loss in enumerate(("ce_step", "mse_step", "ce_step")):
        cfg = SNNConfig(sizes=(20, 24, 16, 5), T=7, rule=rule, fmt="fp32", surrogate="tri", loss=loss,
                        surrogate_width=2.0, readout="membrane", **RULES[rule])
        w = init_weights(cfg, 31 * trial + 3, gain=1.5)
        x = rng.integers(0, 17, 20)
        label = int(rng.integers(0, 5))
        got, ref = _golden_and_torch(cfg, w, x, label)
        spiking = np.concatenate([g.ravel().astype(np.float64) / cfg.loss_scale
                                  for g in sample_gradients(cfg.replace(readout="spikes"), w, x, label)])
        assert np.abs(ref).max() > 1e-3
        assert _cos(got, ref) > 0.999999, trial
        assert np.abs(got - ref).max() <= 1e-5 * np.abs(ref).max(), trial
        assert _cos(spiking, ref) < 0.999  # the readout matters: the spiking output's gradient differs
        checked += 1
    r = train_sample(cfg, w, x, label)
    assert not r.counts.any()  # no output spikes: prediction = argmax of the summed membrane
    assert checked == 3
