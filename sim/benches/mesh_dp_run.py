"""Run data-parallel training on TrainingCores behind ReduceNodes (cocotb + Verilator, one build) and check it
against golden_mesh: `run_dp(experiments)` returns the bench's per-step records; `check_dp` compares every
core's W after every step with `golden_mesh.data_parallel_step` bit for bit."""
from __future__ import annotations

import json
import os
from contextlib import contextmanager
from pathlib import Path

import numpy as np

from spikemesh.firmware.placement import DataParallelPlan
from spikemesh.rtl.mesh.flit import MeshConfig

DP_CORE = dict(layers=(64, 16, 10), t_max=4)
DP_SNN = dict(sizes=(64, 16, 10), T=4, rule="sltt", surrogate="tri", surrogate_width=2.0, lr=2.0**-3)
DP_NODES = (1, 2, 3)  # the cores in the design; node 0 is the host


def dp_data(sizes) -> tuple[np.ndarray, np.ndarray]:
    """The training samples for a network of `sizes`: the digits train split (64 pixels, 10 classes), or for
    16 inputs the same images pooled 2x2 (4x4 pixels, rounded mean: still integers 0..16), labels mod N_L."""
    from spikemesh.sim.golden import load_digits_split

    X, y, _, _ = load_digits_split()
    n_in, n_out = sizes[0], sizes[-1]
    if n_in == 16:
        X = (X.reshape(-1, 4, 2, 4, 2).astype(np.int64).sum(axis=(2, 4)) + 2) // 4
        X = X.reshape(-1, 16)
    elif n_in != 64:
        raise ValueError(f"sizes[0] must be 64 (digits) or 16 (digits pooled 2x2), got {n_in!r}")
    if not 2 <= n_out <= 10:
        raise ValueError(f"sizes[-1] must be in 2..10 classes, got {n_out!r}")
    return X, y % n_out


def experiment(cores, mode: str, steps: int, first_sample: int = 0, seed: int = 3, order: str = "snake",
               gain: float = 1.4, mesh: tuple[int, int] = (2, 2)) -> dict:
    if mode not in ("net", "host"):
        raise ValueError(f"mode must be 'net' or 'host', got {mode!r}")
    return {"cores": list(cores), "mode": mode, "steps": steps, "first_sample": first_sample, "seed": seed,
            "order": order, "gain": gain, "mesh": list(mesh)}


@contextmanager
def cxx_o0(fast: str = "-O0"):
    """Verilator's C++ built at -O0 inside the block: Python per cycle dominates the small multi-core runs, not
    the model, and -O0 builds the C++ several times faster. `fast`: the level for the model's eval code
    (OPT_FAST); -O1 pays off for a large model (19 cores: 70 s instead of 630 s of simulation)."""
    saved = os.environ.get("MAKEFLAGS")
    os.environ["MAKEFLAGS"] = ((saved or "") + f" OPT_FAST={fast} OPT_SLOW=-O0 OPT_GLOBAL=-O0").strip()
    try:
        yield
    finally:
        if saved is None:
            os.environ.pop("MAKEFLAGS", None)
        else:
            os.environ["MAKEFLAGS"] = saved


def run_dp(experiments: list[dict], workdir: Path, sim: str = "verilator", mesh: tuple[int, int] = (2, 2),
           nodes: tuple[int, ...] = DP_NODES, core: dict | None = None, snn: dict | None = None,
           shared: bool = False) -> list[dict]:
    """One build of `nodes` TrainingCores (`core`: CoreConfig arguments, default DP_CORE) on a `mesh` (node 0 =
    host); every experiment runs through it with the network `snn` (SNNConfig arguments, default DP_SNN).
    `shared`: the core is emitted once as its own Verilog module and instanced at every node (SharedModule):
    Verilator converts and compiles it once instead of once per node."""
    from spikemesh.rtl.core import CoreConfig, TrainingCore
    from spikemesh.rtl.core.layout import CoreLayout
    from spikemesh.rtl.mesh.reduce_system import ReduceMeshSystem, ReduceParams
    from spikemesh.gen.shared_module import SharedModule, emit_shared
    from spikemesh.sim.cocotb_run import DEFAULT_BUILD_ROOT, run_cocotb

    if any(list(e["mesh"]) != list(mesh) or not set(e["cores"]) <= set(nodes) for e in experiments):
        raise ValueError(f"experiments must use mesh {mesh} and cores among {nodes}")
    core, snn = core or DP_CORE, snn or DP_SNN
    cfg = MeshConfig(*mesh)
    ccfg = CoreConfig(**core)
    g = CoreLayout(ccfg).region("g")
    out = Path(workdir) / "mesh_dp.json"
    tag = f"dp{len(nodes)}" + ("" if core == DP_CORE else "_" + core_tag(core)) + ("_shared_o1" if shared else "")
    make_core, extra = (lambda: TrainingCore(ccfg)), []
    if shared:
        name = "core_" + core_tag(core).replace("-", "_")
        extra = [emit_shared(make_core, name, DEFAULT_BUILD_ROOT / "shared" / f"{name}.v")]
        make_core = (lambda: SharedModule(lambda: TrainingCore(ccfg), name))
    with cxx_o0("-O1" if shared else "-O0"):  # shared: the many-core builds, where simulation dominates
        run_cocotb(lambda: ReduceMeshSystem(cfg, {c: make_core for c in nodes}, ReduceParams(g.offset, g.size)),
                   toplevel=f"mesh_dp_{mesh[0]}x{mesh[1]}", test_module="spikemesh.sim.benches.mesh_dp_bench",
                   sim=sim, tag=tag, extra_sources=extra,
                   params={"mesh": list(mesh), "core": core, "snn": snn, "experiments": experiments,
                           "out": str(out)})
    return json.loads(out.read_text())


def core_tag(core: dict) -> str:
    """A short build-directory tag for a core config other than DP_CORE (layers, t_max, rules, forward engine)."""
    return ("-".join(map(str, core["layers"])) + f"_t{core.get('t_max', 8)}_" + "_".join(core.get("rules", ("all",)))
            + ("_ov" if core.get("overlap") else ""))


def golden_steps(e: dict, snn_kw: dict | None = None) -> list:
    """golden_mesh.data_parallel_step for every step of experiment `e` (same samples as the bench)."""
    from spikemesh.sim.golden import SNNConfig, init_weights
    from spikemesh.sim.golden_mesh import data_parallel_step

    snn = SNNConfig(**(snn_kw or DP_SNN))
    plan = DataParallelPlan(MeshConfig(*e.get("mesh", (2, 2))), tuple(e["cores"]), e["order"])
    X, y = dp_data(snn.sizes)
    W = init_weights(snn, e["seed"], gain=e["gain"])
    refs = []
    B = len(plan.cores)
    for s in range(e["steps"]):
        idx = [e["first_sample"] + s * B + k for k in range(B)]
        ref = data_parallel_step(snn, plan, W, [X[i] for i in idx], [int(y[i]) for i in idx], idx)
        refs.append(ref)
        W = ref.weights
    return refs


def check_dp(result: dict, snn_kw: dict | None = None) -> list:
    """Raise AssertionError naming experiment, step, core and layer where a W differs from golden_mesh."""
    refs = golden_steps(result["exp"], snn_kw)
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
