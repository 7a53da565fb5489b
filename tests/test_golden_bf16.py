"""BF16 in the golden model: ml_dtypes' bfloat16 arithmetic against spikemesh.sim.fp (the bit-exact reference
the RTL FP units are checked with), and a BF16 training sample that keeps its format end to end."""
import warnings

import ml_dtypes
import numpy as np
import pytest

from spikemesh.rtl.formats import BF16
from spikemesh.sim import fp
from spikemesh.sim.golden import SNNConfig, init_weights, load_digits_split, train_sample
from spikemesh.sim.golden.numerics import bits, to_format


@pytest.mark.parametrize("op", ["add", "sub", "mul"])
def test_bf16_ops_match_reference(op):
    rng = np.random.default_rng({"add": 1, "sub": 2, "mul": 3}[op])
    n = 200_000
    a = rng.integers(0, 1 << 16, n).astype(np.uint16)
    b = rng.integers(0, 1 << 16, n).astype(np.uint16)
    b[: n // 3] = a[: n // 3] ^ rng.integers(0, 1 << 9, n // 3).astype(np.uint16)  # close exponents: cancellation
    a[n // 3: n // 2] &= 0x807F  # subnormal operands
    b[n // 3: n // 2] &= 0x80FF
    x, y = a.view(ml_dtypes.bfloat16), b.view(ml_dtypes.bfloat16)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        got = {"add": x + y, "sub": x - y, "mul": x * y}[op].view(np.uint16)
    ref = np.asarray(getattr(fp, op)(BF16, a, b)[0]).astype(np.uint16)
    nan = (got & 0x7F80) == 0x7F80
    nan &= (got & 0x7F) != 0
    assert (((ref & 0x7F80) == 0x7F80) & ((ref & 0x7F) != 0) == nan).all()  # NaN exactly where the reference has one
    assert (got[~nan] == ref[~nan]).all(), np.flatnonzero((got != ref) & ~nan)[:5]


def test_bf16_rounding_of_constants():
    # to_format rounds float64 once (not via float32): a value just above a bf16 tie rounds up
    x = np.float64(1.0 + 2.0**-8 + 2.0**-40)
    assert int(bits(to_format(np.array([x]), "bf16"))[0]) == 0x3F81
    assert int(bits(to_format(np.array([1.0 + 2.0**-8]), "bf16"))[0]) == 0x3F80  # tie to even


def test_bf16_training_sample_stays_bf16():
    X, y = load_digits_split()[:2]
    cfg = SNNConfig(sizes=(64, 16, 10), T=4, rule="sltt", fmt="bf16")
    W = init_weights(cfg, seed=0)
    assert all(w.dtype == ml_dtypes.bfloat16 for w in W)
    r = train_sample(cfg, W, X[0], y[0], record=True)
    assert all(w.dtype == ml_dtypes.bfloat16 for w in r.weights)
    assert any((bits(a) != bits(b)).any() for a, b in zip(W, r.weights))  # the sample changed some weight
    r16 = train_sample(SNNConfig(sizes=(64, 16, 10), T=4, rule="sltt"), [w.astype(np.float16) for w in W], X[0], y[0])
    assert any((np.asarray(a, np.float32) != np.asarray(b, np.float32)).any() for a, b in zip(r.weights, r16.weights))
