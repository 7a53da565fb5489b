"""Amaranth pysim driver for small meshes: the same sources, endpoint programs and scoreboard as the
cocotb bench (mesh_bench), without a Verilator build — for quick tests of 1x1..2x3 meshes."""
from __future__ import annotations

from amaranth.sim import Simulator

from spikemesh.rtl.mesh import Mesh, MeshConfig
from spikemesh.rtl.mesh.flit import unpack_flit
from spikemesh.sim.benches.mesh_traffic import QueueSource, Scoreboard, stall_cycle


def run_pysim(cfg: MeshConfig, sources: list[QueueSource], *, program=None, stall_out: bool = True,
              max_cycles: int = 20000) -> tuple[Scoreboard, dict]:
    dut = Mesh(cfg)
    sb = Scoreboard(cfg)
    n = cfg.n_nodes
    readies = [stall_cycle(i + 2) if stall_out else None for i in range(n)]
    stats = {"cycles": 0, "dropped": 0, "inject_stall_cycles": 0, "eject_stall_cycles": 0}
    if program is not None:
        for i, pkts in program.start().items():
            for pk in pkts:
                sources[i].push(pk)

    def done() -> bool:
        idle = all(not s.flits for s in sources) and sb.pending() == 0
        return idle and (program is None or program.finished())

    async def tb(ctx):
        rx = [[] for _ in range(n)]
        for cyc in range(max_cycles):
            offer = []
            for i in range(n):
                f = sources[i].peek(cyc)
                offer.append(f)
                ctx.set(dut.local_in[i].valid, f is not None)
                if f is not None:
                    ctx.set(dut.local_in[i].payload.as_value(), f)
                ctx.set(dut.local_out[i].ready, next(readies[i]) if readies[i] else 1)
            for i in range(n):
                if offer[i] is not None:
                    if ctx.get(dut.local_in[i].ready):
                        sb.inject(i, offer[i], cyc)
                        sources[i].advance()
                    else:
                        stats["inject_stall_cycles"] += 1
                if ctx.get(dut.local_out[i].valid):
                    if ctx.get(dut.local_out[i].ready):
                        val = ctx.get(dut.local_out[i].payload.as_value())
                        sb.eject(i, val, cyc)
                        rx[i].append(val)
                        if unpack_flit(cfg.flit_width, val)[2]:
                            if program is not None:
                                for j, pkts in program.on_packet(i, rx[i], cyc).items():
                                    for pk in pkts:
                                        sources[j].push(pk)
                            rx[i] = []
                    else:
                        stats["eject_stall_cycles"] += 1
            stats["dropped"] += bin(ctx.get(dut.dropped)).count("1")
            assert not ctx.get(dut.overflow), "input buffer overflow: credit protocol broken"
            await ctx.tick()
            stats["cycles"] = cyc + 1
            if done():
                break

    sim = Simulator(dut)
    sim.add_clock(1e-8)
    sim.add_testbench(tb)
    sim.run()
    return sb, stats
