"""check_training (core_bench) on a TrainingCore in Amaranth's simulator: the quick whole-core runs of the tests."""
from __future__ import annotations

from spikemesh.rtl.core import CoreConfig, TrainingCore
from spikemesh.sim.benches.core_bench import check_training
from spikemesh.sim.benches.core_host import PysimCoreHost


def run_pysim(p: dict, before=None, after=None) -> tuple[list, dict]:
    """Train `p` (check_training's parameters; p["core"]: CoreConfig arguments) on a fresh core.

    `before(ctx, host, dut)` / `after(host)` are awaited around the training; returns ([what before returned,
    check_training's result, what after returned] without the missing hooks, the core's counters).
    check_training raises AssertionError on the first bit that differs from the golden model."""
    from amaranth.sim import Simulator

    dut = TrainingCore(CoreConfig(**p["core"]))
    sim = Simulator(dut)
    sim.add_clock(1e-8)
    out: list = []
    ctr: dict = {}

    async def tb(ctx):
        host = PysimCoreHost(ctx, dut)
        if before is not None:
            out.append(await before(ctx, host, dut))
        out.append(await check_training(host, p))
        if after is not None:
            out.append(await after(host))
        ctr.update(await host.counters())

    sim.add_testbench(tb)
    sim.run()
    return out, ctr
