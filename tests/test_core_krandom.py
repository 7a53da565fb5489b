"""SLTT-K drawing its step set on chip (CoreConfig(k_random=True)): the core's LFSR and selection test (ops
KGATE / KEND, registers k_seed / k_count) pick the same steps as the golden model's `random_k_steps`, so the
weights stay bit-exact; checked on generated Verilog with and without the forward engine, plus the programs."""
import pytest

from spikemesh.firmware.program import sample_ops, snn_ops, step_seed
from spikemesh.rtl.core import CoreConfig, TrainingCore
from spikemesh.rtl.core.isa import Op
from spikemesh.sim.cocotb_run import run_cocotb
from spikemesh.sim.golden import SNNConfig
from spikemesh.sim.golden.core import sample_k_steps

SMALL = dict(layers=(10, 7, 6, 4), t_max=6, k_random=True)
SNN = dict(T=6, rule="sltt_k", k_steps=(1, 4), k_random=True)


@pytest.fixture(autouse=True)
def _fast_cxx(monkeypatch):
    monkeypatch.setenv("MAKEFLAGS", "OPT_FAST=-O0 OPT_SLOW=-O0 OPT_GLOBAL=-O0")


@pytest.mark.parametrize("core, tag, extra", [(SMALL, "krand", {}),
                                               (dict(SMALL, overlap=True), "krand_ov", {"overlap_order": "split"})])
def test_core_k_random_verilator(core, tag, extra):
    cfg = CoreConfig(**core)
    run_cocotb(lambda: TrainingCore(cfg), toplevel="spikemesh_core", test_module="spikemesh.sim.benches.core_bench",
               sim="verilator", tag=tag, testcase="train_bit_exact",
               params={"core": core, "snn": {"sizes": core["layers"], **SNN}, "seed": 4, "samples": 5, "stepwise": 2,
                       "check_every": True, "gain": 1.5, **extra})


def test_k_random_draws_differ_per_sample():
    """The test above is only meaningful if the samples draw different step sets."""
    snn = SNNConfig(sizes=(10, 7, 6, 4), **SNN)
    sets = {sample_k_steps(snn, n) for n in range(5)}
    assert len(sets) > 1 and all(len(k) == 2 for k in sets)
    assert step_seed(snn, 3) != step_seed(snn, 4)
    assert step_seed(SNNConfig(sizes=(10, 7, 6, 4), T=6, rule="sltt_k", k_steps=(1, 4)), 3) is None


def test_k_random_programs():
    cfg = CoreConfig(**SMALL)
    ops = snn_ops(cfg, SNNConfig(sizes=(10, 7, 6, 4), **SNN))
    gates = [o for o in ops if o[0] == Op.KGATE]
    assert gates == [(Op.KGATE, 1, 6 - 1 - t) for t in range(6)]  # one draw per step, t ascending
    assert sum(o[0] == Op.KEND for o in ops) == 6 and sum(o[0] == Op.DELTA for o in ops) == 6 * 3
    ov = snn_ops(CoreConfig(**SMALL, overlap=True), SNNConfig(sizes=(10, 7, 6, 4), **SNN))
    draws = [o for o in ov if o[0] == Op.KGATE and o[1] == 1]
    assert [o[2] for o in draws] == [5, 4, 3, 2, 1, 0] and any(o[0] == Op.KGATE and o[1] == 0 for o in ov)
    with pytest.raises(ValueError, match=r"CoreConfig\(k_random=True\)"):
        sample_ops(CoreConfig(layers=(10, 7, 6, 4), t_max=6), "sltt_k", 6, k_steps=(1, 4), k_random=True)
    with pytest.raises(ValueError, match="rules must include 'sltt_k'"):
        CoreConfig(layers=(10, 4), rules=("sltt",), k_random=True)
