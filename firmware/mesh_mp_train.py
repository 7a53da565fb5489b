"""Model-parallel training on the multi-core board (rtl/mesh/board_soc_mp.py `MeshMpSoC`) over the host link.

The host sequence of the model-parallel bench (sim/benches/mesh_mp_bench.py) with the board link's packets
(`MeshPort`, firmware/mesh_train.py): every core holds a contiguous slice of the layers and runs the per-step
segments of `firmware.program.compile_segments`.  Per sample: the input into the first core, the label into
the last; per step t the forward segments core by core, core i's last-layer spike list (and its count) copied
to core i+1's layer-0 list by core i's `CopyEngine`; then (backward, last core to first) core i+1's gs_0 copied
to core i's acc[noff(L_i)] and core i's backward segment; at the end of the sample every core's update.
The data never passes the host: a move is one COPY request packet to the source core.

The board drops the bus bridges' write acknowledgements (`MeshPort.setup`); a copy's acknowledgement, which
the DESTINATION bridge sends once every word is written, is one of them, so the host waits for a move by the
port's `acks` counter (`MpPort.sync`): it counts every write packet it sends (one acknowledgement each) and
reads `acks` until they have all come back.  A segment's end is a poll of the core's status.
After every epoch the weights are read back from the cores and compared bit for bit with single-core golden
training (`sim.golden.train_sample`, the same samples in the same order).
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np

from spikemesh.rtl.bus import MemoryMap, decode_fields
from spikemesh.rtl.core.config import CoreConfig
from spikemesh.rtl.core.layout import MODE_DIRECT, CoreLayout
from spikemesh.rtl.mesh.flit import ControlExtra
from spikemesh.rtl.words import unpack

from .driver import Board
from .link import LinkError
from .mesh_train import MeshPort, NodeBus, f16_bits
from .placement import PacketType

# firmware.program.SEGMENT_RULES, verified bit for bit, but local: a local block core holds its block's head as
# an extra last layer, which the slices MeshMpSoC builds do not have
MP_RULES = ("sltt", "sltt_k", "ottt_a", "bptt")


class MpPort(MeshPort):
    """`MeshPort` that counts the write acknowledgements it has coming (writes and copies) for `sync`."""

    def __init__(self, board: Board):
        super().__init__(board)
        if self.info.get("placement") != "model":
            raise LinkError("this build is not a model-parallel multi-core board (its mesh has no 'placement': "
                            "'model'); build it with MeshMpSoC")
        self.expected = 0
        self.acks0 = 0
        self.syncs = 0

    def _queue(self, dst, ptype, extra, body):
        ctl = unpack(ControlExtra, extra)
        if ptype == PacketType.CONTROL and (ctl["write"] or ctl["copy"]) and body:  # a write or a copy: one ack each
            self.expected += 1
        return super()._queue(dst, ptype, extra, body)

    def start(self, rx_wait: int) -> None:
        self.setup(rx_wait)
        self.acks0 = self.acks()
        self.expected = 0

    def sync(self, timeout: float = 60.0) -> None:
        """Flush; wait until every write and copy sent so far is acknowledged (all written at their cores)."""
        self.flush()
        deadline = time.monotonic() + timeout
        while (self.acks() - self.acks0) & 0xFFFF != self.expected & 0xFFFF:
            self.syncs += 1
            if time.monotonic() > deadline:
                raise LinkError(f"the mesh did not acknowledge its writes within {timeout:g} s")


class CoreBus(NodeBus):
    """A bare training core's bus at a mesh node (behind its CopyEngine + BusBridge): `CoreClient` needs."""

    def __init__(self, port: MpPort, node: int, cfg: CoreConfig, aw: int):
        self.port, self.node, self.board = port, node, port.board
        self.map = MemoryMap(addr_width=aw, data_width=16)
        self.map.add("core", CoreLayout(cfg).regions())
        self.aw = aw


@dataclass
class MpRun:
    weights: list
    history: list = field(default_factory=list)
    samples: int = 0
    cycles: int = 0             # board cycles of the training (all epochs; read-backs not counted)
    link_requests: int = 0
    step_requests: int = 0      # link requests of the training alone
    moves: int = 0              # core-to-core copies per epoch
    core_cycles: list = field(default_factory=list)  # per core, its busy cycles in the last sample (counters)
    seconds: float = 0.0

    @property
    def cycles_per_sample(self) -> float:
        return self.cycles / max(1, self.samples * max(1, len(self.history)))


def check_mp_rule(snn) -> None:
    if snn.rule not in MP_RULES:
        raise ValueError(f"--rule {snn.rule}: model-parallel placement trains {', '.join(MP_RULES)} (the rules "
                         "the per-step segments support); train other rules with --placement data or --cores 1")


def golden_epochs(snn, weights, X, y, epochs: int) -> list[list]:
    """Single-core golden training, sample by sample (sample index n seeds the encoder): weights per epoch."""
    from spikemesh.sim.golden import train_sample

    W, out = [np.array(w, np.float16) for w in weights], []
    for _ in range(epochs):
        for n in range(len(y)):
            W = train_sample(snn, W, X[n], int(y[n]), sample_index=n).weights
        out.append(W)
    return out


def mesh_mp_train(board: Board, snn, weights, X, y, *, epochs: int = 1, rx_wait: int = 4096, cycles=None,
                  progress: bool = True, check: bool = True) -> MpRun:
    """Train `epochs` epochs of the samples X, y one by one, the network's layers on the board's chain of cores
    (the placement is the build's); weights checked against golden `train_sample` every epoch when `check`."""
    from tqdm import tqdm

    from spikemesh.rtl.mesh.copy_engine import COPY_EXTRA, copy_request_body
    from spikemesh.sim.golden import encode

    from .program import compile_segments, constants_from_snn
    from .train import CoreClient

    check_mp_rule(snn)
    port = MpPort(board)
    info = port.info
    sizes = tuple(info["sizes"])
    if tuple(snn.sizes) != sizes:
        raise ValueError(f"the network {'-'.join(map(str, snn.sizes))} is not this build's "
                         f"{'-'.join(map(str, sizes))}")
    if len(weights) != len(sizes) - 1:
        raise ValueError(f"weights must list {len(sizes) - 1} matrices (one per layer), got {len(weights)}")
    if snn.T > info["t_max"]:
        raise ValueError(f"T = {snn.T} exceeds the cores' t_max = {info['t_max']}")
    nodes = info["nodes"]
    cfgs = [CoreConfig(layers=tuple(ls), t_max=info["t_max"]) for ls in info["core_layers"]]
    buses = [CoreBus(port, n, c, aw) for n, c, aw in zip(nodes, cfgs, info["core_aw"])]
    cl = [CoreClient(b, c) for b, c in zip(buses, cfgs)]
    lays = [c.lay for c in cl]
    n = len(nodes)
    T = snn.T
    progs = [compile_segments(c, snn.rule, T, i == 0, i == n - 1, snn.k_steps) for i, c in enumerate(cfgs)]
    direct = snn.encoding == "direct"
    ctrl = [c.reg_addr("ctrl") for c in cl]
    start_pc = [c.reg_addr("start_pc") for c in cl]

    ctrl_fields = cl[0].register("ctrl")[1]["fields"]

    t0 = time.monotonic()
    req0 = board.link.stats.requests
    port.start(rx_wait)
    board.begin_session()
    lo = 0
    consts = constants_from_snn(snn)
    for i, c in enumerate(cl):
        for name, val in consts.items():
            c.set_reg(name, val & ~MODE_DIRECT if name == "mode" and i > 0 else val)  # the first core only
        c.set_surrogate(snn.surrogate, snn.surrogate_width)
        c.load_program(list(progs[i].words))
        c.clear_state()
        c.write_weights(weights[lo:lo + cfgs[i].n_layers])
        lo += cfgs[i].n_layers
    port.sync()
    board.check_session()

    first_launch = [True] * n

    def launch(i: int, key) -> None:
        ctl = cl[i].reg_value("ctrl", start=1, clear=int(first_launch[i]))
        first_launch[i] = False
        aw = buses[i].aw
        port.write(nodes[i], [start_pc[i] | progs[i].starts[key] << aw, ctrl[i] | ctl << aw])

    def wait(idx: list[int]) -> None:
        """Poll the cores' status (one read packet each, in one link write) until they are all done."""
        left = list(idx)
        deadline = time.monotonic() + 60.0
        while left:
            if time.monotonic() > deadline:
                raise LinkError(f"core(s) at node(s) {[nodes[i] for i in left]} did not finish a segment within "
                                "60 s (a wrong program, or a hung core)")
            st = port.read_many([(nodes[i], [ctrl[i]]) for i in left])
            left = [i for i, s in zip(left, st)
                    if decode_fields(ctrl_fields, s[0] >> buses[i].aw) != {"busy": 0, "done": 1}]

    def run(idx_keys: list[tuple[int, tuple]]) -> None:
        for i, key in idx_keys:
            launch(i, key)
        wait([i for i, _ in idx_keys])

    def copy(src: int, src_addr: int, dst: int, dst_addr: int, count: int, spikes: bool) -> None:
        body = copy_request_body(port.cfg, nodes[dst], src_addr, count, dst_addr, buses[dst].aw, lays[src].nb,
                                 lays[dst].nb, spikes)
        port._queue(nodes[src], PacketType.CONTROL, COPY_EXTRA, body)
        res.moves += 1

    def move_spikes(i: int, t: int) -> None:
        a, b, L = cl[i], cl[i + 1], cfgs[i].n_layers
        copy(i, a.base["spk"] + lays[i].spk_addr(L, t, 0), i + 1, b.base["spk"] + lays[i + 1].spk_addr(0, t, 0),
             cfgs[i].layers[-1], True)
        copy(i, a.base["cnt"] + lays[i].cnt_addr(L, t), i + 1, b.base["cnt"] + lays[i + 1].cnt_addr(0, t), 1, False)
        port.sync()

    def move_gs(i: int) -> None:
        a, b, L = cl[i], cl[i + 1], cfgs[i].n_layers
        copy(i + 1, b.base["acc"] + lays[i + 1].gs0_off, i, a.base["acc"] + lays[i].noff(L), cfgs[i].layers[-1],
             False)
        port.sync()

    res = MpRun(weights=[np.array(w, np.float16) for w in weights], samples=len(y))
    for epoch in range(epochs):
        bar = tqdm(total=len(y), desc=f"epoch {epoch + 1} ({n} cores, model parallel)", disable=not progress,
                   unit="sample")
        c0 = cycles() if cycles else 0
        r0 = board.link.stats.requests
        res.moves = 0
        for s in range(len(y)):
            first_launch[:] = [True] * n
            cl[-1].set_reg("label", int(y[s]))
            for addr, words in cl[0].input_writes(encode(snn, X[s], s), direct, int(y[s]))[1:]:  # not the label
                buses[0].write(addr, words)

            def forward(t):
                for i in range(n):
                    run([(i, ("fwd", t))])
                    if i + 1 < n:
                        move_spikes(i, t)

            def backward(t):
                if ("bwd", t) in progs[-1].starts:  # BPTT: the last core's backward is a segment of its own
                    run([(n - 1, ("bwd", t))])
                for i in range(n - 2, -1, -1):
                    if ("bwd", t) in progs[i].starts:
                        move_gs(i)
                        run([(i, ("bwd", t))])

            if snn.rule == "bptt":
                for t in range(T):
                    forward(t)
                for t in reversed(range(T)):
                    backward(t)
            else:
                for t in range(T):
                    forward(t)
                    backward(t)
            run([(i, ("upd", 0)) for i in range(n)])  # every core updates at once
            bar.update(1)
        res.step_requests += board.link.stats.requests - r0
        if cycles:
            res.cycles += cycles() - c0
        bar.close()
        res.core_cycles = [c.counters()["cycles"] for c in cl]  # cleared at each sample's first launch
        w = [m for c in cl for m in c.read_weights()]
        board.check_session()
        res.weights = w
        res.history.append({"epoch": epoch + 1, "samples": len(y), "weights": w})
    res.seconds = time.monotonic() - t0
    res.link_requests = board.link.stats.requests - req0
    if check:
        gold = golden_epochs(snn, weights, X, y, epochs)
        for h, gw in zip(res.history, gold):
            h["golden_bit_exact"] = all(np.array_equal(f16_bits(a), f16_bits(b)) for a, b in zip(h["weights"], gw))
            if not h["golden_bit_exact"]:
                raise LinkError(f"epoch {h['epoch']}: the weights differ from single-core golden training")
    return res


# The simulated model-parallel board `spikemesh train --cores 3 --placement model --sim` builds: the digits
# network 64-128-128-10 (one core: 60,434 words, its aligned regions on a 17-bit bus: more than a copy engine
# addresses), one layer per core on a 1x4 mesh, host port at node 0, the link of the data-parallel simulated board.
SIM_MP_SIZES = (64, 128, 128, 10)


def sim_mp_soc(cores: int = 3, sizes: tuple[int, ...] = SIM_MP_SIZES, t_max: int = 4):
    from dataclasses import replace

    from spikemesh.rtl.mesh.board_soc_mp import MeshMpSoC

    from .mesh_train import SIM_MESH_SOC

    return MeshMpSoC(replace(SIM_MESH_SOC, name="sim-mesh-mp"), sizes, cores, t_max=t_max, sim_io=True)


def cli_mesh_mp_train(args) -> int:
    """`spikemesh train --cores N --placement model` (--sim: the simulated board `sim_mp_soc(N)`; --port: a
    MeshMpSoC build).  Samples one by one (no batches); every epoch bit for bit against golden training."""
    import json
    from dataclasses import asdict
    from pathlib import Path

    from spikemesh.gen.args import check_folder, check_readable, check_writable
    from spikemesh.rtl.core.config import CoreConfig as _CC
    from spikemesh.sim.golden import init_weights, load_digits_split

    from .train import evaluate, snn_for_core, write_weights_file

    check_writable(args.checkpoint, "--checkpoint")
    for opt, val in (("--resume", args.resume), ("--init", getattr(args, "init", None)), ("--plot", args.plot),
                     ("--speedup", getattr(args, "speedup", False))):
        if val:
            raise ValueError(f"{opt} is not supported with --placement model yet")
    if getattr(args, "onboard", None):
        raise ValueError("--onboard: model-parallel training streams every sample into the first core")
    soc = None
    if args.sim:
        sizes, t_max = SIM_MP_SIZES, 4
    else:
        if args.build_dir is None:
            raise ValueError("--build-dir is required with --port (the build's memory_map.json/build.json)")
        check_folder(args.build_dir, "--build-dir")
        check_readable(Path(args.build_dir) / "build.json", "--build-dir")
        info = json.loads((Path(args.build_dir) / "build.json").read_text())
        if info.get("placement") != "model":
            raise ValueError(f"--placement model needs a model-parallel multi-core build; {args.build_dir} is not")
        if args.cores != info["cores"]:
            raise ValueError(f"--cores {args.cores}: the build in {args.build_dir} splits its network over "
                             f"{info['cores']} cores")
        sizes, t_max = tuple(info["sizes"]), 4
    snn = snn_for_core(_CC(layers=tuple(sizes), t_max=t_max), args.rule, k_steps=args.k_steps, window=args.window)
    check_mp_rule(snn)
    if args.sim:
        soc = sim_mp_soc(args.cores, sizes, t_max)  # refuses a placement that does not fit (before the build)
    X, y, _, _ = load_digits_split()
    if args.samples:
        if args.samples > len(y):
            raise ValueError(f"--samples must be in 0..{len(y)} (the training split), got {args.samples}")
        X, y = X[:args.samples], y[:args.samples]
    weights = init_weights(snn, 0)
    sim = None
    try:
        if args.sim:
            from spikemesh.sim.board import SimBoard

            from .mesh_train import build_sim_mesh

            print("building the simulated model-parallel board (Verilator; cached after the first build) ...",
                  flush=True)
            build_dir = build_sim_mesh(soc)
            sim = SimBoard(build_dir, mode=args.sim_mode)
            port = sim.url
        else:
            build_dir, port = Path(args.build_dir), args.port
        with Board.connect(port, build_dir, baud=args.baud, timeout=5.0 if sim else 0.5) as board:
            run = mesh_mp_train(board, snn, weights, X, y, epochs=args.epochs, cycles=sim.cycles if sim else None)
    finally:
        if sim is not None:
            sim.close()
    acc, loss = evaluate(snn, run.weights, X, y)
    write_weights_file(args.checkpoint, run.weights, {"format": 1, "epoch": args.epochs, "cores": args.cores,
                                                      "placement": "model", "samples": len(y),
                                                      "snn": json.loads(json.dumps(asdict(snn))),
                                                      "build_id": board.ident.build_id.hex()})
    ep = len(run.history)
    cps = f"{run.cycles_per_sample:,.0f}" if run.cycles else "-"
    print(f"{'cores':>5} {'network':>14} {'samples':>8} {'epochs':>6} {'wall s':>7} {'board cycles/sample':>20} "
          f"{'moves/sample':>12} {'link requests/sample':>21}  bit-exact with golden")
    print(f"{args.cores:>5} {'-'.join(map(str, sizes)):>14} {run.samples:>8} {ep:>6} {run.seconds:>7.1f} {cps:>20} "
          f"{run.moves / max(1, run.samples):>12.0f} {run.step_requests / max(1, run.samples * ep):>21.1f}  "
          f"{all(h.get('golden_bit_exact') for h in run.history)}")
    print(f"{args.cores} cores (model parallel), after {args.epochs} epoch(s): training-sample accuracy "
          f"{acc * 100:.1f}%, loss {loss:.4f} (golden forward pass on the weights read back)")
    print(f"checkpoint: {args.checkpoint}")
    return 0
