"""A mesh of bus targets (training cores) behind `ReduceNode`s: in-network gradient reduction.

Like `MeshSystem`, but each target's interface also reduces its G region with the other targets' (chain
order set at run time by the host through the interfaces' registers). Nodes without a target stay outside as
`host_in[k]` / `host_out[k]` for node `free_nodes[k]`.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from amaranth import Module
from amaranth.lib import stream, wiring
from amaranth.lib.wiring import In, Out

from .flit import MeshConfig, flit_layout
from .mesh import Mesh
from .reduce_node import ReduceNode


@dataclass(frozen=True)
class ReduceParams:
    """Where every target keeps G on its bus and how the reduction packs it."""

    g_base: int
    g_size: int
    block: int = 32      # FP16 values per packet
    add_depth: int = 4   # FP16 adder pipeline stages

    def __post_init__(self):
        if not isinstance(self.g_base, int) or self.g_base < 0:
            raise ValueError(f"g_base must be an int >= 0, got {self.g_base!r}")
        if not isinstance(self.g_size, int) or self.g_size < 1:
            raise ValueError(f"g_size must be an int >= 1, got {self.g_size!r}")


class ReduceMeshSystem(wiring.Component):
    def __init__(self, cfg: MeshConfig, targets: dict[int, Callable[[], wiring.Component]], reduce: ReduceParams):
        for node in targets:
            if not isinstance(node, int) or not 0 <= node < cfg.n_nodes:
                raise ValueError(f"targets keys must be node indices in 0..{cfg.n_nodes - 1}, got {node!r}")
        self.cfg, self.reduce = cfg, reduce
        self.targets = {n: targets[n] for n in sorted(targets)}
        self.free_nodes = [n for n in range(cfg.n_nodes) if n not in targets]
        if not self.free_nodes:
            raise ValueError("at least one node must stay free for a host (targets cover all nodes)")
        layout = flit_layout(cfg.flit_width)
        super().__init__({
            "host_in": In(stream.Signature(layout)).array(len(self.free_nodes)),
            "host_out": Out(stream.Signature(layout)).array(len(self.free_nodes)),
            "overflow": Out(1),
        })

    def elaborate(self, platform):
        m = Module()
        cfg, rp = self.cfg, self.reduce
        mesh = m.submodules.mesh = Mesh(cfg)
        m.d.comb += self.overflow.eq(mesh.overflow)
        for k, node in enumerate(self.free_nodes):
            wiring.connect(m, wiring.flipped(self.host_in[k]), mesh.local_in[node])
            wiring.connect(m, mesh.local_out[node], wiring.flipped(self.host_out[k]))
        for node, make in self.targets.items():
            target = make()
            x, y = cfg.coords(node)
            ni = ReduceNode(cfg, x, y, target.bus.signature.addr_width, rp.g_base, rp.g_size, rp.block,
                            rp.add_depth)
            m.submodules[f"ni_{node}"] = ni
            m.submodules[f"target_{node}"] = target
            wiring.connect(m, mesh.local_out[node], ni.net_in)
            wiring.connect(m, ni.net_out, mesh.local_in[node])
            wiring.connect(m, ni.bus, target.bus)
        return m
