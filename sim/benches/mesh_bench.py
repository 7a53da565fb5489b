"""cocotb bench for the mesh: drives every local port, monitors both sides into the scoreboard.

One simulation runs a list of experiments (params["experiments"]), with a reset between them, so one
Verilator build serves a whole sweep. Each experiment is either
- {"kind": "random", packets_per_node, max_len, seed, rate, stall_out, dests?}: Bernoulli(rate) injection of
  random packets, sinks stalling in itertools.cycle patterns when stall_out; or
- {"kind": "endpoints", "program": name, ...}: reactive endpoints from `mesh_endpoints` (training traffic).
Results (latency, throughput, stalls, per-node received packets) go to params["out"] as JSON.
"""
from __future__ import annotations

import json
import cocotb
from cocotb.clock import Clock
from cocotb.triggers import ReadOnly, RisingEdge

from spikemesh.rtl.mesh.flit import MeshConfig, unpack_flit
from spikemesh.sim.benches.mesh_traffic import QueueSource, RandomTraffic, Scoreboard, stall_cycle, summarize
from spikemesh.sim.cocotb_run import cocotb_param


class MeshTB:
    def __init__(self, dut, cfg: MeshConfig):
        self.dut, self.cfg = dut, cfg
        n = cfg.n_nodes
        self.in_valid = [getattr(dut, f"local_in__{i}__valid") for i in range(n)]
        self.in_payload = [getattr(dut, f"local_in__{i}__payload") for i in range(n)]
        self.in_ready = [getattr(dut, f"local_in__{i}__ready") for i in range(n)]
        self.out_valid = [getattr(dut, f"local_out__{i}__valid") for i in range(n)]
        self.out_payload = [getattr(dut, f"local_out__{i}__payload") for i in range(n)]
        self.out_ready = [getattr(dut, f"local_out__{i}__ready") for i in range(n)]

    async def reset(self):
        dut = self.dut
        for i in range(self.cfg.n_nodes):
            self.in_valid[i].value = 0
            self.out_ready[i].value = 0
        dut.rst.value = 1
        for _ in range(3):
            await RisingEdge(dut.clk)
        dut.rst.value = 0
        await RisingEdge(dut.clk)

    async def run(self, sources, ready_pats, sb: Scoreboard, on_packet=None, max_cycles=10**7,
                  done=lambda: False):
        """sources[i]: object with .peek(cycle) -> flit value or None and .advance(); runs until done()."""
        n = self.cfg.n_nodes
        W = self.cfg.flit_width
        rx = [[] for _ in range(n)]
        stats = {"inject_stall_cycles": 0, "eject_stall_cycles": 0}
        cur_valid = [0] * n
        cur_ready = [0] * n
        cycle = 0
        while cycle < max_cycles:
            offer = [None] * n
            for i in range(n):
                f = sources[i].peek(cycle)
                v = 0 if f is None else 1
                if v:
                    self.in_payload[i].value = f
                    offer[i] = f
                if v != cur_valid[i]:
                    self.in_valid[i].value = v
                    cur_valid[i] = v
                r = next(ready_pats[i]) if ready_pats[i] is not None else 1
                if r != cur_ready[i]:
                    self.out_ready[i].value = r
                    cur_ready[i] = r
            await ReadOnly()
            accepted = []
            for i in range(n):
                if offer[i] is not None:
                    if self.in_ready[i].value:
                        sb.inject(i, offer[i], cycle)
                        accepted.append(i)
                    else:
                        stats["inject_stall_cycles"] += 1
                if self.out_valid[i].value:
                    if cur_ready[i]:
                        val = self.out_payload[i].value.to_unsigned()
                        sb.eject(i, val, cycle)
                        rx[i].append(val)
                        if unpack_flit(W, val)[2]:
                            if on_packet is not None:
                                on_packet(i, rx[i], cycle)
                            rx[i] = []
                    else:
                        stats["eject_stall_cycles"] += 1
            assert not self.dut.overflow.value, "input buffer overflow: credit protocol broken"
            for i in accepted:
                sources[i].advance()
            await RisingEdge(self.dut.clk)
            cycle += 1
            if done():
                break
        stats["cycles"] = cycle
        return stats


@cocotb.test()
async def mesh_experiments(dut):
    p = cocotb_param()
    cfg = MeshConfig(rows=p["rows"], cols=p["cols"], flit_width=p["flit_width"], depth=p["depth"])
    cocotb.start_soon(Clock(dut.clk, 10, unit="ns").start())
    tb = MeshTB(dut, cfg)
    results = []
    for exp in p["experiments"]:
        await tb.reset()
        sb = Scoreboard(cfg)
        n = cfg.n_nodes
        if exp["kind"] == "random":
            dests = {int(k): v for k, v in exp["dests"].items()} if exp.get("dests") else None
            streams = RandomTraffic(cfg, exp["packets_per_node"], exp["max_len"], exp["seed"], dests).streams()
            sources = [QueueSource(s, exp.get("rate", 1.0), exp["seed"] * 100 + i) for i, s in enumerate(streams)]
            total = sum(len(pk) for s in streams for pk in s)
            pats = [stall_cycle(i) if exp.get("stall_out") else None for i in range(n)]
            stats = await tb.run(sources, pats, sb, done=lambda: sb.flits_out == total,
                                 max_cycles=exp.get("max_cycles", 10**6))
            extra = {}
        else:
            from spikemesh.sim.benches import mesh_endpoints
            prog = mesh_endpoints.make_program(cfg, exp)
            sources = [QueueSource([]) for _ in range(n)]
            for i, pkts in prog.start().items():
                for pk in pkts:
                    sources[i].push(pk)

            def on_packet(node, pkt, cycle):
                for dst_node, out in prog.on_packet(node, list(pkt), cycle).items():
                    for pk in out:
                        sources[dst_node].push(pk)
            pats = [stall_cycle(i) if exp.get("stall_out") else None for i in range(n)]
            stats = await tb.run(sources, pats, sb, on_packet=on_packet,
                                 done=lambda: prog.finished() and sb.pending() == 0
                                 and all(not s.flits for s in sources),
                                 max_cycles=exp.get("max_cycles", 10**6))
            extra = {"result": prog.result(), "finished": prog.finished()}
        sb.assert_done()
        res = summarize(sb, stats, n)
        res.update(extra)
        res["exp"] = {k: v for k, v in exp.items() if k not in ("dests",)}
        results.append(res)
        dut._log.info("experiment %s: %s", exp.get("name", exp["kind"]),
                      {k: v for k, v in res.items() if k not in ("result", "exp")})
    with open(p["out"], "w") as fh:
        json.dump(results, fh)
