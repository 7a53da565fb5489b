"""Stochastic rounding of the weight update on chip (CoreConfig(stochastic_rounding=True)): the UPD's SR units
and its LFSR (register sr_seed) give the golden model's weight_update="sr" weights bit for bit, at one lane and
at four lanes with padded columns (SLTT, BPTT, OTTT_O's per-step updates); a wrong seed is detected; the
cores without the option are unchanged."""
import numpy as np
import pytest

from spikemesh.firmware.program import round_seed
from spikemesh.rtl.core import CoreConfig, CoreLayout, TrainingCore, config_id
from spikemesh.sim.cocotb_run import run_cocotb
from spikemesh.sim.golden import SNNConfig

SIZES = (10, 7, 6, 4)
SNN = dict(sizes=SIZES, T=4, weight_update="sr", lr=2.0**-2)


def _p(lanes: int, rule: str, seed: int, samples: int = 3, stepwise: int = 1) -> dict:
    core = dict(layers=SIZES, t_max=4, lanes=lanes, stochastic_rounding=True)
    return {"core": core, "snn": dict(SNN, rule=rule), "seed": seed, "samples": samples, "stepwise": stepwise,
            "check_every": True, "gain": 1.5}


@pytest.mark.parametrize("lanes, rule, seed", [(1, "sltt", 1), (4, "sltt", 2), (4, "bptt", 3), (1, "bptt", 4),
                                               (4, "ottt_o", 6)])  # ottt_o: the draws go on across per-step updates
def test_core_sr_pysim_bit_exact(lanes, rule, seed):
    from spikemesh.sim.benches.core_pysim import run_pysim

    out, ctr = run_pysim(_p(lanes, rule, seed))
    assert out and "bit-exact" in out[0]
    if lanes > 1:
        assert ctr["mac_issues"] < ctr["mac_ops"], ctr  # the UPD passes ran wide


def test_core_sr_wrong_seed_is_detected(monkeypatch):
    """The comparison can fail: a seed one sample off changes the weights (the same run as above otherwise)."""
    from spikemesh.firmware import program
    from spikemesh.sim.benches import core_bench
    from spikemesh.sim.benches.core_pysim import run_pysim

    monkeypatch.setattr(core_bench, "round_seed", lambda snn, n: program.round_seed(snn, n + 1))
    with pytest.raises(AssertionError, match="W l="):
        run_pysim(_p(4, "sltt", 2, samples=2, stepwise=0))


def test_sr_updates_differ_from_rne():
    """The check above is only meaningful if SR and RNE give different weights on these cases."""
    from spikemesh.sim.benches.core_bench import make_case
    from spikemesh.sim.golden import train_sample

    p = _p(4, "sltt", 2)
    snn = SNNConfig(**p["snn"])
    w, samples = make_case(p, snn)
    diff = 0
    for n, (pix, label) in enumerate(samples):
        a = train_sample(snn, w, pix, label, sample_index=n).weights
        b = train_sample(snn.replace(weight_update="rne"), w, pix, label, sample_index=n).weights
        diff += sum(int(np.count_nonzero(x != y)) for x, y in zip(a, b))
        w = a
    assert diff > 0
    assert round_seed(snn, 0) != round_seed(snn, 1) and round_seed(snn.replace(weight_update="rne"), 0) is None


def test_sr_config_and_registers():
    with pytest.raises(ValueError, match="stochastic_rounding must be a bool"):
        CoreConfig(layers=SIZES, stochastic_rounding=1)
    from spikemesh.rtl.formats import BF16

    with pytest.raises(ValueError, match="stochastic_rounding must be False with fmt bf16"):
        CoreConfig(layers=SIZES, fmt=BF16, stochastic_rounding=True)
    with pytest.raises(ValueError, match="stochastic_rounding must be False for a core with heads"):
        CoreConfig(layers=SIZES, heads=(1,), rules=("local",), stochastic_rounding=True)
    plain = CoreConfig(layers=SIZES, t_max=4)
    sr = CoreConfig(layers=SIZES, t_max=4, stochastic_rounding=True)
    assert config_id(plain) != config_id(sr)
    assert "ssr" not in [r.name for r in CoreLayout(plain).regions()]
    assert [r.name for r in CoreLayout(sr).region("ssr").registers] == ["sr_seed"]
    from spikemesh.firmware.program import snn_ops

    with pytest.raises(ValueError, match="stochastic_rounding=True, this one has False"):
        snn_ops(plain, SNNConfig(**dict(SNN, rule="sltt")))
    with pytest.raises(ValueError, match="stochastic_rounding=False, this one has True"):
        snn_ops(sr, SNNConfig(**dict(SNN, rule="sltt", weight_update="rne")))
    assert snn_ops(sr, SNNConfig(**dict(SNN, rule="sltt"))) == snn_ops(plain, SNNConfig(sizes=SIZES, T=4, rule="sltt"))


@pytest.fixture
def _fast_cxx(monkeypatch):
    monkeypatch.setenv("MAKEFLAGS", "OPT_FAST=-O0 OPT_SLOW=-O0 OPT_GLOBAL=-O0")


def test_core_sr_verilator(_fast_cxx):
    p = _p(4, "sltt", 5, samples=4, stepwise=1)
    cfg = CoreConfig(**p["core"])
    run_cocotb(lambda: TrainingCore(cfg), toplevel="spikemesh_core", test_module="spikemesh.sim.benches.core_bench",
               sim="verilator", tag="sr4", testcase="train_bit_exact", params=p)


def test_core_map_sr_option(capsys):
    import json

    from spikemesh.gen.cli import build_parser, main

    assert main(["core", "map", "--layers", "8-4-2", "--t-max", "2", "--sr"]) == 0
    regions = [r["name"] for r in json.loads(capsys.readouterr().out)["targets"][0]["regions"]]
    assert "ssr" in regions
    assert main(["core", "map", "--layers", "8-4-2", "--t-max", "2"]) == 0
    assert "ssr" not in [r["name"] for r in json.loads(capsys.readouterr().out)["targets"][0]["regions"]]
    a = build_parser().parse_args(["core", "synth", "--layers", "64-32-10", "--sr"])
    assert a.sr and a.func.__name__ == "run_synth"
