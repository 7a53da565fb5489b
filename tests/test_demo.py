"""The main job end to end on a small run: the simulated board trains through the driver, bit-exact with golden."""
import json
import subprocess
import sys

import pytest

from spikemesh.gen.demo import DemoConfig


def test_demo_small_run_bit_exact(tmp_path):
    from spikemesh.gen.measured import MEASURED

    out = tmp_path / "demo"
    measured = MEASURED.read_text()
    res = subprocess.run([sys.executable, "-m", "spikemesh.gen.cli", "demo", "--samples", "60", "--epochs", "2",
                          "--hidden", "16", "--lanes", "2", "--fp-vectors", "0", "--out", str(out)],
                         capture_output=True, text=True, timeout=1200)
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
    text = res.stdout
    assert "2 of 2 epochs checked, every weight bit-exact" in text
    assert "PyTorch float32" in text and "simulated cycles / wall-second" in text
    assert "Verilator" in text  # the build says what it is doing
    assert (out / "learning_curve.png").stat().st_size > 10_000
    hist = json.loads((out / "history.json").read_text())["history"]
    assert [h["epoch"] for h in hist] == [1, 2] and all(h["weights_differ"] == 0 for h in hist)
    assert all("torch_test_acc" in h and "test_acc" in h for h in hist)
    assert MEASURED.read_text() == measured  # a shorter run does not overwrite the main job's figures


def test_demo_config_refuses_bad_values():
    with pytest.raises(ValueError, match="samples must be in 0..1437"):
        DemoConfig(samples=2000)
    with pytest.raises(ValueError, match="lanes must be one of"):
        DemoConfig(lanes=3)
    assert DemoConfig().is_default_job and not DemoConfig(samples=60).is_default_job


def test_demo_core_is_the_boards_demo_configuration():
    """The samples/s the demo quotes at the board's Fmax come from a build of exactly its core."""
    from spikemesh.boards.profiles import board_profile

    prof = board_profile("ulx3s-85f")
    assert prof.core_config("demo") == DemoConfig().core()
    prof.check_fits("demo")  # the whole training split fits beside the core's memories
