"""H4's TrainingCore on the mesh: three cores behind BusBridges on a 2x2 mesh, driven from a host node over
the network (cocotb + Verilator), one data-parallel step bit for bit equal to sim/golden_mesh."""
import json
import os

import numpy as np
import pytest

from spikemesh.firmware.placement import DataParallelPlan
from spikemesh.rtl.core import CoreConfig, TrainingCore
from spikemesh.rtl.mesh import MeshConfig
from spikemesh.rtl.mesh.system import MeshSystem
from spikemesh.sim.cocotb_run import run_cocotb
from spikemesh.sim.golden import SNNConfig, init_weights
from spikemesh.sim.golden_mesh import data_parallel_step

CORE = dict(layers=(10, 7, 6, 4), t_max=5)
SNN = dict(sizes=(10, 7, 6, 4), T=5, rule="sltt", surrogate="tri", surrogate_width=2.0)


def test_data_parallel_step_on_three_cores(tmp_path, monkeypatch):
    monkeypatch.setenv("MAKEFLAGS", "OPT_FAST=-O0 OPT_SLOW=-O0 OPT_GLOBAL=-O0")  # Python-bound: -O0 builds faster
    mesh = MeshConfig(2, 2)
    cores = (1, 2, 3)
    ccfg, snn = CoreConfig(**CORE), SNNConfig(**SNN)
    rng = np.random.default_rng(7)
    samples = [((rng.integers(0, 17, 10) * (rng.random(10) < 0.7)).tolist(), int(rng.integers(0, 4))) for _ in cores]
    plan = DataParallelPlan(mesh, cores, "snake")
    W = init_weights(snn, 3, gain=1.4)
    ref = data_parallel_step(snn, plan, W, [np.asarray(x) for x, _ in samples], [y for _, y in samples])
    assert sum(int(np.count_nonzero(g)) for gs in ref.core_grads.values() for g in gs) > 0
    out = tmp_path / "cores.json"
    run_cocotb(lambda: MeshSystem(mesh, {c: (lambda: TrainingCore(ccfg)) for c in cores}), toplevel="mesh_cores_2x2",
               test_module="spikemesh.sim.benches.mesh_core_bench", sim="verilator", tag="dp3",
               params={"mesh": [2, 2], "core": CORE, "snn": SNN, "cores": list(cores), "order": "snake",
                       "seed": 3, "gain": 1.4, "samples": samples, "out": str(out)})
    res = json.loads(out.read_text())
    for c in cores:
        for li, g in enumerate(ref.core_grads[c]):
            np.testing.assert_array_equal(np.asarray(res["grads"][str(c)][li], np.uint16),
                                          g.view(np.uint16), err_msg=f"G of core {c}, layer {li + 1}")
        for li, w in enumerate(ref.weights):
            np.testing.assert_array_equal(np.asarray(res["weights"][str(c)][li], np.uint16),
                                          np.asarray(w, np.float16).view(np.uint16), err_msg=f"W of core {c}, layer {li + 1}")
