"""Data-parallel training on the multi-core board (rtl/mesh/board_soc.py) over the host link.

The host composes the packets the cocotb mesh host composes (sim/benches/mesh_dp_bench.py) and moves them
through the board's `mesh` target (rtl/mesh/host_port.py) with ordinary `Board` READ/WRITE requests:
- `MeshPort`: packets into the TX region, packets out of the RX region (a long poll: one READ waits on the
  board for a whole packet), write acknowledgements dropped on the board, so only read answers and the
  reduction's "done" packet come back;
- `NodeBus`: one core's tile bus over the mesh with `Board`'s read/write, so `CoreClient` (firmware/train.py)
  configures a mesh core exactly as it configures the single-core board's;
- `mesh_train`: each core's own samples into its tile's dataset once; per step ONE link write (per core a
  one-transfer packet "runner go: update, then k samples" + "start the reduction" at the chain's first core)
  and a long poll for the done packet; the board does the rest (rtl/mesh/tile.py `Runner`, the in-network
  reduction).  Every epoch's weights are checked bit for bit against `golden_mesh.data_parallel_batch_step`.
"""
from __future__ import annotations

import json
import time
from dataclasses import dataclass, field

import numpy as np

from spikemesh.rtl.bus import MemoryMap
from spikemesh.rtl.core.config import CoreConfig
from spikemesh.rtl.core.isa import Op

from .dataset import encode_records
from .driver import Board
from .link import LinkError
from .placement import DataParallelPlan, PacketType, packet, parse_packet
from .program import assemble, snn_ops, step_seed

GO_UPDATE = 1 << 15
MAX_TRANSFERS = 64       # bus transfers per request packet
DONE_KIND = 2            # rtl/mesh/reducer.py Kind.DONE (the head's layer field)
DP_RULES = ("sltt", "sltt_k", "bptt", "tbptt", "ottt_a")  # verified bit for bit (tests/test_mesh_board.py)


def f16_bits(a) -> np.ndarray:
    return np.asarray(a, np.float16).view(np.uint16)


class MeshPort:
    """The mesh's host node behind the board's `mesh` target."""

    def __init__(self, board: Board):
        from spikemesh.rtl.mesh.flit import MeshConfig

        self.board = board
        tgt = next((t for t in board.map.targets if t["name"] == "mesh"), None)
        if tgt is None:
            raise LinkError("this build has no mesh (memory map has no 'mesh' target): not a multi-core board")
        regions = {r["name"]: r for r in tgt["regions"]}
        self.info = regions["ctl"]["fields"]
        i = self.info
        self.cfg = MeshConfig(i["rows"], i["cols"], i["flit_width"], i["depth"])
        self.host = i["host_node"]
        self.ctl, self.tx, self.rx = (tgt["base"] + regions[n]["offset"] for n in ("ctl", "tx", "rx"))
        self.tx_size = regions["tx"]["size"]
        self.wpf = -(-self.cfg.flit_width // 16)
        self.seq = 0
        self.queue: list[int] = []
        self.flits: list[int] = []
        self.packets: list[dict] = []
        self.outstanding = 0          # response flits asked for and not yet received
        self.rx_room = i["rx_depth"] - 8
        self.polls = 0

    def setup(self, rx_wait: int) -> None:
        """Long-poll time (units of 16 board cycles); drop write acknowledgements on the board."""
        self.board.write(self.ctl, [rx_wait & 0xFFFF])
        self.board.write(self.ctl + 4, [1])

    def acks(self) -> int:
        return int(self.board.read(self.ctl + 5, 1)[0])

    def _queue(self, dst: int, ptype: PacketType, extra: int, body: list[int]) -> int:
        self.seq = (self.seq + 1) & 0xFF
        flits = packet(self.cfg, self.host, dst, ptype, self.seq, extra, body)
        self.queue.append(len(flits))
        mask = (1 << self.cfg.flit_width) - 1
        for f in flits:
            d = f & mask
            self.queue += [(d >> (16 * j)) & 0xFFFF for j in range(self.wpf)]
        return self.seq

    def write(self, node: int, transfers: list[int]) -> None:
        """Bus-bridge write requests (transfers `addr | data << aw`), queued until `flush`."""
        for k in range(0, len(transfers), MAX_TRANSFERS):
            self._queue(node, PacketType.CONTROL, 1, transfers[k:k + MAX_TRANSFERS])

    def read(self, node: int, transfers: list[int]) -> list[int]:
        """Bus-bridge read requests; the response words (`addr | data << aw`) in order.  As many request
        packets as the RX FIFO has room for answers go out in one link write, then long polls collect them."""
        out, k = [], 0
        while k < len(transfers):
            seqs = []
            while k < len(transfers):
                part = transfers[k:k + MAX_TRANSFERS]
                if seqs and self.outstanding + len(part) + 1 > self.rx_room:
                    break
                seqs.append(self._queue(node, PacketType.CONTROL, 0, part))
                self.outstanding += len(part) + 1
                k += len(part)
            self.flush()
            for seq in seqs:
                p = self.wait(lambda p, seq=seq: p["ptype"] == PacketType.CONTROL.value and p["src"] == node
                              and p["seq"] == seq)
                out += p["body"]
        return out

    def read_many(self, reads: list[tuple[int, list[int]]]) -> list[list[int]]:
        """One read request packet per (node, addresses), all in one link write (answers must fit the RX FIFO)."""
        seqs = []
        for node, addrs in reads:
            if len(addrs) > MAX_TRANSFERS or self.outstanding + len(addrs) + 1 > self.rx_room:
                raise ValueError("read_many: too many answers for the RX FIFO at once")
            seqs.append((node, self._queue(node, PacketType.CONTROL, 0, list(addrs))))
            self.outstanding += len(addrs) + 1
        self.flush()
        return [self.wait(lambda p, n=n, q=q: p["ptype"] == PacketType.CONTROL.value and p["src"] == n
                          and p["seq"] == q)["body"] for n, q in seqs]

    def flush(self) -> None:
        """The queued packets into the TX region, in as few link writes as they fill."""
        q, self.queue = self.queue, []
        step = min(self.board.ident.max_words, self.tx_size)
        for k in range(0, len(q), step):
            self.board.write(self.tx, q[k:k + step])

    def poll(self) -> None:
        """One long poll: wait on the board for a whole packet, read the flits that are there."""
        m = max(1, min(self.outstanding, (self.board.ident.max_words - 1) // 4))
        words = self.board.read(self.rx, 1 + 4 * m)
        self.polls += 1
        W = self.cfg.flit_width
        for k in range(m):
            flags, d = int(words[1 + 4 * k]), words[2 + 4 * k:5 + 4 * k]
            if not flags & 1:
                break
            data = sum(int(d[j]) << (16 * j) for j in range(self.wpf)) & ((1 << W) - 1)
            self.flits.append(data | ((flags >> 1) & 1) << W | ((flags >> 2) & 1) << (W + 1))
            self.outstanding = max(0, self.outstanding - 1)
            if flags & 4:
                self.packets.append(parse_packet(self.cfg, self.flits))
                self.flits = []

    def wait(self, pred, timeout: float = 60.0) -> dict:
        deadline = time.monotonic() + timeout
        while True:
            for i, p in enumerate(self.packets):
                if pred(p):
                    return self.packets.pop(i)
            if time.monotonic() > deadline:
                raise LinkError(f"the mesh did not answer within {timeout:g} s (a hung core or reduction)")
            self.poll()

    def drain(self) -> None:
        while self.outstanding:
            self.poll()


class NodeBus:
    """One core tile's bus over the mesh, with `Board`'s read/write/region: what `CoreClient` needs."""

    def __init__(self, port: MeshPort, node: int):
        self.port, self.node = port, node
        self.map = MemoryMap(**port.info["tile_map"])
        self.aw = self.map.addr_width + 1  # the ReduceNode's bridge: the tile's bus + the register bit
        self.board = port.board

    def write(self, addr: int, words) -> None:
        words = np.asarray(words).astype(np.int64).ravel()
        self.port.write(self.node, [(addr + i) | (int(w) & 0xFFFF) << self.aw for i, w in enumerate(words)])

    def read(self, addr: int, count: int) -> np.ndarray:
        r = self.port.read(self.node, [addr + i for i in range(count)])
        return np.asarray([w >> self.aw for w in r], np.uint16)

    def region(self, target: str, name: str) -> tuple[int, int]:
        return self.map.region(target, name)

    def write_ni(self, values: dict[str, int]) -> None:
        base, regs = self.port.info["ni_base"], self.port.info["ni_regs"]
        self.port.write(self.node, [(base + regs.index(k)) | v << self.aw for k, v in values.items()])

    def runner(self, name: str) -> int:
        return self.map.region("runner", name)[0]


@dataclass
class MeshRun:
    weights: list
    history: list = field(default_factory=list)
    samples: int = 0           # samples trained per epoch (a multiple of cores x k)
    cycles: int = 0            # board cycles of the training steps (all epochs), when measured
    link_requests: int = 0
    step_requests: int = 0     # link requests of the training steps alone (set-up and read-backs not counted)
    seconds: float = 0.0

    @property
    def cycles_per_sample(self) -> float:
        return self.cycles / max(1, self.samples * max(1, len(self.history)))


def assignment(samples: int, cores: int, k: int) -> tuple[int, list[list[int]]]:
    """(steps, per core position the global sample index of its local record r): step s, core p, sample j
    of the batch trains sample s*B*k + p*k + j, stored as the core's record s*k + j."""
    steps = samples // (cores * k)
    return steps, [[s * cores * k + p * k + j for s in range(steps) for j in range(k)] for p in range(cores)]


def golden_run(snn, plan: DataParallelPlan, weights, X, y, k: int, epochs: int, samples: int) -> list[list]:
    """The weights after every epoch: `data_parallel_batch_step` over the steps `assignment` gives."""
    from spikemesh.sim.golden_mesh import data_parallel_batch_step

    B = len(plan.cores)
    steps, _ = assignment(samples, B, k)
    W, out = [np.array(w, np.float16) for w in weights], []
    for _ in range(epochs):
        for s in range(steps):
            idx = [[s * B * k + p * k + j for j in range(k)] for p in range(B)]
            W = data_parallel_batch_step(snn, plan, W, [[X[i] for i in ix] for ix in idx],
                                         [[int(y[i]) for i in ix] for ix in idx], idx).weights
        out.append(W)
    return out


def check_rule(snn) -> None:
    if snn.rule not in DP_RULES:
        raise ValueError(f"--rule {snn.rule}: the multi-core board trains {', '.join(DP_RULES)} (data parallel, "
                         "verified bit for bit); train other rules with --cores 1")


def mesh_train(board: Board, core_cfg: CoreConfig, snn, weights, X, y, *, cores: int, k: int, epochs: int = 1,
               rx_wait: int = 4096, cycles=None, progress: bool = True, check: bool = True) -> MeshRun:
    """Train `epochs` epochs data parallel on the first `cores` cores of the board, k samples per core per step
    (`samples` = the largest multiple of cores x k in X); weights checked against the golden model every epoch
    when `check`.  `cycles()`: the board's cycle counter (the simulated board's), read around the steps."""
    from tqdm import tqdm

    from spikemesh.sim.golden import encode
    from spikemesh.sim.golden_mesh import _check_cfg

    from .train import CoreClient

    check_rule(snn)
    _check_cfg(snn)
    port = MeshPort(board)
    nodes = port.info["nodes"]
    if not isinstance(cores, int) or not 1 <= cores <= len(nodes):
        raise ValueError(f"--cores must be in 1..{len(nodes)}: this build has {len(nodes)} cores, got {cores}")
    if not isinstance(k, int) or not 1 <= k <= 0x7FFF:
        raise ValueError(f"--batch must be an int in 1..32767 samples per core and step, got {k!r}")
    plan = DataParallelPlan(port.cfg, tuple(nodes[:cores]), "index")
    steps, local = assignment(len(y), cores, k)
    if steps == 0:
        raise ValueError(f"need at least cores x batch = {cores * k} samples, got {len(y)}")
    samples = steps * cores * k
    bus = {c: NodeBus(port, c) for c in plan.cores}
    cl = {c: CoreClient(bus[c], core_cfg) for c in plan.cores}
    prog = assemble(snn_ops(core_cfg, snn, update=False), core_cfg)
    upd_pc = len(prog)
    prog = prog + assemble([(Op.UPD, l, 0) for l in range(1, core_cfg.n_layers + 1)], core_cfg)
    direct = snn.encoding == "direct"
    ds_words = bus[plan.cores[0]].region("dataset", "data")[1]
    records = {}
    for p, c in enumerate(plan.cores):
        recs = [cl[c].input_writes(encode(snn, X[n], n), direct, int(y[n]), k_seed=step_seed(snn, n)) for n in local[p]]
        try:
            records[c] = encode_records(recs, ds_words)
        except ValueError:
            raise ValueError(f"--samples: {len(local[p])} samples per core do not fit in a core's dataset "
                             f"({ds_words} words); use fewer --samples or more --cores") from None

    t0 = time.monotonic()
    req0 = board.link.stats.requests
    port.setup(rx_wait)
    board.begin_session()
    from spikemesh.rtl.mesh.reduce_node import NI_CTRL, chain_registers

    for c in plan.cores:
        cl[c].configure(snn, prog)
        cl[c].clear_state()
        cl[c].write_weights(weights)
        bus[c].write(bus[c].region("dataset", "data")[0], records[c])
        bus[c].write(bus[c].runner("upd_pc"), [upd_pc])
        bus[c].write_ni(chain_registers(port.cfg, plan.chain, port.host)[c])
    port.flush()
    board.check_session()

    run = MeshRun(weights=[np.array(w, np.float16) for w in weights], samples=samples)
    first = plan.chain[0]
    ctrl = cl[first].reg_addr("ctrl")
    for epoch in range(epochs):
        bar = tqdm(total=samples, desc=f"epoch {epoch + 1} ({cores} cores)", disable=not progress, unit="sample")
        for c in plan.cores:
            bus[c].write(bus[c].runner("next"), [0])
        c0 = cycles() if cycles else 0
        r0 = board.link.stats.requests
        for s in range(steps):
            for c in plan.cores:  # the previous step's update (after its reduction), then this step's batch
                bus[c].write(bus[c].runner("go"), [k | (GO_UPDATE if s else 0)])
            if len(plan.cores) > 1:
                # start the reduction (it waits for each core's batch)
                bus[first].write_ni({"ctrl": NI_CTRL.encode(start=1, clear=1)})
                port.flush()
                port.outstanding += 1
                port.wait(lambda p: p["ptype"] == PacketType.WEIGHT.value and p["layer"] == DONE_KIND
                          and p["src"] == first)
            else:  # a chain of one has nothing to reduce (its interface answers at once): a read of the core's
                bus[first].read(ctrl, 1)  # status waits until the runner lets go of the tile's bus
            bar.update(cores * k)
        for c in plan.cores:  # the last step's update
            bus[c].write(bus[c].runner("go"), [GO_UPDATE])
        # one read of each core's status, all in the same link write: each waits on its tile until the runner
        # lets go of the tile's bus, i.e. until the update is done
        port.read_many([(c, [ctrl]) for c in plan.cores])
        run.step_requests += board.link.stats.requests - r0
        if cycles:
            run.cycles += cycles() - c0
        bar.close()
        w = {c: cl[c].read_weights() for c in plan.cores}
        board.check_session()
        ref = w[plan.cores[0]]
        for c in plan.cores[1:]:
            if not all(np.array_equal(f16_bits(a), f16_bits(b)) for a, b in zip(ref, w[c])):
                raise LinkError(f"epoch {epoch + 1}: core {c}'s weights differ from core {plan.cores[0]}'s")
        run.weights = ref
        run.history.append({"epoch": epoch + 1, "samples": samples, "weights": ref})
    for c in plan.cores:
        if cl[c].status()["busy"]:
            raise LinkError(f"core {c} still busy after training")
    run.seconds = time.monotonic() - t0
    run.link_requests = board.link.stats.requests - req0
    if check:
        gold = golden_run(snn, plan, weights, X, y, k, epochs, samples)
        for h, gw in zip(run.history, gold):
            h["golden_bit_exact"] = all(np.array_equal(f16_bits(a), f16_bits(b)) for a, b in zip(h["weights"], gw))
            if not h["golden_bit_exact"]:
                raise LinkError(f"epoch {h['epoch']}: the weights differ from golden_mesh.data_parallel_batch_step")
    return run


# The simulated multi-core board `spikemesh train --cores N --sim` builds: 4 digits cores 64-16-10 (T up to 4),
# each with 8 Ki words of dataset (~70 digits records), on a 1x5 mesh, host port at node 0.
SIM_MESH_CORES = 4
from spikemesh.rtl.link.protocol import LinkConfig as _LC  # noqa: E402
from spikemesh.rtl.soc.top import SocConfig as _SC  # noqa: E402

SIM_MESH_SOC = _SC(clk_hz=75_000_000, link=_LC(clocks_per_bit=25, max_words=256, watchdog_cycles=1 << 14),
                   dataset_words=8192, name="sim-mesh")


def sim_mesh_soc(cores: int = SIM_MESH_CORES, core_cfg: CoreConfig | None = None, dataset_words: int | None = None):
    from dataclasses import replace

    from spikemesh.rtl.mesh.board_soc import MeshSoC

    from .train import SIM_CORE

    cfg = SIM_MESH_SOC if dataset_words is None else replace(SIM_MESH_SOC, dataset_words=dataset_words)
    return MeshSoC(cfg, core_cfg or SIM_CORE, cores, sim_io=True)


def build_sim_mesh(soc) -> "Path":
    """The simulated multi-core board (cached like `build_sim_board`; C++ at -O1 with one job: this
    machine's cores are shared)."""
    from spikemesh.sim.board import build_sim_board

    return build_sim_board(soc, opt="-O1", jobs=1)


def fit_samples(snn, core_cfg: CoreConfig, X, y, cores: int, k: int, words: int) -> int:
    """The most samples (a multiple of cores x k) whose records fit in every core's dataset of `words` words."""
    from spikemesh.sim.golden import encode

    from .core_driver import CoreDriver

    cc = CoreDriver(None, core_cfg)  # a driver over no port: only its address arithmetic (input_writes) is used
    direct = snn.encoding == "direct"
    sizes = [2 + sum(3 + len(np.asarray(w).ravel()) for _, w in cc.input_writes(encode(snn, X[n], n), direct,
                                                                              int(y[n]))) + 1
             for n in range(len(y))]
    steps = len(y) // (cores * k)
    while steps:
        _, local = assignment(steps * cores * k, cores, k)
        if all(sum(sizes[n] for n in ix) <= words for ix in local):
            return steps * cores * k
        steps -= 1
    return 0


def _build_info(build_dir) -> tuple[CoreConfig, dict]:
    from .train import read_build_info

    info = read_build_info(build_dir)
    if "mesh_core" not in info:
        raise ValueError(f"--cores > 1 needs a multi-core build (e.g. `spikemesh build --board ulx3s-85f "
                         f"--config mesh4`); {build_dir} is a single-core build")
    return CoreConfig(**{**info["mesh_core"], "layers": tuple(info["mesh_core"]["layers"])}), info


def cli_mesh_train(args) -> int:
    """`spikemesh train --cores N` (N > 1): data parallel on the multi-core board (`--speedup`: then the same
    samples that fit on 1 core of it, for the board-cycles speed-up).  Every check on the user's input runs
    before the simulated board is built or the board touched."""
    from spikemesh.gen.args import check_writable
    from spikemesh.sim.golden import init_weights, load_digits_split

    from .train import SIM_CORE, snn_for_core, write_weights_file

    if getattr(args, "placement", "data") == "model":  # the layers split over the cores (mesh_mp_train.py)
        from .mesh_mp_train import cli_mesh_mp_train

        return cli_mesh_mp_train(args)
    check_writable(args.checkpoint, "--checkpoint")
    for opt, val in (("--resume", args.resume), ("--init", getattr(args, "init", None)), ("--plot", args.plot)):
        if val:
            raise ValueError(f"{opt} is not supported with --cores {args.cores} (multi-core training) yet")
    if getattr(args, "onboard", None) is False:
        raise ValueError("--no-onboard: the multi-core board always keeps each core's samples on the board")
    k = args.batch
    soc = None
    if args.sim:
        if args.cores > SIM_MESH_CORES:
            raise ValueError(f"--cores must be in 1..{SIM_MESH_CORES}: the simulated multi-core board has "
                             f"{SIM_MESH_CORES} cores, got {args.cores}")
        cfg, words = SIM_CORE, SIM_MESH_SOC.dataset_words
    else:
        cfg, info = _build_info(args.build_dir)
        if args.cores > info["cores"]:
            raise ValueError(f"--cores must be in 1..{info['cores']}: the build in {args.build_dir} has "
                             f"{info['cores']} cores, got {args.cores}")
        words = info["config"]["dataset_words"]
    snn = snn_for_core(cfg, args.rule, k_steps=args.k_steps, window=args.window)
    check_rule(snn)
    X, y, _, _ = load_digits_split()
    if args.samples:
        if args.samples > len(y):
            raise ValueError(f"--samples must be in 0..{len(y)} (the training split), got {args.samples}")
        X, y = X[:args.samples], y[:args.samples]
    n = fit_samples(snn, cfg, X, y, args.cores, k, words)
    if n == 0:
        raise ValueError(f"--batch {k}: {args.cores} cores x {k} samples do not fit in the cores' datasets "
                         f"({words} words each) or exceed --samples")
    if n < len(y):
        print(f"training on {n} samples ({args.cores} cores x batches of {k}; {words} dataset words per core)")
    X, y = X[:n], y[:n]
    weights = init_weights(snn, 0)

    sim = None
    try:
        if args.sim:
            from spikemesh.sim.board import SimBoard

            print("building the simulated multi-core board (Verilator; cached after the first build) ...",
                  flush=True)
            soc = sim_mesh_soc()
            build_dir = build_sim_mesh(soc)
            sim = SimBoard(build_dir, mode=args.sim_mode)
            port = sim.url
        else:
            from pathlib import Path
            build_dir, port = Path(args.build_dir), args.port
        with Board.connect(port, build_dir, baud=args.baud, timeout=5.0 if sim else 0.5) as board:
            cycles = sim.cycles if sim else None
            runs = {args.cores: mesh_train(board, cfg, snn, weights, X, y, cores=args.cores, k=k,
                                           epochs=args.epochs, cycles=cycles)}
            if args.speedup and args.cores > 1:
                n1 = fit_samples(snn, cfg, X, y, 1, k, words)
                runs[1] = mesh_train(board, cfg, snn, weights, X[:n1], y[:n1], cores=1, k=k, epochs=1,
                                     cycles=cycles)
    finally:
        if sim is not None:
            sim.close()
    run = runs[args.cores]
    from .train import evaluate

    acc, loss = evaluate(snn, run.weights, X, y)
    write_weights_file(args.checkpoint, run.weights, {"format": 1, "epoch": args.epochs, "cores": args.cores,
                                                      "batch": k, "samples": n, "snn": json.loads(json.dumps(
                                                          __import__("dataclasses").asdict(snn))),
                                                      "build_id": board.ident.build_id.hex()})
    print(f"{'cores':>5} {'samples':>8} {'epochs':>6} {'wall s':>7} {'samples/s':>9} {'board cycles/sample':>20} "
          f"{'link requests/sample':>21}  bit-exact with golden_mesh")
    for c, r in sorted(runs.items()):
        ep = len(r.history)
        cps = f"{r.cycles_per_sample:,.0f}" if r.cycles else "-"
        print(f"{c:>5} {r.samples:>8} {ep:>6} {r.seconds:>7.1f} {r.samples * ep / max(r.seconds, 1e-9):>9.1f} "
              f"{cps:>20} {r.link_requests / max(1, r.samples * ep):>21.2f}  "
              f"{all(h.get('golden_bit_exact') for h in r.history)}")
    if 1 in runs and args.cores in runs and args.cores > 1 and runs[1].cycles and run.cycles:
        sp = runs[1].cycles_per_sample / run.cycles_per_sample
        print(f"speed-up, {args.cores} cores over 1 core of the same board (board cycles per sample, link in the "
              f"loop, {args.sim_mode} mode, batch {k}): {sp:.2f}x")
        if args.sim and args.cores == SIM_MESH_CORES:
            from spikemesh.gen.measured import record

            cmd = (f"spikemesh train --cores {args.cores} --sim --sim-mode {args.sim_mode} --batch {k} --speedup"
                   + (f" --samples {args.samples}" if args.samples else "") + f" --epochs {args.epochs}")
            record({f"board.mesh{args.cores}.speedup": (round(sp, 2), "x"),
                    f"board.mesh{args.cores}.cycles_per_sample": (round(run.cycles_per_sample), "cycles"),
                    "board.mesh1.cycles_per_sample": (round(runs[1].cycles_per_sample), "cycles")}, cmd)
    print(f"{args.cores} cores, after {args.epochs} epoch(s): training-sample accuracy {acc * 100:.1f}%, loss "
          f"{loss:.4f} (golden forward pass on the weights read back; a step sums {args.cores * k} samples' "
          f"gradients at the single-core learning rate)")
    print(f"checkpoint: {args.checkpoint}")
    return 0
