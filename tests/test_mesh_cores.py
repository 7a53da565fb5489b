"""The TrainingCore on the mesh: three cores behind BusBridges on a 2x2 mesh, driven from a host node over
the network (cocotb + Verilator), one data-parallel step bit for bit equal to sim/golden_mesh."""
import numpy as np

from spikemesh.gen.mesh_perf import run_cores_step


def test_data_parallel_step_on_three_cores(tmp_path):
    cores = (1, 2, 3)
    res, ref = run_cores_step(cores, tmp_path)
    assert sum(int(np.count_nonzero(g)) for gs in ref.core_grads.values() for g in gs) > 0
    for c in cores:
        for li, g in enumerate(ref.core_grads[c]):
            np.testing.assert_array_equal(np.asarray(res["grads"][str(c)][li], np.uint16),
                                          g.view(np.uint16), err_msg=f"G of core {c}, layer {li + 1}")
        for li, w in enumerate(ref.weights):
            np.testing.assert_array_equal(np.asarray(res["weights"][str(c)][li], np.uint16),
                                          np.asarray(w, np.float16).view(np.uint16),
                                          err_msg=f"W of core {c}, layer {li + 1}")
    assert res["phases"]["wait_compute"] > 0
