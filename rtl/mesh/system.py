"""A mesh with bus targets (training cores, memories) attached behind per-node interfaces.

`MeshSystem(cfg, targets)` puts `targets[node]()` (a component with a flipped-`BusSignature` port named
`bus`) behind an interface at each listed node; the other nodes' local ports stay outside as
`host_in[k]` / `host_out[k]` for node `free_nodes[k]` (hosts, traffic endpoints). The interface is made per
node by `interface(m, cfg, node, target)`: it adds its submodules to `m` and returns its (network input,
network output) streams, which the system joins to the node's local port, and the (a, b) pairs of its inner
wiring (to the target's bus, between its parts), which the system connects after them.
The default, `bridge_interface`, is a plain `BusBridge`; `CopyMeshSystem` and `ReduceMeshSystem` pass theirs.
`overflow_port=True` adds the mesh's sticky `overflow` output, `local_slices=True` a `StreamSlice` each way
between every target node's local port and its interface (one cycle more per packet, no combinational path
from a router through the interface and the target back to the router). Both are off by default: the
Verilog of the existing systems stays byte for byte what it was, so their simulator builds stay valid.
"""
from __future__ import annotations

from typing import Callable

from amaranth import Module
from amaranth.lib import stream, wiring
from amaranth.lib.wiring import In, Out

from .bus_bridge import BusBridge
from .flit import MeshConfig, flit_layout
from .mesh import Mesh
from .stream_slice import StreamSlice

#: (module, mesh config, node, target) -> (stream the mesh's local_out feeds, stream that feeds local_in,
#: [(a, b) interfaces to wiring.connect, in order])
Wiring = tuple[object, object, list[tuple[object, object]]]
NodeInterface = Callable[[Module, MeshConfig, int, wiring.Component], Wiring]


def bridge_interface(m: Module, cfg: MeshConfig, node: int, target: wiring.Component) -> Wiring:
    """A `BusBridge` (submodule `bridge_<node>`) between the node's local port and the target's bus."""
    x, y = cfg.coords(node)
    bridge = m.submodules[f"bridge_{node}"] = BusBridge(cfg, x, y, target.bus.signature.addr_width,
                                                        target.bus.signature.data_width)
    return bridge.net_in, bridge.net_out, [(bridge.bus, target.bus)]


class MeshSystem(wiring.Component):
    def __init__(self, cfg: MeshConfig, targets: dict[int, Callable[[], wiring.Component]],
                 interface: NodeInterface = bridge_interface, overflow_port: bool = False,
                 local_slices: bool = False):
        for node in targets:
            if not isinstance(node, int) or not 0 <= node < cfg.n_nodes:
                raise ValueError(f"targets keys must be node indices in 0..{cfg.n_nodes - 1}, got {node!r}")
        self.cfg, self.interface, self.local_slices = cfg, interface, local_slices
        self.targets = {n: targets[n] for n in sorted(targets)}
        self.free_nodes = [n for n in range(cfg.n_nodes) if n not in targets]
        if not self.free_nodes:
            raise ValueError("at least one node must stay free for a host or endpoint (targets cover all nodes)")
        layout = flit_layout(cfg.flit_width)
        ports = {"host_in": In(stream.Signature(layout)).array(len(self.free_nodes)),
                 "host_out": Out(stream.Signature(layout)).array(len(self.free_nodes))}
        if overflow_port:
            ports["overflow"] = Out(1)  # sticky router credit error (must stay 0)
        super().__init__(ports)

    def elaborate(self, platform):
        m = Module()
        cfg = self.cfg
        mesh = m.submodules.mesh = Mesh(cfg)
        if "overflow" in self.signature.members:
            m.d.comb += self.overflow.eq(mesh.overflow)
        for k, node in enumerate(self.free_nodes):
            wiring.connect(m, wiring.flipped(self.host_in[k]), mesh.local_in[node])
            wiring.connect(m, mesh.local_out[node], wiring.flipped(self.host_out[k]))
        for node, make in self.targets.items():
            target = make()
            net_in, net_out, links = self.interface(m, cfg, node, target)
            m.submodules[f"target_{node}"] = target
            if self.local_slices:
                to_ni = m.submodules[f"slice_in_{node}"] = StreamSlice(flit_layout(cfg.flit_width))
                from_ni = m.submodules[f"slice_out_{node}"] = StreamSlice(flit_layout(cfg.flit_width))
                wiring.connect(m, mesh.local_out[node], to_ni.i)
                wiring.connect(m, to_ni.o, net_in)
                wiring.connect(m, net_out, from_ni.i)
                wiring.connect(m, from_ni.o, mesh.local_in[node])
            else:
                wiring.connect(m, mesh.local_out[node], net_in)
                wiring.connect(m, net_out, mesh.local_in[node])
            for a, b in links:
                wiring.connect(m, a, b)
        return m
