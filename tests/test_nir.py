"""NIR in and out (docs/nir.md): export -> import is bit-exact, snnTorch runs the exported graph like the golden
float32 model, and `spikemesh train --init` refuses every graph the core cannot run, in one line."""
from dataclasses import asdict

import nir
import numpy as np
import pytest

from spikemesh.firmware import nir_io
from spikemesh.firmware.train import SIM_CORE, read_weights_file, save_checkpoint, snn_for_core, write_weights_file
from spikemesh.gen.cli import main
from spikemesh.sim.golden import SNNConfig, evaluate, init_weights, load_digits_split, train_sample
from spikemesh.sim.golden.recipes import digits_config, train_digits

SIM_SNN = snn_for_core(SIM_CORE, "sltt")  # 64-16-10, T 4: what `spikemesh train --sim` trains


def bits(ws):
    return [np.asarray(w, np.float16).view(np.uint16) for w in ws]


def same_bits(a, b) -> bool:
    return len(a) == len(b) and all(np.array_equal(x, y) for x, y in zip(bits(a), bits(b)))


# ---------------------------------------------------------------------------------------------- round trip

def test_golden_file_export_import_bit_exact(tmp_path, capsys):
    w_file, out = tmp_path / "w.npz", tmp_path / "net.nir"
    assert main(["golden", "train", "--rule", "sltt", "--hidden", "16", "--T", "4", "--epochs", "1", "--limit", "150",
                 "--quiet", "--save", str(w_file)]) == 0
    assert main(["export", "--nir", str(out), "--checkpoint", str(w_file)]) == 0
    assert "wrote" in capsys.readouterr().out
    z = np.load(w_file)
    saved = [z["W1"], z["W2"]]
    net = nir_io.read_nir(out)
    assert same_bits(net.weights, saved) and net.rounded == 0
    cfg = net.snn_config()
    assert cfg == digits_config("sltt", sizes=(64, 16, 10), T=4)  # every SNNConfig field, exactly
    assert (cfg.lam, cfg.theta, cfg.reset, cfg.T, cfg.encoding, cfg.surrogate, cfg.rule) == (
        0.5, 1.0, "soft", 4, "direct", "rect", "sltt")


def test_roundtrip_special_values_and_parameters(tmp_path):
    snn = SNNConfig(sizes=(6, 5, 3), T=3, lam=0.75, theta=0.5, reset="hard", encoding="rate", surrogate="tri",
                    surrogate_width=0.5, rule="sltt_k", k_steps=(0, 2), lr=2.0**-7, lfsr_seed=77)
    w = [np.random.default_rng(1).standard_normal(s).astype(np.float16) for s in snn.weight_shapes()]
    w[0][0, :6] = np.array([-0.0, 0.0, 2.0**-24, -(2.0**-14) * 0.5, 65504.0, -65504.0], np.float16)  # subnormals, max
    assert nir_io.roundtrip_identical(snn, w, tmp_path / "a.nir")
    net = nir_io.read_nir(tmp_path / "a.nir")
    assert same_bits(net.weights, w) and net.snn_config() == snn
    assert np.signbit(net.weights[0][0, 0]) and not np.signbit(net.weights[0][0, 1])
    lif = nir.read(str(tmp_path / "a.nir")).nodes["lif1"]  # beta = 1 - dt/tau = lam, input gain r dt/tau = 1
    dt = nir_io.NIR_DT
    assert np.allclose(1 - dt / lif.tau, 0.75) and np.allclose(lif.r * dt / lif.tau, 1.0)
    assert np.all(lif.v_threshold == 0.5) and np.all(lif.v_leak == 0) and np.all(lif.v_reset == 0)
    snn_if = snn.replace(lam=1.0)  # no leak: an IF node
    assert nir_io.roundtrip_identical(snn_if, w, tmp_path / "if.nir")
    assert type(nir.read(str(tmp_path / "if.nir")).nodes["lif1"]).__name__ == "IF"


def test_foreign_graph_without_metadata(tmp_path):
    """An snnTorch-style graph (Leaky beta 0.5, threshold 2, float32 weights): lam/theta from the time constants,
    NIR's reset to zero, weights rounded to FP16."""
    dt = nir_io.NIR_DT
    rng = np.random.default_rng(0)
    w1, w2 = rng.standard_normal((16, 64)).astype(np.float32), rng.standard_normal((10, 16)).astype(np.float32)

    def lif(n):
        tau = np.full(n, dt / (1 - 0.5))
        return nir.LIF(tau=tau, r=tau / dt, v_leak=np.zeros(n), v_threshold=np.full(n, 2.0))

    g = nir.NIRGraph.from_list(nir.Input(input_type={"input": np.array([64])}), nir.Linear(weight=w1), lif(16),
                               nir.Affine(weight=w2, bias=np.zeros(10, np.float32)), lif(10),
                               nir.Output(output_type={"output": np.array([10])}))
    net = nir_io.from_nir(g)
    assert (net.sizes, net.lam, net.theta, net.reset) == ((64, 16, 10), 0.5, 2.0, "hard")
    assert same_bits(net.weights, [w1, w2]) and net.rounded > 0
    cfg = net.snn_config()
    assert (cfg.lam, cfg.theta, cfg.reset, cfg.sizes) == (0.5, 2.0, "hard", (64, 16, 10))
    nir.write(str(tmp_path / "f.nir"), g)
    run, w, note = nir_io.init_from_nir(tmp_path / "f.nir", SIM_SNN)
    assert run == SIM_SNN.replace(theta=2.0, reset="hard") and same_bits(w, [w1, w2])
    assert f"{net.rounded} weights rounded to FP16" in note


# ---------------------------------------------------------------------------------------------- snnTorch

def _accuracies(tmp_path, reset: str, epochs: int = 1):
    """Golden float32 and snnTorch accuracy (and per-sample agreement) of one exported digits network."""
    snn = digits_config("sltt", reset=reset)
    w = train_digits(snn, epochs=epochs, seed=0, eval_every_epoch=False).weights
    path = tmp_path / f"{reset}.nir"
    nir_io.write_nir(path, snn, w)
    _, _, Xte, yte = load_digits_split()
    cfg32 = snn.replace(fmt="fp32")
    w32 = [x.astype(np.float32) for x in w]
    golden = nir_io.golden_predictions(cfg32, w32, Xte)
    assert np.mean(golden == yte) == evaluate(cfg32, w32, Xte, yte)
    torch_pred = nir_io.snntorch_predictions(nir.read(str(path)), cfg32, Xte)
    return float(np.mean(golden == yte)), float(np.mean(torch_pred == yte)), float(np.mean(golden == torch_pred))


def test_snntorch_matches_golden_fp32_hard_reset(tmp_path):
    """NIR's LIF is a reset to v_reset: a hard-reset network means the same in snnTorch as in the golden model."""
    g, s, agree = _accuracies(tmp_path, "hard")
    print(f"hard reset: golden fp32 {100 * g:.2f}%, snnTorch {100 * s:.2f}%, agreement {100 * agree:.1f}%")
    assert g > 0.8
    assert abs(s - g) <= 0.01
    assert agree >= 0.98


def test_snntorch_soft_reset_runs_as_reset_to_zero(tmp_path):
    """The soft reset is not expressible in NIR 1.0.8: snnTorch runs it as a reset to zero (documented)."""
    g, s, agree = _accuracies(tmp_path, "soft")
    print(f"soft reset (snnTorch resets to 0): golden fp32 {100 * g:.2f}%, snnTorch {100 * s:.2f}%, "
          f"agreement {100 * agree:.1f}%")
    assert g > 0.8 and abs(s - g) <= 0.03 and agree >= 0.9


# ---------------------------------------------------------------------------------------------- refusals

def _graph(*middle, n_in=64, n_out=10, metadata=None):
    nodes = [nir.Input(input_type={"input": np.array([n_in])}), *middle,
             nir.Output(output_type={"output": np.array([n_out])})]
    g = nir.NIRGraph.from_list(*nodes, type_check=False)  # refused by spikemesh, not by NIR's type check
    if metadata:
        g.metadata = metadata
    return g


def _lif(n, lam=0.5, theta=1.0, **over):
    dt = nir_io.NIR_DT
    tau = np.full(n, dt / (1 - lam))
    kw = dict(tau=tau, r=tau / dt, v_leak=np.zeros(n), v_threshold=np.full(n, theta))
    kw.update(over)
    return nir.LIF(**kw)


def _w(o, i):
    return np.full((o, i), 0.25, np.float32)


def _cuba(n, tau_syn):
    dt = nir_io.NIR_DT
    return nir.CubaLIF(tau_syn=np.full(n, tau_syn), tau_mem=np.full(n, 2 * dt), r=np.full(n, 2.0),
                       v_leak=np.zeros(n), v_threshold=np.ones(n))


def _recurrent():
    g = _graph(nir.Linear(weight=_w(16, 64)), _lif(16), nir.Linear(weight=_w(10, 16)), _lif(10))
    names = list(g.nodes)
    lif1 = [k for k in names if isinstance(g.nodes[k], nir.LIF)][0]
    g.nodes["rec"] = nir.Linear(weight=_w(16, 16))
    g.edges += [(lif1, "rec"), ("rec", lif1)]
    return g


def _branch():
    g = _graph(nir.Linear(weight=_w(16, 64)), _lif(16), nir.Linear(weight=_w(10, 16)), _lif(10))
    lif1 = [k for k in g.nodes if isinstance(g.nodes[k], nir.LIF)][0]
    g.nodes["side"] = nir.Linear(weight=_w(10, 16))
    g.edges.append((lif1, "side"))
    return g


REFUSED = {
    "conv": (lambda: _graph(nir.Conv2d(input_shape=(8, 8), weight=np.ones((2, 1, 3, 3), np.float32), stride=1,
                                       padding=1, dilation=1, groups=1, bias=np.zeros(2, np.float32)), n_in=64),
             "is a Conv2d: not supported; supported: a feed-forward chain"),
    "threshold node": (lambda: _graph(nir.Linear(weight=_w(10, 64)), nir.Threshold(threshold=np.ones(10))),
                       "is a Threshold: not supported"),
    "recurrent": (_recurrent, "recurrent edge"),
    "branch": (_branch, "feeds 2 nodes"),
    "bias": (lambda: _graph(nir.Affine(weight=_w(10, 64), bias=np.full(10, 0.5, np.float32)), _lif(10)),
             "Affine with a nonzero bias (max |b| = 0.5): the core has no biases"),
    "cuba synaptic": (lambda: _graph(nir.Linear(weight=_w(10, 64)), _cuba(10, 5 * nir_io.NIR_DT)),
                      "CubaLIF with synaptic dynamics"),
    "per-neuron threshold": (lambda: _graph(nir.Linear(weight=_w(10, 64)),
                                            _lif(10, v_threshold=np.linspace(1, 2, 10))),
                             "v_threshold differs between neurons"),
    "layers differ": (lambda: _graph(nir.Linear(weight=_w(16, 64)), _lif(16), nir.Linear(weight=_w(10, 16)),
                                     _lif(10, lam=0.25)), "the layers have different lam/theta"),
    "lam not fp16": (lambda: _graph(nir.Linear(weight=_w(10, 64)), _lif(10, lam=0.9)),
                     "lam = 1 - dt/tau = 0.9"),
    "v_leak": (lambda: _graph(nir.Linear(weight=_w(10, 64)), _lif(10, v_leak=np.full(10, 0.1))),
               "v_leak must be 0"),
    "no neuron": (lambda: _graph(nir.Linear(weight=_w(10, 64))), "not by a spiking neuron layer"),
    "metadata disagrees": (lambda: _graph(nir.Linear(weight=_w(10, 64)), _lif(10),
                                          metadata={"spikemesh": {"theta": 2.0}}),
                           "metadata says theta 2.0, its nodes give 1.0"),
}


@pytest.mark.parametrize("case", list(REFUSED))
def test_unsupported_graphs_are_refused(case):
    make, message = REFUSED[case]
    with pytest.raises(ValueError) as exc:
        nir_io.from_nir(make())
    text = str(exc.value)
    assert message in text and "\n" not in text


def test_cuba_lif_without_synaptic_dynamics_is_a_lif():
    net = nir_io.from_nir(_graph(nir.Linear(weight=_w(10, 64)), _cuba(10, nir_io.NIR_DT)))
    assert (net.lam, net.theta, net.sizes) == (0.5, 1.0, (64, 10))


def test_train_init_refusals(tmp_path, capsys):
    wrong = tmp_path / "wrong.nir"
    cfg = SNNConfig(sizes=(64, 32, 10), T=4)
    nir_io.write_nir(wrong, cfg, init_weights(cfg, 0))
    with pytest.raises(ValueError, match="layers 64-32-10 do not match the core's 64-16-10"):
        nir_io.init_from_nir(wrong, SIM_SNN)
    assert main(["train", "--sim", "--init", str(wrong), "--checkpoint", str(tmp_path / "c.npz")]) == 2
    err = capsys.readouterr().err
    assert "the NIR graph's layers 64-32-10 do not match the core's 64-16-10" in err and err.count("\n") == 1
    ok = tmp_path / "ok.nir"
    nir_io.write_nir(ok, SIM_SNN, init_weights(SIM_SNN, 0))
    ck = tmp_path / "ck.npz"
    save_checkpoint(ck, init_weights(SIM_SNN, 0), epoch=1, history=[], snn_json=asdict(SIM_SNN), build_id="x",
                    samples=10)
    assert main(["train", "--sim", "--init", str(ok), "--resume", str(ck)]) == 2
    assert "--init and --resume cannot be used together" in capsys.readouterr().err
    bptt_hard = tmp_path / "hard.nir"  # hard reset with a BPTT core program: refused like the core's registers
    nir_io.write_nir(bptt_hard, SIM_SNN.replace(reset="hard"), init_weights(SIM_SNN, 0))
    with pytest.raises(ValueError, match="soft reset"):
        nir_io.init_from_nir(bptt_hard, snn_for_core(SIM_CORE, "bptt"))
    assert main(["train", "--sim", "--init", str(tmp_path / "missing.nir")]) == 2
    assert "--init" in capsys.readouterr().err
    (tmp_path / "junk.nir").write_text("not hdf5")
    with pytest.raises(ValueError, match="not a readable NIR graph"):
        nir_io.init_from_nir(tmp_path / "junk.nir", SIM_SNN)


# ---------------------------------------------------------------------------------------------- CLI end to end

def test_cli_export_from_checkpoint(tmp_path, capsys):
    snn = SIM_SNN.replace(lam=0.25, theta=0.75)
    w = init_weights(snn, 5)
    ck, fed, out = tmp_path / "ck.npz", tmp_path / "fed.npz", tmp_path / "net.nir"
    save_checkpoint(ck, w, epoch=2, history=[], snn_json=asdict(snn), build_id="ab", samples=100)
    assert main(["export", "--nir", str(out), "--checkpoint", str(ck)]) == 0
    text = capsys.readouterr().out
    assert "64-16-10 from checkpoint" in text and "lam 0.25, theta 0.75, soft reset" in text
    net = nir_io.read_nir(out)
    assert same_bits(net.weights, read_weights_file(ck)[0]) and net.snn_config() == snn
    # a `spikemesh federate` checkpoint: meta has the rule, the network is spikemesh train's on those layers
    write_weights_file(fed, w, {"rule": "sltt", "rounds": 1, "history": []})
    assert main(["export", "--nir", str(out), "--checkpoint", str(fed)]) == 0
    assert nir_io.read_nir(out).snn_config() == SIM_SNN
    # errors: one line, exit 2
    capsys.readouterr()
    assert main(["export", "--nir", str(tmp_path / "no" / "x.nir"), "--checkpoint", str(ck)]) == 2
    assert "--nir: folder" in capsys.readouterr().err
    assert main(["export", "--nir", str(out), "--checkpoint", str(tmp_path / "none.npz")]) == 2
    assert "--checkpoint" in capsys.readouterr().err
    assert main(["export", "--nir", str(out), "--checkpoint", str(ck), "--record"]) == 2
    assert "--record needs --check and --golden-epochs" in capsys.readouterr().err


def test_cli_export_check(tmp_path, capsys):
    ck, out = tmp_path / "ck.npz", tmp_path / "net.nir"
    w = train_digits(SIM_SNN, epochs=1, seed=0, eval_every_epoch=False, limit=300).weights
    save_checkpoint(ck, w, epoch=1, history=[], snn_json=asdict(SIM_SNN), build_id="ab", samples=300)
    assert main(["export", "--nir", str(out), "--checkpoint", str(ck), "--check"]) == 0
    text = capsys.readouterr().out
    assert "round trip export -> import: identical" in text and "snnTorch" in text and "same prediction" in text


def test_train_sim_init_bit_exact(tmp_path, capsys):
    """`spikemesh train --sim --init`: the simulated chip starts from the graph's weights and trains with its
    lam/theta/reset, bit-exact with the golden model."""
    run = SIM_SNN.replace(lam=0.75, theta=0.5, reset="hard")
    w0 = init_weights(run, 4)
    g, ck = tmp_path / "init.nir", tmp_path / "ck.npz"
    nir_io.write_nir(g, run, w0)
    assert main(["train", "--sim", "--init", str(g), "--samples", "3", "--epochs", "1",
                 "--checkpoint", str(ck)]) == 0
    assert "--init" in capsys.readouterr().out
    X, y, _, _ = load_digits_split()
    ref = w0
    for n in range(3):
        ref = train_sample(run, ref, X[n], int(y[n]), sample_index=n).weights
    got, meta = read_weights_file(ck)
    assert same_bits(got, ref)
    assert (meta["snn"]["lam"], meta["snn"]["theta"], meta["snn"]["reset"]) == (0.75, 0.5, "hard")
