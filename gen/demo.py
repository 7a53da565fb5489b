"""`spikemesh demo`: the main job in one command.

1. FP16 arithmetic units: generate their Verilog and check results and flags against the golden FP model
   under cocotb + Verilator.
2. The training core: generate its Verilog, train it on digits in simulation (cocotb + Verilator), compare
   its weights with the golden model bit for bit as it goes, then evaluate the weights read back from the
   simulated chip on the held-out digits.
"""
from __future__ import annotations

import json
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np


@dataclass(frozen=True)
class DemoConfig:
    layers: tuple[int, ...] = (64, 32, 10)
    T: int = 4
    rule: str = "sltt"
    samples: int = 300
    check_every: int = 50
    fp_vectors: int = 20_000
    seed: int = 0

    def __post_init__(self) -> None:
        if not 1 <= self.samples <= 1437:
            raise ValueError(f"samples must be in 1..1437 (the digits training split), got {self.samples}")
        if self.fp_vectors < 0:
            raise ValueError(f"fp_vectors must be >= 0, got {self.fp_vectors}")
        if self.check_every < 1:
            raise ValueError(f"check_every must be >= 1, got {self.check_every}")


def run_fp_units(cfg: DemoConfig) -> list[tuple[str, str]]:
    from spikemesh.gen.formats import FP16
    from spikemesh.sim.benches.fp_harness import LaneHarness, groups_for
    from spikemesh.sim.cocotb_run import run_cocotb

    groups = groups_for(FP16, False, lanes_per_depth=3)
    harness = LaneHarness(groups)
    params = dict(fmt="fp16", int_width=16, seed=cfg.seed + 7, n_random=cfg.fp_vectors, n_corner=2_000,
                  exhaustive=False, groups={g.name: list(g.depths) for g in groups},
                  widths={g.name: list(harness.widths(g.name)) for g in groups})
    t0 = time.time()
    run_cocotb(lambda: harness, toplevel="fp_lanes_e5m10", tag="one", test_module="spikemesh.sim.benches.fp_bench",
               sim="verilator", params=params)
    dt = time.time() - t0
    return [(g.name, f"depths {list(g.depths)}: {cfg.fp_vectors:,} random + 2,000 corner vectors, "
             f"results and flags bit-exact") for g in groups] + [("time", f"{dt:.0f} s (build + simulation)")]


def run_core(cfg: DemoConfig) -> dict:
    from spikemesh.rtl.core import CoreConfig, TrainingCore
    from spikemesh.sim.cocotb_run import run_cocotb
    from spikemesh.sim.golden import SNNConfig, evaluate, init_weights, load_digits_split

    core = dict(layers=tuple(cfg.layers), t_max=cfg.T)
    snn = dict(sizes=tuple(cfg.layers), T=cfg.T, rule=cfg.rule, surrogate="rect", surrogate_width=2.0,
               loss_scale=256, lr=2.0**-2)
    out = Path(tempfile.mkdtemp(prefix="spikemesh_demo_")) / "demo.json"
    core_cfg = CoreConfig(**core)
    t0 = time.time()
    run_cocotb(lambda: TrainingCore(core_cfg), toplevel="spikemesh_core", tag="demo_" + "_".join(map(str, cfg.layers)),
               test_module="spikemesh.sim.benches.demo_bench", sim="verilator", testcase="demo_train",
               params={"core": core, "snn": snn, "seed": cfg.seed, "samples": cfg.samples,
                       "check_every": cfg.check_every, "out": str(out)})
    wall = time.time() - t0
    res = json.loads(out.read_text())
    scfg = SNNConfig(**snn)
    hw = [np.array(b, dtype=np.uint16).view(np.float16) for b in res["weights_bits"]]
    _, _, Xte, yte = load_digits_split()
    acc0 = evaluate(scfg, init_weights(scfg, cfg.seed), Xte, yte)
    acc1 = evaluate(scfg, hw, Xte, yte)
    per = res["counters"]
    mean = {k: float(np.mean([c[k] for c in per])) for k in per[0]}
    return dict(wall=wall, checks=res["checks"], acc0=acc0, acc1=acc1, mean=mean)


def main(cfg: DemoConfig) -> int:
    print(f"spikemesh demo: FP16 units, then a {'-'.join(map(str, cfg.layers))} SNN (T={cfg.T}, {cfg.rule}) "
          f"trained on {cfg.samples} digits by the simulated training core\n")
    if cfg.fp_vectors:
        print("[1/2] FP16 units (generated Verilog, cocotb + Verilator) vs the golden FP model")
        for unit, text in run_fp_units(cfg):
            print(f"  {unit:<8} {text}")
    print("\n[2/2] training core (generated Verilog, cocotb + Verilator) vs the golden SNN model")
    r = run_core(cfg)
    m = r["mean"]
    rows = [
        ("samples trained on chip", f"{cfg.samples}"),
        ("weight checks vs golden (bit for bit)", f"{r['checks']} passed, 0 weights differ"),
        ("cycles / sample (total)", f"{m['cycles']:,.0f}"),
        ("  forward / backward / grad / update", f"{m['fp_cycles']:,.0f} / {m['bp_cycles']:,.0f} / "
                                                 f"{m['wg_cycles']:,.0f} / {m['upd_cycles']:,.0f}"),
        ("test accuracy before training", f"{100 * r['acc0']:.1f}% (360 held-out digits)"),
        ("test accuracy after, chip's weights", f"{100 * r['acc1']:.1f}%"),
        ("simulation wall time", f"{r['wall']:.0f} s"),
    ]
    w = max(len(k) for k, _ in rows)
    for k, v in rows:
        print(f"  {k:<{w}}  {v}")
    return 0
