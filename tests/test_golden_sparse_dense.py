"""Skipping zero terms (sparse, event-driven) gives the same bits as adding them (dense), for every rule."""
import zlib

import numpy as np
import pytest

from spikemesh.sim.golden import SNNConfig, bits, train_sample

RULE_KW = {
    "bptt": {}, "tbptt": {"window": 2}, "sltt": {}, "sltt_k": {"k_steps": (0, 2, 5)}, "ottt_a": {},
    "ottt_o": {}, "local": {"blocks": (1, 2), "window": 3}, "opzo": {},
}


def _network(rng, sizes, scales):
    ws = []
    for (r, c), sc in zip(scales[0], scales[1]):
        ws.append((rng.standard_normal((r, c)) * sc).astype(np.float16))
    return ws


@pytest.mark.parametrize("rule", list(RULE_KW))
def test_sparse_equals_dense_bit_for_bit(rule):
    rng = np.random.default_rng(zlib.crc32(rule.encode()))
    sizes = (12, 16, 16, 4)
    n_checked = {"zero_steps": 0, "all_steps": 0}
    for trial in range(6):
        reset = ("soft", "hard")[trial % 2]
        sur = ("rect", "tri", "sigmoid", "atan")[trial % 4]
        enc = ("rate", "direct")[trial // 3 % 2]
        cfg = SNNConfig(sizes=sizes, T=6, rule=rule, reset=reset, surrogate=sur, surrogate_width=2.0,
                        detach_reset=trial != 4, encoding=enc, loss=("mse_step", "ce_step")[trial % 2],
                        loss_scale=64, lr=2.0**-4, momentum=0.5 if trial == 5 else 0.0, **RULE_KW[rule])
        shapes = cfg.weight_shapes()
        scale = [0.3, 1.0, 3.0][trial % 3]
        ws = [(rng.standard_normal(s) * scale).astype(np.float16) for s in shapes]
        ws[0][:4] = np.abs(ws[0][:4]) + np.float16(2.0)  # neurons 0..3 of layer 1 fire at every input spike
        # pixels: all zero (zero-spike steps), all 16 (all-spike input), random
        for x in (np.zeros(12, int), np.full(12, 16), rng.integers(0, 17, 12)):
            label = int(rng.integers(0, 4))
            sp = train_sample(cfg, ws, x, label, record=True, sample_index=trial)
            de = train_sample(cfg.replace(dense=True), ws, x, label, record=True, sample_index=trial)
            assert len(sp.trace.events) == len(de.trace.events)
            for a, b in zip(sp.trace.events, de.trace.events):
                assert (a.phase, a.t, a.layer, a.name) == (b.phase, b.t, b.layer, b.name)
                assert np.array_equal(np.asarray(a.value).view(np.uint8), np.asarray(b.value).view(np.uint8)), \
                    (a.phase, a.t, a.layer, a.name)
            for u, v in zip(sp.weights, de.weights):
                assert np.array_equal(bits(u), bits(v))
            assert sp.work.as_dict() == de.work.as_dict()
            for e in sp.trace.select("s", layer=1):
                n_checked["zero_steps"] += not e.value.any()
                n_checked["all_steps"] += e.value.all()
            for e in sp.trace.select("x"):
                n_checked["zero_steps"] += not e.value.any()
                n_checked["all_steps"] += bool(e.value.all())
    assert n_checked["zero_steps"] > 0 and n_checked["all_steps"] > 0


def test_dense_mode_really_adds_the_zero_terms():
    """A sign-of-zero change proves the two modes differ before canonicalisation: dense adds -0.0 terms."""
    cfg = SNNConfig(sizes=(3, 2), T=1)
    ws = [np.array([[-0.5, 0.5, 0.25], [-0.0, 0.0, -0.0]], np.float16)]
    x = np.array([16, 16, 0])
    sp = train_sample(cfg, ws, x, 0, record=True)
    de = train_sample(cfg.replace(dense=True), ws, x, 0, record=True)
    assert bits(sp.trace.get("I", 0, 1))[0] == 0 and bits(de.trace.get("I", 0, 1))[0] == 0  # +0.0 both
    assert sp.work.fp.skipped > 0 and sp.work.fp.skipped == de.work.fp.skipped
