"""Training over the host link: program, constants and weights up, samples in, weights back, checkpoints.

The per-sample sequence is the one the core's own bench uses (sim/benches/core_host.py), here over
`Board` (the link) instead of a cocotb bus driver: label, inputs (x + input events), start, poll.  With
the on-board dataset it is one request: the gateware sample loader copies the sample's record, starts
the core and answers when the core is done (`rtl/soc/loader.py`).
Addresses and registers come from the memory map's `core` target, through the one core driver
(firmware/core_driver.py) that the benches use too.
Evaluation runs the golden model's forward pass on the weights read back from the board (bit-exact
with the core's forward pass, see docs/golden-contract.md); the core has no inference-only program yet.
"""
from __future__ import annotations

import json
import os
import signal
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from spikemesh.rtl.core.config import CoreConfig
from .core_driver import BoardPort, CoreDriver, SyncCoreDriver, core_target, f16_bits, run_sync
from .dataset import encode_records
from .driver import Board, BoardReset
from .link import LinkError
from .program import assemble, constants_from_snn, round_seed, snn_ops, step_seed


def core_config_json(cfg: CoreConfig) -> dict:
    d = asdict(cfg)
    d.pop("fmt", None)  # FP16 only
    return d


class BoardCoreDriver(CoreDriver):
    """`CoreDriver` over a `Board`: a core that stops idle but not done makes the host ask the board whether
    it was reset (`BoardReset`, with a session begun); a timeout is a `LinkError`."""

    def __init__(self, board: Board, cfg: CoreConfig):
        tgt = core_target(board.map)
        if tgt is None:
            raise LinkError("this build has no training core (memory map has no 'core' target)")
        self.board = board
        super().__init__(BoardPort(board), cfg, tgt)

    @staticmethod
    def map_error(msg: str) -> Exception:
        return LinkError(msg)

    async def not_done(self, status: dict, expired: bool, timeout: float | None) -> None:
        session = getattr(self.board, "session_token", 0)
        if session and (expired or not status["busy"]):
            self.board.check_session()
        if expired:
            within = f"{timeout:g} s" if timeout is not None else "the polls allowed"
            raise LinkError(f"the core did not finish the sample within {within} (status {status}): "
                            "a wrong program, or a hung core")


class CoreClient(SyncCoreDriver):
    """The training core behind a `Board` (or anything with its read/write and memory map): the one core
    driver (firmware/core_driver.py), called synchronously."""

    def __init__(self, board: Board, cfg: CoreConfig):
        super().__init__(BoardCoreDriver(board, cfg))

    def run(self, timeout: float = 30.0) -> None:
        """Start the loaded sample and wait until the core is done (wall-clock `timeout` seconds).

        Idle without done means the sample never ran to its end: with a session begun, the board is asked
        whether it was reset (`BoardReset`)."""
        run_sync(self.driver.run(max_polls=None, timeout=timeout))


def save_checkpoint(path, weights, *, epoch: int, history: list[dict], snn_json: dict, build_id: str,
                    sample: int = 0, samples: int | None = None) -> None:
    """`epoch` epochs completed plus `sample` samples of the next one (a stop between samples); `samples`:
    the samples per epoch.  Written to a temporary file and renamed, so an interrupted save leaves the
    previous checkpoint intact."""
    write_weights_file(path, weights, {"epoch": epoch, "sample": sample, "samples": samples, "history": history,
                                       "snn": snn_json, "build_id": build_id, "format": 1})


def write_weights_file(path, weights, meta: dict) -> None:
    """FP16 weights (`w1`, `w2`, ... as bit patterns) and a JSON `meta` in one .npz, written to a temporary
    file and renamed, so an interrupted save leaves the previous file intact."""
    path = Path(path)
    tmp = path.with_name(path.name + ".tmp.npz")
    np.savez(tmp, meta=np.frombuffer(json.dumps(meta).encode(), np.uint8),
             **{f"w{l}": f16_bits(w) for l, w in enumerate(weights, start=1)})
    os.replace(tmp, path)


def read_weights_file(path) -> tuple[list[np.ndarray], dict]:
    with np.load(path) as z:
        meta = json.loads(bytes(z["meta"]).decode())
        n = sum(1 for k in z.files if k.startswith("w"))
        weights = [z[f"w{l}"].astype(np.uint16).view(np.float16) for l in range(1, n + 1)]
    return weights, meta


def load_checkpoint(path) -> tuple[list[np.ndarray], dict]:
    weights, meta = read_weights_file(path)
    if meta.get("format") != 1:
        raise ValueError(f"checkpoint {path}: unknown format {meta.get('format')!r}")
    return weights, meta


def evaluate(snn, weights, pixels, labels) -> tuple[float, float]:
    """(accuracy, mean loss) of `weights` with the golden forward pass (what the core's forward computes)."""
    from spikemesh.sim.golden import forward

    correct, loss = 0, 0.0
    for k, (px, y) in enumerate(zip(pixels, labels)):
        r = forward(snn, weights, px, sample_index=k)
        correct += int(r.prediction == int(y))
        rate = r.counts / snn.T
        target = np.eye(snn.sizes[-1])[int(y)]
        loss += 0.5 * float(np.sum((rate - target) ** 2))
    return correct / max(len(labels), 1), loss / max(len(labels), 1)


@dataclass
class Snapshot:
    """The host's last consistent state: `weights` as read back (and checked) before sample `sample` of
    epoch `epoch` (0-based).  A board reset rolls training back to it."""
    epoch: int
    sample: int
    weights: list


def train(board: Board, cfg: CoreConfig, snn, weights, pixels, labels, *, epochs: int, start_epoch: int = 0,
          start_sample: int = 0, history: list | None = None, progress: bool = True, on_epoch=None,
          onboard: bool | None = None, should_stop=None, on_stop=None, snapshot_every: int = 64,
          sample_timeout: float = 30.0, max_resets: int = 8, on_reset=None,
          core_cycles: list | None = None, order=None, lr_at=None) -> tuple[list[np.ndarray], list]:
    """Train on the board sample by sample until `epochs` epochs are complete; returns (weights read back,
    history).  `epochs` is the total: resuming at `start_epoch`/`start_sample` trains the rest of it.

    `onboard` (None: when it fits): the encoded samples go into the dataset BRAM once and each sample is
    "loader: sample n; core: start" (`rtl/soc/loader.py`); else every sample's inputs are streamed.
    `should_stop(epoch, n)` is asked before each sample: the core cannot be stopped mid-sample, so a stop
    lands between samples; then the weights are read back, `on_stop(epoch, n, weights, history)` called
    (epoch = epochs completed, n = samples of the next epoch done) and train returns.  Resume with
    `start_epoch=epoch, start_sample=n`: bit-identical to an uninterrupted run.

    Board resets: setting up the board writes a session token into the status block, and every read-back
    of the weights (each `snapshot_every` samples and at each epoch's end) checks that the board still
    holds it.  A board that lost it was reset: its core constants are back at their reset values and a
    sample may have been cut short.  The host then sets the board up again from the last snapshot
    (constants, surrogate, program, weights, dataset) and re-runs the samples since, so the run ends
    bit-identical to an undisturbed one.  `on_reset(exc, snapshot)` is told each time.

    `core_cycles` (a list): each sample's cycle count from the core's own counter is appended (one more
    read per sample), e.g. for the on-chip time of a federated round; without it each epoch's history entry
    holds the core's counters summed over the epoch.

    `order(epoch)`: the sample order of an epoch (default 0..N-1; the golden `train_epoch` uses
    `default_rng(seed + epoch).permutation(N)`); a sample keeps its index (and so its encoding) in any
    order.  `lr_at(epoch)`: the learning rate of an epoch (default `snn.lr`), written to the core's
    constants when the epoch starts."""
    from tqdm import tqdm

    from spikemesh.sim.golden import encode

    if not isinstance(epochs, int) or epochs < 0:
        raise ValueError(f"epochs must be an int >= 0 (the total number of epochs), got {epochs!r}")
    if not 0 <= start_sample <= len(labels):
        raise ValueError(f"start_sample must be in 0..{len(labels)}, got {start_sample}")
    if not isinstance(snapshot_every, int) or snapshot_every < 1:
        raise ValueError(f"snapshot_every must be an int >= 1 (samples), got {snapshot_every!r}")
    core = CoreClient(board, cfg)
    program = assemble(snn_ops(cfg, snn, update=True), cfg)
    history = list(history or [])
    direct = snn.encoding == "direct"
    writes = (lambda n: core.input_writes(encode(snn, pixels[n], n), direct, int(labels[n]),
                                          k_seed=step_seed(snn, n), sr_seed=round_seed(snn, n)))
    loader, records = None, None
    run_retries = max(board.link.retries, int(np.ceil(sample_timeout / board.link.timeout)))
    if onboard is not False:
        try:
            trailer = core.run_writes(clear_counters=core_cycles is not None,
                                      limit=max(1, min(int(sample_timeout * board.ident.clk_hz / 4), (1 << 32) - 1)))
            records = encode_records([writes(n) for n in range(len(labels))] + [trailer],
                                     board.region("dataset", "data")[1])
            loader = board.region("loader", "run")[0]
        except (ValueError, KeyError):
            if onboard:
                raise

    def snn_at(e: int):
        return snn if lr_at is None else snn.replace(lr=lr_at(e))

    def order_of(e: int) -> np.ndarray:
        if order is None:
            return np.arange(len(labels))
        o = np.asarray(order(e))
        if sorted(o.tolist()) != list(range(len(labels))):
            raise ValueError(f"order({e}) must be a permutation of 0..{len(labels) - 1}")
        return o

    def set_up(w) -> None:
        """Everything the core needs, then a check that no reset came in between."""
        board.begin_session()
        core.configure(snn_at(epoch), program)
        core.clear_state()
        core.write_weights(w)
        if records is not None:
            step = board.ident.max_words * 64
            with tqdm(total=len(records), unit="word", unit_scale=True, desc="dataset upload", leave=False,
                      disable=not progress) as up:
                for i in range(0, len(records), step):
                    board.load_dataset(records[i:i + step], offset=i)
                    up.update(len(records[i:i + step]))
            board.write_region("loader", "then", [len(labels)])  # the trailer: start, wait until done
        board.check_session()
        base_timeouts[:] = [loader_timeouts()]
        if core_cycles is None:
            base_counters[:] = [core.counters()]

    def loader_timeouts() -> int:
        return int(board.read_region("loader", "timeouts")[0]) if loader is not None else 0

    def read_back() -> list[np.ndarray]:
        w = core.read_weights()
        board.check_session()  # weights read after a reset may hold a cut-short sample's partial update
        if loader_timeouts() != base_timeouts[0]:
            raise LinkError(f"the core did not finish a sample within {sample_timeout:g} s: a wrong program, "
                            "or a hung core")
        return w

    base_timeouts, base_counters = [0], [{}]

    snap = Snapshot(start_epoch, start_sample, [np.array(w, np.float16) for w in weights])
    resets = 0
    epoch, n, ready, bar, lr_epoch = start_epoch, start_sample, False, None, start_epoch
    t_loop = None  # wall time of the epoch's samples (set-up, evaluation and callbacks not counted)
    try:
        while epoch < epochs:
            try:
                if not ready:
                    set_up(snap.weights)
                    ready, lr_epoch = True, epoch
                if lr_epoch != epoch:  # a new epoch's learning rate
                    for name, val in constants_from_snn(snn_at(epoch)).items():
                        core.set_reg(name, val)
                    lr_epoch = epoch
                perm = order_of(epoch)
                if t_loop is None:
                    t_loop = time.monotonic()
                if bar is None:
                    bar = tqdm(total=len(labels), initial=n, desc=f"epoch {epoch + 1}", disable=not progress,
                               unit="sample")
                while n < len(labels):
                    if should_stop is not None and should_stop(epoch, n):
                        w = read_back()
                        if on_stop:
                            on_stop(epoch, n, w, history)
                        return w, history
                    k = int(perm[n])
                    if loader is not None:  # one request: answered when the core has trained on sample k
                        board.write(loader, [k, 0], retries=run_retries)
                    else:
                        core.load_input(encode(snn, pixels[k], k), direct, label=int(labels[k]),
                                        k_seed=step_seed(snn, k), sr_seed=round_seed(snn, k))
                        core.run(timeout=sample_timeout)
                    if core_cycles is not None:
                        core_cycles.append(core.read_reg("cycles"))
                    n += 1
                    bar.update(1)
                    if n % snapshot_every == 0 and n < len(labels):
                        snap = Snapshot(epoch, n, read_back())
                w = read_back()
                loop_s, t_loop = time.monotonic() - t_loop, None
                snap = Snapshot(epoch + 1, 0, w)
                acc, loss = evaluate(snn_at(epoch), w, pixels, labels)
                history.append({"epoch": epoch + 1, "train_acc": acc, "train_loss": loss, "train_seconds": loop_s,
                                "link_retries": board.link.stats.retries, "board_resets": resets,
                                "onboard": loader is not None, "link_requests": board.link.stats.requests})
                if core_cycles is None:  # the counters summed over the epoch (a sample does not clear them;
                    now = core.counters()  # after a board reset: over the samples since the reset)
                    history[-1]["core_counters"] = {k: (v - base_counters[0].get(k, 0)) % (1 << 32)
                                                    for k, v in now.items()}
                    base_counters[0] = now
                if progress:
                    bar.write(f"epoch {epoch + 1}: loss {loss:.4f}  accuracy {acc * 100:.1f}%")
                bar.close()
                bar = None
                if on_epoch:
                    on_epoch(epoch + 1, w, history)
                epoch, n = epoch + 1, 0
            except BoardReset as exc:
                resets += 1
                if resets > max_resets:
                    raise LinkError(f"the board was reset {resets} times; giving up ({exc})") from None
                if on_reset:
                    on_reset(exc, snap)
                if progress:
                    tqdm.write(f"board reset detected ({exc}); setting it up again and re-running from "
                               f"epoch {snap.epoch + 1}, sample {snap.sample}")
                board.reidentify()
                ready = False
                if bar is not None and snap.epoch != epoch:
                    bar.close()
                    bar = None
                epoch, n = snap.epoch, snap.sample
                if bar is not None:
                    bar.n = n
                    bar.refresh()
    finally:
        if bar is not None:
            bar.close()
    return snap.weights, history


def plot_history(history: list[dict], path) -> None:
    try:
        import matplotlib
    except ImportError:
        raise RuntimeError("--plot needs matplotlib: pip install matplotlib") from None

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    ep = [h["epoch"] for h in history]
    fig, ax = plt.subplots(1, 2, figsize=(8, 3))
    ax[0].plot(ep, [h["train_loss"] for h in history], marker="o")
    ax[0].set(xlabel="epoch", ylabel="loss (MSE on rate)")
    ax[1].plot(ep, [100 * h["train_acc"] for h in history], marker="o")
    ax[1].set(xlabel="epoch", ylabel="accuracy %")
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def stop_on_sigint() -> tuple[list, object]:
    """Ctrl-C sets a flag (train's `should_stop`: finish the sample, checkpoint, return); a second Ctrl-C
    raises KeyboardInterrupt at once (the last checkpoint written stays intact).  Returns (flag list,
    previous handler to restore)."""
    stop: list = []

    def on_sigint(signum, frame):
        if stop:
            raise KeyboardInterrupt
        stop.append(1)
        print("\nstopping after this sample (Ctrl-C again to abort; the last checkpoint stays)", flush=True)

    return stop, signal.signal(signal.SIGINT, on_sigint)


def snn_for_core(cfg: CoreConfig, rule: str, *, k_steps=None, window=None):
    """The network `spikemesh train` trains on a core: the core's layers, T = min(t_max, 4), digits recipe."""
    from spikemesh.sim.golden import SNNConfig

    if rule not in cfg.rules:
        raise ValueError(f"rule must be one of {cfg.rules} for this core, got {rule!r}")
    if k_steps is not None and rule != "sltt_k":
        raise ValueError("--k-steps is for --rule sltt_k only")
    if window is not None and rule != "tbptt":
        raise ValueError("--window is for --rule tbptt only")
    T = min(cfg.t_max, 4)
    if k_steps is not None and not all(0 <= k < T for k in k_steps):
        raise ValueError(f"--k-steps must be steps in 0..{T - 1} (T = {T}), got {','.join(map(str, k_steps))}")
    if window is not None and not 1 <= window <= T:
        raise ValueError(f"--window must be in 1..{T} (T = {T}), got {window}")
    extra = {}
    if rule == "sltt_k":
        extra["k_steps"] = tuple(sorted(set(k_steps))) if k_steps else (T - 1,)
    if rule == "tbptt":
        extra["window"] = window or T
    return SNNConfig(sizes=cfg.layers, T=T, rule=rule, **extra)


def check_resume(meta: dict, snn, build_id: str, samples: int, path) -> None:
    """A checkpoint continues only the run that wrote it: same network and rule, build and sample count."""
    want = json.loads(json.dumps(asdict(snn)))
    got = meta.get("snn") or {}
    for key in ("sizes", "rule", "T", "k_steps", "window", "encoding", "surrogate", "lr"):
        if got.get(key) != want.get(key):
            raise ValueError(f"--resume {path}: the checkpoint's {key} is {got.get(key)!r}, this run's is "
                             f"{want.get(key)!r}")
    if meta.get("build_id") != build_id:
        raise ValueError(f"--resume {path}: written for build {meta.get('build_id')}, this board runs {build_id}")
    if meta.get("samples") != samples:
        raise ValueError(f"--resume {path}: the checkpoint trained on {meta.get('samples')} samples per epoch, "
                         f"this run on {samples} (--samples)")


def read_build_info(build_dir) -> dict:
    """A board build's build.json, for `--build-dir` with `--port` (clear errors for a missing folder or file)."""
    from spikemesh.gen.args import check_folder, check_readable

    if build_dir is None:
        raise ValueError("--build-dir is required with --port (the build's memory_map.json/build.json)")
    check_folder(build_dir, "--build-dir")
    check_readable(Path(build_dir) / "build.json", "--build-dir")
    return json.loads((Path(build_dir) / "build.json").read_text())


def core_of_build(build_dir) -> tuple[CoreConfig, dict]:
    """The training core of a board build (its build.json), for `--build-dir` with `--port`."""
    info = read_build_info(build_dir)
    if "core" not in info:
        raise LinkError(f"--build-dir {build_dir}: this build has no training core")
    return CoreConfig(**info["core"]), info


def cli_train(args) -> int:
    """`spikemesh train`: see gen/commands/board.py for the options.  Every check on the user's input runs
    before the simulated board is built or the board touched."""
    if getattr(args, "cores", 1) > 1 or getattr(args, "placement", "data") == "model":  # the multi-core board
        from .mesh_train import cli_mesh_train

        return cli_mesh_train(args)
    from spikemesh.gen.args import check_readable, check_writable
    from spikemesh.sim.golden import init_weights, load_digits_split

    check_writable(args.checkpoint, "--checkpoint")
    check_writable(args.plot, "--plot")
    if getattr(args, "record", False) and not args.sim:
        raise ValueError("--record is for --sim (it records the simulated board's speed)")
    check_readable(args.resume, "--resume")
    init = getattr(args, "init", None)  # a NIR graph to start from (docs/nir.md)
    check_readable(init, "--init")
    if init and args.resume:
        raise ValueError("--init and --resume cannot be used together: --resume continues a checkpoint's run, "
                         "--init starts a new run from a NIR graph")
    soc = None
    if args.sim:
        from spikemesh.rtl.core import TrainingCore
        from spikemesh.rtl.soc.top import SoC

        soc = SoC(SIM_SOC, core=TrainingCore(SIM_CORE), sim_io=True)
        info = soc.build_info()
        cfg = SIM_CORE
    else:
        cfg, info = core_of_build(args.build_dir)
    snn = snn_for_core(cfg, args.rule, k_steps=args.k_steps, window=args.window)
    X, y, _, _ = load_digits_split()
    if args.samples:
        if args.samples > len(y):
            raise ValueError(f"--samples must be in 0..{len(y)} (the training split), got {args.samples}")
        X, y = X[:args.samples], y[:args.samples]
    if args.resume:
        try:
            weights, meta = load_checkpoint(args.resume)
        except (OSError, ValueError, KeyError) as exc:
            raise ValueError(f"--resume {args.resume}: not a spikemesh train checkpoint ({exc})") from None
        check_resume(meta, snn, info["build_id"], len(y), args.resume)
        start, history, first = meta["epoch"], meta["history"], meta.get("sample", 0)
        if start >= args.epochs:
            print(f"{args.resume} already holds {start} epochs (--epochs {args.epochs}): nothing to train")
            return 0
    elif init:  # the graph's weights (rounded to FP16) and lam/theta/reset, checked against this core
        from .nir_io import init_from_nir

        snn, weights, note = init_from_nir(init, snn)
        start, history, first = 0, [], 0
        print(note)
    else:
        weights, start, history, first = init_weights(snn, 0), 0, [], 0

    sim, stop, old_handler = None, [], None
    try:  # Ctrl-C while building or connecting: KeyboardInterrupt (the CLI says "interrupted")
        if soc is not None:
            from spikemesh.sim.board import SimBoard, build_sim_board

            print("building the simulated board (Verilator; cached after the first build) ...", flush=True)
            t_build = time.monotonic()
            build_dir = build_sim_board(soc, progress=lambda msg: print(
                f"  [{time.monotonic() - t_build:4.0f} s] {msg}", flush=True))
            sim = SimBoard(build_dir, mode=args.sim_mode)
            port = sim.url
        else:
            build_dir, port = Path(args.build_dir), args.port
        with Board.connect(port, build_dir, baud=args.baud) as board:
            stop, old_handler = stop_on_sigint()  # from here the first Ctrl-C stops between samples
            sim_start = (sim.cycles(), time.monotonic()) if sim is not None else None
            marks: list[tuple[int, float]] = []  # (board cycles, this run's sample-loop seconds) at epoch ends

            def save(epoch, w, hist, sample=0):
                save_checkpoint(args.checkpoint, w, epoch=epoch, history=hist, snn_json=asdict(snn),
                                build_id=board.ident.build_id.hex(), sample=sample, samples=len(y))

            def on_epoch(epoch, w, hist):
                if sim is not None:
                    marks.append((sim.cycles(), hist[-1]["train_seconds"]))
                save(epoch, w, hist)

            weights, history = train(board, cfg, snn, weights, X, y, epochs=args.epochs, start_epoch=start,
                                     start_sample=first, history=history, on_epoch=on_epoch,
                                     onboard=getattr(args, "onboard", None), should_stop=lambda e, n: bool(stop),
                                     on_stop=lambda e, n, w, h: save(e, w, h, n), sample_timeout=args.sample_timeout,
                                     snapshot_every=args.snapshot_every)
            if sim_start is not None:
                cycles, wall = sim.cycles() - sim_start[0], time.monotonic() - sim_start[1]
                print(f"simulated board: {cycles / 1e6:.1f} M cycles in {wall:.1f} s with set-up and evaluations; "
                      f"{board.link.stats.requests} link requests")
                if len(marks) > 1:  # epochs 2..: the sample loops only (epoch 1 holds the set-up and upload)
                    rate = (marks[-1][0] - marks[0][0]) / sum(t for _, t in marks[1:])
                    print(f"simulated board while training (epochs 2..{len(marks)}): {rate / 1e6:.2f} M cycles per "
                          "wall-second")
                    if args.record:
                        from spikemesh.gen.measured import record

                        record({"simboard.cycles_per_wall_s": (round(rate), "simulated cycles per wall-second while "
                                                               "training (`train --sim` board, 64-16-10)")},
                               f"spikemesh train --sim --epochs {args.epochs} --samples {args.samples} --record")

    finally:
        if old_handler is not None:
            signal.signal(signal.SIGINT, old_handler)
        if sim is not None:
            sim.close()
    if stop:
        print(f"stopped: checkpoint {args.checkpoint}; continue with --resume {args.checkpoint}")
    else:
        print(f"checkpoint: {args.checkpoint}")
    if args.plot:
        if history:
            plot_history(history, args.plot)
            print(f"plot: {args.plot}")
        else:
            print("plot: no complete epoch to plot yet")
    return 0


# The simulated board `spikemesh train --sim` builds: digits 64-16-10, T up to 4.
SIM_CORE = CoreConfig(layers=(64, 16, 10), t_max=4)
from spikemesh.rtl.link.protocol import LinkConfig as _LC  # noqa: E402
from spikemesh.rtl.soc.top import SocConfig as _SC  # noqa: E402

SIM_SOC = _SC(clk_hz=75_000_000, link=_LC(clocks_per_bit=25, max_words=256, watchdog_cycles=1 << 14),
              dataset_words=160 * 1024, name="sim-core")  # the whole digits training split, as on the ULX3S train board
