"""`spikemesh golden`: clear errors for bad parameters, and a tiny end-to-end training run."""
import numpy as np

from spikemesh.gen.cli import main


def test_bad_rule_and_params_are_one_line_errors(capsys):
    assert main(["golden", "train", "--rule", "foo"]) == 2
    assert "--rule must be one of" in capsys.readouterr().err
    assert main(["golden", "train", "--rule", "tbptt", "--window", "99"]) == 2
    assert "window must be an int in 1..T=8" in capsys.readouterr().err
    assert main(["golden", "train", "--rule", "sltt", "--width", "3"]) == 2
    assert "surrogate_width" in capsys.readouterr().err


def test_tiny_training_run_saves_weights(tmp_path, capsys):
    out = tmp_path / "w.npz"
    rc = main(["golden", "train", "--rule", "ottt_o", "--hidden", "8", "--T", "2", "--epochs", "1",
               "--limit", "200", "--quiet", "--save", str(out)])
    assert rc == 0
    text = capsys.readouterr().out
    assert "test accuracy" in text and "samples/s" in text
    w = np.load(out)
    assert w["W1"].shape == (8, 64) and w["W1"].dtype == np.float16 and w["W2"].shape == (10, 8)
