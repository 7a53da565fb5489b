"""Host-link throughput on the simulated board: byte-stream bypass vs bit-level UART, and epoch estimates.

Reported per mode: payload bytes/s in simulated time (at the SoC's clock and baud: what a real board
would do, minus USB latency) and in wall-clock time (how fast the simulation runs).
"""
from __future__ import annotations

import time

import numpy as np

from spikemesh.firmware.dataset import words_per_sample
from spikemesh.firmware.driver import Board
from spikemesh.rtl.link.protocol import CRC_BYTES, REQ_HEADER, RESP_HEADER, LinkConfig
from spikemesh.rtl.soc import SoC, SocConfig
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


def epoch_estimate(baud: float, samples: int = 1437, max_words: int = 256, rtt_s: float = 0.002) -> dict:
    """Seconds of link time per epoch of 8x8 digits: dataset streamed every epoch vs kept on the board.

    Per sample the core needs its 64 inputs (as FP16 words when streamed: 128 B), the label, a start
    and a status poll: 4 request/response round trips of `rtt_s` (USB-UART latency with a 1 ms FTDI
    latency timer).  With the dataset on board the host sends only start/poll per BATCH of samples.
    """
    byte_s = 10 / baud
    frame = lambda payload: payload + CRC_BYTES + 2 + payload // 254 + 1  # COBS + delimiters
    per_sample_streamed = (frame(REQ_HEADER + 128) + frame(RESP_HEADER)  # x
                           + 3 * (frame(REQ_HEADER + 2) + frame(RESP_HEADER + 2)))  # label, start, poll
    streamed = samples * (per_sample_streamed * byte_s + 4 * rtt_s)
    once = samples * words_per_sample(64) * 2 * byte_s  # upload once (amortised over epochs)
    onboard = (samples / 64) * 2 * (rtt_s + 40 * byte_s)  # start/poll per batch of 64
    return {"streamed_s": streamed, "onboard_s": onboard, "upload_once_s": once}


def main(words: int = 4096, bits_words: int = 512) -> int:
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
    e = epoch_estimate(baud)
    print(f"epoch estimate (1437 digits samples, 2 ms round trip): streamed {e['streamed_s']:.1f} s of link "
          f"time per epoch; on-board dataset {e['onboard_s']:.2f} s per epoch + {e['upload_once_s']:.2f} s once")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
