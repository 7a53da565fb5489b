"""The multi-core board's SoC: the UART host link joined to the mesh's host port.

Link (rtl/link: UART or, in simulation, the byte-stream bypass) + BusDecoder + `status` (the single-core
SoC's status block: build ID, cycles, link counters, session) + `mesh` (`HostPort`: TX/RX FIFOs of flits at
node 0); behind it a `ReduceMeshSystem` (rtl/mesh/reduce_system.py) with a `CoreTile` (training core +
its own dataset BRAM + `SampleLoader` + `Runner`, rtl/mesh/tile.py) behind a `ReduceNode` at every core node.
The host composes the packets the cocotb mesh host composes (firmware/mesh_train.py) and moves them with
the ordinary `Board` READ/WRITE requests.  Top ports are the single-core `SoC`'s, so the board top
(boards/top.py) and the simulated board's harness (sim/board) take it unchanged.

Everything the host needs beside the SoC map (mesh shape, core nodes, the tile's map, the reduction's
parameters, the interface registers) is in the `mesh.ctl` region's `fields`, so the map hash covers it.
"""
from __future__ import annotations

import json
from dataclasses import asdict

from amaranth import Cat, Module, Signal
from amaranth.lib import wiring

from ..bus import BusDecoder, MemoryMap
from ..link.protocol import PROTOCOL_VERSION, map_hash
from ..soc.targets import StatusTarget
from ..soc.top import SocConfig, _connect_registered, link_front_end, soc_identity, soc_ports, status_outputs
from .flit import MeshConfig
from .host_port import HostPort
from .reduce_node import REGS
from .reduce_system import ReduceMeshSystem, ReduceParams
from .tile import RUNNER_REGS, CoreTile, tile_map

HOST_NODE = 0


def mesh_for(cores: int, flit_width: int = 32) -> tuple[MeshConfig, tuple[int, ...]]:
    """The mesh of a board with `cores` cores: one row, host at node 0, cores at nodes 1..cores (chain = index
    order = snake order on one row)."""
    if not isinstance(cores, int) or not 1 <= cores <= 4:
        raise ValueError(f"cores must be an int in 1..4 (a 1 x (cores + 1) mesh), got {cores!r}")
    return MeshConfig(1, cores + 1, flit_width), tuple(range(1, cores + 1))


class MeshSoC(wiring.Component):
    """`config.dataset_words` is PER CORE (each tile's dataset BRAM); `core_cfg` the training core at every node."""

    def __init__(self, config: SocConfig, core_cfg, cores: int = 4, *, sim_io: bool = False, make_core=None):
        self.config, self.core_cfg, self.sim_io = config, core_cfg, sim_io
        from ..core import TrainingCore
        from ..core.layout import CoreLayout

        self.make_core = make_core or (lambda: TrainingCore(core_cfg))
        self.tmap = tile_map(core_cfg, config.dataset_words)
        flit = max(32, self.tmap.addr_width + 17)
        self.mesh, self.nodes = mesh_for(cores, flit)
        g = CoreLayout(core_cfg).region("g")
        self.reduce = ReduceParams(g.offset, g.size)
        self.mesh_info = {"rows": self.mesh.rows, "cols": self.mesh.cols, "flit_width": self.mesh.flit_width,
                          "depth": self.mesh.depth, "host_node": HOST_NODE, "nodes": list(self.nodes),
                          "tile_map": json.loads(self.tmap.to_json()), "reduce": asdict(self.reduce),
                          "ni_regs": list(REGS), "ni_base": 1 << self.tmap.addr_width,
                          "runner_regs": [r[0] for r in RUNNER_REGS], "rx_depth": 256, "tx_depth": 64}
        mm = MemoryMap(addr_width=config.addr_width, data_width=16)
        mm.add("status", StatusTarget.regions_static())
        mm.add("mesh", HostPort.regions_static(self.mesh_info))
        self.memory_map = mm
        self.map_json = mm.to_json()
        core_config = repr(core_cfg) + f" cores={cores} tile_words={config.dataset_words}"
        self.build_id, self.ident = soc_identity(config, core_config, self.map_json, 2, f"{config.name} mesh{cores}")
        super().__init__(soc_ports(sim_io))

    def build_info(self) -> dict:
        core = asdict(self.core_cfg)
        core.pop("fmt", None)
        return {"build_id": self.build_id.hex(), "map_hash": map_hash(self.map_json).hex(),
                "config": json.loads(self.config.to_json()), "protocol_version": PROTOCOL_VERSION,
                "ident": self.ident.pack().hex(), "has_core": False, "mesh_core": core,
                "cores": len(self.nodes)}

    def _mesh_system(self, m: Module):
        """The mesh behind the host port (submodule `mesh`) and a signal: some core is busy."""
        tiles = {n: CoreTile(self.make_core(), self.core_cfg, self.config.dataset_words) for n in self.nodes}
        m.submodules.mesh = system = ReduceMeshSystem(self.mesh, {n: (lambda t=t: t) for n, t in tiles.items()},
                                                      self.reduce)
        tiles_busy = Signal()
        m.d.comb += tiles_busy.eq(Cat(*(t.busy for t in tiles.values())).any())
        return system, tiles_busy

    def elaborate(self, platform):
        m = Module()
        cfg = self.config
        aw = cfg.addr_width
        link, utx = link_front_end(m, self, cfg, self.ident.pack())

        m.submodules.decoder = dec = BusDecoder(self.memory_map, ["status", "mesh"])
        wiring.connect(m, link.bus, dec.bus)
        m.submodules.status = status = StatusTarget(self.build_id, addr_width=aw)
        wiring.connect(m, dec.t_status, status.bus)
        wiring.connect(m, link.stats, status.stats)
        m.submodules.port = port = HostPort(self.mesh.flit_width)
        _connect_registered(m, "mesh", dec.t_mesh, port.bus)

        system, tiles_busy = self._mesh_system(m)
        k = system.free_nodes.index(HOST_NODE)
        wiring.connect(m, port.tx, system.host_in[k])
        wiring.connect(m, system.host_out[k], port.rx)
        if self.sim_io:
            m.d.comb += self.idle.eq(link.idle & ~utx.busy & ~port.busy & ~tiles_busy)
        m.d.comb += self.leds.eq(status.leds)
        status_outputs(m, self, cfg, link, ~link.idle | tiles_busy)
        return m
