"""Traffic generation and the delivery scoreboard shared by the pysim tests and the cocotb mesh benches.

Stimulus (what to send) is kept apart from checking: the scoreboard is fed only from *monitored*
transfers (valid & ready at a mesh port) and checks that every packet arrives exactly once, whole,
at its destination, and in order within its (source, destination) flow.
"""
from __future__ import annotations

import itertools
import random
from collections import defaultdict, deque
from dataclasses import dataclass, field

from spikemesh.rtl.mesh.flit import MeshConfig, PacketType, make_head, pack_flit, parse_head, unpack_flit

Packet = list[int]  # flit values as the mesh port carries them (data | head << W | tail << W+1)


def build_packet(cfg: MeshConfig, src: int, dst: int, ptype: int, seq: int, body: list[int],
                 extra: int = 0) -> Packet:
    sx, sy = cfg.coords(src)
    dx, dy = cfg.coords(dst)
    words = [make_head(dx, dy, sx, sy, ptype, seq, extra)] + list(body)
    return [pack_flit(cfg.flit_width, w, i == 0, i == len(words) - 1) for i, w in enumerate(words)]


@dataclass
class RandomTraffic:
    """Per-node packet streams: uniform random destinations (or a fixed `dests` map), 1..max_len flits."""

    cfg: MeshConfig
    packets_per_node: int
    max_len: int = 3
    seed: int = 1
    dests: dict[int, list[int]] | None = None  # node -> allowed destinations (default: all nodes)

    def streams(self) -> list[deque[Packet]]:
        rng = random.Random(self.seed)
        cfg = self.cfg
        seqs: dict[tuple[int, int], int] = defaultdict(int)
        out = []
        for src in range(cfg.n_nodes):
            q: deque[Packet] = deque()
            choices = self.dests[src] if self.dests else list(range(cfg.n_nodes))
            for _ in range(self.packets_per_node):
                dst = rng.choice(choices)
                n_body = rng.randrange(self.max_len)
                body = [rng.getrandbits(cfg.flit_width) for _ in range(n_body)]
                seq = seqs[src, dst]
                seqs[src, dst] += 1
                q.append(build_packet(cfg, src, dst, rng.randrange(4), seq, body,
                                      rng.getrandbits(cfg.payload_bits)))
            out.append(q)
        return out


class Scoreboard:
    def __init__(self, cfg: MeshConfig):
        self.cfg = cfg
        self.expected: dict[tuple[int, int], deque[Packet]] = defaultdict(deque)
        self._tx: dict[int, Packet] = defaultdict(list)   # packet being injected per node
        self._rx: dict[int, Packet] = defaultdict(list)   # packet being received per node
        self.delivered = 0
        self.flits_in = 0
        self.flits_out = 0
        self.latencies: list[int] = []
        self.log: list[tuple[int, int, int]] = []  # (src, dst, cycle) of each delivered packet
        self._inject_cycle: dict[tuple[int, int], deque[int]] = defaultdict(deque)

    def _flow(self, head_value: int) -> tuple[int, int]:
        h = parse_head(unpack_flit(self.cfg.flit_width, head_value)[0])
        return self.cfg.node(h["src_x"], h["src_y"]), self.cfg.node(h["dst_x"], h["dst_y"])

    def inject(self, node: int, value: int, cycle: int = 0) -> None:
        _, head, tail = unpack_flit(self.cfg.flit_width, value)
        cur = self._tx[node]
        assert head == (not cur), f"node {node}: injected flit head={head} while {len(cur)} flits open"
        cur.append(value)
        self.flits_in += 1
        if head:
            src, dst = self._flow(value)
            assert src == node, f"node {node} injected a packet claiming source {src}"
            self._inject_cycle[src, dst].append(cycle)
        if tail:
            src, dst = self._flow(cur[0])
            self.expected[src, dst].append(list(cur))
            cur.clear()

    def eject(self, node: int, value: int, cycle: int = 0) -> None:
        _, head, tail = unpack_flit(self.cfg.flit_width, value)
        cur = self._rx[node]
        assert head == (not cur), f"node {node}: received flit head={head} inside a packet of {len(cur)}"
        cur.append(value)
        self.flits_out += 1
        if tail:
            src, dst = self._flow(cur[0])
            assert dst == node, f"packet for node {dst} delivered at node {node}"
            q = self.expected[src, dst]
            assert q, f"flow {src}->{dst}: packet delivered that was never (completely) injected: {cur}"
            want = q.popleft()
            assert cur == want, f"flow {src}->{dst}: out of order or corrupted: got {cur}, want {want}"
            self.latencies.append(cycle - self._inject_cycle[src, dst].popleft())
            self.log.append((src, dst, cycle))
            self.delivered += 1
            cur.clear()

    def pending(self) -> int:
        return sum(len(q) for q in self.expected.values()) + sum(1 for c in self._rx.values() if c)

    def assert_done(self) -> None:
        assert self.pending() == 0, f"{self.pending()} packets never delivered"
        assert all(not c for c in self._tx.values()), "a packet's injection was left unfinished"


STALL_PATTERNS = ([1], [1, 1, 1, 0], [1, 0], [0, 0, 1], [1, 1, 0, 0, 0, 1, 0])


def stall_cycle(node: int, pattern_set=STALL_PATTERNS) -> "itertools.cycle[int]":
    """A `ready`/`valid` gating pattern per node (different nodes get different patterns)."""
    return itertools.cycle(pattern_set[node % len(pattern_set)])


class QueueSource:
    """Flits from a queue of packets, offered on cycles where the Bernoulli(rate) gate admits a new packet
    (a packet once started is offered back to back: wormhole injection)."""

    def __init__(self, packets, rate: float = 1.0, seed: int = 0):
        self.flits: deque[int] = deque()
        self.starts: deque[bool] = deque()
        for pkt in packets:
            self.push(pkt)
        self.rate = rate
        self.rng = random.Random(seed)
        self._gate_cycle, self._gate = -1, False

    def push(self, pkt):
        for k, f in enumerate(pkt):
            self.flits.append(f)
            self.starts.append(k == 0)

    def peek(self, cycle):
        if not self.flits:
            return None
        if self.starts[0] and self.rate < 1.0:
            if self._gate_cycle != cycle:
                self._gate_cycle, self._gate = cycle, self.rng.random() < self.rate
            if not self._gate:
                return None
        return self.flits[0]

    def advance(self):
        self.flits.popleft()
        self.starts.popleft()
        self._gate_cycle = -1


def summarize(sb: Scoreboard, stats: dict, n_nodes: int) -> dict:
    lat = sorted(sb.latencies)
    cyc = max(stats["cycles"], 1)
    return {**stats, "packets": sb.delivered, "flits": sb.flits_out,
            "throughput_flits_per_node_cycle": sb.flits_out / cyc / n_nodes,
            "latency_mean": sum(lat) / len(lat) if lat else 0.0,
            "latency_p99": lat[int(0.99 * (len(lat) - 1))] if lat else 0,
            "latency_max": lat[-1] if lat else 0}
