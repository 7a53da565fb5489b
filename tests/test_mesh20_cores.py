"""A 20-node (4 x 5) mesh with REAL TrainingCores at the 19 nodes 1..19 (host port at node 0) runs
one data-parallel training step with the in-network gradient reduction (ReduceNode at every core, snake
chain over all 19): cocotb + Verilator, one build; every core's W bit for bit equal to
golden_mesh.data_parallel_step. Small cores to keep the build small: 16-8-4, t_max 4, SLTT only (the digits
pooled 2x2 to 16 pixels, 4 classes), the default FP adder and multiplier depths (4 and 5), and the core emitted
ONCE as a Verilog module instanced at the 19 nodes (gen/shared_module.py), so Verilator compiles it once.
The model's eval C++ is built at -O1 (run_dp, shared=True): simulation of the 58K cycles ~70 s instead of
~630 s at -O0, for a longer C++ build (docs/mesh.md, "20 nodes"); a slow test (~6-7 min on 2 idle cores)."""
from spikemesh.sim.benches.mesh_dp_run import check_dp, experiment, run_dp

MESH = (4, 5)
NODES = tuple(range(1, 20))
CORE20 = dict(layers=(16, 8, 4), t_max=4, rules=("sltt",))
SNN20 = dict(sizes=(16, 8, 4), T=4, rule="sltt", surrogate="tri", surrogate_width=2.0, lr=2.0**-3)


def test_data_parallel_step_on_19_cores_of_a_4x5_mesh(tmp_path):
    exps = [experiment(NODES, "net", steps=1, mesh=MESH), experiment((1,), "net", steps=1, mesh=MESH)]
    results = run_dp(exps, tmp_path, mesh=MESH, nodes=NODES, core=CORE20, snn=SNN20, shared=True)
    assert [r["exp"] for r in results] == exps
    r19, r1 = results
    refs = check_dp(r19, SNN20)
    check_dp(r1, SNN20)
    assert len(r19["chain"]) == 19
    assert any(int((g != 0).sum()) for g in refs[0].reduced)  # the step really trained
    rec = r19["steps"][0]
    assert rec["host_flits"]["reduce"] <= 8  # the host only starts the chain and hears "done"
    # every interface but the last sent reduce packets, every one but the first broadcast ones
    assert all(v["flits"] > 0 for v in rec["ni"].values())
    print("19 cores:", rec["phases"], rec["host_flits"], "ni flits", sum(v["flits"] for v in rec["ni"].values()),
          "stalls", sum(v["stalls"] for v in rec["ni"].values()))
    print("1 core:", r1["steps"][0]["phases"], r1["steps"][0]["host_flits"])
