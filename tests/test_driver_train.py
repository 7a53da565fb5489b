"""The driver trains digits on the simulated SoC with the training core; weights equal the golden model's."""
import numpy as np
import pytest

from spikemesh.firmware.driver import Board
from spikemesh.firmware.train import (SIM_CORE, CoreClient, SIM_SOC, f16_bits, load_checkpoint, save_checkpoint, train)
from spikemesh.rtl.core import TrainingCore
from spikemesh.rtl.soc.top import SoC
from spikemesh.sim.board import SimBoard, build_sim_board
from spikemesh.sim.golden import SNNConfig, init_weights, load_digits_split, train_sample


@pytest.fixture(scope="module")
def core_build():
    return build_sim_board(SoC(SIM_SOC, core=TrainingCore(SIM_CORE), sim_io=True))


def test_train_digits_bit_exact_and_resume(core_build, tmp_path):
    snn = SNNConfig(sizes=SIM_CORE.layers, T=4, rule="sltt")
    X, y, _, _ = load_digits_split()
    X, y = X[:6], y[:6]
    w0 = init_weights(snn, 3)
    # golden: the same samples in the same order, one epoch, then a second epoch (resumed)
    ref = w0
    for n in range(len(y)):
        ref = train_sample(snn, ref, X[n], int(y[n]), sample_index=n).weights
    ref2 = ref
    for n in range(len(y)):
        ref2 = train_sample(snn, ref2, X[n], int(y[n]), sample_index=n).weights
    ck = tmp_path / "ck.npz"
    with SimBoard(core_build) as sb, Board.connect(sb.url, core_build) as b:
        w1, hist = train(b, SIM_CORE, snn, w0, X, y, epochs=1, progress=False, onboard=True)
        # the gateware loader fed every sample, each followed by the trailer record (start, wait until done)
        assert int(b.read_region("loader", "loads")[0]) == 2 * len(y)
        assert b.link.stats.requests < 200 and hist[0]["core_counters"]["cycles"] > 0
        ctr = CoreClient(b, SIM_CORE).counters()  # the counters since set-up (a sample does not clear them)
        assert ctr["cycles"] > 0 and ctr["mac_ops"] > 0 and not CoreClient(b, SIM_CORE).status()["busy"]
        save_checkpoint(ck, w1, epoch=1, history=hist, snn_json={}, build_id=b.ident.build_id.hex())
    for got, exp in zip(w1, ref):
        assert np.array_equal(f16_bits(got), f16_bits(exp))
    assert not all(np.array_equal(f16_bits(a), f16_bits(b)) for a, b in zip(w0, w1))  # training changed W
    # resume from the checkpoint on a fresh board: the second epoch continues bit-exactly
    wl, meta = load_checkpoint(ck)
    assert meta["epoch"] == 1 and len(meta["history"]) == 1
    with SimBoard(core_build) as sb, Board.connect(sb.url, core_build) as b:
        w2, hist2 = train(b, SIM_CORE, snn, wl, X, y, epochs=2, start_epoch=1, history=meta["history"],
                          progress=False, onboard=False)  # the streamed path continues it bit-exactly
        assert int(b.read_region("loader", "loads")[0]) == 0
    for got, exp in zip(w2, ref2):
        assert np.array_equal(f16_bits(got), f16_bits(exp))
    assert [h["epoch"] for h in hist2] == [1, 2]


def test_stop_between_samples_then_resume(core_build, tmp_path):
    """A stop lands between samples (the core has no stop bit): checkpoint, resume, same weights."""
    snn = SNNConfig(sizes=SIM_CORE.layers, T=4, rule="sltt")
    X, y, _, _ = load_digits_split()
    X, y = X[:5], y[:5]
    w0 = init_weights(snn, 5)
    ref = w0
    for n in range(len(y)):
        ref = train_sample(snn, ref, X[n], int(y[n]), sample_index=n).weights
    ck, stops = tmp_path / "stop.npz", []

    def on_stop(epoch, n, w, hist):
        stops.append((epoch, n))
        save_checkpoint(ck, w, epoch=epoch, history=hist, snn_json={}, build_id="", sample=n)

    with SimBoard(core_build) as sb, Board.connect(sb.url, core_build) as b:
        w_stop, _ = train(b, SIM_CORE, snn, w0, X, y, epochs=1, progress=False,
                          should_stop=lambda e, n: n == 2, on_stop=on_stop)
        assert stops == [(0, 2)] and int(b.read_region("loader", "loads")[0]) == 4
        wl, meta = load_checkpoint(ck)
        assert meta["epoch"] == 0 and meta["sample"] == 2
        assert all(np.array_equal(f16_bits(a), f16_bits(c)) for a, c in zip(wl, w_stop))
        w_end, hist = train(b, SIM_CORE, snn, wl, X, y, epochs=1, start_epoch=0, start_sample=2,
                            progress=False)
    assert [h["epoch"] for h in hist] == [1] and hist[0]["onboard"]
    for got, exp in zip(w_end, ref):
        assert np.array_equal(f16_bits(got), f16_bits(exp))


def test_ctrl_c_sets_stop_then_second_aborts():
    import os
    import signal

    from spikemesh.firmware.train import stop_on_sigint

    stop, old = stop_on_sigint()
    try:
        os.kill(os.getpid(), signal.SIGINT)  # first Ctrl-C: only the flag train() polls between samples
        assert stop == [1]
        with pytest.raises(KeyboardInterrupt):
            os.kill(os.getpid(), signal.SIGINT)
    finally:
        signal.signal(signal.SIGINT, old)


def test_shuffled_epochs_and_lr_schedule_match_golden_epochs(core_build):
    """`order` and `lr_at`: two epochs in golden `train_epoch`'s shuffled order with a halved lr, bit-exact; one
    request per sample (the loader's run + wait)."""
    from spikemesh.sim.golden.training import train_epoch

    snn = SNNConfig(sizes=SIM_CORE.layers, T=4, rule="sltt", lr=2.0**-2, surrogate_width=2.0)
    X, y, _, _ = load_digits_split()
    X, y = X[:7], y[:7]
    w0 = init_weights(snn, 1)
    ref = w0
    for e in range(2):
        ref, _ = train_epoch(snn.replace(lr=snn.lr * 2.0**-e), ref, X, y, seed=11 + e)
    with SimBoard(core_build) as sb, Board.connect(sb.url, core_build) as b:
        got, hist = train(b, SIM_CORE, snn, w0, X, y, epochs=2, progress=False, onboard=True,
                          order=lambda e: np.random.default_rng(11 + e).permutation(len(y)),
                          lr_at=lambda e: snn.lr * 2.0**-e)
        per_epoch = np.diff([0] + [h["link_requests"] for h in hist])
    for a, c in zip(got, ref):
        assert np.array_equal(f16_bits(a), f16_bits(c))
    assert per_epoch[1] <= len(y) + 30  # the samples' requests, the lr constants, the read-back and counters
    assert all(h["core_counters"]["cycles"] > 0 for h in hist)


def test_hung_sample_is_reported(core_build):
    """A wait that runs out (here: a limit far below a sample's length) is a clear error, not silence."""
    from spikemesh.firmware.link import LinkError

    snn = SNNConfig(sizes=SIM_CORE.layers, T=4, rule="sltt")
    X, y, _, _ = load_digits_split()
    with SimBoard(core_build) as sb, Board.connect(sb.url, core_build) as b:
        with pytest.raises(LinkError, match="did not finish a sample"):
            train(b, SIM_CORE, snn, init_weights(snn, 0), X[:2], y[:2], epochs=1, progress=False,
                  onboard=True, sample_timeout=1e-6)
