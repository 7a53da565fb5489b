"""Digits (sklearn 8x8, fixed 1437/360 split): the FP16 golden model learns with the hardware's rules.

Each run is the shared recipe (spikemesh.sim.golden.recipes), bit-exact and deterministic, ~1-2 min on one core.
"""
import pytest

from spikemesh.sim.golden.recipes import CI_RULES, digits_config, recipe_epochs, train_digits


@pytest.mark.slow
@pytest.mark.parametrize("rule", CI_RULES)
def test_fp16_digits_accuracy_at_least_97_percent(rule):
    cfg = digits_config(rule, "fp16")
    res = train_digits(cfg, epochs=recipe_epochs(rule), eval_every_epoch=False)
    print(f"{rule}: test accuracy {res.test_acc:.4f}, {res.samples_per_s:.0f} samples/s")
    first = res.history[0][0]
    assert first.work.fp.events > 0 and first.work.update.events > 0
    assert res.test_acc >= 0.97
