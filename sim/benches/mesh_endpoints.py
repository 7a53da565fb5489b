"""Reactive traffic endpoints that stand in for training cores on the mesh (used by mesh_bench).

They do what a core's network interface would do, from files the test writes (never from the bench):
- "data_parallel": chain reduction of per-core gradients in the plan's order (acc = fl(acc + G_c) per FP16
  element as blocks arrive, streamed block by block), the last core applies W = fl(W - fl(G * eta)) and
  sends the new weights back down the chain (each core stores and forwards: "chain", default) or to every
  core itself ("star"); result = the weights each core ends with.
- "model_parallel": each core runs its script of sends and receives (a layer must receive its input before
  it sends its output); every received packet is compared bit for bit with the expected message.
"""
from __future__ import annotations

import json

import numpy as np

from spikemesh.firmware.placement import (DataParallelPlan, PacketType, fp16_words, head_extra, packet,
                                          parse_packet, words_fp16)
from spikemesh.rtl.mesh.flit import MeshConfig


def _canon(x: np.ndarray) -> np.ndarray:
    x = np.array(x, np.float16, copy=True)
    x[x == 0] = np.float16(0.0)
    return x


class DataParallelEndpoints:
    def __init__(self, cfg: MeshConfig, spec: dict):
        data = np.load(spec["npz"])
        self.cfg = cfg
        self.plan = DataParallelPlan(cfg, tuple(spec["cores"]), spec["order"], spec["block"])
        self.chain = self.plan.chain
        self.nxt = {c: n for c, n in zip(self.chain, self.chain[1:])}
        self.prev = {n: c for c, n in zip(self.chain, self.chain[1:])}
        self.last = self.chain[-1]
        self.bcast = spec.get("bcast", "chain")
        if self.bcast not in ("chain", "star"):
            raise ValueError(f"bcast must be 'chain' or 'star', got {self.bcast!r}")
        self.n_layers = int(data["n_layers"])
        self.eta = np.float16(data["eta"])
        self.W = [data[f"W_{li}"] for li in range(self.n_layers)]
        self.G = {c: [data[f"G_{c}_{li}"].ravel() for li in range(self.n_layers)] for c in self.plan.cores}
        self.blocks = self.plan.blocks([w.shape for w in self.W])
        self.span = {(li, b): (s, e) for li, b, s, e in self.blocks}
        self.final = {c: [np.zeros(w.size, np.uint16) for w in self.W] for c in self.plan.cores}
        self.got = {c: set() for c in self.plan.cores}

    def _send(self, src, dst, li, b, values, final=False):
        return packet(self.cfg, src, dst, PacketType.WEIGHT, b & 0xFF, head_extra(self.cfg, li, b, final),
                      fp16_words(self.cfg, values))

    def _finish_block(self, li, b, g) -> dict[int, list]:
        s, e = self.span[li, b]
        w = self.W[li].ravel()[s:e].copy()
        nz = g != 0
        w[nz] = w[nz] - g[nz] * self.eta
        self._store(self.last, li, b, w)
        out: dict[int, list] = {self.last: []}
        if self.bcast == "chain":  # back down the chain: every core stores and forwards (pipelined)
            if len(self.chain) > 1:
                out[self.last].append(self._send(self.last, self.prev[self.last], li, b, w, final=True))
            return out
        for c in sorted(self.plan.cores):  # star: the last core sends every copy itself
            if c != self.last:
                out[self.last].append(self._send(self.last, c, li, b, w, final=True))
        return out

    def _store(self, core, li, b, w):
        s, e = self.span[li, b]
        self.final[core][li][s:e] = np.asarray(w, np.float16).view(np.uint16)
        self.got[core].add((li, b))

    def start(self) -> dict[int, list]:
        c0 = self.chain[0]
        out: dict[int, list] = {c0: []}
        for li, b, s, e in self.blocks:
            g = self.G[c0][li][s:e]
            if len(self.chain) == 1:
                for c, pk in self._finish_block(li, b, g).items():
                    out.setdefault(c, []).extend(pk)
            else:
                out[c0].append(self._send(c0, self.chain[1], li, b, g))
        return out

    def on_packet(self, node: int, flits: list[int], cycle: int) -> dict[int, list]:
        p = parse_packet(self.cfg, flits)
        li, b = p["layer"], p["block"]
        s, e = self.span[li, b]
        vals = words_fp16(self.cfg, p["body"], e - s)
        if p["final"]:
            self._store(node, li, b, vals)
            if self.bcast == "chain" and node in self.prev:
                return {node: [self._send(node, self.prev[node], li, b, vals, final=True)]}
            return {}
        acc = _canon(vals + self.G[node][li][s:e])  # one FP16 rounding per element, then +0.0 for zeros
        if node == self.last:
            return self._finish_block(li, b, acc)
        return {node: [self._send(node, self.nxt[node], li, b, acc)]}

    def finished(self) -> bool:
        return all(len(g) == len(self.blocks) for g in self.got.values())

    def result(self) -> dict:
        return {str(c): [w.tolist() for w in ws] for c, ws in self.final.items()}


class ModelParallelEndpoints:
    def __init__(self, cfg: MeshConfig, spec: dict):
        with open(spec["json"]) as fh:
            d = json.load(fh)
        self.cfg = cfg
        self.packets = d["packets"]
        self.script = {int(c): ops for c, ops in d["script"].items()}
        self.pc = {c: 0 for c in self.script}
        self.inbox: dict[int, dict[tuple, list]] = {c: {} for c in self.script}
        self.key = [self._key(pk) for pk in self.packets]
        self.mismatches: list[str] = []
        self.order: dict[int, list[int]] = {c: [] for c in self.script}

    def _key(self, flits):
        p = parse_packet(self.cfg, flits)
        return (p["src"], p["dst"], p["ptype"], p["seq"], p["layer"])

    def _run(self) -> dict[int, list]:
        out: dict[int, list] = {}
        progress = True
        while progress:
            progress = False
            for c, ops in self.script.items():
                while self.pc[c] < len(ops):
                    op, i = ops[self.pc[c]]
                    if op == "send":
                        out.setdefault(c, []).append(self.packets[i])
                    else:
                        got = self.inbox[c].pop(tuple(self.key[i]), None)
                        if got is None:
                            break
                        if got != self.packets[i]:
                            self.mismatches.append(f"core {c} message {i}: got {got}, want {self.packets[i]}")
                        self.order[c].append(i)
                    self.pc[c] += 1
                    progress = True
        return out

    def start(self) -> dict[int, list]:
        return self._run()

    def on_packet(self, node: int, flits: list[int], cycle: int) -> dict[int, list]:
        k = self._key(flits)
        if k in self.inbox[node]:
            self.mismatches.append(f"core {node}: second packet {k} before the first was consumed")
        self.inbox[node][k] = list(flits)
        return self._run()

    def finished(self) -> bool:
        return all(self.pc[c] == len(ops) for c, ops in self.script.items())

    def result(self) -> dict:
        return {"mismatches": self.mismatches, "order": {str(c): o for c, o in self.order.items()},
                "leftover": sum(len(v) for v in self.inbox.values())}


def make_program(cfg: MeshConfig, exp: dict):
    kinds = {"data_parallel": DataParallelEndpoints, "model_parallel": ModelParallelEndpoints}
    if exp["program"] not in kinds:
        raise ValueError(f"program must be one of {tuple(kinds)}, got {exp['program']!r}")
    return kinds[exp["program"]](cfg, exp)
