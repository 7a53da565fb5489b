"""cocotb bench for TrainingCore: load weights/program/inputs over the bus, run samples, compare every
layer's spikes, membranes, psi/delta lists, errors gs, gradients G and updated weights bit for bit."""
from __future__ import annotations

import cocotb
import numpy as np
from cocotb.clock import Clock
from cocotb.triggers import RisingEdge

from spikemesh.firmware.program import assemble, core_constants, sample_ops
from spikemesh.rtl.core.config import CoreConfig
from spikemesh.rtl.core.isa import Op
from spikemesh.sim.benches.core_host import CoreHost, f16_bits
from spikemesh.sim.benches.core_ref import sltt_sample
from spikemesh.sim.cocotb_run import cocotb_param


def core_config(p) -> CoreConfig:
    return CoreConfig(**p["core"])


def make_case(p, rng):
    """Weights and samples: direct FP16 inputs or rate spikes, with an all-zero and an all-one step."""
    sizes = p["core"]["layers"]
    T = p["T"]
    weights = [np.float16(rng.normal(0, p.get("w_scale", 1.2) / np.sqrt(n_in), (n_out, n_in)))
               for n_in, n_out in zip(sizes[:-1], sizes[1:])]
    samples = []
    for _ in range(p["samples"]):
        if p["direct"]:
            pix = rng.integers(0, 17, sizes[0]) * (rng.random(sizes[0]) < 0.6)
            x = np.float16(pix / 16)
            inputs = [x] * T
        else:
            inputs = [(rng.random(sizes[0]) < 0.3).astype(np.float16) for _ in range(T)]
            if T >= 3:
                inputs[1] = np.zeros(sizes[0], np.float16)
                inputs[2] = np.ones(sizes[0], np.float16)
        samples.append((inputs, int(rng.integers(0, sizes[-1]))))
    return weights, samples


def bits(a):
    return f16_bits(a).tolist()


async def setup(dut):
    cocotb.start_soon(Clock(dut.clk, 10, unit="ns").start())
    dut.rst.value = 1
    dut.bus__req_valid.value = 0
    for _ in range(3):
        await RisingEdge(dut.clk)
    dut.rst.value = 0
    await RisingEdge(dut.clk)


@cocotb.test()
async def sltt_bit_exact(dut):
    p = cocotb_param()
    cfg = core_config(p)
    host = CoreHost(dut, cfg)
    await setup(dut)
    rng = np.random.default_rng(p["seed"])
    weights, samples = make_case(p, rng)
    T, L, rule = p["T"], cfg.n_layers, p["rule"]
    k_steps = tuple(p["k_steps"]) if p.get("k_steps") else None
    hyper = dict(lam=0.5, theta=1.0, T=T, loss_scale=p.get("loss_scale", 256), lr=p.get("lr", 2.0**-5),
                 surrogate=p.get("surrogate", "rect"), surrogate_width=p.get("width", 1.0),
                 reset=p.get("reset", "soft"), direct=p["direct"])
    for name, val in core_constants(**hyper).items():
        await host.set_reg(name, val)
    assert await host.get_reg("theta") == 0x3C00
    await host.write_weights(weights)

    W = weights
    for n, (inputs, label) in enumerate(samples):
        Wn, G, trace = sltt_sample(W, inputs, label, lam=0.5, theta=1.0, T=T, loss_scale=hyper["loss_scale"],
                                   lr=hyper["lr"], surrogate_kind=hyper["surrogate"], width=hyper["surrogate_width"],
                                   reset=hyper["reset"], direct=p["direct"], k_steps=k_steps)
        await host.set_reg("label", label)
        await host.load_input(inputs, p["direct"])
        ops = sample_ops(cfg, rule, T, k_steps, update=False)
        back = set(range(T)) if k_steps is None else set(k_steps)
        if n == 0:
            # step by step: every phase's state after every time step
            for t in range(T):
                chunk = [o for o in ops if o[0] != Op.CLRV and o[2] == t and o[0] != Op.UPD]
                if t == 0:
                    chunk = [(Op.CLRV, 0, 0)] + chunk
                await host.run(assemble(chunk, cfg))
                ctr = await host.counters()
                n_psi = n_dlt = 0
                for l in range(1, L + 1):
                    st = trace[t][l - 1]
                    got = await host.read_events(l, t)
                    assert got == np.nonzero(st["s"])[0].tolist(), f"spikes l={l} t={t}: {got}"
                    assert bits(await host.read_neurons("v", l)) == bits(st["v"]), f"v l={l} t={t}"
                    exp_psi = [(i, int(f16_bits(st["psi"][i]))) for i in np.nonzero(st["psi"])[0]]
                    n_psi += len(exp_psi)
                    if t in back:
                        assert await host.read_list("psi", l, len(exp_psi)) == exp_psi, f"psi l={l} t={t}"
                        exp_d = [(i, int(f16_bits(st["delta"][i]))) for i in np.nonzero(st["delta"])[0]]
                        n_dlt += len(exp_d)
                        assert await host.read_list("dlt", l, len(exp_d)) == exp_d, f"delta l={l} t={t}"
                        assert bits(await host.read_neurons("acc", l)) == bits(st["gs"]), f"gs l={l} t={t}"
                assert ctr["psi_nonzero"] == n_psi, (ctr, n_psi)
                assert ctr["delta_nonzero"] == n_dlt, (ctr, n_dlt)
            for l in range(1, L + 1):
                got = await host.read_matrix("g", l)
                assert bits(got) == bits(G[l - 1]), f"G l={l}\n{got}\n{G[l - 1]}"
            await host.run(assemble([(Op.UPD, l, 0) for l in range(1, L + 1)], cfg))
            for l in range(1, L + 1):
                assert bits(await host.read_matrix("g", l)) == [0] * G[l - 1].size, "G not cleared"
        else:
            await host.run(assemble(sample_ops(cfg, rule, T, k_steps, update=True), cfg))
            for l in range(1, L + 1):
                got = await host.read_events(l, T - 1)
                assert got == np.nonzero(trace[T - 1][l - 1]["s"])[0].tolist(), f"sample {n} spikes l={l}"
        for l in range(1, L + 1):
            got = await host.read_matrix("w", l)
            assert bits(got) == bits(Wn[l - 1]), f"sample {n}: W l={l}"
        W = Wn
        dut._log.info(f"sample {n} ok; counters {await host.counters()}")
