"""The 5-port mesh router: input buffers, XY routing, per-output round-robin with wormhole locking.

Per input port: a SyncFIFOBuffered of `depth` flits (router links) fed under credit flow control, or from
the local stream (`local_in.ready` = buffer not full). The head flit's destination picks the output by
dimension-ordered XY routing (first x, then y; computed as the flit enters the buffer and stored with it),
which cannot deadlock on a mesh; body flits follow the
route latched from their head. Per output port: a round-robin arbiter over the inputs that XY routing can
send there; a multi-flit packet holds the output from head to tail (wormhole). Outputs are registered:
a router link output sends when it holds a credit, the local output is a stream register.
A head whose destination lies outside the mesh is dropped with its body (`dropped` pulses), never stalls.
"""
from __future__ import annotations

from amaranth import Cat, Module, Mux, Signal
from amaranth.lib import data, stream, wiring
from amaranth.lib.fifo import SyncFIFOBuffered
from amaranth.lib.wiring import In, Out

from .flit import HEADER_BITS, OPPOSITE, Direction, Header, MeshConfig, flit_layout
from .link import CreditLinkSignature

N, E, S, W, L = (Direction.NORTH, Direction.EAST, Direction.SOUTH, Direction.WEST, Direction.LOCAL)
DROP = 5  # route code for an off-mesh destination
ROUTE_BITS = 3


def xy_allows(inp: Direction, out: Direction) -> bool:
    """Which input -> output turns XY routing can make (saves arbiter inputs and muxes)."""
    if out == L or inp == L:
        return True
    if out in (N, S):
        return inp in (E, W, OPPOSITE[out])
    return inp == OPPOSITE[out]


def xy_route(cfg: MeshConfig, x: int, y: int, dst_x: int, dst_y: int) -> int:
    """Reference of the routing function (used by tests and the traffic model): output port or DROP."""
    if dst_x >= cfg.cols or dst_y >= cfg.rows:
        return DROP
    if dst_x > x:
        return E
    if dst_x < x:
        return W
    if dst_y > y:
        return S
    if dst_y < y:
        return N
    return L


class Router(wiring.Component):
    """One mesh router at column `x`, row `y` of the mesh `cfg`."""

    def __init__(self, cfg: MeshConfig, x: int, y: int):
        if not isinstance(x, int) or not 0 <= x < cfg.cols:
            raise ValueError(f"x must be an int in 0..{cfg.cols - 1}, got {x!r}")
        if not isinstance(y, int) or not 0 <= y < cfg.rows:
            raise ValueError(f"y must be an int in 0..{cfg.rows - 1}, got {y!r}")
        self.cfg, self.x, self.y = cfg, x, y
        layout = flit_layout(cfg.flit_width)
        link = CreditLinkSignature(cfg.flit_width)
        super().__init__({
            "link_in": In(link).array(4),     # indexed by Direction N, E, S, W (where the flit comes from)
            "link_out": Out(link).array(4),
            "local_in": In(stream.Signature(layout)),
            "local_out": Out(stream.Signature(layout)),
            "dropped": Out(1),   # pulse: a flit with an off-mesh destination was discarded
            "overflow": Out(1),  # sticky: a link wrote into a full buffer (a credit bug; must stay 0)
        })

    def has_port(self, d: Direction) -> bool:
        return {N: self.y > 0, S: self.y < self.cfg.rows - 1, W: self.x > 0,
                E: self.x < self.cfg.cols - 1, L: True}[d]

    def elaborate(self, platform):
        m = Module()
        cfg = self.cfg
        layout = flit_layout(cfg.flit_width)
        ports = [d for d in Direction if self.has_port(d)]

        # ---- inputs: buffer, route computation, route latch for body flits
        head_view, route, drop, pop = {}, {}, {}, {}
        overflow = Signal()
        for p in ports:
            # depth + 1: SyncFIFOBuffered's inner memory (depth - 1 entries) can be full while its output
            # register is still empty, so `depth` credits need a memory of `depth` entries.
            fifo = SyncFIFOBuffered(width=layout.size + ROUTE_BITS, depth=cfg.depth + 1)
            m.submodules[f"in_{p.name.lower()}"] = fifo
            # Look-ahead routing: the route is computed from the flit as it ENTERS the buffer and stored
            # with it, which keeps the comparators off the buffer -> arbiter -> pop path (the slow one).
            incoming = Signal(layout, name=f"incoming_{p.name.lower()}")
            if p == L:
                m.d.comb += [incoming.eq(self.local_in.payload), fifo.w_en.eq(self.local_in.valid),
                             self.local_in.ready.eq(fifo.w_rdy)]
            else:
                src = self.link_in[p]
                m.d.comb += [incoming.eq(src.flit), fifo.w_en.eq(src.valid)]
                m.d.sync += src.credit.eq(fifo.r_en & fifo.r_rdy)
                overflow_p = Signal(name=f"overflow_{p.name.lower()}")
                m.d.comb += overflow_p.eq(src.valid & ~fifo.w_rdy)
                overflow = overflow | overflow_p
            hdr = data.View(Header, incoming.data[:HEADER_BITS])
            computed_in = Signal(range(DROP + 1), name=f"route_in_{p.name.lower()}")
            with m.If((hdr.dst_x >= cfg.cols) | (hdr.dst_y >= cfg.rows)):
                m.d.comb += computed_in.eq(DROP)
            with m.Elif(hdr.dst_x > self.x):
                m.d.comb += computed_in.eq(E)
            with m.Elif(hdr.dst_x < self.x):
                m.d.comb += computed_in.eq(W)
            with m.Elif(hdr.dst_y > self.y):
                m.d.comb += computed_in.eq(S)
            with m.Elif(hdr.dst_y < self.y):
                m.d.comb += computed_in.eq(N)
            with m.Else():
                m.d.comb += computed_in.eq(L)
            m.d.comb += fifo.w_data.eq(Cat(incoming.as_value(), computed_in))
            flit = data.View(layout, fifo.r_data[:layout.size])
            computed = fifo.r_data[layout.size:]
            latched = Signal(range(DROP + 1), name=f"route_held_{p.name.lower()}")
            cur = Signal(range(DROP + 1), name=f"route_{p.name.lower()}")
            m.d.comb += cur.eq(Mux(flit.head, computed, latched))
            pop[p] = Signal(name=f"pop_{p.name.lower()}")
            drop[p] = Signal(name=f"drop_{p.name.lower()}")
            m.d.comb += [drop[p].eq(fifo.r_rdy & (cur == DROP)), fifo.r_en.eq(pop[p])]
            with m.If(pop[p] & flit.head):
                m.d.sync += latched.eq(computed)
            head_view[p], route[p] = (fifo, flit), cur

        pops = {p: [drop[p]] for p in ports}

        # ---- outputs: round-robin arbiter with wormhole lock, registered output stage
        for o in ports:
            cands = [p for p in ports if xy_allows(p, o) and not (p == o and o != L)]
            k = len(cands)
            name = o.name.lower()
            req = Signal(k, name=f"req_{name}")
            m.d.comb += req.eq(Cat(head_view[p][0].r_rdy & (route[p] == o) for p in cands))
            locked = Signal(name=f"locked_{name}")
            owner = Signal(range(k), name=f"owner_{name}")
            ptr = Signal(range(k), name=f"rr_{name}")
            rr_grant = Signal(range(k), name=f"rr_grant_{name}")
            rr_any = Signal(name=f"rr_any_{name}")
            with m.Switch(ptr):
                for s in range(k):
                    with m.Case(s):
                        for i, c in enumerate((s + j) % k for j in range(k)):
                            with (m.If if i == 0 else m.Elif)(req[c]):
                                m.d.comb += [rr_grant.eq(c), rr_any.eq(1)]
            grant = Signal(range(k), name=f"grant_{name}")
            want = Signal(name=f"want_{name}")
            m.d.comb += [grant.eq(Mux(locked, owner, rr_grant)), want.eq(Mux(locked, req.bit_select(owner, 1), rr_any))]
            sel = Signal(layout, name=f"sel_{name}")
            with m.Switch(grant):
                for i, p in enumerate(cands):
                    with m.Case(i):
                        m.d.comb += sel.eq(head_view[p][1])
            can_send = Signal(name=f"can_send_{name}")
            fire = Signal(name=f"fire_{name}")
            m.d.comb += fire.eq(want & can_send)
            for i, p in enumerate(cands):
                g = Signal(name=f"win_{name}_{p.name.lower()}")
                m.d.comb += g.eq(fire & (grant == i))
                pops[p].append(g)
            with m.If(fire):
                with m.If(sel.tail):
                    m.d.sync += locked.eq(0)
                with m.Elif(sel.head):
                    m.d.sync += [locked.eq(1), owner.eq(grant)]
                with m.If(sel.head):
                    m.d.sync += ptr.eq(Mux(grant == k - 1, 0, grant + 1))
            if o == L:
                out = self.local_out
                m.d.comb += can_send.eq(~out.valid | out.ready)
                with m.If(fire):
                    m.d.sync += [out.valid.eq(1), out.payload.eq(sel)]
                with m.Elif(out.ready):
                    m.d.sync += out.valid.eq(0)
            else:
                out = self.link_out[o]
                credits = Signal(range(cfg.depth + 1), init=cfg.depth, name=f"credits_{name}")
                m.d.comb += can_send.eq(credits != 0)
                m.d.sync += [out.valid.eq(fire), credits.eq(credits - fire + out.credit)]
                with m.If(fire):
                    m.d.sync += out.flit.eq(sel)

        for p in ports:
            m.d.comb += pop[p].eq(Cat(pops[p]).any())
        m.d.sync += self.dropped.eq(Cat(drop[p] for p in ports).any())
        with m.If(overflow):
            m.d.sync += self.overflow.eq(1)
        return m
