"""A mesh of bus targets (training cores) behind `ReduceNode`s: in-network gradient reduction.

A `MeshSystem` whose per-node interface also reduces its G region with the other targets' (chain
order set at run time by the host through the interfaces' registers). Nodes without a target stay outside as
`host_in[k]` / `host_out[k]` for node `free_nodes[k]`.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from amaranth import Module
from amaranth.lib import wiring

from .flit import MeshConfig
from .reduce_node import ReduceNode
from .system import MeshSystem


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


class ReduceMeshSystem(MeshSystem):
    """`MeshSystem` with every target behind a `ReduceNode` (submodule `ni_<node>`); same ports and nodes.
    A `StreamSlice` each way between a router and its `ReduceNode` (`local_slices`) keeps the node's
    accept logic, which looks at the core's bus, off the routers' timing paths."""

    def __init__(self, cfg: MeshConfig, targets: dict[int, Callable[[], wiring.Component]], reduce: ReduceParams):
        self.reduce = reduce

        def reduce_interface(m: Module, cfg: MeshConfig, node: int, target: wiring.Component):
            x, y = cfg.coords(node)
            ni = m.submodules[f"ni_{node}"] = ReduceNode(cfg, x, y, target.bus.signature.addr_width, reduce.g_base,
                                                         reduce.g_size, reduce.block, reduce.add_depth)
            return ni.net_in, ni.net_out, [(ni.bus, target.bus)]

        super().__init__(cfg, targets, reduce_interface, overflow_port=True, local_slices=True)
