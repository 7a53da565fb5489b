"""Local learning (truncated BPTT with a head per non-final block) on the training core against the golden
model, bit for bit, on generated Verilog: every layer's and head's spikes, v, psi/delta lists and gs step
by step for the first sample, G before the update, W after every sample; plus the compiler's program and the
configuration checks."""
import pytest

from spikemesh.firmware.program import sample_ops, snn_ops
from spikemesh.rtl.core import CoreConfig, TrainingCore
from spikemesh.rtl.core.isa import Op
from spikemesh.sim.cocotb_run import run_cocotb
from spikemesh.sim.golden import SNNConfig

# three main layers: with heads after layers 1 and 2 every block is one layer; with a head after layer 2
# only, the first block's two layers pass gs between them
PER_LAYER = dict(layers=(10, 7, 6, 4), t_max=5, heads=(1, 2), rules=("local",))
TWO_BLOCKS = dict(layers=(10, 7, 6, 4), t_max=5, heads=(2,), rules=("local",))

CASES = {
    "per_layer_direct_window2": (PER_LAYER, dict(T=5, rule="local", window=2), dict(seed=8, gain=1.4)),
    "per_layer_rate_tri": (PER_LAYER, dict(T=5, rule="local", encoding="rate", surrogate="tri",
                                           surrogate_width=2.0), dict(seed=5, gain=1.6)),
    "two_blocks_direct": (TWO_BLOCKS, dict(T=5, rule="local", blocks=(2, 1), window=3), dict(seed=3, gain=1.4)),
}


@pytest.fixture(autouse=True)
def _fast_cxx(monkeypatch):
    monkeypatch.setenv("MAKEFLAGS", "OPT_FAST=-O0 OPT_SLOW=-O0 OPT_GLOBAL=-O0")


@pytest.mark.parametrize("case", list(CASES))
def test_core_local_verilator(case):
    core, snn, params = CASES[case]
    cfg = CoreConfig(**core)
    tag = "local_" + "_".join(map(str, core["heads"]))
    run_cocotb(lambda: TrainingCore(cfg), toplevel="spikemesh_core", test_module="spikemesh.sim.benches.core_bench",
               sim="verilator", tag=tag, testcase="train_bit_exact",
               params={"core": core, "snn": {"sizes": core["layers"], **snn}, "samples": 3, "stepwise": 1,
                       "check_every": True, **params})


def test_local_program_order():
    """Heads run forward after the main layers; backward: a block's head (LOSS, DELTAT, WG, GS into the block's
    last layer) before that layer, and no GS across a block boundary."""
    cfg = CoreConfig(**TWO_BLOCKS)
    ops = sample_ops(cfg, "local", 2, window=2)
    fwd0 = [o for o in ops if o[0] in (Op.FWD, Op.NEUR) and o[2] == 0]
    assert [o[1] for o in fwd0] == [1, 1, 2, 2, 3, 3, 4, 4]
    back1 = ops[ops.index((Op.LOSS, 3, 1)):ops.index((Op.LOSS, 3, 0))]
    assert back1 == [(Op.LOSS, 3, 1), (Op.DECAY, 3, 1), (Op.DELTAT, 3, 1), (Op.WG, 3, 1),  # no GS 3: boundary
                     (Op.LOSS, 4, 1), (Op.DECAY, 4, 1), (Op.DELTAT, 4, 1), (Op.WG, 4, 1), (Op.GS, 4, 1),
                     (Op.DECAY, 2, 1), (Op.DELTAT, 2, 1), (Op.WG, 2, 1), (Op.GS, 2, 1),
                     (Op.DECAY, 1, 1), (Op.DELTAT, 1, 1), (Op.WG, 1, 1)]
    assert ops[-4:] == [(Op.UPD, l, 0) for l in (1, 2, 3, 4)]


def test_local_config_checks():
    with pytest.raises(ValueError, match="heads must be ascending unique main layers in 1..2"):
        CoreConfig(layers=(10, 7, 6, 4), heads=(3,))
    with pytest.raises(ValueError, match="'local' needs heads"):
        CoreConfig(layers=(10, 7, 6, 4), rules=("local",))
    with pytest.raises(ValueError, match="exceed the 7 layers"):
        CoreConfig(layers=(8,) * 7, heads=(1, 2, 3, 4), rules=("local",))
    cfg = CoreConfig(**TWO_BLOCKS)
    assert (cfg.n_layers, cfg.out_layer, cfg.sizes, cfg.src(4), cfg.n_in(4)) == (4, 3, (10, 7, 6, 4, 4), 2, 6)
    with pytest.raises(ValueError, match=r"heads after layers \(1, 2\); this core was generated with heads=\(2,\)"):
        snn_ops(cfg, SNNConfig(sizes=(10, 7, 6, 4), T=5, rule="local"))
    with pytest.raises(ValueError, match=r"rules must be \('local',\) for a core with heads"):
        CoreConfig(layers=(10, 7, 6, 4), heads=(2,), rules=("local", "bptt"))
