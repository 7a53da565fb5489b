"""Federated learning with Flower across simulated boards: deterministic FedAvg, bit-exact with the golden run."""
import os
import signal
import subprocess
import sys
import time
from fractions import Fraction

import numpy as np
import pytest

from procs import alive, children
from spikemesh.firmware.driver import Board
from spikemesh.firmware.federated import BoardWorker, WorkerData, load_round_checkpoint, run_simulation, strategy
from spikemesh.firmware.inference import chip_predictions, infer
from spikemesh.firmware.train import SIM_CORE, SIM_SOC, f16_bits
from spikemesh.rtl.core import TrainingCore
from spikemesh.rtl.soc.top import SoC
from spikemesh.sim.board import SimBoard, build_sim_board
from spikemesh.sim.golden import SNNConfig, forward, init_weights, load_digits_split
from spikemesh.sim.golden.federated import fedavg, golden_federated, make_partitions, parse_partition

SAMPLES = 75  # 5 workers x (12 train + 3 validation)


@pytest.fixture(scope="module")
def core_build():
    return build_sim_board(SoC(SIM_SOC, core=TrainingCore(SIM_CORE), sim_io=True))


def same(a, b) -> bool:
    return len(a) == len(b) and all(np.array_equal(f16_bits(x), f16_bits(z)) for x, z in zip(a, b))


def test_partitions_are_seeded_disjoint_and_skewed():
    _, y, _, _ = load_digits_split()
    for scheme in ("iid", "dirichlet:0.5"):
        parts = make_partitions(y, 5, scheme, seed=3)
        idx = np.concatenate([np.concatenate([p.train, p.val]) for p in parts])
        assert sorted(idx.tolist()) == list(range(len(y)))  # disjoint, and together the whole split
        assert all(len(p.val) == round(0.2 * (len(p.train) + len(p.val))) for p in parts)
        again = make_partitions(y, 5, scheme, seed=3)
        assert all(np.array_equal(a.train, b.train) and np.array_equal(a.val, b.val) for a, b in zip(parts, again))
        assert not all(np.array_equal(a.train, b.train) for a, b in zip(parts, make_partitions(y, 5, scheme, seed=4)))

    def top_class_share(parts):
        return np.mean([np.bincount(y[p.train], minlength=10).max() / len(p.train) for p in parts])

    iid, skew = make_partitions(y, 5, "iid", seed=3), make_partitions(y, 5, "dirichlet:0.5", seed=3)
    assert top_class_share(iid) < 0.2 < 0.3 < top_class_share(skew)  # label skew, as Dirichlet(0.5) gives
    assert max(len(p.train) for p in iid) - min(len(p.train) for p in iid) <= 1
    assert parse_partition("dirichlet:0.5") == ("dirichlet", 0.5)
    for bad in ("dirichlet:0", "dirichlet:x", "noniid"):
        with pytest.raises(ValueError, match="partition"):
            parse_partition(bad)
    with pytest.raises(ValueError, match="workers must be"):
        make_partitions(y[:10], 5)


def test_fedavg_follows_the_contract():
    rng = np.random.default_rng(0)
    ws = [[rng.standard_normal((4, 3)).astype(np.float16), rng.standard_normal(5).astype(np.float16)]
          for _ in range(4)]
    results = [(k, n, w) for k, n, w in zip((3, 0, 2, 1), (5, 17, 9, 1), ws)]
    out = fedavg(results)
    shuffled = fedavg([results[i] for i in (2, 0, 3, 1)])
    assert same(out, shuffled)  # arrival order does not matter: ascending worker id
    # the contract, element by element, in exact rational arithmetic where float64 is exact
    ordered = sorted(results)
    for layer, got in enumerate(out):
        for i in np.ndindex(got.shape):
            acc = 0.0
            for _, n, w in ordered:
                acc = acc + float(n) * float(w[layer][i])
            assert got[i] == np.float16(acc / 32)
    # the weighted mean of exact values is exact: (1*1 + 3*2) / 4 = 1.75
    two = fedavg([(0, 1, [np.array([1.0], np.float16)]), (1, 3, [np.array([2.0], np.float16)])])
    assert two[0][0] == np.float16(1.75) and Fraction(float(two[0][0])) == Fraction(7, 4)
    with pytest.raises(ValueError, match="unique"):
        fedavg([(0, 1, ws[0]), (0, 2, ws[1])])
    with pytest.raises(ValueError, match="samples; must be > 0"):
        fedavg([(0, 0, ws[0])])
    with pytest.raises(ValueError, match="shapes"):
        fedavg([(0, 1, ws[0]), (1, 1, ws[1][:1])])


def test_chip_inference_spikes_equal_the_golden_forward(core_build):
    snn = SNNConfig(sizes=SIM_CORE.layers, T=4, rule="sltt")
    X, y, _, _ = load_digits_split()
    w = init_weights(snn, 3)
    with SimBoard(core_build) as sb, Board.connect(sb.url, core_build) as b:
        counts = infer(b, SIM_CORE, snn, w, X[:15])
    golden = np.array([forward(snn, w, X[n], sample_index=n).counts for n in range(15)])
    assert np.array_equal(counts, golden) and counts.sum() > 0
    assert np.array_equal(chip_predictions(counts), np.argmax(golden, axis=1))


def _setup():
    snn = SNNConfig(sizes=SIM_CORE.layers, T=4, rule="sltt")
    X, y, Xt, yt = load_digits_split()
    X, y = X[:SAMPLES], y[:SAMPLES]
    return snn, X, y, Xt, yt, make_partitions(y, 5, "iid", seed=0), init_weights(snn, 0)


def test_simulation_engine_five_boards_bit_exact(core_build):
    """Flower's simulation engine, 5 simulated boards, 2 rounds; worker 3 drops out of round 2."""
    snn, X, y, Xt, yt, parts, w0 = _setup()
    boards = [SimBoard(core_build) for _ in range(5)]
    try:
        workers = [BoardWorker(WorkerData(p.worker, X[p.train], y[p.train], X[p.val], y[p.val]), b.url,
                               core_build, SIM_CORE, snn) for p, b in zip(parts, boards)]
        st = strategy(workers=5, min_workers=4, local_epochs=1, initial=w0, test=(Xt, yt), snn=snn)
        run_simulation(workers, st, 2, fail={3: (2,)})
    finally:
        for b in boards:
            b.close()
    ref = golden_federated(snn, w0, X, y, parts, 2, 1, absent={2: {3}})
    assert [r.workers for r in st.history] == [[0, 1, 2, 3, 4], [0, 1, 2, 4]]
    assert [r.failures for r in st.history] == [0, 1]
    assert same(st.global_weights, ref[-1]) and not same(ref[0], ref[1])
    assert not same(ref[-1], golden_federated(snn, w0, X, y, parts, 2, 1)[-1])  # the drop-out mattered
    assert all(len(r.worker_acc) == 5 and r.bytes_sent > 0 and r.bytes_received > 0 for r in st.history)


def test_worker_processes_one_killed_mid_round_rejoins(core_build, tmp_path):
    """A Flower server and five worker processes, each with its own simulated board: worker 2 hangs in round
    2 and is killed; the round goes on with the other four, worker 2 is started again and rejoins in round
    3; the global weights equal the golden federated run without worker 2 in round 2."""
    ck, png = tmp_path / "fed.npz", tmp_path / "fed.png"
    cmd = [sys.executable, "-m", "spikemesh.gen.cli", "federate", "--sim", "--processes", "--workers", "5",
           "--rounds", "3", "--samples", str(SAMPLES), "--checkpoint", str(ck), "--plot", str(png),
           "--hang", "2:2", "--rejoin-timeout", "300"]  # five processes start slowly on a loaded machine
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        deadline = time.monotonic() + 600
        victim = None
        while victim is None and time.monotonic() < deadline:  # round 1 done, worker 2 hanging in round 2
            if ck.exists() and load_round_checkpoint(ck)[2]["rounds"] == 1:
                for pid, c in children(proc.pid).items():
                    if "federate-worker" in c and "--worker 2 " in c and "--hang-rounds 2" in c:
                        victim = pid
            time.sleep(0.2)
        assert victim, "worker 2 never got to round 2"
        time.sleep(3)  # it is inside round 2's fit by now (the others finish theirs in ~1 s)
        boards = children(victim)
        os.kill(victim, signal.SIGKILL)
        out, _ = proc.communicate(timeout=600)
    finally:
        if proc.poll() is None:
            proc.kill()
    print(out)
    assert proc.returncode == 0, out[-3000:]
    assert "worker 2 exited (code -9); starting it again" in out
    deadline = time.monotonic() + 10
    while any(alive(p) for p in boards) and time.monotonic() < deadline:
        time.sleep(0.1)  # the killed worker's simulated board exits with it
    assert not any(alive(p) for p in boards)
    weights, history, meta = load_round_checkpoint(ck)
    assert [r.workers for r in history] == [[0, 1, 2, 3, 4], [0, 1, 3, 4], [0, 1, 2, 3, 4]]
    snn, X, y, Xt, yt, parts, w0 = _setup()
    assert same(weights, golden_federated(snn, w0, X, y, parts, 3, 1, absent={2: {2}})[-1])
    assert png.stat().st_size > 10_000 and meta["partition"] == "iid"


def test_federate_cli_refuses_bad_input(tmp_path):
    for argv, message in ((["--partition", "dirichlet:0"], "dirichlet needs alpha > 0"),
                          (["--checkpoint", "nodir/x.npz"], "--checkpoint: folder nodir does not exist"),
                          (["--min-workers", "9"], "--min-workers must be in 1..5"),
                          (["--samples", "9999"], "--samples must be in 0..1437")):
        r = subprocess.run([sys.executable, "-m", "spikemesh.gen.cli", "federate", "--sim", *argv],
                           capture_output=True, text=True, cwd=tmp_path, timeout=120)
        assert r.returncode == 2 and message in r.stderr and "Traceback" not in r.stderr, r.stderr


def test_boards_on_ports_and_resume(core_build, tmp_path):
    """`--port` (what real boards use; here two simulated boards' socket URLs) with worker processes, one
    round, then `--resume` to two: the global weights equal two golden rounds."""
    ck, png = tmp_path / "fed.npz", tmp_path / "fed.png"
    with SimBoard(core_build) as b0, SimBoard(core_build) as b1:
        base = [sys.executable, "-m", "spikemesh.gen.cli", "federate", "--port", b0.url, b1.url, "--build-dir",
                str(core_build), "--processes", "--samples", "30", "--checkpoint", str(ck), "--plot", str(png),
                "--partition", "dirichlet:0.5", "--seed", "2"]
        r = subprocess.run(base + ["--rounds", "1"], capture_output=True, text=True, timeout=600)
        assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-2000:]
        assert "round 1/1: workers [0, 1]" in r.stdout
        r = subprocess.run(base + ["--rounds", "2", "--resume", str(ck)], capture_output=True, text=True, timeout=600)
        assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-2000:]
        assert "round 2/2: workers [0, 1]" in r.stdout and "| 1 | 2 |" in r.stdout and "| 2 | 2 |" in r.stdout
        other = subprocess.run(base[:-2] + ["--seed", "3", "--rounds", "3", "--resume", str(ck)],
                               capture_output=True, text=True, timeout=120)
        assert other.returncode == 2 and "written by another run: seed 2 there, 3 here" in other.stderr
    weights, history, _ = load_round_checkpoint(ck)
    snn = SNNConfig(sizes=SIM_CORE.layers, T=4, rule="sltt")
    X, y, _, _ = load_digits_split()
    parts = make_partitions(y[:30], 2, "dirichlet:0.5", seed=2)
    assert [r.round for r in history] == [1, 2]
    assert same(weights, golden_federated(snn, init_weights(snn, 0), X[:30], y[:30], parts, 2, 1)[-1])
