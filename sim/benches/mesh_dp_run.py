"""Run data-parallel training on TrainingCores behind ReduceNodes (cocotb + Verilator, one build) and check it
against golden_mesh: `run_dp(experiments)` returns the bench's per-step records; `check_dp` compares every
core's W after every step with `golden_mesh.data_parallel_step` bit for bit."""
from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np

from spikemesh.firmware.placement import DataParallelPlan
from spikemesh.rtl.mesh.flit import MeshConfig

DP_CORE = dict(layers=(64, 16, 10), t_max=4)
DP_SNN = dict(sizes=(64, 16, 10), T=4, rule="sltt", surrogate="tri", surrogate_width=2.0, lr=2.0**-3)
DP_NODES = (1, 2, 3)  # the cores in the design; node 0 is the host


def experiment(cores, mode: str, steps: int, first_sample: int = 0, seed: int = 3, order: str = "snake",
               gain: float = 1.4, mesh: tuple[int, int] = (2, 2)) -> dict:
    if mode not in ("net", "host"):
        raise ValueError(f"mode must be 'net' or 'host', got {mode!r}")
    return {"cores": list(cores), "mode": mode, "steps": steps, "first_sample": first_sample, "seed": seed,
            "order": order, "gain": gain, "mesh": list(mesh)}


def run_dp(experiments: list[dict], workdir: Path, sim: str = "verilator", mesh: tuple[int, int] = (2, 2),
           nodes: tuple[int, ...] = DP_NODES) -> list[dict]:
    """One build of `nodes` TrainingCores on a `mesh` (node 0 = host); every experiment runs through it."""
    from spikemesh.rtl.core import CoreConfig, TrainingCore
    from spikemesh.rtl.core.layout import CoreLayout
    from spikemesh.rtl.mesh.reduce_system import ReduceMeshSystem, ReduceParams
    from spikemesh.sim.cocotb_run import run_cocotb

    if any(list(e["mesh"]) != list(mesh) or not set(e["cores"]) <= set(nodes) for e in experiments):
        raise ValueError(f"experiments must use mesh {mesh} and cores among {nodes}")
    cfg = MeshConfig(*mesh)
    ccfg = CoreConfig(**DP_CORE)
    g = CoreLayout(ccfg).region("g")
    out = Path(workdir) / "mesh_dp.json"
    saved = os.environ.get("MAKEFLAGS")
    # Python per cycle dominates, not the model: -O0 builds the C++ several times faster
    os.environ["MAKEFLAGS"] = ((saved or "") + " OPT_FAST=-O0 OPT_SLOW=-O0 OPT_GLOBAL=-O0").strip()
    try:
        run_cocotb(lambda: ReduceMeshSystem(cfg, {c: (lambda: TrainingCore(ccfg)) for c in nodes},
                                            ReduceParams(g.offset, g.size)),
                   toplevel=f"mesh_dp_{mesh[0]}x{mesh[1]}", test_module="spikemesh.sim.benches.mesh_dp_bench",
                   sim=sim, tag=f"dp{len(nodes)}",
                   params={"mesh": list(mesh), "core": DP_CORE, "snn": DP_SNN, "experiments": experiments,
                           "out": str(out)})
    finally:
        if saved is None:
            os.environ.pop("MAKEFLAGS", None)
        else:
            os.environ["MAKEFLAGS"] = saved
    return json.loads(out.read_text())


def golden_steps(e: dict) -> list:
    """golden_mesh.data_parallel_step for every step of experiment `e` (same samples as the bench)."""
    from spikemesh.sim.golden import SNNConfig, init_weights, load_digits_split
    from spikemesh.sim.golden_mesh import data_parallel_step

    snn = SNNConfig(**DP_SNN)
    plan = DataParallelPlan(MeshConfig(*e.get("mesh", (2, 2))), tuple(e["cores"]), e["order"])
    X, y, _, _ = load_digits_split()
    W = init_weights(snn, e["seed"], gain=e["gain"])
    refs = []
    B = len(plan.cores)
    for s in range(e["steps"]):
        idx = [e["first_sample"] + s * B + k for k in range(B)]
        ref = data_parallel_step(snn, plan, W, [X[i] for i in idx], [int(y[i]) for i in idx], idx)
        refs.append(ref)
        W = ref.weights
    return refs


def check_dp(result: dict) -> list:
    """Raise AssertionError naming experiment, step, core and layer where a W differs from golden_mesh."""
    refs = golden_steps(result["exp"])
    e = result["exp"]
    assert result["chain"] == refs[0].chain, f"chain {result['chain']} != golden {refs[0].chain}"
    for s, (rec, ref) in enumerate(zip(result["steps"], refs)):
        for c in e["cores"]:
            for li, w in enumerate(ref.weights):
                got = np.asarray(rec["weights"][str(c)][li], np.uint16)
                want = np.asarray(w, np.float16).view(np.uint16)
                if not np.array_equal(got, want):
                    raise AssertionError(f"{e['mode']} {e['cores']} step {s} core {c} layer {li + 1}: "
                                         f"{int((got != want).sum())} weights differ from golden_mesh")
    return refs
