"""cocotb bench: TrainingCores on a 2x2 mesh behind BusBridges, trained data-parallel from a host node.

Node 0 is the host port; cores sit at params["cores"]. Every bus access of the `CoreHost` protocol (sim/benches/core_host.py) is
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

from spikemesh.firmware.placement import DataParallelPlan
from spikemesh.firmware.program import assemble, compile_program, constants_from_snn
from spikemesh.rtl.core.config import CoreConfig
from spikemesh.rtl.core.isa import Op
from spikemesh.rtl.core.layout import CoreLayout
from spikemesh.rtl.mesh.flit import MeshConfig
from spikemesh.sim.benches.core_host import f16_bits
from spikemesh.sim.benches.mesh_host import HostPort, MeshCoreHost, reset_mesh
from spikemesh.sim.cocotb_run import cocotb_param
from spikemesh.sim.golden import SNNConfig, encode, init_weights


@cocotb.test()
async def data_parallel_cores(dut):
    p = cocotb_param()
    mesh = MeshConfig(*p["mesh"])
    ccfg = CoreConfig(**{**p["core"], "layers": tuple(p["core"]["layers"])})
    snn = SNNConfig(**{**p["snn"], "sizes": tuple(p["snn"]["sizes"])})
    plan = DataParallelPlan(mesh, tuple(p["cores"]), p["order"])
    aw = CoreLayout(ccfg).addr_width
    await reset_mesh(dut)

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
            await hosts[c].write_block("g", hosts[c].lay.gbase(l), hosts[c].lay.pack_matrix(l, acc[l - 1]))
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
