"""Multi-core training traffic on the mesh, bit-exact with the golden model's multi-core modes.

Without training cores: endpoints stand in for the cores (sim/benches/mesh_endpoints.py).
Data parallel: per-core gradients from `golden.train_sample`, reduced by the endpoints block by block as
packets arrive, in the plan's chain order; the weights every core ends with must equal
`golden_mesh.data_parallel_step` bit for bit. Model parallel: the spikes/errors the golden model computes
cross the mesh and must arrive bit for bit, in order, and in a schedule a real core could follow.
"""
import json

import numpy as np
import pytest

from spikemesh.firmware.placement import DataParallelPlan, ModelParallelPlan, chain_order
from spikemesh.rtl.mesh import MeshConfig
from spikemesh.sim import golden
from spikemesh.sim.benches.mesh_endpoints import make_program
from spikemesh.sim.benches.mesh_pysim import run_pysim
from spikemesh.sim.benches.mesh_traffic import QueueSource
from spikemesh.sim.golden import SNNConfig
from spikemesh.sim.golden_mesh import data_parallel_step, model_parallel_exchange, reduce_in_order

SMALL = SNNConfig(sizes=(16, 12, 4), T=4, rule="bptt", lr=2.0**-2, loss_scale=64, surrogate="tri",
                    surrogate_width=2.0)


def small_samples(n, seed=0):
    rng = np.random.default_rng(seed)
    return [rng.integers(0, 17, 16).astype(np.uint8) for _ in range(n)], [int(v) for v in rng.integers(0, 4, n)]


def bits(ws):
    return [np.asarray(w, np.float16).view(np.uint16) for w in ws]


def test_one_core_data_parallel_is_train_sample():
    W = golden.init_weights(SMALL, 0)
    xs, ys = small_samples(1)
    r = data_parallel_step(SMALL, DataParallelPlan(MeshConfig(2, 2), (2,)), W, xs, ys)
    ref = golden.train_sample(SMALL, W, xs[0], ys[0])
    for a, b in zip(bits(r.weights), bits(ref.weights)):
        np.testing.assert_array_equal(a, b)
    assert any(np.count_nonzero(g) for g in r.reduced), "the sample must produce a gradient"


def test_reduction_is_a_left_fold_in_chain_order():
    rng = np.random.default_rng(5)
    g = {c: [rng.standard_normal((3, 7)).astype(np.float16) * np.float16(2.0**(c - 2))] for c in range(4)}
    g[1][0][0, 0] = -g[0][0][0, 0]  # cancels to zero: must come out as +0.0
    g[2][0][0, 0] = 0.0
    g[3][0][0, 0] = 0.0
    for chain in ([0, 1, 2, 3], [3, 1, 0, 2]):
        out = reduce_in_order(g, chain)[0]
        for i in range(3):
            for j in range(7):
                acc = np.float16(g[chain[0]][0][i, j])
                for c in chain[1:]:
                    acc = np.float16(acc + g[c][0][i, j])
                want = np.float16(0.0) if acc == 0 else acc
                assert out[i, j].view(np.uint16) == want.view(np.uint16)
    assert chain_order(MeshConfig(2, 3), (0, 1, 2, 3, 4, 5), "snake") == [0, 1, 2, 5, 4, 3]


@pytest.mark.parametrize("kwargs, msg", [
    ({"cores": (0, 0)}, "distinct"), ({"cores": (4,)}, r"cores must be in 0..3"),
    ({"cores": (0,), "order": "random"}, "order must be one of"), ({"cores": (0,), "block": 0}, "block must be"),
])
def test_bad_plans_refused(kwargs, msg):
    with pytest.raises(ValueError, match=msg):
        DataParallelPlan(MeshConfig(2, 2), **kwargs)


def test_bad_model_parallel_refused():
    with pytest.raises(ValueError, match="layer_core entries must be in 0..3"):
        ModelParallelPlan(MeshConfig(2, 2), (0, 9))
    W = golden.init_weights(SMALL, 0)
    with pytest.raises(ValueError, match="layer_core must name 2 cores"):
        model_parallel_exchange(SMALL, ModelParallelPlan(MeshConfig(2, 2), (0, 1, 2)), W, *[v[0] for v in small_samples(1)])
    with pytest.raises(ValueError, match="ottt_o"):
        data_parallel_step(SNNConfig(sizes=(16, 4), rule="ottt_o"), DataParallelPlan(MeshConfig(2, 2), (0,)),
                           golden.init_weights(SNNConfig(sizes=(16, 4)), 0), *small_samples(1))


def write_dp_files(tmp_path, cfg, plan, weights, xs, ys):
    """The endpoints' inputs (per-core gradients, W, eta) and the golden expectation."""
    ref = data_parallel_step(cfg, plan, weights, xs, ys)
    arrays = {"n_layers": cfg.n_layers, "eta": np.float16(cfg.eta)}
    for li, w in enumerate(weights):
        arrays[f"W_{li}"] = np.asarray(w, np.float16)
    for c, gs in ref.core_grads.items():
        for li, g in enumerate(gs):
            arrays[f"G_{c}_{li}"] = g
    path = tmp_path / f"dp_{plan.order}_{len(plan.cores)}.npz"
    np.savez(path, **arrays)
    return str(path), ref


def check_dp_result(result, ref, cores):
    assert sorted(int(c) for c in result) == sorted(cores)
    for c, ws in result.items():
        for li, (got, want) in enumerate(zip(ws, bits(ref.weights))):
            np.testing.assert_array_equal(np.asarray(got, np.uint16), want.ravel(), err_msg=f"core {c} layer {li + 1}")


def write_mp_file(tmp_path, cfg, plan, weights, x, y):
    msgs, res = model_parallel_exchange(cfg, plan, weights, x, y)
    path = tmp_path / "mp.json"
    path.write_text(json.dumps({"packets": plan.packets(msgs), "script": plan.script(msgs)}))
    return str(path), msgs


def test_data_parallel_2x2_pysim(tmp_path):
    mesh = MeshConfig(2, 2)
    plan = DataParallelPlan(mesh, (0, 1, 2, 3), "index", block=16)
    W = golden.init_weights(SMALL, 1)
    xs, ys = small_samples(4, seed=2)
    npz, ref = write_dp_files(tmp_path, SMALL, plan, W, xs, ys)
    # the order matters: another chain gives different bits somewhere (so the test can tell orders apart)
    alt = reduce_in_order(ref.core_grads, [3, 2, 1, 0])
    assert any(not np.array_equal(bits([a])[0], bits([b])[0]) for a, b in zip(alt, ref.reduced))
    for bcast in ("chain", "star"):
        spec = {"program": "data_parallel", "npz": npz, "cores": [0, 1, 2, 3], "order": "index", "block": 16,
                "bcast": bcast}
        prog = make_program(mesh, spec)
        sb, stats = run_pysim(mesh, [QueueSource([]) for _ in range(4)], program=prog, max_cycles=20000)
        assert prog.finished(), f"reduction did not finish in {stats['cycles']} cycles"
        sb.assert_done()
        check_dp_result(prog.result(), ref, [0, 1, 2, 3])


def test_model_parallel_2x2_pysim(tmp_path):
    mesh = MeshConfig(2, 2)
    cfg = SNNConfig(sizes=(16, 12, 8, 4), T=4, rule="bptt", surrogate_width=2.0)
    plan = ModelParallelPlan(mesh, (0, 3, 1))  # layer 1 on core 0, layer 2 on core 3 (2 hops), layer 3 on 1
    W = golden.init_weights(cfg, 4, gain=3.0)
    xs, ys = small_samples(1, seed=4)
    path, msgs = write_mp_file(tmp_path, cfg, plan, W, xs[0], ys[0])
    assert len(msgs) == 4 * cfg.T
    prog = make_program(mesh, {"program": "model_parallel", "json": path})
    sb, stats = run_pysim(mesh, [QueueSource([]) for _ in range(4)], program=prog, max_cycles=5000)
    res = prog.result()
    assert prog.finished() and res["mismatches"] == [] and res["leftover"] == 0
    assert sb.delivered == len(msgs)
