"""Local learning on the core against end-to-end BPTT and truncated BPTT: cycles per sample by phase (Verilator
perf bench, the same digits samples, weights checked bit for bit against the golden model), the state the
rule keeps (golden `state_bytes`) and the block RAMs each core takes (CoreLayout).

`spikemesh core bench --local [--record]`; the table goes to docs/core.md ("Local learning").
"""
from __future__ import annotations

from .core_perf import core_cycles, summarise

LAYERS = (64, 128, 128, 10)
T = 8
WINDOW = 4


def _variants(layers: tuple[int, ...], T: int, window: int) -> list[tuple[str, str, tuple[int, ...], dict]]:
    """(name, rule, heads, extra SNN fields): end-to-end BPTT, TBPTT and local learning with one block per
    layer, over the whole sequence and over windows."""
    heads = tuple(range(1, len(layers) - 2 + 1))  # a head after every hidden layer
    return [
        ("bptt", "bptt", (), {}),
        (f"tbptt_w{window}", "tbptt", (), {"window": window}),
        ("local", "local", heads, {}),
        (f"local_w{window}", "local", heads, {"window": window}),
    ]


def local_bench(samples: int = 4, layers: tuple[int, ...] = LAYERS, T: int = T, window: int = WINDOW,
                record: bool = False) -> dict:
    from spikemesh.rtl.core import CoreConfig
    from spikemesh.rtl.core.layout import CoreLayout
    from spikemesh.sim.golden import SNNConfig, state_bytes

    runs = {}
    for name, rule, heads, extra in _variants(tuple(layers), T, window):
        res = core_cycles(layers, T, samples, rule, schedules=("sparse",), heads=heads, snn_extra=extra)
        cyc = summarise(res["sparse"])
        core = CoreConfig(layers=tuple(layers), t_max=T, **({"heads": heads, "rules": ("local",), "prog_depth": 512} if heads else {}))
        sb = state_bytes(SNNConfig(sizes=tuple(layers), T=T, rule=rule, **extra))
        runs[name] = {"rule": rule, "heads": list(heads), **extra, "cycles": cyc["cycles"],
                      "phases": {k: cyc[f"{k}_cycles"] for k in ("fp", "bp", "wg", "upd")},
                      "state_bytes": {"temporal": sb.temporal, "fixed": sb.fixed},
                      "bram": sum(CoreLayout(core).bram_blocks().values()), "sim_wall_s": res["wall_s"]}
    base = runs["bptt"]["cycles"]
    for r in runs.values():
        r["vs_bptt"] = r["cycles"] / base
    report = {"layers": list(layers), "T": T, "samples": samples, "runs": runs, "table": local_table(runs)}
    print(report["table"])
    if record:
        _record(runs, layers, T)
    return report


def local_table(runs: dict) -> str:
    lines = ["| variant | cycles/sample | vs BPTT | FP / BP / WG / UPD cycles | state bytes (temporal + fixed) | DP16KD |",
             "|---|---|---|---|---|---|"]
    for name, r in runs.items():
        ph = r["phases"]
        sb = r["state_bytes"]
        lines.append(f"| {name} | {r['cycles']:,.0f} | {r['vs_bptt']:.2f}x | {ph['fp']:,.0f} / {ph['bp']:,.0f} / "
                     f"{ph['wg']:,.0f} / {ph['upd']:,.0f} | {sb['temporal']:,} + {sb['fixed']:,} | {r['bram']} |")
    return "\n".join(lines)


def _record(runs: dict, layers, T: int) -> None:
    from .measured import record

    net = "-".join(map(str, layers))
    loc = runs["local"]
    record({
        "core.local.cycles_per_sample": (round(loc["cycles"]), f"cycles ({net}, T={T}, local learning, a head per "
                                                              f"hidden layer, P = 1, sparse)"),
        "core.local.vs_bptt": (round(loc["vs_bptt"], 3), "cycles per sample relative to end-to-end BPTT, same run"),
        "core.bptt.cycles_per_sample": (round(runs["bptt"]["cycles"]), f"cycles ({net}, T={T}, BPTT, P = 1, sparse)"),
    }, "spikemesh core bench --local --record")
