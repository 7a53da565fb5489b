"""Fault-injection matrix for training over the host link, on the simulated board.

One short run (a few digits, 64-16-10, SLTT, one epoch) is trained undisturbed, checked bit for bit
against the golden model, and then again under each fault:
- frame faults from `FaultInjector`: dropped, duplicated, corrupted and truncated request frames, and
  corrupted/dropped response bytes (fixed seeds);
- a board reset at every request frame of the run (all but the status polls, whose number depends on
  wall-clock timing), three ways: as the frame's first byte arrives (between frames), in its middle, and as
  its last byte arrives (while it would execute);
- a board reset inside each sample, at several clock-cycle offsets after its request (the sample loader
  copying the record, the core running).
Each case's final weights must equal the undisturbed run's.  Killing the host process and resuming from
its checkpoint is covered by tests/test_link_faults.py (it needs the CLI in a subprocess).
"""
from __future__ import annotations

import struct
import time
from dataclasses import dataclass, field

import numpy as np

from spikemesh.firmware.driver import Board
from spikemesh.firmware.link import FaultInjector
from spikemesh.firmware.train import SIM_CORE, SIM_SOC, f16_bits, train
from spikemesh.rtl.core import TrainingCore
from spikemesh.rtl.core.layout import CTRL_START
from spikemesh.rtl.link import protocol as P
from spikemesh.rtl.soc.top import SoC
from spikemesh.sim.board import SimBoard, build_sim_board

FRAME_FAULTS = {
    "drop": dict(p_drop=0.15), "dup": dict(p_dup=0.2), "corrupt": dict(p_corrupt=0.15),
    "truncate": dict(p_truncate=0.15), "rx": dict(p_rx_corrupt=0.0005, p_rx_drop=0.0005),
}
RESET_POINTS = ("first", "middle", "last")  # which byte of the frame the reset comes with
RUN_OFFSETS = (100, 1000, 3000, 6000)         # cycles after a sample's request (record copy ~0.7K, core ~6K)


class FrameClassifier:
    """Numbers a run's request frames, skipping the core's status polls; finds each sample's start: the
    loader's `run` request (on-board dataset: one request per sample) or a write of start to `ctrl`."""

    def __init__(self, ctrl_addr: int, run_addr: int | None = None):
        self.ctrl, self.run = ctrl_addr, run_addr
        self.n = 0

    def kind(self, data: bytes) -> str:
        try:
            payload = P.unframe(data.strip(b"\x00"))
        except P.FrameError:
            return "other"
        if len(payload) < 8:  # IDENTIFY
            return "other"
        seq, cmd, addr, count = struct.unpack_from("<BBIH", payload)
        if cmd == P.Cmd.WRITE and addr == self.run:
            return "start"
        if addr == self.ctrl and count == 1:
            if cmd == P.Cmd.READ:
                return "poll"
            if cmd == P.Cmd.WRITE and struct.unpack_from("<H", payload, 8)[0] & CTRL_START:
                return "start"
        return "other"


@dataclass
class Case:
    kind: str             # a FRAME_FAULTS key, or "reset@first|middle|last"
    frame: int | None     # the request frame a reset was aimed at
    identical: bool
    injected: int         # faults injected, or resets the board saw
    resets_detected: int  # BoardReset recoveries the host made
    retries: int
    seconds: float


@dataclass
class Matrix:
    samples: int
    frames: int           # request frames of the undisturbed run (after the first IDENTIFY, no status polls)
    golden_identical: bool
    cases: list[Case] = field(default_factory=list)

    @property
    def identical(self) -> int:
        return sum(c.identical for c in self.cases)


def _run(sb: SimBoard, build_dir, snn, w0, X, y, *, wrap=None, timeout: float = 0.1):
    resets = []
    with Board.connect(sb.url, build_dir, timeout=timeout, retries=40, transport_wrapper=wrap) as b:
        w, _ = train(b, SIM_CORE, snn, w0, X, y, epochs=1, progress=False, snapshot_every=1,
                     sample_timeout=10.0, max_resets=4, on_reset=lambda exc, snap: resets.append(snap))
        return w, len(resets), b.link.stats.retries


def run_matrix(samples: int = 2, *, resets: bool = True, frame_seeds: tuple[int, ...] = (1, 2),
               progress=None) -> Matrix:
    from spikemesh.sim.golden import SNNConfig, init_weights, load_digits_split, train_sample

    soc = SoC(SIM_SOC, core=TrainingCore(SIM_CORE), sim_io=True)
    build_dir = build_sim_board(soc)
    snn = SNNConfig(sizes=SIM_CORE.layers, T=4, rule="sltt")
    X, y, _, _ = load_digits_split()
    X, y = X[:samples], y[:samples]
    w0 = init_weights(snn, 7)
    ref = w0
    for n in range(samples):
        ref = train_sample(snn, ref, X[n], int(y[n]), sample_index=n).weights
    same = (lambda w: all(np.array_equal(f16_bits(a), f16_bits(b)) for a, b in zip(w, ref)))
    core_base = soc.memory_map.register("core", "ctrl")[0]  # the ctrl register (start, status)
    run_addr = soc.memory_map.region("loader", "run")[0]

    def counted(on_frame):
        """A FaultInjector whose `on_write` numbers the non-poll frames after IDENTIFY: on_frame(k, kind, data)."""
        cls = FrameClassifier(core_base, run_addr)

        def on_write(n, data):
            kind = cls.kind(data)
            if n > 0 and kind != "poll":
                cls.n += 1
                on_frame(cls.n, kind, data)
        return lambda t: FaultInjector(t, on_write=on_write)

    def case(kind, frame, wrap, injected):
        t0 = time.monotonic()
        before = sb.resets()
        w, det, retries = _run(sb, build_dir, snn, w0, X, y, wrap=wrap)
        c = Case(kind, frame, same(w), injected() if injected else sb.resets() - before, det, retries,
                 time.monotonic() - t0)
        matrix.cases.append(c)
        if progress:
            progress(c)

    with SimBoard(build_dir) as sb:
        seen = []
        w, _, _ = _run(sb, build_dir, snn, w0, X, y, wrap=counted(lambda k, kind, data: seen.append(kind)))
        matrix = Matrix(samples, len(seen), same(w))
        for kind, probs in FRAME_FAULTS.items():
            for seed in frame_seeds:
                inj = []
                case(kind, None, lambda t, probs=probs, seed=seed: inj.append(FaultInjector(t, seed=seed, **probs))
                     or inj[-1], lambda: sum(inj[-1].injected.values()))
        if resets:
            for point in RESET_POINTS:
                for k in range(1, len(seen) + 1):
                    def at_frame(n, kind, data, k=k, point=point):
                        if n == k:
                            sb.reset_after({"first": 1, "middle": max(1, len(data) // 2), "last": len(data)}[point])
                    case(f"reset@{point}", k, counted(at_frame), None)
            starts = [k for k, kind in enumerate(seen, start=1) if kind == "start"]
            for k in starts:
                for cyc in RUN_OFFSETS:
                    def in_run(n, kind, data, k=k, cyc=cyc):
                        if n == k:
                            sb.reset_after_cycles(cyc)
                    case(f"reset@run+{cyc}", k, counted(in_run), None)
    return matrix


def report(matrix: Matrix) -> str:
    rows = {}
    for c in matrix.cases:
        r = rows.setdefault(c.kind, [0, 0, 0, 0, 0, 0.0])
        r[0] += 1
        r[1] += c.identical
        r[2] += c.injected
        r[3] += c.resets_detected
        r[4] += c.retries
        r[5] += c.seconds
    lines = [f"Short run: {matrix.samples} digits, 64-16-10, T=4, SLTT, one epoch, weights read back after "
             f"every sample; {matrix.frames} request frames after the first IDENTIFY (status polls not counted); undisturbed run bit-exact with "
             f"the golden model: {'yes' if matrix.golden_identical else 'NO'}.",
             "",
             "| fault | cases | final weights identical | faults injected / resets seen | resets the host "
             "detected and recovered | link retries | wall s |",
             "|---|---|---|---|---|---|---|"]
    for kind, (n, ok, inj, det, retr, sec) in rows.items():
        lines.append(f"| {kind} | {n} | {ok} | {inj} | {det} | {retr} | {sec:.1f} |")
    lines.append(f"| **all** | **{len(matrix.cases)}** | **{matrix.identical}** | | | | |")
    return "\n".join(lines)


MD_BEGIN = "<!-- link-faults:begin (generated by `spikemesh linkbench --faults`; do not edit) -->"
MD_END = "<!-- link-faults:end -->"


def main(samples: int = 2, write: bool = True) -> int:
    from pathlib import Path

    from spikemesh.gen.measured import record, replace_section

    t0 = time.monotonic()
    matrix = run_matrix(samples, progress=lambda c: print(
        f"  {c.kind:<13} frame {c.frame if c.frame is not None else '-':>3}: "
        f"{'identical' if c.identical else 'DIFFERENT'} ({c.seconds:.2f} s)", flush=True))
    text = report(matrix)
    print(text)
    print(f"({time.monotonic() - t0:.0f} s)")
    if write:
        command = f"spikemesh linkbench --faults --fault-samples {samples}"
        docs = Path(__file__).resolve().parents[2] / "docs" / "link.md"
        replace_section(docs, MD_BEGIN, MD_END, f"Measured with `{command}`:\n\n{text}")
        record({"link.faults.cases": (len(matrix.cases), "cases"),
                "link.faults.identical": (matrix.identical, "cases")}, command)
        print(f"wrote {docs} and docs/measured.json")
    return 0 if matrix.golden_identical and matrix.identical == len(matrix.cases) else 1
