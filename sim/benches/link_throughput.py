"""Host-link throughput on the simulated board: byte-stream bypass vs bit-level UART, and measured epochs.

Reported per mode: payload bytes/s in simulated time (at the SoC's clock and baud: what a real board
would do, minus USB latency) and in wall-clock time (how fast the simulation runs).
"""
from __future__ import annotations

import time

import numpy as np

from spikemesh.firmware.dataset import words_per_sample
from spikemesh.firmware.driver import Board
from spikemesh.rtl.link.protocol import LinkConfig
from spikemesh.rtl.soc.top import SoC, SocConfig
from spikemesh.sim.board import SimBoard, build_sim_board

BENCH_CONFIG = SocConfig(clk_hz=75_000_000, link=LinkConfig(clocks_per_bit=25, max_words=256,
                                                           watchdog_cycles=1 << 14), dataset_words=4096,
                         name="sim")


def measure(build_dir, mode: str, words: int) -> dict:
    clk = BENCH_CONFIG.clk_hz
    with SimBoard(build_dir, mode=mode) as sb, Board.connect(sb.url, build_dir, timeout=5.0) as b:
        base, size = b.region("dataset", "data")
        words = min(words, size)
        data = np.arange(words, dtype=np.uint16) * 40503
        c0, t0 = sb.cycles(), time.monotonic()
        b.write(base, data)
        c1, t1 = sb.cycles(), time.monotonic()
        back = b.read(base, words)
        c2, t2 = sb.cycles(), time.monotonic()
        assert np.array_equal(back, data)
    nbytes = 2 * words
    return {"mode": mode, "words": words,
            "write_Bps_sim": nbytes / ((c1 - c0) / clk), "read_Bps_sim": nbytes / ((c2 - c1) / clk),
            "write_Bps_wall": nbytes / (t1 - t0), "read_Bps_wall": nbytes / (t2 - t1),
            "Mcycles_per_s": (c2 - c0) / (t2 - t0) / 1e6}


def main(words: int = 4096, bits_words: int = 512, epoch_samples: int = 30) -> int:
    build_dir = build_sim_board(SoC(BENCH_CONFIG, sim_io=True))
    rows = [measure(build_dir, "bytes", words), measure(build_dir, "bits", bits_words)]
    baud = BENCH_CONFIG.baud
    print(f"SoC {BENCH_CONFIG.clk_hz / 1e6:.0f} MHz, {BENCH_CONFIG.link.clocks_per_bit} clocks/bit "
          f"= {baud / 1e6:.1f} Mbaud (raw line rate {baud / 10 / 1e3:.0f} kB/s)")
    print("| mode | words | write kB/s (sim time) | read kB/s (sim time) | write kB/s (wall) | read kB/s (wall) "
          "| sim Mcycles/s | digits samples/s (read, sim time) |")
    print("|---|---|---|---|---|---|---|---|")
    for r in rows:
        sps = r["read_Bps_sim"] / (2 * words_per_sample(64))
        print(f"| {r['mode']} | {r['words']} | {r['write_Bps_sim'] / 1e3:.0f} | {r['read_Bps_sim'] / 1e3:.0f} | "
              f"{r['write_Bps_wall'] / 1e3:.1f} | {r['read_Bps_wall'] / 1e3:.1f} | {r['Mcycles_per_s']:.2f} | "
              f"{sps:.0f} |")
    if epoch_samples:
        print(f"\none training epoch of {epoch_samples} digits (64-16-10, T=4, SLTT), simulated board:")
        print("| mode | inputs | wall s | sim ms (75 MHz) | link requests |")
        print("|---|---|---|---|---|")
        for mode, n in (("bytes", epoch_samples), ("bits", epoch_samples)):
            for onboard in (True, False):
                r = measure_epoch(mode, n, onboard)
                print(f"| {mode} | {'on-board (loader)' if onboard else 'streamed'} | {r['wall_s']:.2f} | "
                      f"{r['sim_s'] * 1e3:.2f} | {r['requests']} |", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())


def measure_epoch(mode: str, samples: int, onboard: bool) -> dict:
    """One training epoch of `samples` digits on the simulated board with the training core: wall time,
    simulated cycles (75 MHz; in "bits" mode they include the UART wire time) and link requests."""
    from spikemesh.firmware.train import SIM_CORE, SIM_SOC, evaluate, train
    from spikemesh.rtl.core import TrainingCore
    from spikemesh.sim.golden import SNNConfig, init_weights, load_digits_split

    build_dir = build_sim_board(SoC(SIM_SOC, core=TrainingCore(SIM_CORE), sim_io=True))
    snn = SNNConfig(sizes=SIM_CORE.layers, T=4, rule="sltt")
    X, y, _, _ = load_digits_split()
    X, y = X[:samples], y[:samples]
    w0 = init_weights(snn, 0)
    marks = {}
    with SimBoard(build_dir, mode=mode) as sb, Board.connect(sb.url, build_dir, timeout=5.0) as b:
        def mark(epoch, n):
            if n == 0:  # epoch 1 = [start of epoch 0's first sample, start of epoch 1's first sample)
                marks[epoch] = (time.monotonic(), sb.cycles(), b.link.stats.requests)
            return False

        train(b, SIM_CORE, snn, w0, X, y, epochs=2, progress=False, onboard=onboard, should_stop=mark)
    t0 = time.monotonic()
    evaluate(snn, w0, X, y)  # host-side golden evaluation in the interval: not link time
    t_eval = time.monotonic() - t0
    (ta, ca, ra), (tb, cb, rb) = marks[0], marks[1]
    return {"mode": mode, "samples": samples, "onboard": onboard, "wall_s": tb - ta - t_eval,
            "sim_s": (cb - ca) / SIM_SOC.clk_hz, "requests": rb - ra}  # incl. the end-of-epoch weight readback
