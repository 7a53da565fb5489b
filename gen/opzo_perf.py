"""OPZO on the core against SLTT and OTTT_A: cycles per sample by phase (Verilator perf bench, the same digits
samples for every rule, weights (and OPZO's feedback matrices) checked bit for bit against the golden model),
the state each rule keeps (golden `state_bytes`) and the block RAMs each core takes (CoreLayout).

`spikemesh core bench --opzo [--record]`; the table goes to docs/core.md ("OPZO").
"""
from __future__ import annotations

from .core_perf import core_cycles, summarise

LAYERS = (64, 128, 128, 10)
T = 8
RULES = ("opzo", "sltt", "ottt_a")


def opzo_bench(samples: int = 3, layers: tuple[int, ...] = LAYERS, T: int = T, record: bool = False) -> dict:
    from spikemesh.rtl.core import CoreConfig
    from spikemesh.rtl.core.layout import CoreLayout
    from spikemesh.sim.golden import SNNConfig, state_bytes

    layers = tuple(layers)
    runs = {}
    for rule in RULES:
        opzo = rule == "opzo"
        res = core_cycles(layers, T, samples, rule, schedules=("sparse",), opzo=opzo)
        core = CoreConfig(layers=layers, t_max=T, **({"rules": ("opzo",), "opzo": True} if opzo else {}))
        cyc = summarise(res["sparse"])
        sb = state_bytes(SNNConfig(sizes=layers, T=T, rule=rule))
        runs[rule] = {"cycles": cyc["cycles"], "phases": {k: cyc[f"{k}_cycles"] for k in ("fp", "bp", "wg", "upd")},
                      "mac_ops": cyc["mac_ops"], "state_bytes": {"temporal": sb.temporal, "fixed": sb.fixed},
                      "bram": sum(CoreLayout(core).bram_blocks().values()), "sim_wall_s": res["wall_s"]}
    for r in runs.values():
        r["vs_sltt"] = r["cycles"] / runs["sltt"]["cycles"]
        r["vs_ottt_a"] = r["cycles"] / runs["ottt_a"]["cycles"]
    report = {"layers": list(layers), "T": T, "samples": samples, "lanes": 1, "runs": runs, "table": opzo_table(runs)}
    print(report["table"])
    if record:
        _record(runs, layers, T, samples)
    return report


def opzo_table(runs: dict) -> str:
    lines = ["| rule | cycles/sample | vs SLTT | vs OTTT_A | FP / BP / WG / UPD cycles | state bytes (temporal + fixed) "
             "| DP16KD |", "|---|---|---|---|---|---|---|"]
    for name, r in runs.items():
        ph, sb = r["phases"], r["state_bytes"]
        lines.append(f"| {name} | {r['cycles']:,.0f} | {r['vs_sltt']:.2f}x | {r['vs_ottt_a']:.2f}x | {ph['fp']:,.0f} / "
                     f"{ph['bp']:,.0f} / {ph['wg']:,.0f} / {ph['upd']:,.0f} | {sb['temporal']:,} + {sb['fixed']:,} "
                     f"| {r['bram']} |")
    return "\n".join(lines)


def _record(runs: dict, layers, T: int, samples: int) -> None:
    from .measured import record

    net = "-".join(map(str, layers))
    oz = runs["opzo"]
    record({
        "core.opzo.cycles_per_sample": (round(oz["cycles"]), f"cycles ({net}, T={T}, OPZO on chip, P = 1, sparse, "
                                                             f"{samples} digits samples)"),
        "core.opzo.vs_sltt": (round(oz["vs_sltt"], 3), "OPZO cycles per sample relative to SLTT, same samples and core size"),
        "core.opzo.vs_ottt_a": (round(oz["vs_ottt_a"], 3), "OPZO cycles per sample relative to OTTT_A, same run"),
        "core.opzo.bram": (oz["bram"], f"DP16KD blocks of the OPZO core ({net}, T={T}, P = 1; CoreLayout estimate)"),
    }, f"spikemesh core bench --opzo --samples {samples} --record")
