"""Board builds with the PyPI toolchain, flashing without a board, board profiles."""
import json
import shutil
import subprocess
import sys

import pytest

from spikemesh.boards.build import build_board, flash, parse_report
from spikemesh.boards.pll import ecp5_pll_params, ice40_pll_params
from spikemesh.boards.profiles import board_profile


def test_ulx3s_default_bitstream(tmp_path):
    """CI builds the default board/config: bitstream exists, nextpnr's report parses (no timing assertion)."""
    res = build_board("ulx3s-85f", "default", tmp_path)
    assert res.bitstream.exists() and res.bitstream.stat().st_size > 100_000
    fmax, util = parse_report(res.out_dir / "report.json")
    assert fmax and util["TRELLIS_COMB"][0] > 0 and util["DP16KD"][0] > 0
    info = json.loads((res.out_dir / "build.json").read_text())
    mm = json.loads((res.out_dir / "memory_map.json").read_text())
    assert info["board"] == "ulx3s-85f" and {t["name"] for t in mm["targets"]} >= {"status", "dataset"}
    print(res.summary())


def test_flash_without_board_fails_clearly(tmp_path, monkeypatch):
    with pytest.raises(RuntimeError, match="not found: run `spikemesh build"):
        flash("ulx3s-85f", tmp_path / "missing.bit")
    bit = tmp_path / "top.bit"
    bit.write_bytes(b"\xff" * 64)
    if shutil.which("openFPGALoader"):
        with pytest.raises(RuntimeError, match="flashing ulx3s-85f failed .*connected"):
            flash("ulx3s-85f", bit)
    monkeypatch.setenv("ICEPROG", "definitely-not-iceprog")
    with pytest.raises(RuntimeError, match="definitely-not-iceprog not found on PATH"):
        flash("icebreaker", bit)
    # the CLI turns it into one line and exit code 2
    r = subprocess.run([sys.executable, "-m", "spikemesh.gen.cli", "flash", "--board", "ulx3s-85f",
                        "--bitstream", str(tmp_path / "missing.bit")], capture_output=True, text=True)
    assert r.returncode == 2 and "spikemesh flash: error:" in r.stderr


def test_profiles_and_plls():
    p = ecp5_pll_params(25e6, 75e6)
    assert p["f_out"] == 75e6 and 400e6 <= 75e6 * p["CLKOP_DIV"] <= 800e6
    q = ice40_pll_params(12e6, 36e6)
    assert abs(q["f_out"] - 36e6) < 0.01 * 36e6
    with pytest.raises(ValueError, match="clk_hz"):
        ecp5_pll_params(25e6, 1e9)
    with pytest.raises(ValueError, match="board must be one of"):
        board_profile("de10-nano")
    with pytest.raises(ValueError, match="config must be one of"):
        board_profile("ulx3s-12f").soc_config("default")
    assert board_profile("icebreaker").soc_config("small").link.clocks_per_bit == 4
    assert board_profile("ulx3s-85f").soc_config().link.clocks_per_bit == 25
    train = board_profile("ulx3s-85f")
    assert train.core_config("train").layers == (64, 16, 10) and train.core_config("default") is None


def test_train_profile_clock_is_exactly_3_mbaud():
    """The train build's PLL clock is an integer multiple of 3 Mbaud (0 % baud error) and the PLL reaches it."""
    base = board_profile("ulx3s-85f")
    prof = base.for_config("train")
    assert prof.baud == 3_000_000 and prof.clk_hz % prof.baud == 0
    assert prof.clocks_per_bit == prof.clk_hz // prof.baud == 20
    soc = base.soc_config("train")
    assert soc.clk_hz == prof.clk_hz == 60_000_000 and soc.link.clocks_per_bit == 20 and soc.baud == 3_000_000
    assert ecp5_pll_params(prof.clk_in_hz, prof.clk_hz)["f_out"] == prof.clk_hz
    assert "-nodsp" not in base.synth_opts.get("train", "")  # the FP multipliers' MULT18X18D are used
    for name in ("ulx3s-85f", "icebreaker"):  # the other builds: exact 3 Mbaud too
        p = board_profile(name)
        assert p.clk_hz % p.baud == 0 and p.clk_hz // p.baud == p.clocks_per_bit


def test_train_dataset_holds_the_digits_training_split():
    """Every encoded training record (what `spikemesh train --onboard` stores) fits the 85F train dataset BRAM."""
    from types import SimpleNamespace

    from spikemesh.firmware.dataset import encode_records
    from spikemesh.firmware.train import CoreClient
    from spikemesh.rtl.core import TrainingCore
    from spikemesh.rtl.soc import SoC
    from spikemesh.sim.golden import SNNConfig, encode, load_digits_split

    prof = board_profile("ulx3s-85f")
    cc = prof.core_config("train")
    soc = SoC(prof.soc_config("train"), core=TrainingCore(cc))
    client = CoreClient(SimpleNamespace(map=soc.memory_map), cc)
    capacity = soc.memory_map.region("dataset", "data")[1]
    X, y, _, _ = load_digits_split()
    snn = SNNConfig(sizes=cc.layers, T=min(cc.t_max, 4), rule="sltt")  # what `spikemesh train` uses
    words = encode_records([client.input_writes(encode(snn, X[n], n), True, int(y[n])) for n in range(len(y))],
                           capacity)
    assert len(y) == 1437 and 100 * len(y) < len(words) <= capacity == prof.dataset_words["train"]
    with pytest.raises(ValueError, match="capacity"):  # a buffer one block short would not hold it
        encode_records([client.input_writes(encode(snn, X[n], n), True, int(y[n])) for n in range(len(y))],
                       capacity - 1024)


def test_configuration_that_cannot_fit_is_refused(tmp_path, monkeypatch, capsys):
    """Block RAM over the device's count: ValueError naming dataset_words at generation time, before any tool."""
    from dataclasses import replace

    from spikemesh.boards import profiles

    prof = board_profile("ulx3s-85f")
    need = prof.bram_estimate("train")
    assert need == {"dataset": 160, "link": 2, "core": 10} and sum(need.values()) <= prof.bram_blocks == 208
    big = replace(prof, dataset_words=prof.dataset_words | {"train": 200 * 1024})
    with pytest.raises(ValueError, match=r"dataset_words: ulx3s-85f/train needs ~212 block RAMs .* has 208; "
                                         r"dataset_words must be <= 200704"):
        big.soc_config("train")
    small_dev = replace(board_profile("ulx3s-45f"), dataset_words={"default": 120 * 1024})
    with pytest.raises(ValueError, match="dataset_words: ulx3s-45f/default needs ~122 block RAMs"):
        small_dev.soc_config("default")
    with pytest.raises(ValueError, match=r"dataset_words: ulx3s-85f/train needs ~228 block RAMs \(dataset 160, "
                                         r"core 66, link 2\)"):  # a bigger core beside the full dataset
        build_board("ulx3s-85f", "train", tmp_path, layers=(64, 128, 128, 10))
    with pytest.raises(ValueError, match="layers: configuration 'default' of ulx3s-85f has no training core"):
        build_board("ulx3s-85f", "default", tmp_path, layers=(64, 10))
    monkeypatch.setitem(profiles.BOARDS, "ulx3s-85f", lambda: big)
    with pytest.raises(ValueError, match="dataset_words"):
        build_board("ulx3s-85f", "train", tmp_path)
    assert not (tmp_path / "ulx3s-85f_train").exists()  # refused before writing or running anything
    from spikemesh.gen.cli import main  # the CLI: one line, exit code 2

    assert main(["build", "--board", "ulx3s-85f", "--config", "train", "--out", str(tmp_path)]) == 2
    assert "spikemesh build: error: dataset_words: ulx3s-85f/train needs ~212" in capsys.readouterr().err

