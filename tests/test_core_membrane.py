"""The membrane readout on the training core (CoreConfig(membrane_readout=True), MODE membrane): the output
layer does not spike, v = h, and the MSE loss is taken on h. Against the golden model (`readout="membrane"`),
bit for bit on generated Verilog: every layer's state step by step for the first sample (the output layer's
psi list holds its loss error), G before the update, W after every sample."""
import pytest

from spikemesh.rtl.core import CoreConfig, TrainingCore
from spikemesh.sim.cocotb_run import run_cocotb
from spikemesh.sim.golden import SNNConfig

SMALL = dict(layers=(10, 7, 6, 4), t_max=5, membrane_readout=True)
CASES = {
    "sltt_rate_tri": dict(snn=dict(T=5, rule="sltt", encoding="rate", surrogate="tri", surrogate_width=2.0),
                          seed=2, gain=1.6),
    "bptt_direct_rect": dict(snn=dict(T=5, rule="bptt"), seed=7, gain=1.4),
    "ottt_a_rate": dict(snn=dict(T=5, rule="ottt_a", encoding="rate"), seed=11, gain=1.6),
}


@pytest.fixture(autouse=True)
def _fast_cxx(monkeypatch):
    monkeypatch.setenv("MAKEFLAGS", "OPT_FAST=-O0 OPT_SLOW=-O0 OPT_GLOBAL=-O0")


@pytest.mark.parametrize("case", list(CASES))
def test_core_membrane_verilator(case):
    c = CASES[case]
    cfg = CoreConfig(**SMALL)
    run_cocotb(lambda: TrainingCore(cfg), toplevel="spikemesh_core", test_module="spikemesh.sim.benches.core_bench",
               sim="verilator", tag="membrane", testcase="train_bit_exact",
               params={"core": SMALL, "snn": {"sizes": SMALL["layers"], "readout": "membrane", **c["snn"]},
                       "samples": 3, "stepwise": 1, "check_every": True,
                       **{k: v for k, v in c.items() if k != "snn"}})


def test_membrane_refusals():
    from spikemesh.firmware.program import constants_from_snn
    from spikemesh.rtl.core.layout import MODE_MEMBRANE

    snn = SNNConfig(sizes=(10, 7, 6, 4), T=5, rule="sltt", readout="membrane")
    assert constants_from_snn(snn)["mode"] & MODE_MEMBRANE
    with pytest.raises(ValueError, match="loss must be 'mse_step' on the core"):
        constants_from_snn(SNNConfig(sizes=(10, 7, 6, 4), T=5, rule="sltt", readout="membrane", loss="ce_step"))
    with pytest.raises(ValueError, match="membrane_readout must be a bool"):
        CoreConfig(layers=(10, 4), membrane_readout=1)
