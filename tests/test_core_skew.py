"""W in skewed banks (rtl/core/skewmem.py): GS reads rows of W P wide, FWD and UPD read columns P wide.

Amaranth-simulator runs of whole samples (every phase's state checked step by step against the golden model)
on shapes where rows start at every lane offset, rows and columns are padded, and the row stride in words is
odd and even; plus the host's skew (pack/unpack) and the wide GS's issue count.
"""
import numpy as np
import pytest

from spikemesh.rtl.core import CoreConfig, CoreLayout


@pytest.mark.parametrize("layers, lanes, rule", [((10, 7, 6, 4), 2, "bptt"), ((8, 4, 6), 2, "sltt"),
                                                 ((9, 13, 6, 5), 4, "sltt"), ((6, 11, 9, 3), 8, "ottt_a"),
                                                 ((20, 17, 5), 16, "bptt")])
def test_core_pysim_skewed_w(layers, lanes, rule):
    from spikemesh.sim.benches.core_pysim import run_pysim

    p = {"core": dict(layers=layers, t_max=4, lanes=lanes), "snn": dict(sizes=layers, T=4, rule=rule),
         "seed": 7, "samples": 2, "stepwise": 1, "gain": 1.4}
    out, ctr = run_pysim(p)
    assert out and "bit-exact" in out[0]
    assert ctr["mac_issues"] < ctr["mac_ops"], ctr


def test_skew_pack_roundtrip_and_bank_layout():
    lay = CoreLayout(CoreConfig(layers=(5, 6, 3), t_max=2, lanes=4))
    w = (np.arange(30, dtype=np.float16).reshape(6, 5) + 1)
    phys = lay.pack_matrix(1, w, skew=True)
    assert (lay.unpack_matrix(1, phys, skew=True) == w).all()
    plain = lay.pack_matrix(1, w)
    assert not (phys == plain).all() and sorted(phys) == sorted(plain)
    S = lay.stride(1)  # 8: two words per column
    for j in range(5):
        for k in range(6):  # element (k, j): word (j*S + k) // 4, lane (k + j) % 4
            e = j * S + k
            assert phys.view(np.float16)[(e // 4) * 4 + (k + j) % 4] == w[k, j]
    one = CoreLayout(CoreConfig(layers=(5, 6, 3), t_max=2))
    assert (one.pack_matrix(1, w, skew=True) == one.pack_matrix(1, w)).all()  # one lane: no skew
    # the last row word of a padded row may reach past wdepth / P: the banks are sized for it
    assert lay.w_bank_words >= -(-lay.wdepth // 4)
