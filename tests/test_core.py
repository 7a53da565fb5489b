"""The training core against the golden model (spikemesh.sim.golden), bit for bit, on generated Verilog.

One Verilator build per core configuration; many cases go through each build. The first sample of each case
runs step by step and checks every layer's spikes, v, psi list, delta list and gs after every step, then
G before the update and W after; later samples run the whole program and check W.
"""
import pytest

from spikemesh.rtl.core import CoreConfig, TrainingCore
from spikemesh.sim.cocotb_run import run_cocotb

SMALL = dict(layers=(10, 7, 6, 4), t_max=5)  # three layers: gs crosses a hidden layer
DIGITS = dict(layers=(64, 16, 10), t_max=4)
SMALL_L2 = dict(SMALL, lanes=2)  # N_1 = 7: a padded column / neuron block in every phase of layers 1 and 2


@pytest.fixture(autouse=True)
def _fast_cxx(monkeypatch):
    # Bus traffic from Python dominates these runs: a C++ model compiled at -O0 builds several times faster.
    monkeypatch.setenv("MAKEFLAGS", "OPT_FAST=-O0 OPT_SLOW=-O0 OPT_GLOBAL=-O0")


def _run(sim, tag, core, snn, **params):
    cfg = CoreConfig(**core)
    run_cocotb(lambda: TrainingCore(cfg), toplevel="spikemesh_core", test_module="spikemesh.sim.benches.core_bench",
               sim=sim, tag=tag, testcase="train_bit_exact",
               params={"core": core, "snn": {"sizes": core["layers"], **snn}, **params})


CASES = {
    "sltt_direct_rect_soft": dict(snn=dict(T=5, rule="sltt"), seed=1, samples=4, stepwise=1, gain=1.4),
    "sltt_rate_tri_hard": dict(snn=dict(T=5, rule="sltt", encoding="rate", surrogate="tri", reset="hard",
                                        surrogate_width=2.0), seed=2, samples=4, stepwise=2, gain=1.6),
    "sltt_k_direct_tri": dict(snn=dict(T=5, rule="sltt_k", k_steps=(0, 2, 4), surrogate="tri"), seed=3,
                              samples=4, stepwise=1, gain=1.4),
    "sltt_rate_dense": dict(snn=dict(T=5, rule="sltt", encoding="rate", dense=True), seed=4, samples=3,
                            stepwise=1, gain=1.6),
    "bptt_rate_tri": dict(snn=dict(T=5, rule="bptt", encoding="rate", surrogate="tri", surrogate_width=2.0),
                          seed=6, samples=4, stepwise=1, gain=1.5),
    "bptt_direct_rect": dict(snn=dict(T=5, rule="bptt"), seed=7, samples=3, stepwise=1, gain=1.4),
    "tbptt_direct_window2": dict(snn=dict(T=5, rule="tbptt", window=2), seed=8, samples=3, stepwise=1, gain=1.4),
    "ottt_a_rate_tri": dict(snn=dict(T=5, rule="ottt_a", encoding="rate", surrogate="tri", surrogate_width=2.0),
                            seed=10, samples=3, stepwise=1, gain=1.4),
    "ottt_o_direct_rect": dict(snn=dict(T=5, rule="ottt_o"), seed=12, samples=3, stepwise=1, gain=1.6),
}


@pytest.mark.parametrize("case", list(CASES))
def test_core_small_verilator(case):
    c = CASES[case]
    _run("verilator", "small", SMALL, c["snn"], **{k: v for k, v in c.items() if k != "snn"})


def test_core_small_icarus():
    c = CASES["sltt_direct_rect_soft"]
    _run("icarus", "small", SMALL, c["snn"], seed=5, samples=2, stepwise=1, gain=1.4)


@pytest.mark.parametrize("rule", ["sltt", "bptt", "ottt_a", "ottt_o"])
def test_core_digits_subset_verilator(rule):
    """One pass over 50 digits: the core's weights after the pass equal the golden model's."""
    _run("verilator", "digits", DIGITS, dict(T=4, rule=rule), seed=0, samples=50, stepwise=1, data="digits")


# P = 2 MAC lanes: one build, the three rule families (SLTT, BPTT's temporal path, OTTT's trace/WGA)
LANE_CASES = ("sltt_rate_tri_hard", "bptt_direct_rect", "ottt_a_rate_tri")


@pytest.mark.parametrize("case", LANE_CASES)
def test_core_lanes2_verilator(case):
    c = CASES[case]
    _run("verilator", "small_l2", SMALL_L2, c["snn"], **{k: v for k, v in c.items() if k != "snn"})


# P = 4 and 8 lanes under Verilator, every rule family (SMALL's layers 7, 6, 4 pad to one or two words, so every
# phase has padded lanes); the engine variants (forward engine + P lanes) are in tests/test_core_overlap.py
WIDE_CASES = ("sltt_rate_tri_hard", "sltt_k_direct_tri", "bptt_rate_tri", "tbptt_direct_window2", "ottt_a_rate_tri",
              "ottt_o_direct_rect", "sltt_rate_dense")


@pytest.mark.parametrize("lanes", [4, 8])
@pytest.mark.parametrize("case", WIDE_CASES)
def test_core_wide_lanes_verilator(lanes, case):
    c = CASES[case]
    _run("verilator", f"small_l{lanes}", dict(SMALL, lanes=lanes), c["snn"], **{k: v for k, v in c.items() if k != "snn"})
