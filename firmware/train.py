"""Training over the host link: program, constants and weights up, samples in, weights back, checkpoints.

The per-sample sequence is the one the core's own bench uses (sim/benches/core_host.py), here over
`Board` (the link) instead of a cocotb bus driver: label, inputs (x + input events), start, poll; with
the on-board dataset the first two are one write to the gateware sample loader.
Addresses come from the memory map's `core` target; the layout arithmetic from `CoreLayout`.
Evaluation runs the golden model's forward pass on the weights read back from the board (bit-exact
with the core's forward pass, see docs/golden-contract.md); the core has no inference-only program yet.
"""
from __future__ import annotations

import json
import signal
from dataclasses import asdict
from pathlib import Path

import numpy as np

from spikemesh.rtl.core.config import CoreConfig
from spikemesh.rtl.core.layout import COUNTERS, CTRL_REGS, STATUS_BUSY, STATUS_DONE, CoreLayout

from .dataset import encode_records
from .driver import Board
from .link import LinkError
from .program import compile_program, constants_from_snn
from .surrogate_table import TABLE_SURROGATES, surrogate_window


def f16_bits(a) -> np.ndarray:
    return np.asarray(a, np.float16).view(np.uint16)


def core_config_json(cfg: CoreConfig) -> dict:
    d = asdict(cfg)
    d.pop("fmt", None)  # FP16 only
    return d


class CoreClient:
    """The training core behind a `Board`."""

    def __init__(self, board: Board, cfg: CoreConfig):
        self.board, self.cfg, self.lay = board, cfg, CoreLayout(cfg)
        tgt = next((t for t in board.map.targets if t["name"] == "core"), None)
        if tgt is None:
            raise LinkError("this build has no training core (memory map has no 'core' target)")
        self.base = {r["name"]: tgt["base"] + r["offset"] for r in tgt["regions"]}
        expect = {r.name: r.offset for r in self.lay.regions()}
        got = {r["name"]: r["offset"] for r in tgt["regions"]}
        if expect != got:
            raise LinkError("the core configuration does not match the board's memory map")

    def set_surrogate(self, kind: str, width: float) -> None:
        """Refuse a surrogate the core was not generated with; write a table surrogate's window (sgt/sgr)."""
        if kind not in self.cfg.surrogates:
            raise ValueError(f"surrogate {kind!r} is not built into this core; allowed: {self.cfg.surrogates}")
        if kind in TABLE_SURROGATES:
            win = surrogate_window(kind, width, self.cfg.sg_table_depth)
            self.board.write(self.base["sgr"], list(win.regs().values()))
            self.board.write(self.base["sgt"], win.entries)

    def set_reg(self, name: str, value: int) -> None:
        self.board.write(self.base["ctrl"] + CTRL_REGS.index(name), [value & 0xFFFF])

    def get_reg(self, name: str) -> int:
        return int(self.board.read(self.base["ctrl"] + CTRL_REGS.index(name), 1)[0])

    def write_weights(self, weights) -> None:
        for l, w in enumerate(weights, start=1):  # column-major: W[i, j] at wbase + j*stride_l + i (CoreLayout)
            self.board.write(self.base["w"] + self.lay.wbase(l), self.lay.pack_matrix(l, w))

    def read_weights(self) -> list[np.ndarray]:
        out = []
        for l in range(1, self.cfg.n_layers + 1):
            words = self.board.read(self.base["w"] + self.lay.wbase(l), self.lay.wsize(l))
            out.append(self.lay.unpack_matrix(l, words))
        return out

    def load_program(self, words: list[int]) -> None:
        self.board.write(self.base["prog"], words)
        self.set_reg("start_pc", 0)

    def input_writes(self, X: np.ndarray, direct: bool, label: int) -> list[tuple[int, np.ndarray]]:
        """The bus writes that load one sample: label, then direct: x (FP16) + its nonzero indices as step-0
        input events; rate: one event list per step.  Streamed per sample, or stored once on the board."""
        lay = self.lay
        out = [(self.base["ctrl"] + CTRL_REGS.index("label"), np.array([label & 0xFFFF]))]
        steps = [(0, np.flatnonzero(np.asarray(X[0], np.float16)))] if direct else \
            [(t, np.flatnonzero(np.asarray(s) != 0)) for t, s in enumerate(X)]
        if direct:
            out.append((self.base["x"], f16_bits(X[0])))
        for t, idx in steps:
            if len(idx):  # entries e = 0..n-1 of one (layer, t) list are consecutive addresses
                out.append((self.base["spk"] + lay.spk_addr(0, t, 0), idx | (1 << lay.nb)))
            out.append((self.base["cnt"] + lay.cnt_addr(0, t), np.array([len(idx)])))
        return out

    def load_input(self, X: np.ndarray, direct: bool, label: int) -> None:
        for addr, words in self.input_writes(X, direct, label):
            self.board.write(addr, words)

    def status(self) -> dict[str, bool]:
        st = self.get_reg("ctrl")
        return {"busy": bool(st & STATUS_BUSY), "done": bool(st & STATUS_DONE)}

    def counters(self) -> dict[str, int]:
        """The core's 32-bit performance counters (one block read)."""
        w = self.board.read(self.base["counters"], 2 * len(COUNTERS)).astype(np.uint32)
        return {name: int(w[2 * k] | (w[2 * k + 1] << 16)) for k, name in enumerate(COUNTERS)}

    def run(self, max_polls: int = 100_000) -> None:
        self.board.write(self.base["ctrl"], [3])  # start + clear counters
        for _ in range(max_polls):
            st = self.get_reg("ctrl")
            if not st & STATUS_BUSY and st & STATUS_DONE:
                return
        raise LinkError("the core did not finish the sample")


def save_checkpoint(path, weights, *, epoch: int, history: list[dict], snn_json: dict, build_id: str,
                    sample: int = 0) -> None:
    """`epoch` epochs completed plus `sample` samples of the next one (a stop between samples)."""
    arrays = {f"w{l}": f16_bits(w) for l, w in enumerate(weights, start=1)}
    meta = {"epoch": epoch, "sample": sample, "history": history, "snn": snn_json, "build_id": build_id,
            "format": 1}
    np.savez(path, meta=np.frombuffer(json.dumps(meta).encode(), np.uint8), **arrays)


def load_checkpoint(path) -> tuple[list[np.ndarray], dict]:
    with np.load(path) as z:
        meta = json.loads(bytes(z["meta"]).decode())
        n = sum(1 for k in z.files if k.startswith("w"))
        weights = [z[f"w{l}"].astype(np.uint16).view(np.float16) for l in range(1, n + 1)]
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


def train(board: Board, cfg: CoreConfig, snn, weights, pixels, labels, *, epochs: int, start_epoch: int = 0,
          start_sample: int = 0, history: list | None = None, progress: bool = True, on_epoch=None,
          onboard: bool | None = None, should_stop=None, on_stop=None) -> tuple[list[np.ndarray], list]:
    """Train `epochs` epochs sample by sample on the board; returns (weights read back, history).

    `onboard` (None: when it fits): the encoded samples go into the dataset BRAM once and each sample is
    "loader: sample n; core: start" (`rtl/link/loader.py`); else every sample's inputs are streamed.
    `should_stop(epoch, n)` is asked before each sample: the core cannot be stopped mid-sample, so a stop
    lands between samples; then the weights are read back, `on_stop(epoch, n, weights, history)` called
    (epoch = epochs completed, n = samples of the next epoch done) and train returns.  Resume with
    `start_epoch=epoch, start_sample=n`: bit-identical to an uninterrupted run."""
    from tqdm import tqdm

    from spikemesh.sim.golden import encode

    core = CoreClient(board, cfg)
    for name, val in constants_from_snn(snn).items():
        core.set_reg(name, val)
    core.set_surrogate(snn.surrogate, snn.surrogate_width)
    core.load_program(compile_program(cfg, snn.rule, snn.T, snn.k_steps, update=True))
    core.write_weights(weights)
    history = list(history or [])
    direct = snn.encoding == "direct"
    writes = (lambda n: core.input_writes(encode(snn, pixels[n], n), direct, int(labels[n])))
    loader = None
    if onboard is not False:
        try:
            words = encode_records([writes(n) for n in range(len(labels))], board.region("dataset", "data")[1])
            board.load_dataset(words)
            loader = board.region("loader", "sample")[0]
        except (ValueError, KeyError):
            if onboard:
                raise
    for epoch in range(start_epoch, start_epoch + epochs):
        first = start_sample if epoch == start_epoch else 0
        bar = tqdm(range(first, len(labels)), desc=f"epoch {epoch + 1}", disable=not progress, unit="sample")
        for n in bar:
            if should_stop is not None and should_stop(epoch, n):
                weights = core.read_weights()
                if on_stop:
                    on_stop(epoch, n, weights, history)
                return weights, history
            if loader is not None:
                board.write(loader, [n])  # the link's next transfer waits until the copy is done
            else:
                for addr, words in writes(n):
                    board.write(addr, words)
            core.run()
        weights = core.read_weights()
        acc, loss = evaluate(snn, weights, pixels, labels)
        history.append({"epoch": epoch + 1, "train_acc": acc, "train_loss": loss,
                        "link_retries": board.link.stats.retries, "onboard": loader is not None})
        if progress:
            bar.write(f"epoch {epoch + 1}: loss {loss:.4f}  accuracy {acc * 100:.1f}%")
        if on_epoch:
            on_epoch(epoch + 1, weights, history)
    return weights, history


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
    raises KeyboardInterrupt at once.  Returns (flag list, previous handler to restore)."""
    stop: list = []

    def on_sigint(signum, frame):
        if stop:
            raise KeyboardInterrupt
        stop.append(1)
        print("\nstopping after this sample (Ctrl-C again to abort without a checkpoint)", flush=True)

    return stop, signal.signal(signal.SIGINT, on_sigint)


def cli_train(args) -> int:
    """`spikemesh train`: see gen/commands/board.py for the options."""
    from spikemesh.sim.golden import SNNConfig, init_weights, load_digits_split

    build_dir = Path(args.build_dir) if args.build_dir else None
    sim = None
    if args.sim:
        from spikemesh.rtl.core import TrainingCore
        from spikemesh.rtl.soc import SoC
        from spikemesh.sim.board import SimBoard, build_sim_board

        cfg = SIM_CORE
        build_dir = build_sim_board(SoC(SIM_SOC, core=TrainingCore(cfg), sim_io=True))
        sim = SimBoard(build_dir, mode=args.sim_mode)
        port = sim.url
    else:
        if build_dir is None:
            raise ValueError("--build-dir is required with --port (the build's memory_map.json/build.json)")
        port = args.port
    try:
        info = json.loads((build_dir / "build.json").read_text())
        if "core" not in info:
            raise LinkError("this build has no training core: nothing to train")
        cfg = CoreConfig(**info["core"])
        if args.rule not in cfg.rules:
            raise ValueError(f"rule must be one of {cfg.rules} for this core, got {args.rule!r}")
        snn = SNNConfig(sizes=cfg.layers, T=min(cfg.t_max, 4), rule=args.rule)
        X, y, _, _ = load_digits_split()
        if args.samples:
            X, y = X[:args.samples], y[:args.samples]
        if args.resume:
            weights, meta = load_checkpoint(args.resume)
            start, history, first = meta["epoch"], meta["history"], meta.get("sample", 0)
        else:
            weights, start, history, first = init_weights(snn, 0), 0, [], 0
        stop, old_handler = stop_on_sigint()
        try:
            with Board.connect(port, build_dir, baud=args.baud) as board:
                def save(epoch, w, hist, sample=0):
                    save_checkpoint(args.checkpoint, w, epoch=epoch, history=hist, snn_json=asdict(snn),
                                    build_id=board.ident.build_id.hex(), sample=sample)

                weights, history = train(board, cfg, snn, weights, X, y, epochs=args.epochs, start_epoch=start,
                                         start_sample=first, history=history, on_epoch=save,
                                         onboard=getattr(args, "onboard", None), should_stop=lambda e, n: bool(stop),
                                         on_stop=lambda e, n, w, h: save(e, w, h, n))
        finally:
            signal.signal(signal.SIGINT, old_handler)
        if stop:
            print("stopped: resume with --resume")
        print(f"checkpoint: {args.checkpoint}")
        if args.plot:
            plot_history(history, args.plot)
            print(f"plot: {args.plot}")
    finally:
        if sim is not None:
            sim.close()
    return 0


# The simulated board `spikemesh train --sim` builds: digits 64-16-10, T up to 4.
SIM_CORE = CoreConfig(layers=(64, 16, 10), t_max=4)
from spikemesh.rtl.link.protocol import LinkConfig as _LC  # noqa: E402
from spikemesh.rtl.soc import SocConfig as _SC  # noqa: E402

SIM_SOC = _SC(clk_hz=75_000_000, link=_LC(clocks_per_bit=25, max_words=256, watchdog_cycles=1 << 14),
              dataset_words=1 << 15, name="sim-core")  # ~270 digits records (~120 words each)
