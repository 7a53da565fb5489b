"""The input-gradient table (CoreConfig.wg_table): layer 1's gradient kept as H[X] = the deltas of the steps in X,
summed in WG order, instead of the N_0 x N_1 matrix G_1; G_1[:, j] = H[S_j]. Bit for bit the golden model's G_1
and updated W (the golden model is unchanged: the table only reorders which memory holds the same sums).

Verilator runs check every phase of the first samples step by step, G_1 rebuilt from the table and the step sets,
the table cleared by UPD, and W after every later sample; P = 1, 4 and 8, every rule the table serves, sparse
and dense lists. The configuration tests show what it is for: a 784-128-10 core fits the ECP5-85F only with it.
"""
import numpy as np
import pytest

from spikemesh.rtl.core import CoreConfig, TrainingCore
from spikemesh.rtl.core.config import WG_TABLE_RULES
from spikemesh.rtl.core.layout import LARGEST_DEVICE_BRAMS, CoreLayout
from spikemesh.sim.cocotb_run import run_cocotb

TABLE = dict(layers=(10, 7, 6, 4), t_max=5, wg_table=True, direct_input=False, rules=WG_TABLE_RULES)
DIGITS_TABLE = dict(layers=(64, 16, 10), t_max=4, wg_table=True, direct_input=False, rules=WG_TABLE_RULES)
MNIST = dict(layers=(784, 128, 10), t_max=4, wg_table=True, direct_input=False, rules=("sltt", "sltt_k"))

CASES = {
    "sltt_rate_tri_hard": dict(snn=dict(T=5, rule="sltt", encoding="rate", surrogate="tri", reset="hard",
                                        surrogate_width=2.0), seed=2, samples=4, stepwise=2, gain=1.6),
    "sltt_k_rate": dict(snn=dict(T=5, rule="sltt_k", k_steps=(0, 2, 4), encoding="rate"), seed=3, samples=4,
                        stepwise=1, gain=1.6),
    "bptt_rate_tri": dict(snn=dict(T=5, rule="bptt", encoding="rate", surrogate="tri", surrogate_width=2.0),
                          seed=6, samples=4, stepwise=1, gain=1.5),
    "tbptt_rate_window2": dict(snn=dict(T=5, rule="tbptt", window=2, encoding="rate"), seed=8, samples=3,
                               stepwise=1, gain=1.6),
    "sltt_rate_dense": dict(snn=dict(T=5, rule="sltt", encoding="rate", dense=True), seed=4, samples=3,
                            stepwise=1, gain=1.6),
    "sltt_rate_short": dict(snn=dict(T=3, rule="sltt", encoding="rate"), seed=5, samples=3, stepwise=1, gain=1.6),
}


@pytest.fixture(autouse=True)
def _fast_cxx(monkeypatch):
    monkeypatch.setenv("MAKEFLAGS", "OPT_FAST=-O0 OPT_SLOW=-O0 OPT_GLOBAL=-O0")


def _run(tag, core, snn, **params):
    cfg = CoreConfig(**core)
    run_cocotb(lambda: TrainingCore(cfg), toplevel="spikemesh_core", test_module="spikemesh.sim.benches.core_bench",
               sim="verilator", tag=tag, testcase="train_bit_exact",
               params={"core": core, "snn": {"sizes": core["layers"], **snn}, **params})


# every case at P = 1 and 4; the two rule families (SLTT, BPTT's temporal path) at P = 8
LANE_CASES = [(p, c) for p in (1, 4) for c in CASES] + [(8, "sltt_rate_tri_hard"), (8, "bptt_rate_tri")]


@pytest.mark.parametrize("lanes, case", LANE_CASES)
def test_wg_table_bit_exact_verilator(lanes, case):
    c = CASES[case]
    _run(f"wgtab_l{lanes}", dict(TABLE, lanes=lanes), c["snn"], **{k: v for k, v in c.items() if k != "snn"})


def test_wg_table_digits_verilator():
    """30 digits samples on 64-16-10 at P = 4: the weights after every sample equal the golden model's."""
    core = dict(DIGITS_TABLE, lanes=4)
    _run("wgtab_digits", core, dict(T=4, rule="sltt", encoding="rate"), seed=0, samples=30, stepwise=1,
         data="digits", check_every=True)


@pytest.mark.parametrize("lanes", [1, 4, 8])
def test_mnist_784_128_10_fits_only_with_the_table(lanes):
    cfg = CoreConfig(**MNIST, lanes=lanes)
    blocks = CoreLayout(cfg).bram_blocks()
    assert sum(blocks.values()) <= LARGEST_DEVICE_BRAMS, blocks
    assert blocks["g"] < 8, blocks  # 16 table rows + G_2 instead of 784 x 128 words
    with pytest.raises(ValueError, match=r"do not fit.*wg_table=True"):
        CoreConfig(**{**MNIST, "wg_table": False}, lanes=lanes)


def test_wg_table_layout_and_input_gradient():
    lay = CoreLayout(CoreConfig(**DIGITS_TABLE, lanes=4))
    assert lay.hrows == 16 and lay.gsize(1) == 16 * 16 and lay.gbase(2) == 256
    assert lay.gdepth == 256 + lay.wsize(2) and lay.wdepth == 64 * 16 + lay.wsize(2)
    assert lay.tch_width == 4 and lay.region("g").size == lay.gdepth
    rows = np.arange(16 * 16, dtype=np.float16).reshape(16, 16)
    s = np.array([0, 5, 15] + [3] * 61)
    g1 = lay.input_gradient(rows.view(np.uint16).reshape(-1), s)
    assert g1.shape == (16, 64) and (g1[:, 1] == rows[5]).all() and (g1[:, 0] == rows[0]).all() and (g1[:, 2] == rows[15]).all()
    plain = CoreLayout(CoreConfig(layers=(64, 16, 10), t_max=4))
    assert plain.gdepth == plain.wdepth and plain.tch_width == 1 and plain.hrows == 0


@pytest.mark.parametrize("bad, match", [
    (dict(direct_input=True), "direct_input must be False with wg_table"),
    (dict(rules=("sltt", "ottt_a")), r"rules: \['ottt_a'\] cannot use wg_table"),
    (dict(t_max=9), r"t_max must be in 1..8 with wg_table"),
    (dict(overlap=True), "overlap must be False with wg_table"),
    (dict(wg_table=1), "wg_table must be a bool"),
])
def test_wg_table_refuses(bad, match):
    with pytest.raises(ValueError, match=match):
        CoreConfig(**{**DIGITS_TABLE, **bad})


def test_driver_refuses_direct_input_and_g1_matrix():
    import asyncio

    from spikemesh.firmware.core_driver import CoreDriver
    from spikemesh.sim.golden import SNNConfig

    class Dummy(CoreDriver):
        def __init__(self, cfg):
            self.cfg, self.lay = cfg, CoreLayout(cfg)

    d = Dummy(CoreConfig(**DIGITS_TABLE))
    with pytest.raises(ValueError, match="encoding 'direct' needs"):
        asyncio.run(d.set_constants(SNNConfig(sizes=(64, 16, 10), T=4, rule="sltt")))
    with pytest.raises(ValueError, match="input-gradient table"):
        asyncio.run(d.read_matrix("g", 1))


def test_mnist_core_trains_bit_exact_verilator(tmp_path):
    """The 784-128-10 core itself (P = 8, the bench's): two samples of digits at 28 x 28, rate-coded; every weight
    of both layers equals the golden model's after them (the perf bench checks it), and layer 1's WG ran as the
    table's passes (a few hundred cycles, not one pass per input event)."""
    import json

    from spikemesh.gen.core_perf import MNIST_CORE, MNIST_LAYERS, MNIST_T

    core = dict(layers=MNIST_LAYERS, t_max=MNIST_T, lanes=8, **MNIST_CORE)
    cfg = CoreConfig(**core)
    out = tmp_path / "perf.json"
    run_cocotb(lambda: TrainingCore(cfg), toplevel="spikemesh_core", test_module="spikemesh.sim.benches.core_bench",
               sim="verilator", tag="wgtab_mnist", testcase="perf",
               params={"core": core, "snn": {"sizes": MNIST_LAYERS, "T": MNIST_T, "rule": "sltt", "encoding": "rate"},
                       "seed": 0, "samples": 2, "data": "digits28", "out": str(out), "schedules": ["sparse"]})
    per = json.loads(out.read_text())["sparse"]
    assert all(p["fwd_events"] > 500 for p in per), per  # hundreds of input events per sample
    assert all(p["wg_cycles"] < p["fwd_events"] * 4 for p in per), per
