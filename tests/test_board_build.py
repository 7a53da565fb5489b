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
    assert train.soc_config("train").clk_hz == 25_000_000 and train.core_config("train").layers == (64, 16, 10)
    assert train.core_config("default") is None
