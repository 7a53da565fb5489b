"""Training over the link survives every fault: frame damage, board resets at every frame, a killed host.

The final weights of every disturbed run must equal the undisturbed run's (which equals the golden model's).
"""
import os
import re
import signal
import subprocess
import sys
import threading
import time

import numpy as np
import pytest

from procs import alive, harness_children
from spikemesh.firmware.driver import Board, BoardReset
from spikemesh.firmware.link import FaultInjector
from spikemesh.firmware.train import SIM_CORE, SIM_SOC, f16_bits, load_checkpoint, save_checkpoint, train
from spikemesh.rtl.core import TrainingCore
from spikemesh.rtl.soc.top import SoC
from spikemesh.sim.benches.link_faults import RESET_POINTS, RUN_OFFSETS, FrameClassifier, report, run_matrix
from spikemesh.sim.board import SimBoard, build_sim_board
from spikemesh.sim.golden import SNNConfig, init_weights, load_digits_split, train_sample


@pytest.fixture(scope="module")
def core_build():
    return build_sim_board(SoC(SIM_SOC, core=TrainingCore(SIM_CORE), sim_io=True))


def golden_run(snn, w, X, y, epochs):
    for _ in range(epochs):
        for n in range(len(y)):
            w = train_sample(snn, w, X[n], int(y[n]), sample_index=n).weights
    return w


def same(a, b) -> bool:
    return all(np.array_equal(f16_bits(x), f16_bits(z)) for x, z in zip(a, b))


def test_fault_matrix_every_case_identical(core_build):
    m = run_matrix(2)
    print(report(m))
    assert m.golden_identical
    resets = [c for c in m.cases if c.kind.startswith("reset@")]
    at_frames = [c for c in resets if not c.kind.startswith("reset@run")]
    assert len(at_frames) == len(RESET_POINTS) * m.frames and m.frames > 20
    assert len(resets) - len(at_frames) == len(RUN_OFFSETS) * m.samples
    assert all(c.injected == 1 for c in resets)  # the board really was reset once in every case
    assert sum(c.resets_detected > 0 for c in resets) > len(resets) // 2  # recovery ran, not luck
    frame = [c for c in m.cases if not c.kind.startswith("reset@")]
    assert all(c.injected > 0 for c in frame)
    assert [c for c in m.cases if not c.identical] == []


def test_a_reset_the_host_ignores_changes_the_result(core_build, monkeypatch):
    """Without the session check the same reset silently corrupts training: the matrix can fail."""
    snn = SNNConfig(sizes=SIM_CORE.layers, T=4, rule="sltt")
    X, y, _, _ = load_digits_split()
    X, y = X[:3], y[:3]
    w0 = init_weights(snn, 7)
    ref = golden_run(snn, w0, X, y, 1)
    monkeypatch.setattr(Board, "check_session", lambda self: None)
    with SimBoard(core_build) as sb, Board.connect(sb.url, core_build) as b:
        frames = FrameClassifier(b.region("core", "ctrl")[0], b.region("loader", "run")[0])
    with SimBoard(core_build) as sb:
        starts = []

        def on_write(n, data):  # a reset as sample 1's request arrives: the board has lost its set-up
            if frames.kind(data) == "start":
                starts.append(n)
                if len(starts) == 2:
                    sb.reset_after(len(data))

        with Board.connect(sb.url, core_build, timeout=0.05, transport_wrapper=lambda t: FaultInjector(
                t, on_write=on_write)) as b:
            w, _ = train(b, SIM_CORE, snn, w0, X, y, epochs=1, progress=False, snapshot_every=1)
        assert sb.resets() == 1
    assert not same(w, ref)


def test_session_check_detects_a_reset(core_build):
    with SimBoard(core_build) as sb, Board.connect(sb.url, core_build) as b:
        with pytest.raises(BoardReset):  # no session begun yet
            b.check_session()
        b.begin_session()
        b.check_session()
        sb.reset()
        time.sleep(0.05)
        with pytest.raises(BoardReset, match="reset since it was set up"):
            b.check_session()
        assert "session" not in b.counters()


# ---- the CLI as a user runs it, in a subprocess ----

def start_train(*args: str) -> subprocess.Popen:
    """`spikemesh train --sim` as from a terminal: an ignored SIGINT is inherited across exec (a library another
    test loaded into this worker may have left it ignored), a handler is not, so one is set while it starts."""
    old = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        return subprocess.Popen([sys.executable, "-m", "spikemesh.gen.cli", "train", "--sim", *args],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    finally:
        signal.signal(signal.SIGINT, old)


def wait_for(cond, timeout: float, what: str):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        v = cond()
        if v:
            return v
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


@pytest.mark.parametrize("how", ["kill", "term"])
def test_host_killed_leaves_no_simulator_and_resume_is_identical(core_build, tmp_path, how):
    ck = tmp_path / "ck.npz"
    args = ["--samples", "6", "--epochs", "3", "--checkpoint", str(ck), "--snapshot-every", "2"]
    proc = start_train(*args)
    try:
        boards = wait_for(lambda: harness_children(proc.pid), 300, "the simulated board to start")
        wait_for(ck.exists, 300, "the first checkpoint")
        proc.send_signal(signal.SIGKILL if how == "kill" else signal.SIGTERM)
        _, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    if how == "term":
        assert proc.returncode == 143 and "stopped by SIGTERM" in err and "Traceback" not in err, err
    wait_for(lambda: not any(alive(p) for p in boards), 10, "the simulated board to exit")
    _, meta = load_checkpoint(ck)
    assert 1 <= meta["epoch"] <= 3 and meta["samples"] == 6
    r = subprocess.run([sys.executable, "-m", "spikemesh.gen.cli", "train", "--sim", *args, "--resume", str(ck)],
                       capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr
    w, meta = load_checkpoint(ck)
    assert meta["epoch"] == 3 and [h["epoch"] for h in meta["history"]] == [1, 2, 3]
    snn = SNNConfig(sizes=SIM_CORE.layers, T=4, rule="sltt")
    X, y, _, _ = load_digits_split()
    assert same(w, golden_run(snn, init_weights(snn, 0), X[:6], y[:6], 3))


def test_ctrl_c_stops_with_checkpoint_then_resume(core_build, tmp_path):
    ck = tmp_path / "ck.npz"
    args = ["--samples", "600", "--epochs", "1", "--checkpoint", str(ck)]  # streamed: ~5-10 s an epoch
    proc = start_train(*args)
    chunks: list[str] = []  # stderr as it comes: the epoch's progress bar says how many samples ran

    def pump():
        for chunk in iter(lambda: os.read(proc.stderr.fileno(), 4096), b""):
            chunks.append(chunk.decode(errors="replace"))

    reader = threading.Thread(target=pump, daemon=True)
    reader.start()

    def samples_done() -> int:
        return max((int(n) for n in re.findall(r"epoch 1:[^\r\n]*?(\d+)/600", "".join(chunks))), default=0)

    try:
        wait_for(lambda: harness_children(proc.pid), 300, "the simulated board to start")
        wait_for(lambda: samples_done() >= 5, 300, "the first samples of the epoch")  # past the dataset upload
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=60)
        out = proc.stdout.read()
        reader.join(timeout=10)
        err = "".join(chunks)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0 and "stopped: checkpoint" in out and "Traceback" not in err, (out, err)
    _, meta = load_checkpoint(ck)
    assert meta["epoch"] == 0 and 0 < meta["sample"] < 600
    r = subprocess.run([sys.executable, "-m", "spikemesh.gen.cli", "train", "--sim", *args, "--resume", str(ck)],
                       capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr
    w, meta = load_checkpoint(ck)
    assert meta["epoch"] == 1
    snn = SNNConfig(sizes=SIM_CORE.layers, T=4, rule="sltt")
    X, y, _, _ = load_digits_split()
    assert same(w, golden_run(snn, init_weights(snn, 0), X[:600], y[:600], 1))


def test_ctrl_c_during_start_up_is_one_line(tmp_path):
    # The signal goes in as start-up begins (building (cached) and connecting); a try that lands past start-up
    # checks nothing and is repeated.
    for _ in range(3):
        proc = start_train("--samples", "4", "--checkpoint", str(tmp_path / "c.npz"))
        seen = []
        for line in proc.stdout:
            seen.append(line)
            if "building the simulated board" in line:
                break
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=120)
        out = "".join(seen) + out
        if proc.returncode != 0:
            break
        (tmp_path / "c.npz").unlink(missing_ok=True)
    else:
        pytest.fail(f"every run was past start-up when the signal came; the test needs a slower start-up\n{out}")
    assert proc.returncode == 130 and "Traceback" not in err and "interrupted" in err, err
    assert not (tmp_path / "c.npz").exists()


@pytest.mark.parametrize("argv, message", [
    (["golden", "train", "--limit", "2", "--epochs", "1", "--save", "nodir/w.npz"], "--save: folder nodir does not exist"),
    (["train", "--sim", "--checkpoint", "nodir/c.npz"], "--checkpoint: folder nodir does not exist"),
    (["train", "--sim", "--plot", "nodir/p.png"], "--plot: folder nodir does not exist"),
    (["train", "--sim", "--resume", "missing.npz"], "--resume: missing.npz does not exist"),
    (["train", "--port", "X", "--build-dir", "/nonexistent"], "--build-dir: folder /nonexistent does not exist"),
    (["train", "--sim", "--samples", "-5"], "--samples: must be in 0..inf, got -5"),
    (["train", "--sim", "--samples", "5000"], "--samples must be in 0..1437"),
    (["train", "--sim", "--epochs", "0"], "--epochs: must be in 1..inf, got 0"),
    (["train", "--sim", "--rule", "sltt", "--k-steps", "1"], "--k-steps is for --rule sltt_k only"),
    (["train", "--sim", "--rule", "sltt_k", "--k-steps", "9"], "--k-steps must be steps in 0..3"),
    (["train", "--sim", "--rule", "tbptt", "--window", "9"], "--window must be in 1..4"),
    (["train", "--sim", "--rule", "local"], "invalid choice: 'local'"),
    (["build", "--layers", "64"], "layers must list at least 2 sizes"),
    (["train", "--port", "X", "--build-dir", ".", "--record"], "--record is for --sim"),
    (["build", "--config", "demo", "--layers", "64-32-10", "--record"], "--record is for a configuration as the board"),
])
def test_user_errors_are_one_line_before_any_work(argv, message, tmp_path):
    t0 = time.monotonic()
    r = subprocess.run([sys.executable, "-m", "spikemesh.gen.cli", *argv], capture_output=True, text=True,
                       cwd=tmp_path, timeout=120)
    assert r.returncode == 2 and message in r.stderr and "Traceback" not in r.stderr, r.stderr
    assert "error" in r.stderr.strip().splitlines()[-1]
    print(f"{argv}: {time.monotonic() - t0:.1f} s")  # nothing was built or trained


def test_resume_refuses_another_run(tmp_path):
    snn = SNNConfig(sizes=SIM_CORE.layers, T=4, rule="bptt")
    ck = tmp_path / "ck.npz"
    build_id = SoC(SIM_SOC, core=TrainingCore(SIM_CORE), sim_io=True).build_info()["build_id"]
    from dataclasses import asdict

    save_checkpoint(ck, init_weights(snn, 0), epoch=1, history=[], snn_json=asdict(snn), build_id=build_id,
                    samples=10)
    for extra, message in ((["--rule", "sltt", "--samples", "10"], "the checkpoint's rule is 'bptt'"),
                           (["--rule", "bptt", "--samples", "12"], "trained on 10 samples per epoch"),
                           (["--rule", "bptt", "--samples", "10", "--epochs", "1"], None)):
        r = subprocess.run([sys.executable, "-m", "spikemesh.gen.cli", "train", "--sim", "--resume", str(ck),
                            "--checkpoint", str(tmp_path / "out.npz"), *extra], capture_output=True, text=True,
                           timeout=120)
        if message:
            assert r.returncode == 2 and message in r.stderr, r.stderr
        else:  # already at --epochs: nothing to do, nothing written
            assert r.returncode == 0 and "nothing to train" in r.stdout, r.stderr
            assert not (tmp_path / "out.npz").exists()


def test_help_shows_defaults():
    r = subprocess.run([sys.executable, "-m", "spikemesh.gen.cli", "train", "--help"], capture_output=True,
                       text=True)
    assert "(default: sltt)" in r.stdout and "(default: checkpoint.npz)" in r.stdout
    assert "(default: 64)" in r.stdout and "total epochs" in r.stdout
