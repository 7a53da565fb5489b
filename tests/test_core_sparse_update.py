"""The sparse weight update: UPD walks only the columns of G that a WG/WGA pass touched since the last update
(a bit per input column in the core), and leaves the same bits as the update over every column.

Same hardware, same digits samples, two schedules in one Verilator run: `sparse` and `dense_upd`
(MODE_DENSE_UPD). The perf bench checks the weights of both against the golden model bit for bit; here the
forward, backward and gradient phases must take exactly the same cycles in both, and the update fewer in the
sparse one (digits have blank pixels, so some first-layer columns are never touched).
"""
import json

import pytest

from spikemesh.rtl.core import CoreConfig, TrainingCore
from spikemesh.sim.cocotb_run import run_cocotb


@pytest.fixture(autouse=True)
def _fast_cxx(monkeypatch):
    monkeypatch.setenv("MAKEFLAGS", "OPT_FAST=-O0 OPT_SLOW=-O0 OPT_GLOBAL=-O0")


@pytest.mark.parametrize("lanes, rule", [(1, "sltt"), (4, "ottt_o"), (4, "bptt")])
def test_sparse_update_same_bits_fewer_cycles(tmp_path, lanes, rule):
    core = dict(layers=(64, 12, 10), t_max=4, lanes=lanes)
    cfg = CoreConfig(**core)
    out = tmp_path / "perf.json"
    run_cocotb(lambda: TrainingCore(cfg), toplevel="spikemesh_core", test_module="spikemesh.sim.benches.core_bench",
               sim="verilator", tag=f"sparse_upd_p{lanes}", testcase="perf",
               params={"core": core, "snn": {"sizes": core["layers"], "T": 4, "rule": rule}, "seed": 3,
                       "samples": 6, "data": "digits", "out": str(out), "schedules": ["sparse", "dense_upd"]})
    res = json.loads(out.read_text())
    sparse, dense = res["sparse"], res["dense_upd"]
    for s, d in zip(sparse, dense):
        for k in ("fp_cycles", "bp_cycles", "wg_cycles", "delta_nonzero", "fwd_events"):
            assert s[k] == d[k], (k, s, d)
    assert all(s["upd_cycles"] < d["upd_cycles"] for s, d in zip(sparse, dense)), (sparse, dense)
