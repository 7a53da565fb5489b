"""`spikemesh demo`: the main job in one command.

1. FP16 arithmetic units: their Verilog against the golden FP model (results and flags) under cocotb + Verilator.
2. The simulated board: the SoC (host link, dataset BRAM, sample loader, training core) under Verilator with
   the native harness, reached through the host driver over a socket, as a real board is over its USB-UART.
3. On-chip training of the whole digits training split for several epochs (golden `train_epoch`'s shuffled
   order and learning-rate schedule; one link request per sample); after every epoch the weights read back
   from the chip are compared bit for bit with the golden model's own run.
4. References: the golden FP16 model (its own run) and PyTorch float32 autograd, trained the same way.
One table, a learning-curve PNG, and the headline figures in docs/measured.json.

The recipe (hidden width, learning rate, epochs) was chosen by `spikemesh demo --tune` on validation data
carved from the training split; the test split is only evaluated.
"""
from __future__ import annotations

import json
import threading
import time
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from spikemesh.gen.measured import MEASURED

@dataclass(frozen=True)
class DemoConfig:
    hidden: int = 64
    T: int = 4
    rule: str = "sltt"
    lanes: int = 4
    epochs: int = 6
    lr_exp: int = -2           # lr = 2^lr_exp for the first `full_lr_epochs` epochs, then halved every epoch
    full_lr_epochs: int = 2
    samples: int = 0           # 0: the whole training split (1437)
    seed: int = 0
    fp_vectors: int = 5_000
    torch: bool = True
    out: str = "build/demo"

    def __post_init__(self) -> None:
        if not 1 <= self.hidden <= 256:
            raise ValueError(f"hidden must be in 1..256 neurons, got {self.hidden}")
        if not 1 <= self.T <= 8:
            raise ValueError(f"T must be in 1..8, got {self.T}")
        if self.rule not in ("sltt", "bptt", "ottt_a", "sltt_k", "tbptt"):
            raise ValueError(f"rule must be one of sltt, bptt, ottt_a, sltt_k, tbptt, got {self.rule!r}")
        if self.lanes not in (1, 2, 4, 8):
            raise ValueError(f"lanes must be one of 1, 2, 4, 8, got {self.lanes}")
        if not 1 <= self.epochs <= 50:
            raise ValueError(f"epochs must be in 1..50, got {self.epochs}")
        if not -8 <= self.lr_exp <= 0:
            raise ValueError(f"lr_exp must be in -8..0 (lr = 2^lr_exp), got {self.lr_exp}")
        if not 0 <= self.samples <= 1437:
            raise ValueError(f"samples must be in 0..1437 (0: the whole digits training split), got {self.samples}")
        if self.fp_vectors < 0:
            raise ValueError(f"fp_vectors must be >= 0, got {self.fp_vectors}")

    @property
    def layers(self) -> tuple[int, ...]:
        return (64, self.hidden, 10)

    def snn(self):
        from spikemesh.sim.golden import SNNConfig

        return SNNConfig(sizes=self.layers, T=self.T, rule=self.rule, surrogate="rect", surrogate_width=2.0,
                         loss_scale=256, lr=2.0**self.lr_exp)

    def lr_at(self, epoch: int) -> float:
        from spikemesh.sim.golden.recipes import lr_for_epoch

        return lr_for_epoch(self.snn(), epoch, self.full_lr_epochs)

    def core(self):
        from spikemesh.rtl.core import CoreConfig

        return CoreConfig(layers=self.layers, t_max=self.T, lanes=self.lanes, rules=(self.rule,))

    @property
    def is_default_job(self) -> bool:
        """The run whose figures go into docs/measured.json (a shorter or different run does not overwrite them)."""
        d = DemoConfig()
        return all(getattr(self, k) == getattr(d, k) for k in ("hidden", "T", "rule", "lanes", "epochs", "lr_exp",
                                                               "full_lr_epochs", "samples", "seed", "torch"))


def log(msg: str) -> None:
    print(msg, flush=True)


@contextmanager
def ticker(label: str, every: float = 10.0):
    """A line every `every` seconds while the block runs (a build or simulation that prints nothing itself)."""
    stop, t0 = threading.Event(), time.monotonic()

    def tick() -> None:
        while not stop.wait(every):
            log(f"  [{time.monotonic() - t0:5.0f} s] {label}")

    th = threading.Thread(target=tick, daemon=True)
    th.start()
    try:
        yield
    finally:
        stop.set()
        th.join()


def run_fp_units(cfg: DemoConfig) -> list[tuple[str, str]]:
    from spikemesh.rtl.formats import FP16
    from spikemesh.sim.benches.fp_harness import LaneHarness, groups_for
    from spikemesh.sim.cocotb_run import run_cocotb

    groups = groups_for(FP16, False, lanes_per_depth=3)
    harness = LaneHarness(groups)
    params = dict(fmt="fp16", int_width=16, seed=cfg.seed + 7, n_random=cfg.fp_vectors, n_corner=2_000,
                  exhaustive=False, groups={g.name: list(g.depths) for g in groups},
                  widths={g.name: list(harness.widths(g.name)) for g in groups})
    t0 = time.time()
    with ticker("FP units: Verilog, Verilator build, cocotb simulation ..."):
        run_cocotb(lambda: harness, toplevel="fp_lanes_e5m10", tag="one",
                   test_module="spikemesh.sim.benches.fp_bench", sim="verilator", params=params)
    dt = time.time() - t0
    return [(g.name, f"depths {list(g.depths)}: {cfg.fp_vectors:,} random + 2,000 corner vectors, "
             f"results and flags bit-exact") for g in groups] + [("time", f"{dt:.0f} s (build + simulation)")]


def train_torch(cfg: DemoConfig, X, y, Xte, yte, on_epoch=None) -> float:
    """PyTorch float32 autograd: the same network, initial weights, sample order and lr schedule."""
    import torch

    from spikemesh.sim.golden import init_weights
    from spikemesh.sim.golden.torch_ref import TorchSNN

    torch.set_num_threads(1)  # batch-1 steps: threads only add overhead
    snn = cfg.snn()
    net = TorchSNN(snn, [w.astype(np.float32) for w in init_weights(snn, cfg.seed)], dtype=torch.float32)
    acc = 0.0
    for e in range(cfg.epochs):
        net.cfg = snn.replace(lr=cfg.lr_at(e))
        for i in np.random.default_rng(cfg.seed + e).permutation(len(X)):
            net.sgd_sample(X[i], int(y[i]), sample_index=int(i))
        net.cfg = snn
        acc = float(np.mean([net.predict(Xte[i], sample_index=int(i)) == yte[i] for i in range(len(Xte))]))
        if on_epoch:
            on_epoch(e + 1, acc)
    return acc


def plot_curves(history: list[dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    ep = [h["epoch"] for h in history]
    fig, ax = plt.subplots(1, 2, figsize=(9, 3.4))
    ax[0].plot(ep, [h["train_loss"] for h in history], marker="o", label="train")
    ax[0].plot(ep, [h["test_loss"] for h in history], marker="s", label="test")
    ax[0].set(xlabel="epoch", ylabel="loss (MSE on the output rate)", title="chip (simulated board)")
    ax[1].plot(ep, [100 * h["train_acc"] for h in history], marker="o", label="chip train")
    ax[1].plot(ep, [100 * h["test_acc"] for h in history], marker="s", label="chip test")
    if all("torch_test_acc" in h for h in history):
        ax[1].plot(ep, [100 * h["torch_test_acc"] for h in history], ls="--", label="PyTorch fp32 test")
    ax[1].set(xlabel="epoch", ylabel="accuracy %")
    for a in ax:
        a.grid(alpha=0.3)
        a.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def board_clocks() -> tuple[float, float | None]:
    """(the demo board's system clock, its measured Fmax or None) in MHz: the ULX3S-85F `demo` configuration,
    `spikemesh build --board ulx3s-85f --config demo --record` writes the Fmax into docs/measured.json."""
    from spikemesh.boards.profiles import board_profile

    clk = board_profile("ulx3s-85f").soc_config("demo").clk_hz / 1e6
    try:
        return clk, float(json.loads(MEASURED.read_text())["board.demo.fmax_mhz"]["value"])
    except (OSError, KeyError, ValueError):
        return clk, None


def run_board(cfg: DemoConfig) -> dict:
    from spikemesh.firmware.driver import Board
    from spikemesh.firmware.train import SIM_SOC, evaluate, f16_bits, train
    from spikemesh.rtl.core import TrainingCore
    from spikemesh.rtl.soc.top import SoC
    from spikemesh.sim.board import SimBoard, build_sim_board
    from spikemesh.sim.golden import init_weights, load_digits_split
    from spikemesh.sim.golden.training import train_epoch

    snn = cfg.snn()
    X, y, Xte, yte = load_digits_split()
    if cfg.samples:
        X, y = X[:cfg.samples], y[:cfg.samples]
    t0 = time.monotonic()
    soc = SoC(SIM_SOC, core=TrainingCore(cfg.core()), sim_io=True)
    build_dir = build_sim_board(soc, progress=lambda msg: log(f"  [{time.monotonic() - t0:5.0f} s] {msg}"))
    t_build = time.monotonic() - t0

    w0 = init_weights(snn, cfg.seed)
    golden = {"w": w0, "checks": 0, "differ": 0}
    history_out: list[dict] = []

    marks: list[int] = []  # the board's cycle count at each epoch's end (an idle board is not clocked)

    def on_epoch(epoch: int, w, history) -> None:
        marks.append(sim.cycles())
        e = epoch - 1
        golden["w"], _ = train_epoch(snn.replace(lr=cfg.lr_at(e)), golden["w"], X, y, seed=cfg.seed + e)
        differ = sum(int(np.sum(f16_bits(a) != f16_bits(b))) for a, b in zip(w, golden["w"]))
        golden["checks"] += 1
        golden["differ"] += differ
        acc, loss = evaluate(snn, w, Xte, yte)
        h = dict(history[-1], test_acc=acc, test_loss=loss, weights_differ=differ)
        history_out.append(h)
        log(f"  epoch {epoch}: train {100 * h['train_acc']:.1f}%  test {100 * acc:.1f}%  loss {h['train_loss']:.4f}"
            f"  weights vs golden: {'bit-exact' if differ == 0 else f'{differ} differ'}")

    log(f"  training {len(y)} samples x {cfg.epochs} epochs on the simulated board "
        f"(one link request per sample; the dataset sits in the board's BRAM)")
    with SimBoard(build_dir) as sim, Board.connect(sim.url, build_dir) as board:
        c0, t1 = sim.cycles(), time.monotonic()
        w, history = train(board, cfg.core(), snn, w0, X, y, epochs=cfg.epochs, onboard=True,
                           order=lambda e: np.random.default_rng(cfg.seed + e).permutation(len(y)),
                           lr_at=cfg.lr_at, on_epoch=on_epoch)
        t_train, cycles = time.monotonic() - t1, sim.cycles() - c0
        requests = board.link.stats.requests
    core_cycles = sum(h["core_counters"]["cycles"] for h in history)
    # simulation speed while the board trains: epochs 2.. (epoch 1's cycles include the set-up and upload),
    # their sample loops' wall time (not the host's evaluations and golden checks between epochs)
    if len(marks) > 1:
        rate_cycles, t_samples = marks[-1] - marks[0], sum(h["train_seconds"] for h in history[1:])
    else:
        rate_cycles, t_samples = cycles, history[0]["train_seconds"]
    golden_acc = evaluate(snn, golden["w"], Xte, yte)[0]
    return dict(history=history_out, weights=w, golden_acc=golden_acc, checks=golden["checks"],
                differ=golden["differ"], t_build=t_build, t_train=t_train, t_samples=t_samples, rate_cycles=rate_cycles,
                board_cycles=cycles,
                core_cycles=core_cycles, samples=len(y) * cfg.epochs, requests=requests,
                phase={k: sum(h["core_counters"][k] for h in history) for k in history[0]["core_counters"]},
                Xte=Xte, yte=yte, X=X, y=y)


def main(cfg: DemoConfig) -> int:
    t_start = time.monotonic()
    out = Path(cfg.out)
    out.mkdir(parents=True, exist_ok=True)
    n = cfg.samples or 1437
    log(f"spikemesh demo: a {'-'.join(map(str, cfg.layers))} SNN (T={cfg.T}, {cfg.rule}, {cfg.lanes} MAC lanes) "
        f"trained on {n} digits x {cfg.epochs} epochs by the simulated training chip\n")
    fp_rows = []
    if cfg.fp_vectors:
        log("[1/3] FP16 units (generated Verilog, cocotb + Verilator) vs the golden FP model")
        fp_rows = run_fp_units(cfg)
        for unit, text in fp_rows:
            log(f"  {unit:<8} {text}")
    log("\n[2/3] the simulated board (SoC Verilog under Verilator), trained over its host link")
    r = run_board(cfg)
    torch_acc = None
    if cfg.torch:
        log("\n[3/3] PyTorch float32 (autograd), the same network, initial weights, order and lr schedule")
        t0 = time.monotonic()

        def on_torch_epoch(epoch, acc):
            r["history"][epoch - 1]["torch_test_acc"] = acc
            log(f"  epoch {epoch}: test {100 * acc:.1f}%")

        torch_acc = train_torch(cfg, r["X"], r["y"], r["Xte"], r["yte"], on_torch_epoch)
        log(f"  {time.monotonic() - t0:.0f} s")
    png = out / "learning_curve.png"
    plot_curves(r["history"], png)
    (out / "history.json").write_text(json.dumps({"config": asdict(cfg), "history": r["history"]}, indent=1))
    wall = time.monotonic() - t_start

    clk, fmax = board_clocks()
    core_per_sample = r["core_cycles"] / r["samples"]
    board_per_sample = r["board_cycles"] / r["samples"]
    sim_rate = r["rate_cycles"] / r["t_samples"]
    chip_acc = r["history"][-1]["test_acc"]
    ph = r["phase"]
    phases = " / ".join(f"{ph[k] / r['samples']:,.0f}" for k in ("fp_cycles", "bp_cycles", "wg_cycles", "upd_cycles")
                        if k in ph)
    rows = [
        ("test accuracy (360 held-out digits)", f"chip {100 * chip_acc:.1f}%   golden FP16 {100 * r['golden_acc']:.1f}%"
         + (f"   PyTorch float32 {100 * torch_acc:.1f}%" if torch_acc is not None else "")),
        ("chip weights vs golden FP16 (bit for bit)", f"{r['checks']} of {cfg.epochs} epochs checked, "
         + ("every weight bit-exact" if r["differ"] == 0 else f"{r['differ']} weights DIFFER")),
        ("core cycles / sample", f"{core_per_sample:,.0f} (forward / backward / grad / update: {phases})"),
        ("board cycles / sample (with the link)", f"{board_per_sample:,.0f}; {r['requests'] / r['samples']:.2f} link "
                                                  "requests / sample"),
        ("samples/s on the ULX3S-85F demo build", f"{clk * 1e6 / board_per_sample:,.0f} at its {clk:g} MHz clock"
         + (f"; {fmax * 1e6 / board_per_sample:,.0f} at its measured Fmax {fmax:g} MHz" if fmax else
            " (Fmax not measured: spikemesh build --board ulx3s-85f --config demo --record)")),
        ("simulated cycles / wall-second", f"{sim_rate / 1e6:.2f} M while the board trains ({r['rate_cycles'] / 1e6:.0f} M "
                                           f"cycles in {r['t_samples']:.0f} s; the whole training {r['t_train']:.0f} s "
                                           "with the host's per-epoch evaluations and golden checks)"),
        ("Verilator build of the board", f"{r['t_build']:.0f} s"),
        ("learning curve", str(png)),
        ("whole job", f"{wall:.0f} s"),
    ]
    w = max(len(k) for k, _ in rows)
    log("")
    for k, v in rows:
        log(f"  {k:<{w}}  {v}")
    if cfg.is_default_job and r["differ"] == 0:
        from spikemesh.gen.measured import record

        record({"demo.test_accuracy": (round(chip_acc, 4), "fraction (chip weights, 360 test digits)"),
                "demo.golden_fp16_test_accuracy": (round(r["golden_acc"], 4), "fraction"),
                **({"demo.torch_fp32_test_accuracy": (round(torch_acc, 4), "fraction")} if torch_acc is not None else {}),
                "demo.wall_s": (round(wall, 1), "s (whole job, including the Verilator build)"),
                "demo.core_cycles_per_sample": (round(core_per_sample), "cycles"),
                "demo.board_cycles_per_sample": (round(board_per_sample), "cycles (with the link)"),
                "demo.board_samples_per_s": (round(clk * 1e6 / board_per_sample),
                                             f"training samples/s at the ULX3S-85F demo build's {clk:g} MHz"),
                "demo.cycles_per_wall_s": (round(sim_rate), "simulated cycles per wall-second while the demo "
                                                            "board (64-64-10, 4 lanes) trains")},
               "make demo")
    if r["differ"]:
        log("\nFAILED: the chip's weights differ from the golden model's")
        return 1
    return 0


def tune(seeds: tuple[int, ...] = (0, 1, 2), hidden: tuple[int, ...] = (32, 64), lr_exps: tuple[int, ...] = (-2, -3, -4),
         epochs: int = 8, T: int = 4) -> int:
    """The recipe search: golden FP16 on a stratified 80/20 split of the TRAINING data (validation carved from
    it; the test split is never looked at), mean validation accuracy over split seeds per epoch count."""
    from sklearn.model_selection import train_test_split
    from tqdm import tqdm

    from spikemesh.sim.golden import evaluate, init_weights, load_digits_split
    from spikemesh.sim.golden.training import train_epoch

    X, y, _, _ = load_digits_split()
    res: dict[tuple[int, int], list[list[float]]] = {}
    jobs = [(h, l, s) for h in hidden for l in lr_exps for s in seeds]
    for h, l, s in tqdm(jobs, desc="recipes x split seeds", unit="run"):
        cfg = DemoConfig(hidden=h, lr_exp=l, T=T, epochs=epochs)
        snn = cfg.snn()
        Xa, Xv, ya, yv = train_test_split(X, y, test_size=0.2, random_state=s, stratify=y)
        w, accs = init_weights(snn, s), []
        for e in range(epochs):
            w, _ = train_epoch(snn.replace(lr=cfg.lr_at(e)), w, Xa, ya, seed=s + e)
            accs.append(evaluate(snn, w, Xv, yv))
        res.setdefault((h, l), []).append(accs)
    print(f"validation accuracy % (mean over split seeds {seeds}), lr halved every epoch after the first "
          f"{DemoConfig().full_lr_epochs}")
    print(f"{'hidden':>6} {'lr':>6} " + " ".join(f"{'e' + str(e + 1):>6}" for e in range(epochs)))
    best = (0.0, None)
    for (h, l), runs in sorted(res.items()):
        mean = np.mean(runs, axis=0)
        print(f"{h:>6} {'2^' + str(l):>6} " + " ".join(f"{100 * a:6.1f}" for a in mean))
        for e, a in enumerate(mean):
            if a > best[0] + 1e-9:
                best = (a, (h, l, e + 1))
    print(f"best: hidden {best[1][0]}, lr 2^{best[1][1]}, {best[1][2]} epochs ({100 * best[0]:.1f}% validation)")
    return 0
