"""cocotb bench: H4's TrainingCores on a 2x2 mesh behind BusBridges, trained data-parallel from a host node.

Node 0 is the host port; cores sit at params["cores"]. Every bus access of H4's `CoreHost` protocol is
carried by mesh packets (a request packet of up to `batch` transfers, one response packet back).
One data-parallel step: every core gets the same W and its own sample, runs the sample program WITHOUT the
update (compile_program(update=False)), the host reads each core's G over the mesh, combines them in the
plan's chain order (FP16 adds on the host, the order golden_mesh fixes), writes the combined G to every
core and every core runs its weight-update ops. The weights each core then holds are written to params["out"].
"""
from __future__ import annotations

import json

import cocotb
import numpy as np
from cocotb.clock import Clock
from cocotb.triggers import ReadOnly, RisingEdge

from spikemesh.firmware.placement import DataParallelPlan, PacketType, packet, parse_packet
from spikemesh.firmware.program import assemble, compile_program, constants_from_snn
from spikemesh.rtl.core.config import CoreConfig
from spikemesh.rtl.core.isa import Op
from spikemesh.rtl.core.layout import CoreLayout
from spikemesh.rtl.mesh.flit import MeshConfig, unpack_flit
from spikemesh.sim.benches.core_host import CoreHost, f16_bits
from spikemesh.sim.cocotb_run import cocotb_param
from spikemesh.sim.golden import SNNConfig, encode, init_weights


class HostPort:
    """Node 0's mesh port driven from cocotb: send one packet, wait for its response packet."""

    def __init__(self, dut, cfg: MeshConfig):
        self.dut, self.cfg = dut, cfg
        self.seq = 0
        self.flits_sent = 0
        self.cycles = 0

    async def transact(self, node: int, write: bool, body: list[int]) -> list[int]:
        d, W = self.dut, self.cfg.flit_width
        self.seq = (self.seq + 1) & 0xFF
        flits = packet(self.cfg, 0, node, PacketType.CONTROL, self.seq, int(write), body)
        pos, rx = 0, []
        d.host_out__0__ready.value = 1
        while True:
            if pos < len(flits):
                d.host_in__0__valid.value = 1
                d.host_in__0__payload.value = flits[pos]
            else:
                d.host_in__0__valid.value = 0
            await ReadOnly()
            if pos < len(flits) and d.host_in__0__ready.value:
                pos += 1
            done = False
            if d.host_out__0__valid.value:
                v = d.host_out__0__payload.value.to_unsigned()
                rx.append(v)
                done = unpack_flit(W, v)[2]
            await RisingEdge(d.clk)
            self.cycles += 1
            if done:
                break
        self.flits_sent += len(flits)
        p = parse_packet(self.cfg, rx)
        assert p["src"] == node and p["seq"] == self.seq, f"response {p['src']}/{p['seq']} for {node}/{self.seq}"
        return p["body"]


class MeshCoreHost(CoreHost):
    """H4's CoreHost with every bus access carried over the mesh to the core at `node`."""

    def __init__(self, port: HostPort, cfg: CoreConfig, node: int, aw: int, batch: int = 32):
        super().__init__(None, cfg)
        self.port, self.node, self.aw, self.batch = port, node, aw, batch

    async def write(self, addr: int, data: int) -> None:
        await self.port.transact(self.node, True, [addr | (int(data) & 0xFFFF) << self.aw])

    async def read(self, addr: int) -> int:
        return (await self.port.transact(self.node, False, [addr]))[0] >> self.aw

    async def write_block(self, region: str, offset: int, words) -> None:
        b = self.base[region] + offset
        words = [int(w) & 0xFFFF for w in words]
        for k in range(0, len(words), self.batch):
            await self.port.transact(self.node, True,
                                     [(b + k + i) | w << self.aw for i, w in enumerate(words[k:k + self.batch])])

    async def read_block(self, region: str, offset: int, n: int) -> list[int]:
        b = self.base[region] + offset
        out = []
        for k in range(0, n, self.batch):
            resp = await self.port.transact(self.node, False, [b + i for i in range(k, min(n, k + self.batch))])
            out += [r >> self.aw for r in resp]
        return out

    async def start(self, words: list[int]) -> None:
        await self.write_block("prog", 0, words)
        await self.set_reg("start_pc", 0)
        await self.write(self.base["ctrl"], 3)  # start + clear counters

    async def wait_done(self, max_polls: int = 100000) -> int:
        from spikemesh.rtl.core.layout import STATUS_BUSY, STATUS_DONE
        for k in range(max_polls):
            st = await self.get_reg("ctrl")
            if not st & STATUS_BUSY and st & STATUS_DONE:
                return k
        raise AssertionError(f"core at node {self.node} did not finish")


@cocotb.test()
async def data_parallel_cores(dut):
    p = cocotb_param()
    mesh = MeshConfig(*p["mesh"])
    ccfg = CoreConfig(**{**p["core"], "layers": tuple(p["core"]["layers"])})
    snn = SNNConfig(**{**p["snn"], "sizes": tuple(p["snn"]["sizes"])})
    plan = DataParallelPlan(mesh, tuple(p["cores"]), p["order"])
    aw = CoreLayout(ccfg).addr_width
    cocotb.start_soon(Clock(dut.clk, 10, unit="ns").start())
    dut.rst.value = 1
    dut.host_in__0__valid.value = 0
    dut.host_out__0__ready.value = 0
    for _ in range(3):
        await RisingEdge(dut.clk)
    dut.rst.value = 0
    await RisingEdge(dut.clk)

    port = HostPort(dut, mesh)
    hosts = {c: MeshCoreHost(port, ccfg, c, aw) for c in plan.cores}
    W = init_weights(snn, p["seed"], gain=p.get("gain", 1.0))
    samples = [(np.asarray(x, np.int64), int(y)) for x, y in p["samples"]]
    L = ccfg.n_layers
    phases: dict[str, int] = {}
    mark = [0]

    def phase(name: str) -> None:
        phases[name] = port.cycles - mark[0]
        mark[0] = port.cycles

    for k, c in enumerate(plan.cores):
        h = hosts[c]
        for name, val in constants_from_snn(snn).items():
            await h.set_reg(name, val)
        await h.write_weights(W)
        pix, label = samples[k]
        await h.set_reg("label", label)
        await h.load_input(encode(snn, pix, k), snn.encoding == "direct", snn.dense)
        await h.start(compile_program(ccfg, snn.rule, snn.T, snn.k_steps, update=False))
    phase("load_and_start")
    for c in plan.cores:
        await hosts[c].wait_done()
    phase("wait_compute")
    grads = {c: [await hosts[c].read_matrix("g", l) for l in range(1, L + 1)] for c in plan.cores}
    phase("read_g")
    chain = plan.chain
    acc = [g.copy() for g in grads[chain[0]]]
    for c in chain[1:]:
        acc = [a + g for a, g in zip(acc, grads[c])]  # FP16 element-wise: one rounding per add
        for a in acc:
            a[a == 0] = np.float16(0.0)
    for c in plan.cores:
        for l in range(1, L + 1):
            await hosts[c].write_block("g", hosts[c].lay.wbase(l), hosts[c].lay.pack_matrix(l, acc[l - 1]))
        await hosts[c].start(assemble([(Op.UPD, l, 0) for l in range(1, L + 1)], ccfg))
    for c in plan.cores:
        await hosts[c].wait_done()
    phase("write_g_and_update")
    out = {"phases": phases, "weights": {str(c): [f16_bits(await hosts[c].read_matrix("w", l)).tolist() for l in range(1, L + 1)]
                       for c in plan.cores},
           "grads": {str(c): [f16_bits(g).tolist() for g in grads[c]] for c in plan.cores},
           "cycles": port.cycles, "flits_sent": port.flits_sent}
    with open(p["out"], "w") as fh:
        json.dump(out, fh)
