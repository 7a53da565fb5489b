"""Engine overlap (CoreConfig.overlap): a forward engine runs FWD of step t+1 while the sequencer
runs the backward of step t on the MAC. Bit-exact with the golden model; the engines really overlap."""
from collections import Counter

import pytest

from spikemesh.firmware.program import check_overlap_order, sample_ops
from spikemesh.rtl.core import CoreConfig, CoreLayout, Op, TrainingCore


def test_overlap_config_and_map():
    with pytest.raises(ValueError, match="overlap"):
        CoreConfig(layers=(8, 4), overlap=1)
    off, on = CoreLayout(CoreConfig(layers=(7, 5, 3))), CoreLayout(CoreConfig(layers=(7, 5, 3), overlap=True))
    assert "accf" not in {r.name for r in off.regions()}
    assert on.region("accf").size == on.ndepth and on.region("accf").fields["noff"] == [0, 5, 8]
    assert on.counters[-2:] == ("fwd_busy", "overlap_cycles") and "fwd_busy" not in off.counters
    with pytest.raises(ValueError, match="overlap"):
        sample_ops(CoreConfig(layers=(8, 6, 3), t_max=4), "sltt", 2, overlap=True)


def test_overlap_program_order():
    cfg = CoreConfig(layers=(8, 6, 3), t_max=4, overlap=True)
    ops = sample_ops(cfg, "sltt", 2, overlap_order="front")
    assert ops[:6] == [(Op.CLRV, 0, 0), (Op.FWD, 1, 0), (Op.NEUR, 1, 0), (Op.FWD, 2, 0), (Op.NEUR, 2, 0),
                       (Op.FWD, 1, 1)]
    assert ops[6:12] == [(Op.DELTA, 2, 0), (Op.WG, 2, 0), (Op.GS, 2, 0), (Op.DELTA, 1, 0), (Op.WG, 1, 0),
                         (Op.NEUR, 1, 1)]
    split = sample_ops(cfg, "sltt", 2)  # the default: layer 1's backward under FWD 2,t+1
    assert split[5:12] == [(Op.FWD, 1, 1), (Op.DELTA, 2, 0), (Op.WG, 2, 0), (Op.GS, 2, 0), (Op.NEUR, 1, 1),
                           (Op.FWD, 2, 1), (Op.DELTA, 1, 0)]
    plain = sample_ops(cfg, "sltt", 2, overlap=False)
    assert Counter(ops) == Counter(plain) and ops != plain  # the same ops, reordered
    assert sample_ops(cfg, "bptt", 2) == sample_ops(cfg, "bptt", 2, overlap=False)  # ordinary order
    assert sample_ops(cfg, "ottt_o", 2) == sample_ops(cfg, "ottt_o", 2, overlap=False)  # UPD every step
    a = sample_ops(cfg, "ottt_a", 2)
    assert a[7:16] == [(Op.FWD, 1, 1), (Op.DELTA, 2, 0), (Op.WGA, 2, 0), (Op.GS, 2, 0), (Op.DELTA, 1, 0),
                       (Op.WGA, 1, 0), (Op.TRACE, 1, 1), (Op.NEUR, 1, 1), (Op.FWD, 2, 1)]
    with pytest.raises(ValueError, match="overlap_order"):
        sample_ops(cfg, "ottt_a", 2, overlap_order="spread")
    bad = list(ops)
    k = bad.index((Op.DELTA, 2, 0))
    bad.insert(k, bad.pop(bad.index((Op.NEUR, 2, 1))))  # NEUR L,1 before DELTA L,0: gs_L overwritten
    with pytest.raises(AssertionError, match="gs_L"):
        check_overlap_order(bad, 2)


@pytest.mark.parametrize("lanes, rule, enc, extra, order", [
    (1, "sltt", "direct", {}, "front"),
    (1, "sltt", "direct", {}, "spread"),  # NEUR l,t+1 before DELTA l,t: psi_cnt per t parity
    (1, "sltt_k", "rate", {"k_steps": (1, 3)}, "split"),
    (1, "bptt", "direct", {}, None),
    (1, "ottt_a", "rate", {"surrogate": "tri", "surrogate_width": 2.0}, None),  # front; TRACE under FWD too
])
def test_core_overlap_pysim(lanes, rule, enc, extra, order):
    """7-5-3, T=4 in Amaranth's simulator with the forward engine: one sample checked whole (spike and psi
    lists of every step, v, accf, delta/gs, G, W), then two full samples; weights bit-exact with the golden
    model, and the engine busy while the sequencer ran backward ops (SLTT family)."""
    from spikemesh.sim.benches.core_pysim import run_pysim

    core = dict(layers=(7, 5, 3), t_max=4, lanes=lanes, overlap=True)
    p = {"core": core, "snn": dict(sizes=(7, 5, 3), T=4, rule=rule, encoding=enc, **extra), "seed": 3,
         "samples": 3, "gain": 1.6, "check_every": True, "overlap_order": order}
    out, ctr = run_pysim(p)
    assert out and "bit-exact" in out[0]
    assert ctr["fwd_busy"] > 0 and ctr["fwd_events"] > 0
    if rule in ("sltt", "sltt_k", "ottt_a"):
        assert ctr["overlap_cycles"] > 0, ctr
    else:
        assert ctr["overlap_cycles"] == 0, ctr  # ordinary order: nothing to hide


# ---- generated Verilog (Verilator): one build of 10-7-6-4 with the forward engine at P = 2 lanes ----
# the same build also carries the table surrogates (sg_table_depth 32768 holds atan's window, the larger one)
SMALL_OV = dict(layers=(10, 7, 6, 4), t_max=5, lanes=2, overlap=True, surrogates=("rect", "tri", "sigmoid", "atan"),
                sg_table_depth=32768)
OV_CASES = {
    "sltt_rate_tri_hard": dict(snn=dict(T=5, rule="sltt", encoding="rate", surrogate="tri", reset="hard",
                                        surrogate_width=2.0), seed=2, samples=4, stepwise=2, gain=1.6),
    "sltt_direct_spread": dict(snn=dict(T=5, rule="sltt"), seed=1, samples=4, stepwise=2, gain=1.4,
                               overlap_order="spread"),
    "sltt_k_direct_tri": dict(snn=dict(T=5, rule="sltt_k", k_steps=(0, 2, 4), surrogate="tri"), seed=3,
                              samples=4, stepwise=1, gain=1.4, overlap_order="split"),
    "sltt_rate_dense": dict(snn=dict(T=5, rule="sltt", encoding="rate", dense=True), seed=4, samples=3,
                            stepwise=1, gain=1.6),
    "ottt_a_rate_tri": dict(snn=dict(T=5, rule="ottt_a", encoding="rate", surrogate="tri", surrogate_width=2.0),
                            seed=10, samples=3, stepwise=1, gain=1.4),
    "bptt_rate_tri": dict(snn=dict(T=5, rule="bptt", encoding="rate", surrogate="tri", surrogate_width=2.0),
                          seed=6, samples=3, stepwise=1, gain=1.5),
    "sltt_rate_sigmoid": dict(snn=dict(T=5, rule="sltt", encoding="rate", surrogate="sigmoid", surrogate_width=1.0),
                              seed=7, samples=3, stepwise=1, gain=1.6),
    "bptt_direct_atan": dict(snn=dict(T=5, rule="bptt", surrogate="atan", surrogate_width=2.0), seed=8, samples=3,
                             stepwise=1, gain=1.4),
}


@pytest.fixture
def _fast_cxx(monkeypatch):
    # Bus traffic from Python dominates these runs: a C++ model compiled at -O0 builds several times faster.
    monkeypatch.setenv("MAKEFLAGS", "OPT_FAST=-O0 OPT_SLOW=-O0 OPT_GLOBAL=-O0")


@pytest.mark.parametrize("case", list(OV_CASES))
def test_core_overlap_verilator(case, _fast_cxx):
    """W after every sample; the first `stepwise` samples also every spike and psi list of the sample, v,
    accf, the last delta list and gs, G before the update (check_whole_sample); overlap_cycles > 0 (SLTT)."""
    from spikemesh.sim.cocotb_run import run_cocotb

    c = OV_CASES[case]
    cfg = CoreConfig(**SMALL_OV)
    run_cocotb(lambda: TrainingCore(cfg), toplevel="spikemesh_core", test_module="spikemesh.sim.benches.core_bench",
               sim="verilator", tag="small_ov", testcase="train_bit_exact",
               params={"core": SMALL_OV, "snn": {"sizes": SMALL_OV["layers"], **c["snn"]}, "check_every": True,
                       **{k: v for k, v in c.items() if k != "snn"}})


def test_core_overlap_digits_verilator(_fast_cxx):
    """A short digits pass on 64-16-10 (T=4, SLTT, default order, P = 1): W bit-exact after every sample."""
    from spikemesh.sim.cocotb_run import run_cocotb

    core = dict(layers=(64, 16, 10), t_max=4, overlap=True)
    cfg = CoreConfig(**core)
    run_cocotb(lambda: TrainingCore(cfg), toplevel="spikemesh_core", test_module="spikemesh.sim.benches.core_bench",
               sim="verilator", tag="digits_ov", testcase="train_bit_exact",
               params={"core": core, "snn": dict(sizes=core["layers"], T=4, rule="sltt"), "seed": 0, "samples": 12,
                       "stepwise": 1, "data": "digits", "check_every": True})


# the forward engine with P = 4 and 8 lanes (plain surrogates): the online rules that interleave
WIDE_OV_CASES = ("sltt_rate_tri_hard", "sltt_k_direct_tri", "ottt_a_rate_tri", "bptt_rate_tri")


@pytest.mark.parametrize("lanes", [4, 8])
@pytest.mark.parametrize("case", WIDE_OV_CASES)
def test_core_overlap_wide_lanes_verilator(lanes, case, _fast_cxx):
    from spikemesh.sim.cocotb_run import run_cocotb

    c = OV_CASES[case]
    core = dict(layers=(10, 7, 6, 4), t_max=5, lanes=lanes, overlap=True)
    cfg = CoreConfig(**core)
    run_cocotb(lambda: TrainingCore(cfg), toplevel="spikemesh_core", test_module="spikemesh.sim.benches.core_bench",
               sim="verilator", tag=f"small_ov_l{lanes}", testcase="train_bit_exact",
               params={"core": core, "snn": {"sizes": core["layers"], **c["snn"]}, "check_every": True,
                       **{k: v for k, v in c.items() if k != "snn"}})
