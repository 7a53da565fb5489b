"""cocotb bench: data-parallel training of TrainingCores on a 2x2 mesh with the gradient reduction done
IN THE NETWORK (ReduceMeshSystem: every core behind a ReduceNode) or, for comparison, on the host node.

Node 0 is the host port. Each experiment (params["experiments"]) trains `steps` data-parallel steps on
`cores` (chain order from DataParallelPlan): W, constants and the programs (sample program without the
update at 0, the UPD ops at `upd_pc`) go to every core once; per step every core gets its sample and runs,
then the gradients are combined:
- "net": the host starts the chain at its first core's interface and waits for the done packet; the
  interfaces stream G core to core (FP16 adds in the interfaces), the last writes the sum and sends it back;
- "host": the host reads every core's G over the mesh, adds them in chain order (golden_mesh.chain_add) and
  writes the sum to every core;
then every core runs its UPD ops. Cycles per phase are counted per step; then (not counted) every core's W
and the interfaces' counters are read back and written to params["out"] for the caller to check.
"""
from __future__ import annotations

import json

import cocotb
from cocotb.triggers import ReadOnly, RisingEdge

from spikemesh.firmware.placement import DataParallelPlan, PacketType, packet, parse_packet
from spikemesh.firmware.program import assemble, compile_program, constants_from_snn
from spikemesh.rtl.core.config import CoreConfig
from spikemesh.rtl.core.isa import Op
from spikemesh.rtl.core.layout import CoreLayout
from spikemesh.rtl.mesh.flit import MeshConfig, unpack_flit
from spikemesh.rtl.mesh.reduce_node import NI_CTRL, REGS, chain_registers
from spikemesh.rtl.mesh.reducer import Kind
from spikemesh.sim.benches.core_host import f16_bits
from spikemesh.sim.benches.mesh_dp_run import dp_data
from spikemesh.sim.benches.mesh_host import MeshCoreHost, reset_mesh
from spikemesh.sim.cocotb_run import cocotb_param
from spikemesh.sim.golden import SNNConfig, encode, init_weights
from spikemesh.sim.golden_mesh import chain_add


class PacketPort:
    """Node 0's port: sends packets, keeps every packet received; `transact` waits for its response."""

    def __init__(self, dut, cfg: MeshConfig):
        self.dut, self.cfg = dut, cfg
        self.seq = 0
        self.cycles = 0
        self.flits_in = self.flits_out = 0
        self.rx: list[int] = []
        self.packets: list[dict] = []

    async def tick(self, flit: int | None) -> bool:
        d = self.dut
        d.host_in__0__valid.value = int(flit is not None)
        if flit is not None:
            d.host_in__0__payload.value = flit
        d.host_out__0__ready.value = 1
        await ReadOnly()
        taken = flit is not None and bool(d.host_in__0__ready.value)
        if d.host_out__0__valid.value:
            v = d.host_out__0__payload.value.to_unsigned()
            self.rx.append(v)
            self.flits_in += 1
            if unpack_flit(self.cfg.flit_width, v)[2]:
                self.packets.append(parse_packet(self.cfg, self.rx))
                self.rx = []
        await RisingEdge(d.clk)
        self.cycles += 1
        self.flits_out += taken
        return taken

    async def wait_packet(self, pred, max_cycles: int = 2_000_000) -> dict:
        for _ in range(max_cycles):
            for i, p in enumerate(self.packets):
                if pred(p):
                    return self.packets.pop(i)
            await self.tick(None)
        raise AssertionError("expected packet never came (deadlock?)")

    async def transact(self, node: int, write: bool, body: list[int]) -> list[int]:
        self.seq = (self.seq + 1) & 0xFF
        seq = self.seq
        flits = packet(self.cfg, 0, node, PacketType.CONTROL, seq, int(write), body)
        pos = 0
        while pos < len(flits):
            pos += await self.tick(flits[pos])
        p = await self.wait_packet(lambda p: p["ptype"] == PacketType.CONTROL.value and p["src"] == node
                                   and p["seq"] == seq)
        return p["body"]


class NodeHost(MeshCoreHost):
    """MeshCoreHost (the core bench's protocol over the mesh) plus the interface's registers above the core's space."""

    def __init__(self, port: PacketPort, cfg: CoreConfig, node: int):
        self.core_aw = CoreLayout(cfg).addr_width
        super().__init__(port, cfg, node, self.core_aw + 1)

    async def write_ni(self, values: dict[str, int]) -> None:
        base = 1 << self.core_aw
        await self.write_words([(base + REGS.index(k)) | v << self.aw for k, v in values.items()])

    async def read_ni(self, names: list[str]) -> dict[str, int]:
        base = 1 << self.core_aw
        return dict(zip(names, await self.read_words([base + REGS.index(k) for k in names])))

    async def run_from(self, pc: int) -> None:
        await self.write_reg("start_pc", pc)
        await self.write_reg("ctrl", start=1, clear=1)


async def run_experiment(port: PacketPort, mesh: MeshConfig, ccfg: CoreConfig, snn: SNNConfig, e: dict) -> dict:
    plan = DataParallelPlan(mesh, tuple(e["cores"]), e["order"])
    chain = plan.chain
    hosts = {c: NodeHost(port, ccfg, c) for c in plan.cores}
    L = ccfg.n_layers
    W = init_weights(snn, e["seed"], gain=e.get("gain", 1.0))
    X, y = dp_data(snn.sizes)
    prog = compile_program(ccfg, snn.rule, snn.T, snn.k_steps, update=False)
    upd_pc = len(prog)
    prog = prog + assemble([(Op.UPD, l, 0) for l in range(1, L + 1)], ccfg)
    for c in plan.cores:
        h = hosts[c]
        for name, val in constants_from_snn(snn).items():
            await h.set_reg(name, val)
        await h.write_weights(W)
        await h.write_block("prog", 0, prog)
    if e["mode"] == "net":
        for c, vals in chain_registers(mesh, chain, 0).items():
            await hosts[c].write_ni(vals)
    steps = []
    for s in range(e["steps"]):
        phases: dict[str, int] = {}
        mark = [port.cycles, port.flits_in + port.flits_out]
        host_flits: dict[str, int] = {}

        def phase(name: str) -> None:
            phases[name] = port.cycles - mark[0]
            host_flits[name] = port.flits_in + port.flits_out - mark[1]
            mark[:] = [port.cycles, port.flits_in + port.flits_out]

        for k, c in enumerate(plan.cores):
            i = e["first_sample"] + s * len(plan.cores) + k
            h = hosts[c]
            async with h.batched():  # label, input, events and start: ~4 request packets for 64 inputs
                await h.set_reg("label", int(y[i]))
                await h.load_input(encode(snn, X[i], i), snn.encoding == "direct", snn.dense)
                await h.run_from(0)
        phase("load_and_start")
        for c in plan.cores:
            await hosts[c].wait_done()
        phase("wait_compute")
        if e["mode"] == "net":
            await hosts[chain[0]].write_ni({"ctrl": NI_CTRL.encode(start=1, clear=1)})
            await port.wait_packet(lambda p: p["ptype"] == PacketType.WEIGHT.value and p["layer"] == Kind.DONE
                                   and p["src"] == chain[0])
        else:
            grads = {c: [await hosts[c].read_matrix("g", l) for l in range(1, L + 1)] for c in plan.cores}
            acc = grads[chain[0]]
            for c in chain[1:]:
                acc = [chain_add(a, g) for a, g in zip(acc, grads[c])]
            for c in plan.cores:
                for l in range(1, L + 1):
                    await hosts[c].write_matrix("g", l, acc[l - 1])
        phase("reduce")
        for c in plan.cores:
            await hosts[c].run_from(upd_pc)
        for c in plan.cores:
            await hosts[c].wait_done()
        phase("update")
        rec = {"phases": phases, "host_flits": host_flits, "total": sum(phases.values())}
        rec["weights"] = {str(c): [f16_bits(await hosts[c].read_matrix("w", l)).tolist() for l in range(1, L + 1)]
                          for c in plan.cores}
        if e["mode"] == "net":
            rec["ni"] = {str(c): await hosts[c].read_ni(["flits", "stalls", "active"]) for c in plan.cores}
            for c in plan.cores:
                await hosts[c].write_ni({"ctrl": NI_CTRL.encode(clear=1)})  # clear the counters for the next step
        steps.append(rec)
    assert not int(port.dut.overflow.value), "router buffer overflow"
    assert not port.packets, f"unexpected packets: {port.packets[:2]}"
    return {"exp": e, "chain": chain, "steps": steps}


@cocotb.test()
async def data_parallel_reduce(dut):
    p = cocotb_param()
    mesh = MeshConfig(*p["mesh"])
    ccfg = CoreConfig(**{**p["core"], "layers": tuple(p["core"]["layers"])})
    snn = SNNConfig(**{**p["snn"], "sizes": tuple(p["snn"]["sizes"])})
    await reset_mesh(dut)
    port = PacketPort(dut, mesh)
    results = [await run_experiment(port, mesh, ccfg, snn, e) for e in p["experiments"]]
    with open(p["out"], "w") as fh:
        json.dump(results, fh)
