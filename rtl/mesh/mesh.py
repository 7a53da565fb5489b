"""R x C routers joined into a 2-D mesh; every router's local port is a mesh port for a core or endpoint.

Node (core) index i = y * cols + x (row-major). `local_in[i]` injects flits at node i, `local_out[i]`
delivers flits addressed to node i.
"""
from __future__ import annotations

from amaranth import Cat, Module
from amaranth.lib import stream, wiring
from amaranth.lib.wiring import In, Out

from .flit import Direction, MeshConfig, flit_layout
from .router import Router


class Mesh(wiring.Component):
    def __init__(self, cfg: MeshConfig):
        if not isinstance(cfg, MeshConfig):
            raise ValueError(f"cfg must be a MeshConfig, got {type(cfg).__name__}")
        self.cfg = cfg
        layout = flit_layout(cfg.flit_width)
        super().__init__({
            "local_in": In(stream.Signature(layout)).array(cfg.n_nodes),
            "local_out": Out(stream.Signature(layout)).array(cfg.n_nodes),
            "dropped": Out(cfg.n_nodes),
            "overflow": Out(1),
        })

    def elaborate(self, platform):
        m = Module()
        cfg = self.cfg
        routers = []
        for i in range(cfg.n_nodes):
            x, y = cfg.coords(i)
            r = m.submodules[f"router_x{x}_y{y}"] = Router(cfg, x, y)
            routers.append(r)
            wiring.connect(m, wiring.flipped(self.local_in[i]), r.local_in)
            wiring.connect(m, r.local_out, wiring.flipped(self.local_out[i]))
        for i, r in enumerate(routers):
            x, y = cfg.coords(i)
            if x + 1 < cfg.cols:
                east = routers[cfg.node(x + 1, y)]
                wiring.connect(m, r.link_out[Direction.EAST], east.link_in[Direction.WEST])
                wiring.connect(m, east.link_out[Direction.WEST], r.link_in[Direction.EAST])
            if y + 1 < cfg.rows:
                south = routers[cfg.node(x, y + 1)]
                wiring.connect(m, r.link_out[Direction.SOUTH], south.link_in[Direction.NORTH])
                wiring.connect(m, south.link_out[Direction.NORTH], r.link_in[Direction.SOUTH])
        m.d.comb += [self.dropped.eq(Cat(r.dropped for r in routers)),
                     self.overflow.eq(Cat(r.overflow for r in routers).any())]
        return m
