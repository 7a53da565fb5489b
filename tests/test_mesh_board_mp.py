"""Model-parallel placement on the multi-core board: the network's layers split over a chain of training cores
behind copy engines (rtl/mesh/board_soc_mp.py), the model-parallel bench's host sequence over the board link
(firmware/mesh_mp_train.py), bit for bit against single-core golden training (docs/mesh.md)."""
from __future__ import annotations

import contextlib
import io

import numpy as np
import pytest

from spikemesh.rtl.core.config import CoreConfig
from spikemesh.rtl.core.layout import CoreLayout
from spikemesh.rtl.mesh.board_soc_mp import MeshMpSoC, core_words, split_layers
from spikemesh.sim.golden import SNNConfig, init_weights, load_digits_split

SIZES = (64, 128, 128, 10)


def bits(ws):
    return [np.asarray(w, np.float16).view(np.uint16) for w in ws]


def test_split_and_per_core_memory():
    """64-128-128-10 needs 60,434 words on one core, its aligned regions a 17-bit bus (more than a copy engine
    addresses); split one layer per core, every slice fits."""
    from spikemesh.firmware.mesh_mp_train import sim_mp_soc

    assert split_layers(SIZES, 3) == (1, 2, 3) and split_layers(SIZES, 2) == (1, 1, 2)
    assert split_layers((8, 6, 5, 4, 3), 3) == (1, 1, 2, 3)
    soc = sim_mp_soc(3)
    soc._MustUse__silence = True  # only its structure is looked at here
    assert [soc.core_cfgs[n].layers for n in soc.nodes] == [(64, 128), (128, 128), (128, 10)]
    whole = core_words(CoreConfig(layers=SIZES, t_max=4))
    parts = [core_words(soc.core_cfgs[n]) for n in soc.nodes]
    assert (whole, parts) == (60434, [20844, 37420, 4618])  # the largest slice: 62 % of the whole
    assert CoreLayout(CoreConfig(layers=SIZES, t_max=4)).addr_width == 17  # its regions, aligned: 17 bits
    assert soc.mesh_info["core_aw"] == [15, 16, 13] and soc.mesh_info["flit_width"] == 32
    info = soc.build_info()
    assert info["placement"] == "model" and info["cores"] == 3 and info["sizes"] == list(SIZES)


@pytest.mark.parametrize("kw, message", [
    ({"cores": 4}, "needs 1..3 cores"),
    ({"cores": 2}, "17-bit bus"),
    ({"cores": 1}, "17-bit bus"),
    ({"cores": 3, "layer_core": (2, 1, 3)}, "chain of nodes"),
])
def test_placement_refused(kw, message):
    from spikemesh.firmware.mesh_train import SIM_MESH_SOC

    with pytest.raises(ValueError, match=message):
        MeshMpSoC(SIM_MESH_SOC, SIZES, **kw)


@pytest.fixture(scope="module")
def mp_build():
    from spikemesh.firmware.mesh_mp_train import sim_mp_soc
    from spikemesh.firmware.mesh_train import build_sim_mesh

    return build_sim_mesh(sim_mp_soc(3))


def _train(build, snn, W, X, y, **kw):
    from spikemesh.firmware.driver import Board
    from spikemesh.firmware.mesh_mp_train import mesh_mp_train
    from spikemesh.sim.board import SimBoard

    with SimBoard(build) as sim, Board.connect(sim.url, build, timeout=5.0) as b:
        return mesh_mp_train(b, snn, W, X, y, cycles=sim.cycles, progress=False, **kw)


def test_mp_board_trains_bit_exact(mp_build):
    """3 samples, 2 epochs on 3 cores: every epoch's weights (read back from the cores) bit for bit golden
    single-core training's (mesh_mp_train raises otherwise); the weights moved and the epochs differ."""
    from spikemesh.firmware.mesh_mp_train import golden_epochs

    snn = SNNConfig(sizes=SIZES, T=4, rule="sltt")
    X, y, _, _ = load_digits_split()
    W = init_weights(snn, 1)
    r = _train(mp_build, snn, W, X[:3], y[:3], epochs=2)
    assert [h["golden_bit_exact"] for h in r.history] == [True, True]
    gold = golden_epochs(snn, W, X[:3], y[:3], 2)
    assert all(np.array_equal(p, q) for p, q in zip(bits(r.weights), bits(gold[1])))
    assert not all(np.array_equal(p, q) for p, q in zip(bits(gold[0]), bits(gold[1])))
    assert not all(np.array_equal(p, q) for p, q in zip(bits(W), bits(gold[0])))
    assert r.moves == 3 * 4 * (2 * 2 + 2)  # per sample and step: 2 spike lists (+ counts), 2 gs
    assert r.cycles > 0 and r.samples == 3


@pytest.mark.parametrize("rule, extra", [("bptt", {}), ("ottt_a", {}), ("sltt_k", {"k_steps": (1, 3)})])
def test_mp_board_other_rules_bit_exact(mp_build, rule, extra):
    snn = SNNConfig(sizes=SIZES, T=4, rule=rule, **extra)
    X, y, _, _ = load_digits_split()
    r = _train(mp_build, snn, init_weights(snn, 2), X[5:7], y[5:7])
    assert r.history[0]["golden_bit_exact"], rule


def test_mp_train_refuses_another_network(mp_build):
    snn = SNNConfig(sizes=(64, 16, 10), T=4, rule="sltt")
    X, y, _, _ = load_digits_split()
    with pytest.raises(ValueError, match="not this build's 64-128-128-10"):
        _train(mp_build, snn, init_weights(snn, 0), X[:1], y[:1])


def _cli(*argv) -> tuple[int, str]:
    from spikemesh.gen.cli import main

    out = io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(out):
        try:
            rc = main(list(argv))
        except SystemExit as exc:
            rc = exc.code
    return rc, out.getvalue()


def test_cli_train_placement_model_sim(mp_build, tmp_path):
    rc, out = _cli("train", "--cores", "3", "--placement", "model", "--sim", "--samples", "2",
                   "--checkpoint", str(tmp_path / "ck.npz"))
    assert rc == 0, out
    rows = [line.split() for line in out.splitlines() if line.startswith("    3")]
    assert rows and rows[0][1] == "64-128-128-10" and rows[0][2] == "2" and rows[0][-1] == "True", out
    assert (tmp_path / "ck.npz").exists()


def test_cli_train_placement_model_port(mp_build, tmp_path):
    """--port + --build-dir: the placement comes from the build's build.json (here the simulated board's)."""
    from spikemesh.sim.board import SimBoard

    with SimBoard(mp_build) as sim:
        rc, out = _cli("train", "--cores", "3", "--placement", "model", "--port", sim.url, "--build-dir",
                       str(mp_build), "--samples", "1", "--checkpoint", str(tmp_path / "ck.npz"))
    assert rc == 0, out
    rows = [line.split() for line in out.splitlines() if line.startswith("    3")]
    assert rows and rows[0][-1] == "True", out


@pytest.mark.parametrize("argv, message", [
    (["--cores", "4"], "needs 1..3 cores"),
    (["--cores", "2"], "17-bit bus"),
    (["--cores", "3", "--rule", "tbptt"], "--rule tbptt"),
    (["--cores", "3", "--resume", "x.npz"], "--resume is not supported"),
])
def test_cli_train_placement_model_refusals(argv, message, tmp_path):
    rc, out = _cli("train", "--placement", "model", "--sim", *argv, "--checkpoint", str(tmp_path / "ck.npz"))
    assert rc == 2 and message in out, out


def test_cli_train_placement_model_needs_a_model_build(tmp_path):
    (tmp_path / "build.json").write_text('{"mesh_core": {"layers": [64, 16, 10], "t_max": 4}, "cores": 4}')
    (tmp_path / "memory_map.json").write_text("{}")
    rc, out = _cli("train", "--cores", "3", "--placement", "model", "--port", "/dev/null", "--build-dir",
                   str(tmp_path), "--checkpoint", str(tmp_path / "ck.npz"))
    assert rc == 2 and "model-parallel multi-core build" in out, out


def test_mp3_board_profile():
    """`spikemesh build --board ulx3s-85f --config mp3`: 64-128-128-10 one layer per core (no dataset BRAM), 36 MHz
    (3 Mbaud at 12 clocks per bit), block RAMs within the device; the build's info tells the host the placement."""
    import json

    from spikemesh.boards.profiles import board_profile

    prof = board_profile("ulx3s-85f")
    assert prof.mesh_model == {"mp3": SIZES} and prof.core_config("mp3") is None
    cfg = prof.soc_config("mp3")
    assert cfg.clk_hz == 36_000_000 and prof.for_config("mp3").clocks_per_bit == 12
    need = prof.bram_estimate("mp3")
    assert need["dataset"] == 0 and sum(need.values()) <= prof.bram_blocks
    soc = MeshMpSoC(cfg, prof.mesh_model["mp3"], 3)
    soc._MustUse__silence = True
    info = json.loads(json.dumps(soc.build_info()))
    assert info["placement"] == "model" and info["cores"] == 3 and info["mesh_cores"][1] == [128, 128]
