"""Data-parallel digits training on three TrainingCores of a 2x2 mesh (host at node 0), gradients reduced
IN THE NETWORK (ReduceNode: FP16 adder per interface, chain order) and, for comparison, on the host:
cocotb + Verilator, one build; every core's W after every step bit for bit equal to golden_mesh."""
from spikemesh.sim.benches.mesh_dp_run import check_dp, experiment, run_dp


def test_data_parallel_digits_in_network_reduction(tmp_path):
    exps = [experiment((1, 2, 3), "net", steps=3), experiment((2, 3), "net", steps=1, first_sample=9),
            experiment((1, 2, 3), "host", steps=1, first_sample=12)]
    results = run_dp(exps, tmp_path)
    assert [r["exp"] for r in results] == exps
    for r in results:
        refs = check_dp(r)
        # the step really trained: the combined gradient is nonzero and W moved
        assert any(int((g != 0).sum()) for ref in refs for g in ref.reduced)
    net3 = results[0]
    for rec in net3["steps"]:
        assert rec["host_flits"]["reduce"] <= 8  # the host only starts the chain and hears "done"
        assert sum(v["flits"] for v in rec["ni"].values()) > 0
    # in-network reduction beats the host-side one on the same three cores
    assert net3["steps"][0]["phases"]["reduce"] < results[2]["steps"][0]["phases"]["reduce"]
