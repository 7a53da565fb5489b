"""OPZO on chip (CoreConfig(opzo=True)): noise injected by the neuron unit from the core's LFSR (register z_seed),
the direct feedback e_l = B_l^T gs_L and the B update, against the golden model bit for bit: weights AND
feedback matrices after every sample, each phase's state step by step for the first sample, G before the
update; one and four lanes (padded rows 7 and 6 of 4-lane words), direct and rate input, Verilog through
Verilator; a wrong noise seed is detected; the program and the configuration checks."""
import numpy as np
import pytest

from spikemesh.firmware import program
from spikemesh.firmware.program import check_overlap_order, noise_seed, opzo_constants, sample_ops
from spikemesh.rtl.core import CoreConfig, CoreLayout, TrainingCore, config_id
from spikemesh.rtl.core.isa import FLAG_OPZO, Op, decode, decode_flags, encode
from spikemesh.sim.cocotb_run import run_cocotb
from spikemesh.sim.golden import SNNConfig

SIZES = (10, 7, 6, 4)
CORE = dict(layers=SIZES, t_max=4, rules=("opzo",), opzo=True)
SNN = dict(sizes=SIZES, T=4, rule="opzo")


def _p(lanes: int, encoding: str, seed: int, samples: int = 4, stepwise: int = 1) -> dict:
    # gain 2: enough output spikes that B and the hidden layers' G are nonzero from the first sample on
    return {"core": dict(CORE, lanes=lanes), "snn": dict(SNN, encoding=encoding), "seed": seed, "samples": samples,
            "stepwise": stepwise, "check_every": True, "gain": 2.0}


@pytest.fixture(autouse=True)
def _fast_cxx(monkeypatch):
    monkeypatch.setenv("MAKEFLAGS", "OPT_FAST=-O0 OPT_SLOW=-O0 OPT_GLOBAL=-O0")


@pytest.mark.parametrize("lanes, encoding, seed", [(1, "direct", 2), (4, "direct", 2), (1, "rate", 4), (4, "rate", 4)])
def test_core_opzo_pysim_bit_exact(lanes, encoding, seed):
    from spikemesh.sim.benches.core_pysim import run_pysim

    out, ctr = run_pysim(_p(lanes, encoding, seed))
    assert out and "4 samples bit-exact" in out[0]
    if lanes > 1:
        assert ctr["mac_issues"] < ctr["mac_ops"], ctr  # the B passes (and FWD, UPD) ran wide


def test_core_opzo_verilator():
    p = _p(4, "direct", 2, samples=3)
    cfg = CoreConfig(**p["core"])
    run_cocotb(lambda: TrainingCore(cfg), toplevel="spikemesh_core", test_module="spikemesh.sim.benches.core_bench",
               sim="verilator", tag="opzo4", testcase="train_bit_exact", params=p)


def test_core_opzo_wrong_seed_is_detected(monkeypatch):
    """The comparison can fail: the noise seed of the next sample changes the run (same case otherwise)."""
    from spikemesh.sim.benches import core_bench
    from spikemesh.sim.benches.core_pysim import run_pysim

    monkeypatch.setattr(core_bench, "noise_seed", lambda snn, n: program.noise_seed(snn, n + 1))
    with pytest.raises(AssertionError, match="(W|B) l="):
        run_pysim(_p(1, "direct", 2, samples=1, stepwise=0))


def test_opzo_case_is_meaningful():
    """The checks above mean something only if B and every layer's gradient are nonzero in these cases, and
    another noise stream changes the weights."""
    from spikemesh.sim.benches.core_bench import make_case
    from spikemesh.sim.golden import sample_gradients, train_sample

    for enc, seed in (("direct", 2), ("rate", 4)):
        p = _p(1, enc, seed)
        snn = SNNConfig(**p["snn"])
        w, samples = make_case(p, snn)
        pix, label = samples[0]
        G = sample_gradients(snn, w, pix, label, sample_index=0)
        assert all(np.count_nonzero(g) for g in G), [np.count_nonzero(g) for g in G]
        a = train_sample(snn, w, pix, label, sample_index=0).weights
        b = train_sample(snn, w, pix, label, sample_index=1).weights  # the noise of sample 1
        assert all(np.count_nonzero(x) for x in a[3:])  # B_1, B_2
        assert any(np.count_nonzero(x != y) for x, y in zip(a, b))
    assert noise_seed(snn, 0) != noise_seed(snn, 1) and noise_seed(snn.replace(rule="sltt"), 0) is None


def test_opzo_program():
    cfg = CoreConfig(**CORE)
    ops = sample_ops(cfg, "opzo", 2)
    step0 = ops[1:ops.index((Op.FWD, 1, 1))]
    O = FLAG_OPZO
    assert step0 == [(Op.FWD, 1, 0), (Op.NEUR, 1, 0, O), (Op.TRACE, 1, 0), (Op.FWD, 2, 0), (Op.NEUR, 2, 0, O),
                     (Op.TRACE, 2, 0), (Op.FWD, 3, 0), (Op.NEUR, 3, 0), (Op.TRACE, 3, 0),
                     (Op.DELTA, 3, 0), (Op.WGA, 3, 0), (Op.DELTA, 3, 0, O),
                     (Op.GS, 2, 0, O), (Op.DELTA, 2, 0), (Op.WGA, 2, 0),
                     (Op.GS, 1, 0, O), (Op.DELTA, 1, 0), (Op.WGA, 1, 0), (Op.UPD, 1, 0, O), (Op.UPD, 2, 0, O)]
    assert ops[-3:] == [(Op.UPD, l, 0) for l in (1, 2, 3)]
    check_overlap_order(ops, cfg.n_layers)
    w = encode(Op.GS, 2, 3, O)
    assert decode(w) == (Op.GS, 2, 3) and decode_flags(w) == O and decode_flags(encode(Op.GS, 2, 3)) == 0
    with pytest.raises(ValueError, match="WG has no OPZO variant"):
        encode(Op.WG, 1, 0, O)
    with pytest.raises(ValueError, match="k_steps / k_random are only used by rule sltt_k"):
        sample_ops(cfg, "opzo", 2, k_steps=(1,))
    regs = opzo_constants(SNNConfig(**SNN))
    assert regs == {"sigma": 0x3800, "beta": 0x3BF8, "kappa": 0x2000}  # 2^-1, 1 - 2^-8, 2^-7


def test_opzo_config_checks():
    with pytest.raises(ValueError, match=r"'opzo' needs a core generated with its feedback matrices"):
        CoreConfig(layers=SIZES, rules=("opzo",))
    with pytest.raises(ValueError, match=r"rules must be \('opzo',\) for a core with feedback matrices"):
        CoreConfig(layers=SIZES, rules=("opzo", "sltt"), opzo=True)
    with pytest.raises(ValueError, match="at least one hidden layer"):
        CoreConfig(layers=(10, 4), rules=("opzo",), opzo=True)
    with pytest.raises(ValueError, match="overlap must be False"):
        CoreConfig(layers=SIZES, rules=("opzo",), opzo=True, overlap=True)
    with pytest.raises(ValueError, match="opzo must be a bool"):
        CoreConfig(layers=SIZES, rules=("opzo",), opzo=1)
    with pytest.raises(ValueError, match=r"rule 'opzo' is not compiled into this core"):
        sample_ops(CoreConfig(layers=SIZES), "opzo", 2)
    # the layout: B_l row-major with rows padded to the lanes; a core without the option has no b / osr
    lay = CoreLayout(CoreConfig(**CORE, lanes=4))
    assert (lay.bstride(1), lay.bstride(2), lay.bbase(1), lay.bbase(2), lay.bdepth) == (8, 8, 0, 32, 64)
    b = np.arange(24, dtype=np.float16).reshape(4, 6)
    assert (lay.unpack_feedback(2, lay.pack_feedback(2, b)) == b).all()
    names = {r.name for r in lay.regions()}
    assert {"b", "osr"} <= names
    assert not {"b", "osr"} & {r.name for r in CoreLayout(CoreConfig(layers=SIZES)).regions()}
    assert config_id(CoreConfig(layers=SIZES)) == config_id(CoreConfig(layers=SIZES, opzo=False))
