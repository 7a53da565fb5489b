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


def _rc(argv):
    """Exit status of the CLI: argparse type errors exit (status 2) instead of returning."""
    try:
        return main(argv)
    except SystemExit as e:
        return e.code


def test_split_seed_val_fraction_and_data_options(tmp_path, capsys):
    from spikemesh.sim.golden.data import digits_split, load_digits_split

    fixed, s3 = load_digits_split(), digits_split(3)
    assert all(np.array_equal(a, b) for a, b in zip(digits_split(0), fixed))  # split seed 0 = the fixed split
    assert [len(a) for a in s3] == [1437, 1437, 360, 360] and not np.array_equal(s3[2], fixed[2])
    assert np.abs(np.bincount(s3[3]) - np.bincount(fixed[3])).max() <= 1  # stratified
    rc = main(["golden", "train", "--rule", "sltt", "--hidden", "8", "--T", "2", "--epochs", "2", "--limit", "100",
               "--quiet", "--split-seed", "3", "--val-fraction", "0.25"])
    assert rc == 0
    out = capsys.readouterr().out
    assert "digits split seed 3: 1437 train" in out and "val" in out
    rows = [line.split() for line in out.splitlines() if line.strip().startswith(("0 ", "1 "))]
    assert len(rows) == 2 and all(0.0 <= float(r[4]) <= 1.0 for r in rows)  # a validation accuracy per epoch
    rng = np.random.default_rng(0)
    good = tmp_path / "d.npz"
    np.savez(good, x=rng.integers(0, 17, (120, 20)), y=np.arange(120) % 3)
    assert main(["golden", "train", "--data", str(good), "--hidden", "6", "--T", "2", "--epochs", "1",
                 "--quiet"]) == 0
    assert "24 test" in capsys.readouterr().out  # 20% carved test split
    np.savez(good, x=rng.integers(0, 17, (120, 20)), y=np.arange(120) % 3, x_test=rng.integers(0, 17, (7, 20)),
             y_test=np.arange(7) % 3)
    assert main(["golden", "train", "--data", str(good), "--hidden", "6", "--T", "2", "--epochs", "1",
                 "--quiet"]) == 0
    assert "/ 7 test" in capsys.readouterr().out
    bad = tmp_path / "bad.npz"
    for arrays, msg in ((dict(x=rng.random((50, 4)) * 20, y=np.arange(50) % 2), "pixel values in 0..16"),
                        (dict(x=rng.random((50, 4)), y=np.zeros(50, int)), "at least 2 classes"),
                        (dict(x=rng.random(50), y=np.arange(50) % 2), "2-D array"),
                        (dict(x=rng.random((50, 4)), y=np.arange(49) % 2), "integer labels"),
                        (dict(z=np.zeros(3)), "arrays 'x' and 'y'")):
        np.savez(bad, **arrays)
        assert main(["golden", "train", "--data", str(bad)]) == 2
        assert msg in capsys.readouterr().err
    assert _rc(["golden", "train", "--val-fraction", "0.9"]) == 2
    assert "--val-fraction" in capsys.readouterr().err
    assert _rc(["golden", "train", "--split-seed", "-2"]) == 2
    assert "--split-seed" in capsys.readouterr().err
    assert _rc(["golden", "table", "--splits", "1"]) == 2
    assert "--splits" in capsys.readouterr().err


def test_tune_never_touches_the_test_part(monkeypatch, capsys):
    import spikemesh.sim.golden.recipes as rec
    from spikemesh.sim.golden import training

    seen = []
    real = training.evaluate

    def spy(cfg, w, X, y, index_offset=0):
        seen.append(len(X))
        return real(cfg, w, X, y, index_offset)

    monkeypatch.setattr(rec, "evaluate", spy)
    rc = main(["golden", "tune", "--rules", "sltt", "--hidden", "6", "--T", "2", "--limit", "60",
               "--max-epochs", "2", "--lrs=-4,-3", "--split-seeds", "7"])
    assert rc == 0
    out = capsys.readouterr().out
    assert "chosen: lr 2^" in out and 'TUNED = {"sltt": (2.0**' in out
    assert seen and set(seen) == {288}  # only the validation part (20% of 1437) is ever evaluated


def test_table_prints_mean_and_sd_over_splits(capsys):
    rc = main(["golden", "table", "--rules", "opzo", "--hidden", "6", "--T", "2", "--splits", "2", "--epochs", "1",
               "--no-write", "--quiet"])
    assert rc == 0
    out = capsys.readouterr().out
    row = [line for line in out.splitlines() if line.startswith("| opzo | fp16")][0]
    accs = [float(a) for a in row.split("|")[6].split("/")]
    mean, sd = row.split("**")[1].rstrip("%").split(" ± ")
    assert len(accs) == 2 and abs(float(mean) - np.mean(accs)) < 0.06 and abs(float(sd) - np.std(accs, ddof=1)) < 0.06
