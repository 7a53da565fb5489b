"""`spikemesh federate`: data, boards and Flower wired together; the round table, plot, checkpoints, resume,
the worker process of `--processes`, and the `--bench` measurement."""
from __future__ import annotations

import json

import logging
import socket
import subprocess
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from .driver import Board
from .federated import (BoardWorker, RoundRecord, WorkerData, client, load_round_checkpoint, run_simulation,
                        strategy)
from .train import SIM_CORE, SIM_SOC, core_of_build, snn_for_core


@dataclass
class Setup:
    cfg: object
    snn: object
    build_dir: Path | None
    build_id: str
    X: np.ndarray
    y: np.ndarray
    X_test: np.ndarray
    y_test: np.ndarray
    parts: list


def prepare(args, *, build: bool = True) -> Setup:
    """The core, network, data and partitions every process of a run derives alike from the arguments."""
    from spikemesh.sim.golden import load_digits_split
    from spikemesh.sim.golden.federated import make_partitions

    if args.port:  # real boards (federate: a list of ports; a worker process: its own port)
        cfg, info = core_of_build(args.build_dir)
        build_id, build_dir = info["build_id"], Path(args.build_dir)
    else:
        from spikemesh.rtl.core import TrainingCore
        from spikemesh.rtl.soc.top import SoC

        soc = SoC(SIM_SOC, core=TrainingCore(SIM_CORE), sim_io=True)
        cfg, build_id = SIM_CORE, soc.build_info()["build_id"]
        soc._MustUse__silence = soc.core._MustUse__silence = True  # elaborated by build_sim_board only
        build_dir = None
        if build:
            from spikemesh.sim.board import build_sim_board

            build_dir = build_sim_board(soc)
    snn = snn_for_core(cfg, args.rule)
    X, y, X_test, y_test = load_digits_split()
    if args.samples:
        if args.samples > len(y):
            raise ValueError(f"--samples must be in 0..{len(y)}, got {args.samples}")
        X, y = X[:args.samples], y[:args.samples]
    if not 0 <= args.val_fraction < 1:
        raise ValueError(f"--val-fraction must be in [0, 1), got {args.val_fraction}")
    parts = make_partitions(y, args.workers, args.partition, seed=args.seed, val_fraction=args.val_fraction)
    return Setup(cfg, snn, build_dir, build_id, X, y, X_test, y_test, parts)


def worker_data(s: Setup, k: int) -> WorkerData:
    p = s.parts[k]
    return WorkerData(k, s.X[p.train], s.y[p.train], s.X[p.val], s.y[p.val])


def _run_meta(args, s: Setup) -> dict:
    return {"workers": args.workers, "partition": args.partition, "seed": args.seed, "samples": len(s.y),
            "val_fraction": args.val_fraction, "local_epochs": args.local_epochs, "rule": args.rule,
            "build_id": s.build_id, "snn": json.loads(json.dumps(asdict(s.snn)))}  # the network: for export


def _free_port() -> int:
    with socket.socket() as sk:
        sk.bind(("127.0.0.1", 0))
        return sk.getsockname()[1]


def _quiet_flower() -> None:
    """Flower logs every step at INFO; this command prints its own line per round instead."""
    from flwr.common.logger import update_console_handler

    update_console_handler(level=logging.ERROR, colored=False)
    logging.getLogger("ray").setLevel(logging.ERROR)


def _round_line(rec: RoundRecord, rounds: int) -> str:
    wacc = " ".join(f"{k}:{100 * a:.0f}%" for k, a in sorted(rec.worker_acc.items()))
    return (f"round {rec.round}/{rounds}: workers {rec.workers}" + (f" ({rec.failures} failed)" if rec.failures else "")
            + f"  global test {100 * rec.test_acc:.1f}%  workers' val [{wacc}]  "
            f"sent {rec.bytes_sent / 1e3:.1f} kB  received {rec.bytes_received / 1e3:.1f} kB  "
            f"{rec.wall_s:.1f} s wall, {1e3 * rec.chip_s:.1f} ms on chip")


def table(history: list[RoundRecord]) -> str:
    workers = sorted({k for r in history for k in r.worker_acc})
    head = ("| round | workers in | global test acc | " + " | ".join(f"worker {k} val" for k in workers)
            + " | bytes sent | bytes received | wall s | on-chip ms |")
    lines = [head, "|" + "---|" * (8 + len(workers) - 1)]
    for r in history:
        cells = " | ".join(f"{100 * r.worker_acc[k]:.1f}%" if k in r.worker_acc else "-" for k in workers)
        lines.append(f"| {r.round} | {len(r.workers)}" + (f" ({r.failures} failed)" if r.failures else "")
                     + f" | {100 * r.test_acc:.1f}% | {cells} | {r.bytes_sent} | {r.bytes_received} | "
                     f"{r.wall_s:.1f} | {1e3 * r.chip_s:.1f} |")
    return "\n".join(lines)


def plot(history: list[RoundRecord], path, title: str = "") -> None:
    import matplotlib
    import matplotlib.ticker

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 3.5))
    rounds = [r.round for r in history]
    ax.plot(rounds, [100 * r.test_acc for r in history], marker="o", lw=2, label="global (test split)")
    for k in sorted({k for r in history for k in r.worker_acc}):
        pts = [(r.round, 100 * r.worker_acc[k]) for r in history if k in r.worker_acc]
        ax.plot(*zip(*pts), marker=".", lw=0.8, alpha=0.7, label=f"worker {k} (own val, chip)")
    ax.set(xlabel="round", ylabel="accuracy %", title=title)
    ax.xaxis.set_major_locator(matplotlib.ticker.MaxNLocator(integer=True))
    ax.legend(fontsize=6, loc="lower right")
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def run_federate(args) -> int:
    from spikemesh.gen.args import check_readable, check_writable
    from spikemesh.sim.golden import init_weights

    check_writable(args.checkpoint, "--checkpoint")
    check_writable(args.plot, "--plot")
    check_readable(args.resume, "--resume")
    if args.port:
        args.workers = len(args.port)
    min_workers = args.min_workers or max(1, args.workers - 1)
    if min_workers > args.workers:
        raise ValueError(f"--min-workers must be in 1..{args.workers} (--workers), got {min_workers}")
    s = prepare(args, build=False)
    meta = _run_meta(args, s)
    history: list[RoundRecord] = []
    w0 = init_weights(s.snn, 0)
    if args.resume:
        w0, history, got = load_round_checkpoint(args.resume)
        diff = {k: (got.get(k), v) for k, v in meta.items() if got.get(k) != v}
        if diff:
            raise ValueError(f"--resume {args.resume}: written by another run: "
                             + ", ".join(f"{k} {a!r} there, {b!r} here" for k, (a, b) in diff.items()))
        if len(history) >= args.rounds:
            print(f"{args.resume} already holds {len(history)} rounds (--rounds {args.rounds}): nothing to do")
            return 0
    first = len(history) + 1
    remaining = args.rounds - len(history)
    if args.sim:
        print("building the simulated board (Verilator; cached after the first build) ...", flush=True)
    s = prepare(args, build=bool(args.sim))
    print(f"{args.workers} workers ({'simulated boards' if args.sim else 'boards'}), partition {args.partition} "
          f"(seed {args.seed}): train samples {[len(p.train) for p in s.parts]}, val {[len(p.val) for p in s.parts]}; "
          f"rounds {first}..{args.rounds}, {args.local_epochs} local epoch(s), {s.snn.rule}, "
          f"{'-'.join(map(str, s.cfg.layers))}", flush=True)
    _quiet_flower()
    st = strategy(workers=args.workers, min_workers=min_workers, local_epochs=args.local_epochs, initial=w0,
                  test=(s.X_test, s.y_test), snn=s.snn, first_round=first, checkpoint=args.checkpoint,
                  history=history, rejoin_timeout=args.rejoin_timeout, meta=meta,
                  on_round=lambda rec: print(_round_line(rec, args.rounds), flush=True))
    t0 = time.monotonic()
    if args.processes:
        _serve_with_worker_processes(args, s, st, remaining)
    else:
        _simulate(args, s, st, remaining)
    if len(st.history) < args.rounds:
        raise RuntimeError(f"only {len(st.history)} of {args.rounds} rounds completed (too few workers?); "
                           f"continue with --resume {args.checkpoint}")
    print(table(st.history))
    plot(st.history, args.plot, f"{args.workers} workers, {args.partition}, {args.local_epochs} local epoch(s)")
    print(f"{time.monotonic() - t0:.0f} s; checkpoint: {args.checkpoint}; plot: {args.plot}")
    return 0


def _simulate(args, s: Setup, st, rounds: int) -> None:
    boards = []
    try:
        if args.sim:
            from spikemesh.sim.board import SimBoard

            boards = [SimBoard(s.build_dir) for _ in range(args.workers)]
            ports = [b.url for b in boards]
        else:
            ports = args.port
        workers = [BoardWorker(worker_data(s, k), ports[k], s.build_dir, s.cfg, s.snn) for k in range(args.workers)]
        run_simulation(workers, st, rounds)
    finally:
        for b in boards:
            b.close()


def worker_command(args, k: int, server: str, port: str | None = None) -> list[str]:
    cmd = [sys.executable, "-m", "spikemesh.gen.cli", "federate-worker", "--server", server, "--worker", str(k),
           "--workers", str(args.workers), "--partition", args.partition, "--seed", str(args.seed),
           "--val-fraction", str(args.val_fraction), "--samples", str(args.samples), "--rule", args.rule]
    if port:
        cmd += ["--port", port, "--build-dir", str(args.build_dir)]
    return cmd


def _serve_with_worker_processes(args, s: Setup, st, rounds: int) -> None:
    """Flower's gRPC server in this process; each worker a process of its own with its own board.  A worker
    process that dies (killed, its board unplugged) is started again and rejoins at the next round."""
    import threading

    from flwr.server import ServerConfig, start_server

    server = f"127.0.0.1:{_free_port()}"
    hang = {}
    for spec in args.hang or []:
        k, _, rnd = spec.partition(":")
        hang.setdefault(int(k), []).append(rnd)

    def start(k: int, first: bool) -> subprocess.Popen:
        cmd = worker_command(args, k, server, args.port[k] if args.port else None)
        if first and k in hang:
            cmd += ["--hang-rounds", ",".join(hang[k])]
        return subprocess.Popen(cmd)

    procs = [start(k, True) for k in range(args.workers)]
    done = threading.Event()

    def supervise():
        while not done.wait(0.5):
            for k, p in enumerate(procs):
                if p.poll() is not None and p.returncode != 0 and not done.is_set():
                    print(f"worker {k} exited (code {p.returncode}); starting it again", flush=True)
                    procs[k] = start(k, False)

    watcher = threading.Thread(target=supervise, daemon=True)
    watcher.start()
    try:
        start_server(server_address=server, config=ServerConfig(num_rounds=rounds, round_timeout=args.round_timeout),
                     strategy=st)
    finally:
        done.set()
        watcher.join()
        for p in procs:
            try:
                p.wait(timeout=30)
            except subprocess.TimeoutExpired:
                p.kill()


def run_worker(args) -> int:
    """One worker process: its own share of the data (derived from the same seed), its own board."""
    from flwr.client import start_client

    _quiet_flower()
    s = prepare(args, build=not args.port)
    sim = None
    try:
        if args.port:
            port, build_dir = args.port, Path(args.build_dir)
        else:
            from spikemesh.sim.board import SimBoard

            sim = SimBoard(s.build_dir)
            port, build_dir = sim.url, s.build_dir
        worker = BoardWorker(worker_data(s, args.worker), port, build_dir, s.cfg, s.snn)
        hang = tuple(int(r) for r in (args.hang_rounds or "").split(",") if r)
        log = Path(args.log) if args.log else None
        on_fit = (lambda rnd: log.open("a").write(f"fit {rnd}\n")) if log else None
        if args.ready_file:
            Path(args.ready_file).touch()
        start_client(server_address=args.server, client=client(worker, hang_rounds=hang, on_fit=on_fit).to_client(),
                     insecure=True, max_retries=20, max_wait_time=120)
    finally:
        if sim is not None:
            sim.close()
    return 0


BENCH_BEGIN = "<!-- federated-bench:begin (generated by `spikemesh federate --bench`; do not edit) -->"
BENCH_END = "<!-- federated-bench:end -->"


def _centralised(args, s: Setup, epochs: int) -> tuple[float, float]:
    """One board trains the union of the workers' training shares (worker order) for `epochs` epochs: the
    same on-chip sample updates as the federated run. Returns (test accuracy, wall s)."""
    from spikemesh.sim.board import SimBoard
    from spikemesh.sim.golden import init_weights

    from .train import evaluate, train

    idx = np.concatenate([p.train for p in s.parts])
    t0 = time.monotonic()
    with SimBoard(s.build_dir) as sb, Board.connect(sb.url, s.build_dir) as b:
        w, _ = train(b, s.cfg, s.snn, init_weights(s.snn, 0), s.X[idx], s.y[idx], epochs=epochs, progress=False)
    return evaluate(s.snn, w, s.X_test, s.y_test)[0], time.monotonic() - t0


def run_bench(args) -> int:
    """IID and Dirichlet(0.5) federated runs (a server and one process per worker, each with its own
    simulated board) and centralised training on one board with the same number of on-chip sample updates,
    for several partition seeds; writes docs/federated.md and docs/measured.json."""
    import tempfile

    from spikemesh.gen.measured import record, replace_section

    seeds = (0, 1, 2)
    schemes = ("iid", "dirichlet:0.5")
    rows = {k: [] for k in (*schemes, "centralised")}
    per_round = {k: [] for k in schemes}
    tmp = Path(tempfile.mkdtemp(prefix="spikemesh-fedbench-"))
    t_all = time.monotonic()
    for seed in seeds:
        for scheme in schemes:
            ck = tmp / f"{scheme.replace(':', '')}_{seed}.npz"
            cmd = [sys.executable, "-m", "spikemesh.gen.cli", "federate", "--sim", "--processes",
                   "--workers", str(args.workers), "--rounds", str(args.rounds), "--local-epochs",
                   str(args.local_epochs), "--partition", scheme, "--seed", str(seed), "--samples",
                   str(args.samples), "--rule", args.rule, "--checkpoint", str(ck), "--plot", str(ck.with_suffix(".png"))]
            print(f"seed {seed}, {scheme}: {' '.join(cmd[3:])}", flush=True)
            res = subprocess.run(cmd, capture_output=True, text=True)
            if res.returncode != 0:
                raise RuntimeError(f"federate {scheme} seed {seed} failed:\n{res.stdout[-2000:]}{res.stderr[-2000:]}")
            _, hist, _ = load_round_checkpoint(ck)
            rows[scheme].append(hist[-1].test_acc)
            per_round[scheme] += hist
            print(f"  test accuracy after {len(hist)} rounds: {100 * hist[-1].test_acc:.1f}%", flush=True)
        args.seed, args.partition = seed, "iid"
        s = prepare(args)
        acc, wall = _centralised(args, s, args.rounds * args.local_epochs)
        rows["centralised"].append(acc)
        print(f"seed {seed}, centralised ({args.rounds * args.local_epochs} epochs on one board): "
              f"{100 * acc:.1f}% ({wall:.0f} s)", flush=True)
    ms = {k: (float(np.mean(v)), float(np.std(v, ddof=1)) if len(v) > 1 else 0.0) for k, v in rows.items()}
    allr = [r for k in schemes for r in per_round[k]]
    later = [r for r in allr if r.round > 1]  # round 1 also waits for the worker processes to start
    bytes_round = float(np.mean([r.bytes_sent + r.bytes_received for r in allr]))
    command = (f"spikemesh federate --sim --bench --workers {args.workers} --rounds {args.rounds} "
               f"--local-epochs {args.local_epochs}" + (f" --samples {args.samples}" if args.samples else ""))
    text = "\n".join([
        f"Measured with `{command}` ({time.monotonic() - t_all:.0f} s): {args.workers} workers, each a process "
        f"with its own simulated board (64-16-10, T=4, {args.rule}) reached over the host link, a Flower "
        f"server in the `federate` process; {args.rounds} rounds x {args.local_epochs} local epoch(s); the "
        f"digits training split{f' (first {args.samples})' if args.samples else ''} partitioned with seeds "
        f"{', '.join(map(str, seeds))} (20% of each share is the worker's validation slice); test accuracy of "
        f"the global weights on the 360-digit test split, mean +- sd over the seeds. Centralised: one board "
        f"trains the union of the workers' shares for {args.rounds * args.local_epochs} epochs, the same number "
        f"of on-chip sample updates.",
        "",
        "| training | test accuracy (mean +- sd) | per seed |",
        "|---|---|---|",
        *[f"| {k} | {100 * m:.1f} +- {100 * sd:.1f}% | {', '.join(f'{100 * a:.1f}' for a in rows[k])} |"
          for k, (m, sd) in ms.items()],
        "",
        f"Per round (mean over all federated runs): weight tensors on the wire {bytes_round / 1e3:.1f} kB "
        f"(server -> workers for fit and evaluate, workers -> server); wall time "
        f"{np.mean([r.wall_s for r in later]):.1f} s (rounds after the first); on-chip time of the slowest "
        f"worker's fit {1e3 * np.mean([r.chip_s for r in allr]):.1f} ms at 75 MHz.",
    ])
    print(text)
    docs = Path(__file__).resolve().parents[1] / "docs" / "federated.md"
    replace_section(docs, BENCH_BEGIN, BENCH_END, text)
    record({"federated.workers": (args.workers, "workers"),
            "federated.iid.accuracy": (round(ms["iid"][0], 4), "fraction (test split, mean over 3 seeds)"),
            "federated.dirichlet05.accuracy": (round(ms["dirichlet:0.5"][0], 4),
                                               "fraction (test split, mean over 3 seeds)"),
            "federated.centralised.accuracy": (round(ms["centralised"][0], 4),
                                               "fraction (test split, mean over 3 seeds)"),
            "federated.bytes_per_round": (round(bytes_round), "bytes (weight tensors, both ways)"),
            "federated.wall_s_per_round": (round(float(np.mean([r.wall_s for r in later])), 2), "s")}, command)
    print(f"wrote {docs} and docs/measured.json")
    return 0
