"""cocotb bench behind `spikemesh demo`: the training core learns digits in simulation.

Every `check_every` samples (and after the last) the core's weights are read back over the bus and compared
bit for bit with the golden model trained on the same samples; the weights read from the hardware and the
per-sample cycle counters are written as JSON for the demo to evaluate and print.
"""
from __future__ import annotations

import json

import cocotb
import numpy as np

from spikemesh.firmware.program import assemble, constants_from_snn, snn_ops
from spikemesh.rtl.core.config import CoreConfig
from spikemesh.sim.benches.core_bench import setup
from spikemesh.sim.benches.core_host import CoreHost, f16_bits
from spikemesh.sim.cocotb_run import cocotb_param
from spikemesh.sim.golden import SNNConfig, encode, init_weights, load_digits_split, train_sample


@cocotb.test()
async def demo_train(dut):
    p = cocotb_param()
    cfg = CoreConfig(**p["core"])
    snn = SNNConfig(**p["snn"])
    host = CoreHost(dut, cfg)
    await setup(dut)
    for name, val in constants_from_snn(snn).items():
        await host.set_reg(name, val)
    W = init_weights(snn, p["seed"])
    await host.write_weights(W)
    words = assemble(snn_ops(cfg, snn, update=True), cfg)
    X, y, _, _ = load_digits_split()
    counters, checks = [], 0
    n_samples = p["samples"]
    for n in range(n_samples):
        await host.set_reg("label", int(y[n]))
        await host.load_input(encode(snn, X[n], n), snn.encoding == "direct", False)
        await host.run(words, poll_gap=64)
        counters.append(await host.counters())
        W = train_sample(snn, W, X[n], int(y[n]), sample_index=n).weights
        if (n + 1) % p["check_every"] == 0 or n == n_samples - 1:
            for l in range(1, cfg.n_layers + 1):
                got = await host.read_matrix("w", l)
                mism = int(np.count_nonzero(f16_bits(got) != f16_bits(W[l - 1])))
                assert mism == 0, f"after sample {n}: {mism} weights of layer {l} differ from the golden model"
            checks += 1
    hw = [f16_bits(await host.read_matrix("w", l)).tolist() for l in range(1, cfg.n_layers + 1)]
    with open(p["out"], "w") as f:
        json.dump({"counters": counters, "checks": checks, "weights_bits": hw}, f)
