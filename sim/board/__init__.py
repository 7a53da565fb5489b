"""A simulated board: the SoC's Verilog under Verilator with a native C++ harness that serves the host link
on a TCP socket (pyserial opens it as `socket://127.0.0.1:PORT`, the same driver as a real board).

`mode="bytes"` feeds socket bytes straight into the link's byte stream (fast); `mode="bits"` runs them
through the UART pins at the configured clocks per bit (what the board sees).  Both use one build.
"""
from __future__ import annotations

import fcntl
import hashlib
import json
import select
import subprocess
import time
from pathlib import Path
from typing import Callable

from amaranth import ClockDomain, ClockSignal, DomainRenamer, Elaboratable, Module, ResetSignal, Signal

from ..cocotb_run import REPO_ROOT, prune_build
from ..emit import convert_verilog
from ..toolchain import setup_simulator_path

HARNESS = Path(__file__).with_name("harness.cpp")
BUILD_ROOT = REPO_ROOT / "build" / "board_sim"
MODES = ("bytes", "bits")


class RegisteredReset(Elaboratable):
    """The SoC with its reset taken through a register: the `rst` port then feeds one flip-flop instead of every
    register's next-state logic, so Verilator evaluates that logic once per clock edge, not again for each change
    of an input (about 1.25x more simulated cycles per second).  Same ports; a reset acts one cycle later."""

    def __init__(self, soc):
        self.soc = soc

    def elaborate(self, platform):
        m = Module()
        m.domains.board = ClockDomain("board")
        rst_q = Signal(init=1, reset_less=True)
        m.d.sync += rst_q.eq(ResetSignal("sync"))
        m.d.comb += [ClockSignal("board").eq(ClockSignal("sync")), ResetSignal("board").eq(rst_q)]
        m.submodules.soc = DomainRenamer({"sync": "board"})(self.soc)
        return m


def build_sim_board(soc, build_root: Path | None = None, *, opt: str = "-O2", jobs: int = 2,
                    progress: Callable[[str], None] | None = None) -> Path:
    """Emit the SoC (sim_io=True), save its memory map + build info, compile the harness; return the build dir.

    Cached by a hash of the Verilog and the harness source, so one build serves every test that uses it.
    `opt` / `jobs`: the C++ optimisation level and parallel compile jobs (a multi-core SoC builds at -O1, -j1).
    `progress(message)` is told what the build is doing, at least every 10 s while Verilator runs.
    """
    if not soc.sim_io:
        raise ValueError("sim_io must be True for a simulated board (the harness drives the bypass ports)")
    say = progress or (lambda message: None)
    t0 = time.monotonic()
    say("emitting the SoC's Verilog (Amaranth)")
    ports = [value for _, _, value in soc.signature.flatten(soc)]
    text = convert_verilog(RegisteredReset(soc), name="soc", ports=ports, emit_src=False)
    flags = b"" if opt == "-O2" else opt.encode()
    key = hashlib.sha1(text.encode() + HARNESS.read_bytes() + flags).hexdigest()[:12]
    out = (build_root or BUILD_ROOT) / key
    exe = out / "obj" / "Vsoc_harness"
    out.mkdir(parents=True, exist_ok=True)
    # pytest-xdist workers build the same board: one builds, the other waits and takes the cached executable
    with open(out / ".build.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        (out / "memory_map.json").write_text(soc.map_json)
        (out / "build.json").write_text(json.dumps(soc.build_info(), indent=1, sort_keys=True))
        if exe.exists():
            say(f"cached build {out.name}")
            return out
        _verilate(out, text, opt, jobs, say, t0)
    return out


def _verilate(out: Path, text: str, opt: str, jobs: int, say: Callable[[str], None], t0: float) -> None:
    exe = out / "obj" / "Vsoc_harness"
    (out / "soc.v").write_text(text)
    setup_simulator_path("verilator")
    cmd = ["verilator", "--cc", "--exe", "--build", "-j", str(jobs), "--top-module", "soc", "-O2",
           "--x-assign", "fast", "--x-initial", "fast",
           "-Wno-fatal", "-Wno-WIDTH", "-Wno-UNUSED", "-Wno-PINCONNECTEMPTY", "-Wno-CMPCONST",
           "--Mdir", str(out / "obj"), "-o", "Vsoc_harness", "-CFLAGS", opt,
           str(out / "soc.v"), str(HARNESS)]
    say(f"Verilog ready ({len(text) >> 20} MiB, {time.monotonic() - t0:.0f} s); Verilator: C++ model and harness")
    with open(out / "build.log", "w") as log:
        proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, text=True)
        while True:
            try:
                proc.wait(timeout=10)
                break
            except subprocess.TimeoutExpired:
                say(f"Verilator still compiling ({time.monotonic() - t0:.0f} s)")
    if proc.returncode != 0 or not exe.exists():
        raise RuntimeError(f"Verilator build of the simulated board failed; see {out / 'build.log'}:\n"
                           + (out / "build.log").read_text()[-3000:])
    prune_build(out / "obj", keep={exe.name})
    say(f"built in {time.monotonic() - t0:.0f} s")


class SimBoard:
    """A running simulated board. Use as a context manager; `url` is what `serial_for_url` opens."""

    def __init__(self, build_dir: Path, *, mode: str = "bytes", clocks_per_bit: int | None = None):
        if mode not in MODES:
            raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
        self.build_dir = Path(build_dir)
        info = json.loads((self.build_dir / "build.json").read_text())
        cpb = clocks_per_bit or info["config"]["link"]["clocks_per_bit"]
        self.mode = mode
        self.proc = subprocess.Popen([str(self.build_dir / "obj" / "Vsoc_harness"), "--port", "0",
                                      "--mode", mode, "--cpb", str(cpb)],
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, bufsize=1,
                                     start_new_session=True)  # a host Ctrl-C must not kill the "board"
        line = self._readline(timeout=30)
        if not line.startswith("PORT "):
            self.close()
            raise RuntimeError(f"simulated board did not start: {line!r}")
        self.port = int(line.split()[1])
        self.url = f"socket://127.0.0.1:{self.port}"
        self.memory_map_path = self.build_dir / "memory_map.json"
        self.build_info_path = self.build_dir / "build.json"

    def _readline(self, timeout: float) -> str:
        r, _, _ = select.select([self.proc.stdout], [], [], timeout)
        return self.proc.stdout.readline().strip() if r else ""

    def reset(self) -> None:
        """Pulse the SoC reset (the link forgets its state; memories keep their contents)."""
        self.proc.stdin.write("reset\n")
        self.proc.stdin.flush()

    def reset_after(self, n_bytes: int) -> None:
        """Reset the SoC once `n_bytes` more bytes have entered it (e.g. in the middle of the next frame)."""
        self.proc.stdin.write(f"reset_after {int(n_bytes)}\n")
        self.proc.stdin.flush()

    def reset_after_cycles(self, n_cycles: int) -> None:
        """Reset the SoC `n_cycles` clock cycles from now (e.g. while the core runs a sample)."""
        self.proc.stdin.write(f"reset_cycles {int(n_cycles)}\n")
        self.proc.stdin.flush()

    def cycles(self) -> int:
        return self._ask("cycles")

    def resets(self) -> int:
        """Resets pulsed so far by `reset` / `reset_after` (not counting the power-on reset)."""
        return self._ask("resets")

    def _ask(self, what: str) -> int:
        self.proc.stdin.write(what + "\n")
        self.proc.stdin.flush()
        line = self._readline(timeout=10)
        if not line.startswith(what.upper() + " "):
            raise RuntimeError(f"simulated board: expected {what.upper()}, got {line!r}")
        return int(line.split()[1])

    def close(self) -> None:
        if self.proc.poll() is None:
            try:
                self.proc.stdin.write("quit\n")
                self.proc.stdin.flush()
                self.proc.wait(timeout=5)
            except (BrokenPipeError, subprocess.TimeoutExpired):
                self.proc.kill()
                self.proc.wait()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
