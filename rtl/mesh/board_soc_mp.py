"""The multi-core board, model-parallel placement: the network's layers split over a chain of cores.

Same link, status block and mesh host port (`HostPort` at node 0) as `MeshSoC` (rtl/mesh/board_soc.py); the
cores are the ones the model-parallel bench uses (sim/benches/mesh_mp_bench.py): at node i (1..n) a bare
`TrainingCore` holding a contiguous slice of the layers (`ModelParallelPlan.core_layers`), behind a
`CopyEngine` + `BusBridge` (`CopyMeshSystem`), so spikes and errors move core to core without passing the
host.  The host sequences the per-step segments of `firmware.program.compile_segments` over the link
(firmware/mesh_mp_train.py).

A slice's bus must be addressable by the copy engine (addr_width <= 16): that is what splits a network
such as 64-128-128-10 (one core: 60,434 words in aligned regions, a 17-bit bus) over cores.
`mesh.ctl`'s `fields` carry the placement (network sizes, per node its layers and bus width), so the map hash
covers it.
"""
from __future__ import annotations

import json

from amaranth import Cat, Module, Signal

from ..bus import MemoryMap
from ..link.protocol import PROTOCOL_VERSION, map_hash
from ..soc.targets import StatusTarget
from ..soc.top import soc_identity, soc_ports
from .board_soc import HOST_NODE, MeshSoC, mesh_for
from .copy_engine import CopyMeshSystem
from .host_port import HostPort


def split_layers(sizes: tuple[int, ...], cores: int) -> tuple[int, ...]:
    """layer_core for `cores` cores (nodes 1..cores): contiguous slices, as even in layer count as they go."""
    L = len(sizes) - 1
    if not isinstance(cores, int) or not 1 <= cores <= L:
        raise ValueError(f"model-parallel placement needs 1..{L} cores for a {L}-layer network "
                         f"({'-'.join(map(str, sizes))}): every core holds at least one layer, got {cores!r}")
    out = []
    for c in range(cores):
        n = L // cores + (1 if c < L % cores else 0)
        out += [c + 1] * n
    return tuple(out)


def slice_configs(sizes, cores: int, layer_core=None, t_max: int = 4, **core_kw) -> dict:
    """Per core node (1..cores), the `CoreConfig` of its slice of the network `sizes`."""
    from spikemesh.firmware.placement import ModelParallelPlan

    from ..core.config import CoreConfig

    lc = tuple(layer_core) if layer_core is not None else split_layers(tuple(sizes), cores)
    plan = ModelParallelPlan(mesh_for(cores)[0], lc)
    return {n: CoreConfig(layers=ls, t_max=t_max, **core_kw) for n, ls in plan.core_layers(tuple(sizes)).items()}


def core_words(cfg) -> int:
    """Words of a core's bus regions (`CoreLayout`): its weights, gradients, state, spike lists, program."""
    from ..core.layout import CoreLayout

    return sum(r.size for r in CoreLayout(cfg).regions())


class MeshMpSoC(MeshSoC):
    """`sizes`: the whole network N_0..N_L; `layer_core`: its core node per layer (default `split_layers`);
    `t_max`: every core's; `core_kw`: more `CoreConfig` fields for every core."""

    def __init__(self, config, sizes, cores: int = 2, *, layer_core=None, t_max: int = 4, sim_io: bool = False,
                 core_kw: dict | None = None):
        try:
            self._init(config, sizes, cores, layer_core, t_max, sim_io, core_kw)
        except Exception:
            self._MustUse__silence = True  # a refused placement is not an unused design
            raise

    def _init(self, config, sizes, cores, layer_core, t_max, sim_io, core_kw):
        from spikemesh.firmware.placement import ModelParallelPlan
        from ..core.config import CoreConfig
        from ..core.layout import CoreLayout

        self.config, self.sim_io = config, sim_io
        self.sizes = tuple(int(s) for s in sizes)
        lc = tuple(layer_core) if layer_core is not None else split_layers(self.sizes, cores)
        mesh0, nodes = mesh_for(cores)
        plan = ModelParallelPlan(mesh0, lc)
        slices = plan.slices()
        if [n for n, _, _ in slices] != list(nodes):
            raise ValueError(f"layer_core must put the layers on the chain of nodes {list(nodes)} in order, got {lc!r}")
        self.core_cfgs = {n: CoreConfig(layers=ls, t_max=t_max, **(core_kw or {}))
                          for n, ls in plan.core_layers(self.sizes).items()}
        self.core_cfg = None
        aws = {n: CoreLayout(c).addr_width for n, c in self.core_cfgs.items()}
        for n, aw in aws.items():
            if aw > 16:
                raise ValueError(f"core {n}'s slice {'-'.join(map(str, self.core_cfgs[n].layers))} needs a "
                                 f"{aw}-bit bus ({core_words(self.core_cfgs[n])} words): the copy engine "
                                 "addresses 16 bits; split the network over more cores")
        self.mesh, self.nodes = mesh_for(cores, max(32, max(aws.values()) + 16))
        self.layer_core = lc
        self.mesh_info = {"rows": self.mesh.rows, "cols": self.mesh.cols, "flit_width": self.mesh.flit_width,
                          "depth": self.mesh.depth, "host_node": HOST_NODE, "nodes": list(self.nodes),
                          "placement": "model", "sizes": list(self.sizes), "layer_core": list(lc),
                          "t_max": t_max, "core_layers": [list(self.core_cfgs[n].layers) for n in self.nodes],
                          "core_aw": [aws[n] for n in self.nodes], "rx_depth": 256, "tx_depth": 64}
        mm = MemoryMap(addr_width=config.addr_width, data_width=16)
        mm.add("status", StatusTarget.regions_static())
        mm.add("mesh", HostPort.regions_static(self.mesh_info))
        self.memory_map = mm
        self.map_json = mm.to_json()
        core_config = " ".join(repr(self.core_cfgs[n]) for n in self.nodes) + f" model-parallel cores={cores}"
        summary = f"{config.name} mesh{cores} model-parallel {'-'.join(map(str, self.sizes))}"
        self.build_id, self.ident = soc_identity(config, core_config, self.map_json, 2, summary)
        super(MeshSoC, self).__init__(soc_ports(sim_io))

    def build_info(self) -> dict:
        return {"build_id": self.build_id.hex(), "map_hash": map_hash(self.map_json).hex(),
                "config": json.loads(self.config.to_json()), "protocol_version": PROTOCOL_VERSION,
                "ident": self.ident.pack().hex(), "has_core": False, "placement": "model",
                "sizes": list(self.sizes), "layer_core": list(self.layer_core),
                "mesh_cores": [list(self.core_cfgs[n].layers) for n in self.nodes], "cores": len(self.nodes)}

    def _mesh_system(self, m: Module):
        from ..core import TrainingCore

        cores = {n: TrainingCore(self.core_cfgs[n]) for n in self.nodes}
        m.submodules.mesh = system = CopyMeshSystem(self.mesh, {n: (lambda c=c: c) for n, c in cores.items()})
        busy = Signal()
        m.d.comb += busy.eq(Cat(*(c.busy for c in cores.values())).any())
        return system, busy
