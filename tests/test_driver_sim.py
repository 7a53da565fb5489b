"""The host driver end to end against the simulated board (generated SoC under Verilator, native harness)."""
import json
import shutil

import numpy as np
import pytest

from spikemesh.firmware.dataset import load_digits_u8, pack_samples, unpack_samples
from spikemesh.firmware.driver import Board, BuildMismatch
from spikemesh.firmware.link import FaultInjector, LinkError, LinkTimeout
from spikemesh.rtl.link.protocol import LinkConfig
from spikemesh.rtl.soc.top import SoC, SocConfig
from spikemesh.sim.board import SimBoard, build_sim_board

SIM_CONFIG = SocConfig(clk_hz=75_000_000, link=LinkConfig(clocks_per_bit=25, max_words=256,
                                                         watchdog_cycles=1 << 14), dataset_words=4096,
                       name="sim")


@pytest.fixture(scope="module")
def build_dir():
    return build_sim_board(SoC(SIM_CONFIG, sim_io=True))


@pytest.fixture
def board(build_dir):
    with SimBoard(build_dir, mode="bytes") as sb:
        yield sb


def test_identify_and_build_check(board, build_dir, tmp_path):
    info = json.loads((build_dir / "build.json").read_text())
    with Board.connect(board.url, build_dir) as b:
        assert b.ident.build_id.hex() == info["build_id"]
        assert (b.ident.max_words, b.ident.clocks_per_bit, b.ident.addr_width) == (256, 25, SIM_CONFIG.addr_width)
        assert b.ident.summary.startswith("sim ds=4096")
        # the build ID is also readable over the bus
        assert b.read_region("status", "build_id").astype("<u2").tobytes().hex() == info["build_id"]
    other = tmp_path / "other"
    shutil.copytree(build_dir, other, ignore=shutil.ignore_patterns("obj", "*.v"))
    info["build_id"] = "00" * 8
    (other / "build.json").write_text(json.dumps(info))
    with pytest.raises(BuildMismatch, match="build ID"):
        Board.connect(board.url, other)
    info = json.loads((build_dir / "build.json").read_text())
    (other / "build.json").write_text(json.dumps(info))
    (other / "memory_map.json").write_text((build_dir / "memory_map.json").read_text().replace('"size": 1', '"size": 2', 1))
    with pytest.raises(BuildMismatch, match="map hash"):
        Board.connect(board.url, other)


def test_bulk_read_write_and_counters(board, build_dir):
    rng = np.random.default_rng(1)
    with Board.connect(board.url, build_dir) as b:
        base, size = b.region("dataset", "data")
        data = rng.integers(0, 65536, size, dtype=np.uint16)
        b.write(base, data)
        assert np.array_equal(b.read(base, size), data)
        b.write_region("status", "scratch", [0xBEEF])
        assert b.read_region("status", "scratch")[0] == 0xBEEF
        unmapped = 1 << (SIM_CONFIG.addr_width - 1)
        assert b.read(unmapped, 3).tolist() == [0, 0, 0]  # the decoder answers unmapped reads with 0
        c = b.counters()
        assert c["frames_ok"] >= 2 * size // 256 and c["naks"] == 0 and c["dups"] == 0
        assert c["cycles"] > 0


def test_dataset_load_digits(board, build_dir):
    px, labels = load_digits_u8()
    n = 4096 // 33  # as many samples as the sim board's buffer holds
    words = pack_samples(px[:n], labels[:n])
    with Board.connect(board.url, build_dir) as b:
        b.load_dataset(words)
        back = b.read_region("dataset", "data", count=len(words))
    p2, l2 = unpack_samples(back, 64)
    assert np.array_equal(p2, px[:n]) and np.array_equal(l2, labels[:n])


@pytest.mark.parametrize("fault", ["drop", "dup", "corrupt", "truncate", "rx", "reset"])
def test_faults_transfer_completes(board, build_dir, fault):
    """Damaged traffic in both directions and device resets mid-frame: the data still arrives intact."""
    rng = np.random.default_rng(sum(map(ord, fault)))
    kw = {"drop": dict(p_drop=0.3), "dup": dict(p_dup=0.4), "corrupt": dict(p_corrupt=0.3),
          "truncate": dict(p_truncate=0.3), "rx": dict(p_rx_corrupt=0.0005, p_rx_drop=0.0005),
          "reset": {}}[fault]
    if fault == "reset":  # resets in the middle of a request frame and just after one (while it executes)
        kw["on_write"] = lambda n, data: board.reset_after(len(data) // 2 if n == 5 else len(data)) \
            if n in (5, 9) else None
    injectors = []

    def wrap(t):
        injectors.append(FaultInjector(t, seed=4, **kw))
        return injectors[0]

    with Board.connect(board.url, build_dir, timeout=0.1, retries=20, transport_wrapper=wrap) as b:
        base, _ = b.region("dataset", "data")
        data = rng.integers(0, 65536, 3000, dtype=np.uint16)
        b.write(base, data)
        assert np.array_equal(b.read(base, 3000), data)
        stats = b.link.stats
        dev = b.counters()
    inj = injectors[0]
    if fault == "dup":  # duplicates are answered from the stored response, not re-executed
        assert inj.injected["dup"] > 0 and dev["dups"] > 0 and stats.stale > 0
    else:
        assert stats.retries > 0
        assert fault == "reset" or sum(inj.injected.values()) > 0
    if fault in ("corrupt", "truncate"):
        assert dev["naks"] > 0 or dev["watchdogs"] > 0


def test_board_not_answering(build_dir):
    with SimBoard(build_dir) as sb:
        url = sb.url
    # nobody listens there any more -> cannot open; a silent peer -> LinkTimeout after the retries
    with pytest.raises(LinkError, match="cannot open"):
        Board.connect(url, build_dir, timeout=0.05, retries=1)
    with pytest.raises(LinkTimeout, match="not answering after|no valid response"):
        Board.connect("loop://", build_dir, timeout=0.05, retries=2,
                      transport_wrapper=lambda t: FaultInjector(t, p_drop=1.0))


def test_bit_level_uart_mode(build_dir):
    """Same driver, bytes through the UART pins at 25 clocks per bit."""
    with SimBoard(build_dir, mode="bits") as sb:
        with Board.connect(sb.url, build_dir, timeout=2.0) as b:
            base, _ = b.region("dataset", "data")
            data = np.arange(1, 301, dtype=np.uint16) * 211
            c0 = sb.cycles()
            b.write(base, data)
            assert np.array_equal(b.read(base, 300), data)
            cyc = sb.cycles() - c0
    # 2 x (~600 payload bytes) at 10 bits x 25 clocks each: the cycles must reflect bit-level transfer
    assert cyc > 2 * 600 * 250


def test_cli_errors_are_one_line(build_dir, tmp_path):
    import subprocess
    import sys

    def cli(*args):
        return subprocess.run([sys.executable, "-m", "spikemesh.gen.cli", *args], capture_output=True, text=True)

    r = cli("train", "--port", "loop://")
    assert r.returncode == 2 and "--build-dir is required" in r.stderr
    r = cli("train", "--port", "loop://", "--build-dir", str(build_dir))  # a build without a core
    assert r.returncode == 2 and "no training core" in r.stderr and "Traceback" not in r.stderr


def test_new_host_whose_first_seq_equals_the_last_one_still_identifies(board, build_dir):
    """The board answers a repeated sequence number from its stored response, even across hosts: a new
    host starting at the number of the last executed request gets a stale WRITE answer to its IDENTIFY."""
    from spikemesh.firmware.driver import identify
    from spikemesh.firmware.link import Link, open_transport
    from spikemesh.rtl.link import protocol as P

    link = Link(open_transport(board.url), seq=41)
    b0 = identify(link)  # seq 41, 42
    link.transact(P.request_write(0, 0, [7])[1:])  # seq 43: the board's last executed number
    link.close()
    link = Link(open_transport(board.url), seq=43)
    try:
        assert len(link.transact(bytes([P.Cmd.IDENTIFY]))) == 0  # the stored answer to the WRITE
        link.seq = 43
        assert identify(link) == b0  # seq 43 (stale again), then 44: the board's own answer
    finally:
        link.close()
