"""The training core in BF16 (CoreConfig(fmt=BF16)) against the golden model in BF16, bit for bit, on generated
Verilog: the same checks as tests/test_core.py (every layer's state step by step for the first sample, G, W
after every sample), one Verilator build for the three rule families, one with P = 2 lanes."""
import pytest

from spikemesh.rtl.core import TrainingCore
from spikemesh.sim.benches.core_bench import core_config
from spikemesh.sim.cocotb_run import run_cocotb

SMALL = dict(layers=(10, 7, 6, 4), t_max=5, fmt="bf16")
CASES = {
    "sltt_rate_tri_hard": dict(snn=dict(T=5, rule="sltt", encoding="rate", surrogate="tri", reset="hard",
                                        surrogate_width=2.0), seed=2, samples=4, stepwise=2, gain=1.6),
    "bptt_direct_rect": dict(snn=dict(T=5, rule="bptt"), seed=7, samples=3, stepwise=1, gain=1.4),
    "ottt_o_direct_rect": dict(snn=dict(T=5, rule="ottt_o"), seed=12, samples=3, stepwise=1, gain=1.6),
    "tbptt_direct_window2": dict(snn=dict(T=5, rule="tbptt", window=2), seed=8, samples=3, stepwise=1, gain=1.4),
}


@pytest.fixture(autouse=True)
def _fast_cxx(monkeypatch):
    monkeypatch.setenv("MAKEFLAGS", "OPT_FAST=-O0 OPT_SLOW=-O0 OPT_GLOBAL=-O0")


def _run(tag, core, case):
    c = CASES[case]
    cfg = core_config({"core": core})
    params = {"core": core, "snn": {"sizes": core["layers"], "fmt": "bf16", **c["snn"]},
              "check_every": True, **{k: v for k, v in c.items() if k != "snn"}}
    run_cocotb(lambda: TrainingCore(cfg), toplevel="spikemesh_core", test_module="spikemesh.sim.benches.core_bench",
               sim="verilator", tag=tag, testcase="train_bit_exact", params=params)


@pytest.mark.parametrize("case", list(CASES))
def test_core_bf16_verilator(case):
    _run("small_bf16", SMALL, case)


@pytest.mark.parametrize("case", ["sltt_rate_tri_hard", "ottt_o_direct_rect"])
def test_core_bf16_lanes2_verilator(case):
    _run("small_bf16_l2", dict(SMALL, lanes=2), case)


def test_bf16_refusals():
    from spikemesh.firmware.program import core_constants
    from spikemesh.rtl.formats import BF16, FP32
    from spikemesh.rtl.core import CoreConfig

    with pytest.raises(ValueError, match="fmt must be one of"):
        CoreConfig(layers=(8, 4), fmt=FP32)
    with pytest.raises(ValueError, match="sg_table_depth must be 0 with fmt bf16"):
        CoreConfig(layers=(8, 4), fmt=BF16, surrogates=("rect", "sigmoid"), sg_table_depth=16384)
    with pytest.raises(ValueError, match="FP16 only"):
        core_constants(lam=0.5, theta=1.0, T=4, loss_scale=256, lr=2**-4, surrogate="sigmoid", surrogate_width=1.0,
                       reset="soft", direct=True, fmt="bf16")
    c = core_constants(lam=0.5, theta=1.0, T=4, loss_scale=256, lr=2**-4, surrogate="rect", surrogate_width=1.0,
                       reset="soft", direct=True, fmt="bf16")
    assert (c["lam"], c["theta"], c["loss_c"]) == (0x3F00, 0x3F80, 0x4280)  # 0.5, 1.0, 64.0 in BF16
