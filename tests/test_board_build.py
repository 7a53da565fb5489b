"""Board builds with the PyPI toolchain, flashing without a board, board profiles."""
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from spikemesh.boards.bitstream import (ECP5_IDCODES, ECP5_PREAMBLE, ICE40_SYNC, BadBitstream, check_bitstream,
                                        check_ecp5)
from spikemesh.boards.build import build_board, flash, parse_report
from spikemesh.boards.pll import ecp5_pll_params, ice40_pll_params
from spikemesh.boards.profiles import board_profile
from spikemesh.sim.toolchain import SYSTEM_TOOLS, install_hint, missing_system_tools


def path_without(tool: str, tmp_path: Path) -> str:
    """PATH with `tool` hidden: each folder that holds it is replaced by a folder of links to everything else."""
    folders = []
    for i, d in enumerate(os.environ["PATH"].split(os.pathsep)):
        if d and (Path(d) / tool).exists():
            shadow = tmp_path / f"path{i}"
            shadow.mkdir()
            for entry in Path(d).iterdir():
                if entry.name != tool:
                    (shadow / entry.name).symlink_to(entry)
            d = str(shadow)
        folders.append(d)
    hidden = os.pathsep.join(folders)
    assert shutil.which(tool, path=hidden) is None
    return hidden


def cli(*args: str, path: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "spikemesh.gen.cli", *args], capture_output=True, text=True,
                          env=dict(os.environ, PATH=path), timeout=1800)


def test_setup_installed_every_system_tool():
    """`make setup` (run by CI before the tests) leaves no tool of sim/toolchain.py missing."""
    assert missing_system_tools() == []
    assert "openFPGALoader" in SYSTEM_TOOLS and "apt-get install openfpgaloader" in install_hint("openFPGALoader")


def test_ulx3s_default_bitstream_without_programmer(tmp_path):
    """`spikemesh build` with openFPGALoader hidden from PATH: a bitstream for the 85F, a sane nextpnr report."""
    hidden = path_without("openFPGALoader", tmp_path)
    r = cli("build", "--board", "ulx3s-85f", "--out", str(tmp_path / "out"), path=hidden)
    print(r.stdout, r.stderr)
    assert r.returncode in (0, 3), r.stderr  # 3: built, timing missed (reported, not a test failure)
    out = tmp_path / "out" / "ulx3s-85f_default"
    bit = out / "top.bit"
    info = check_bitstream(bit, "ecp5", "LFE5U-85F")
    # amaranth-boards packs with `ecppack --compress`: ~0.35 MB for this 3%-full design, and never more than
    # the uncompressed 85F image (~2.2 MB)
    assert info.idcode == ECP5_IDCODES["LFE5U-85F"] and 100_000 < info.size < 2_300_000
    with pytest.raises(BadBitstream, match="not LFE5U-45F"):
        check_bitstream(bit, "ecp5", "LFE5U-45F")
    fmax, util = parse_report(out / "report.json")
    assert fmax and all(1e6 < f < 500e6 for f in fmax.values())  # MHz figures, not 0 and not absurd
    capacity = {"TRELLIS_COMB": 83_640, "TRELLIS_FF": 83_640, "DP16KD": 208, "MULT18X18D": 156}
    for cell, avail in capacity.items():
        used, reported = util[cell]
        assert reported == avail and used <= avail
    assert 0 < util["TRELLIS_COMB"][0] < 0.2 * capacity["TRELLIS_COMB"] and 0 < util["DP16KD"][0] <= 32
    assert "  Fmax " in r.stdout and "bytes for LFE5U-85F (IDCODE 0x41113043)" in r.stdout
    info = json.loads((out / "build.json").read_text())
    mm = json.loads((out / "memory_map.json").read_text())
    assert info["board"] == "ulx3s-85f" and {t["name"] for t in mm["targets"]} >= {"status", "dataset"}


def test_icebreaker_builds_its_default_configuration(tmp_path):
    """`spikemesh build --board icebreaker` without --config builds the board's own (small) configuration."""
    r = cli("build", "--board", "icebreaker", "--out", str(tmp_path), path=os.environ["PATH"])
    print(r.stdout, r.stderr)
    assert r.returncode in (0, 3), r.stderr
    out = tmp_path / "icebreaker_small"
    info = check_bitstream(out / "top.bin", "ice40", "iCE40UP5K")
    assert 50_000 < info.size < 200_000  # the UP5K image is 104,090 bytes
    fmax, util = parse_report(out / "report.json")
    assert fmax and all(1e6 < f < 300e6 for f in fmax.values())
    used, avail = util["ICESTORM_LC"]
    assert avail == 5280 and 0 < used <= avail
    used, avail = util["ICESTORM_RAM"]
    assert avail == 30 and 0 < used <= avail


def test_bitstream_checks_refuse_other_files(tmp_path):
    """The header parser fails on what is not an 85F bitstream (so the build test's check can fail)."""
    idcode = ECP5_IDCODES["LFE5U-85F"].to_bytes(4, "big")
    good = b"\xff\x00comment\x00\xff" + b"\xff" * 4 + ECP5_PREAMBLE + b"\x3b\x00\x00\x00\xe2\x00\x00\x00" + idcode
    assert check_ecp5(good, "LFE5U-85F").idcode == 0x41113043
    with pytest.raises(BadBitstream, match="preamble"):
        check_ecp5(good.replace(ECP5_PREAMBLE, b"\xff" * 4), "LFE5U-85F")
    with pytest.raises(BadBitstream, match="VERIFY_ID"):
        check_ecp5(good.replace(b"\xe2", b"\xe3"), "LFE5U-85F")
    with pytest.raises(BadBitstream, match=r"IDCODE 0x41111043 \(LFE5U-25F\), not LFE5U-85F"):
        check_ecp5(good.replace(idcode, ECP5_IDCODES["LFE5U-25F"].to_bytes(4, "big")), "LFE5U-85F")
    with pytest.raises(BadBitstream, match="device must be one of"):
        check_ecp5(good, "LFE5U-85G")
    with pytest.raises(BadBitstream, match="sync word"):
        check_bitstream(_write(tmp_path / "x.bin", b"\xff" * 64), "ice40", "iCE40UP5K")
    assert check_bitstream(_write(tmp_path / "y.bin", b"\xff\x00\x00\xff" + ICE40_SYNC), "ice40", "iCE40UP5K")


def _write(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


def test_flash_without_programmer_says_how_to_install(tmp_path):
    """Only `flash` needs openFPGALoader; without it the CLI says, in one line, how to install it."""
    bit = _write(tmp_path / "top.bit", b"\xff" * 64)
    hidden = path_without("openFPGALoader", tmp_path)
    r = cli("flash", "--board", "ulx3s-85f", "--bitstream", str(bit), path=hidden)
    assert r.returncode == 2 and r.stderr.count("\n") == 1, r.stderr
    assert "spikemesh flash: error: openFPGALoader not found on PATH" in r.stderr
    assert "sudo apt-get install openfpgaloader" in r.stderr and "OPENFPGALOADER" in r.stderr


def test_flash_without_board_fails_clearly(tmp_path, monkeypatch):
    with pytest.raises(RuntimeError, match="not found: run `spikemesh build"):
        flash("ulx3s-85f", tmp_path / "missing.bit")
    bit = _write(tmp_path / "top.bit", b"\xff" * 64)
    assert shutil.which("openFPGALoader"), "make setup installs openFPGALoader"
    with pytest.raises(RuntimeError, match="flashing ulx3s-85f failed .*connected"):
        flash("ulx3s-85f", bit)
    monkeypatch.setenv("ICEPROG", "definitely-not-iceprog")
    with pytest.raises(RuntimeError, match="definitely-not-iceprog not found on PATH.*apt-get install fpga-icestorm"):
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
    assert board_profile("icebreaker").default_config == "small" and board_profile("ulx3s-85f").default_config == "default"
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
    from spikemesh.rtl.soc.top import SoC
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
    assert need == {"dataset": 160, "link": 2, "core": 7} and sum(need.values()) <= prof.bram_blocks == 208
    big = replace(prof, dataset_words=prof.dataset_words | {"train": 200 * 1024})
    with pytest.raises(ValueError, match=r"dataset_words: ulx3s-85f/train needs ~209 block RAMs .* has 208; "
                                         r"dataset_words must be <= 203776"):
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
    assert "spikemesh build: error: dataset_words: ulx3s-85f/train needs ~209" in capsys.readouterr().err

