"""The generated Verilog of the 20-core (4 x 5) mesh under cocotb + Verilator, one build for everything:
- 10^5 flits of uniform random traffic (1..3-flit packets) under sink backpressure (itertools.cycle stall
  patterns): every packet delivered exactly once, whole, in order per flow; no deadlock (the run ends);
- a burst with every node injecting back to back into a hotspot node (worst-case contention);
- data-parallel gradient reduction over all 20 cores (snake chain) and over a 2 x 2 sub-block, and a
  model-parallel spike/error exchange: bit for bit equal to sim/golden_mesh.
"""
import os
from pathlib import Path

import pytest

from spikemesh.gen.mesh_perf import check_dp, dp_experiment, mp_experiment, run_mesh_experiments
from spikemesh.rtl.mesh import MeshConfig
from spikemesh.sim.golden import SNNConfig

FLITS = int(os.environ.get("SPIKEMESH_MESH_FLITS", 100_000))


@pytest.mark.parametrize("sim", ["verilator"])
def test_mesh_4x5_traffic_and_training(sim, tmp_path: Path):
    cfg = MeshConfig(rows=4, cols=5, flit_width=32, depth=5)
    per_node = FLITS // (2 * cfg.n_nodes)  # packets of 1..3 flits: 2 flits on average
    snn = SNNConfig(sizes=(64, 16, 10), T=4, rule="sltt", surrogate="tri", surrogate_width=2.0)
    dp20, ref20 = dp_experiment(tmp_path, cfg, tuple(range(20)), "snake", snn)
    dp4, ref4 = dp_experiment(tmp_path, cfg, (0, 1, 5, 6), "index", snn)
    mp, msgs = mp_experiment(tmp_path, cfg, (0, 19), SNNConfig(sizes=(64, 40, 10), T=4, rule="bptt"))
    dp20["stall_out"] = dp4["stall_out"] = mp["stall_out"] = True
    exps = [
        {"kind": "random", "name": "uniform 1e5 flits", "packets_per_node": per_node, "max_len": 3, "seed": 11,
         "rate": 1.0, "stall_out": True},
        {"kind": "random", "name": "hotspot", "packets_per_node": 30, "max_len": 3, "seed": 12, "rate": 1.0,
         "stall_out": True, "dests": {str(i): [7] for i in range(cfg.n_nodes)}},
        dp20, dp4, mp,
    ]
    res = run_mesh_experiments(cfg, exps, sim, "test", tmp_path)
    uni, hot, r20, r4, rmp = res
    assert uni["packets"] == per_node * cfg.n_nodes and uni["flits"] >= 0.95 * FLITS
    assert hot["packets"] == 30 * cfg.n_nodes
    check_dp(r20, ref20)
    check_dp(r4, ref4)
    assert sorted(r20["result"]) == [str(c) for c in sorted(range(20), key=str)]
    assert rmp["result"]["mismatches"] == [] and rmp["result"]["leftover"] == 0
    assert rmp["packets"] == len(msgs) > 0
