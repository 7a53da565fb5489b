"""A mesh with bus targets (training cores, memories) attached behind `BusBridge`s.

`MeshSystem(cfg, targets)` puts `targets[node]()` (a component with a flipped-`BusSignature` port named
`bus`) behind a bridge at each listed node; the other nodes' local ports stay outside as
`host_in[k]` / `host_out[k]` for node `free_nodes[k]` (hosts, traffic endpoints).
"""
from __future__ import annotations

from typing import Callable

from amaranth import Module
from amaranth.lib import stream, wiring
from amaranth.lib.wiring import In, Out

from .bus_bridge import BusBridge
from .flit import MeshConfig, flit_layout
from .mesh import Mesh


class MeshSystem(wiring.Component):
    def __init__(self, cfg: MeshConfig, targets: dict[int, Callable[[], wiring.Component]]):
        for node in targets:
            if not isinstance(node, int) or not 0 <= node < cfg.n_nodes:
                raise ValueError(f"targets keys must be node indices in 0..{cfg.n_nodes - 1}, got {node!r}")
        self.cfg = cfg
        self.targets = {n: targets[n] for n in sorted(targets)}
        self.free_nodes = [n for n in range(cfg.n_nodes) if n not in targets]
        if not self.free_nodes:
            raise ValueError("at least one node must stay free for a host or endpoint (targets cover all nodes)")
        layout = flit_layout(cfg.flit_width)
        super().__init__({
            "host_in": In(stream.Signature(layout)).array(len(self.free_nodes)),
            "host_out": Out(stream.Signature(layout)).array(len(self.free_nodes)),
        })

    def elaborate(self, platform):
        m = Module()
        cfg = self.cfg
        mesh = m.submodules.mesh = Mesh(cfg)
        for k, node in enumerate(self.free_nodes):
            wiring.connect(m, wiring.flipped(self.host_in[k]), mesh.local_in[node])
            wiring.connect(m, mesh.local_out[node], wiring.flipped(self.host_out[k]))
        for node, make in self.targets.items():
            target = make()
            x, y = cfg.coords(node)
            bridge = BusBridge(cfg, x, y, target.bus.signature.addr_width, target.bus.signature.data_width)
            m.submodules[f"bridge_{node}"] = bridge
            m.submodules[f"target_{node}"] = target
            wiring.connect(m, mesh.local_out[node], bridge.net_in)
            wiring.connect(m, bridge.net_out, mesh.local_in[node])
            wiring.connect(m, bridge.bus, target.bus)
        return m
