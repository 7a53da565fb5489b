"""cocotb bench for the stream FP units in `fp_harness.LaneHarness`: every lane gets its own idle pattern on
`i.valid` and backpressure pattern on `o.ready`; a monitor records the payloads actually TRANSFERRED on both
sides, and the scoreboard checks results AND flags against the golden model `spikemesh.sim.fp`, in order,
per lane, computed from the monitored inputs. Params (JSON via run_cocotb): fmt, groups {name: depths},
int_width, n_random, n_corner, exhaustive, seed."""
from __future__ import annotations

import itertools

import cocotb
import numpy as np
from cocotb.clock import Clock
from cocotb.triggers import FallingEdge, ReadOnly, RisingEdge

from spikemesh.rtl.formats import format_by_name
from spikemesh.sim import fp as golden
from spikemesh.sim.cocotb_run import cocotb_param

from .fp_vectors import reference, stimulus

VALID_PATTERNS = ([1], [1, 1, 1, 0], [1, 0], [0, 1, 1, 0, 1], [1, 1, 0, 0, 0, 1, 1, 1])
READY_PATTERNS = ([1], [1, 1, 0], [0, 1], [1, 0, 0, 1, 1, 1, 0], [1, 1, 1, 1, 0])


class Lane:
    def __init__(self, k: int, depth: int, vectors: list[int]) -> None:
        self.depth = depth
        self.todo = iter(vectors)
        self.n = len(vectors)
        self.valid_pat = itertools.cycle(VALID_PATTERNS[k % len(VALID_PATTERNS)])
        # Lane 0 of each depth never stalls its output, so its latency must be exactly `depth`.
        self.ready_pat = itertools.cycle(READY_PATTERNS[(k // 2) % len(READY_PATTERNS)] if k % 2 else [1])
        self.always_ready = k % 2 == 0
        self.pending: int | None = None
        self.seen_in: list[int] = []
        self.in_cycle: list[int] = []
        self.seen_out: list[int] = []
        self.out_cycle: list[int] = []


class GroupTB:
    """Drives and monitors all lanes of one operation group through the packed ports."""

    def __init__(self, dut, name: str, depths: list[int], win: int, wout: int, vectors: list[int]) -> None:
        self.dut, self.name, self.win, self.wout = dut, name, win, wout
        k = len(depths)
        self.lanes = [Lane(i, d, vectors[i::k]) for i, d in enumerate(depths)]
        self.sig = {s: getattr(dut, f"{name}_{s}") for s in
                    ("in_valid", "in_ready", "in_data", "out_valid", "out_ready", "out_data")}

    def done(self) -> bool:
        return all(ln.pending is None and len(ln.seen_out) == len(ln.seen_in) == ln.n for ln in self.lanes)

    async def run(self, max_cycles: int) -> None:
        s, win, wout = self.sig, self.win, self.wout
        min_, mout = (1 << win) - 1, (1 << wout) - 1
        cycle = 0
        while not self.done():
            assert cycle < max_cycles, f"{self.name}: stuck after {cycle} cycles"
            await FallingEdge(self.dut.clk)
            valid = data = ready = 0
            for i, ln in enumerate(self.lanes):
                if ln.pending is None and next(ln.valid_pat):
                    ln.pending = next(ln.todo, None)
                if ln.pending is not None:
                    valid |= 1 << i
                    data |= ln.pending << (i * win)
                ready |= next(ln.ready_pat) << i
            s["in_valid"].value = valid
            s["in_data"].value = data
            s["out_ready"].value = ready
            await ReadOnly()
            i_rdy = s["in_ready"].value.to_unsigned()
            o_val = s["out_valid"].value.to_unsigned()
            took = valid & i_rdy
            gave = o_val & ready
            mon_in = s["in_data"].value.to_unsigned() if took else 0
            mon_out = s["out_data"].value.to_unsigned() if gave else 0
            for i, ln in enumerate(self.lanes):
                if took >> i & 1:
                    ln.seen_in.append(mon_in >> (i * win) & min_)
                    ln.in_cycle.append(cycle)
                    ln.pending = None
                if gave >> i & 1:
                    ln.seen_out.append(mon_out >> (i * wout) & mout)
                    ln.out_cycle.append(cycle)
                    assert len(ln.seen_out) <= len(ln.seen_in), f"{self.name} lane {i}: output without input"
            cycle += 1
        await FallingEdge(self.dut.clk)
        s["in_valid"].value = 0

    def check(self, fmt, int_width: int) -> int:
        """Scoreboard: reference from the monitored inputs, compared in order; returns vectors checked."""
        errors = []
        total = 0
        for i, ln in enumerate(self.lanes):
            assert len(ln.seen_out) == len(ln.seen_in) == ln.n, f"{self.name} lane {i}: counts differ"
            lat = np.array(ln.out_cycle) - np.array(ln.in_cycle)
            assert (lat >= ln.depth).all(), f"{self.name} lane {i}: result before latency {ln.depth}"
            if ln.always_ready:
                assert (lat == ln.depth).all(), f"{self.name} lane {i}: latency {set(lat.tolist())} != {ln.depth}"
            ins = np.array(ln.seen_in, dtype=object)
            exp_res, exp_flags = reference(self.name, fmt, ins, int_width)
            outs = np.array(ln.seen_out, dtype=np.uint64)
            got_res = outs & np.uint64((1 << fmt.width) - 1)
            got_flags = outs >> np.uint64(fmt.width)
            bad = np.nonzero((got_res != exp_res) | (got_flags != exp_flags))[0]
            for j in bad[:5]:
                errors.append(f"lane {i} (depth {ln.depth}) in={int(ins[j]):#x}: got {int(got_res[j]):#x}/"
                              f"{int(got_flags[j]):#04x} expected {int(exp_res[j]):#x}/{int(exp_flags[j]):#04x}")
            total += len(ins)
        assert not errors, f"{self.name}: {len(errors)}+ mismatches:\n" + "\n".join(errors)
        return total


async def _start(dut) -> None:
    cocotb.start_soon(Clock(dut.clk, 10, unit="ns").start())
    dut.rst.value = 1
    for name in cocotb_param()["groups"]:
        getattr(dut, f"{name}_in_valid").value = 0
        getattr(dut, f"{name}_out_ready").value = 0
    await RisingEdge(dut.clk)
    await RisingEdge(dut.clk)
    dut.rst.value = 0


async def _run_group(dut, name: str) -> None:
    prm = cocotb_param()
    if name not in prm["groups"]:
        return
    fmt = format_by_name(prm["fmt"])
    depths = prm["groups"][name]
    win, wout = prm["widths"][name]
    vectors = stimulus(name, fmt, prm["int_width"], prm["n_random"], prm["n_corner"], prm["exhaustive"],
                       np.random.default_rng(prm["seed"]))
    await _start(dut)
    tb = GroupTB(dut, name, depths, win, wout, vectors)
    await tb.run(max_cycles=40 * len(vectors) // len(depths) + 1000)
    n = tb.check(fmt, prm["int_width"])
    dut._log.info(f"{name}: {n} vectors checked on {len(depths)} lanes (depths {sorted(set(depths))})")


@cocotb.test()
async def fp_add(dut):
    await _run_group(dut, "add")


@cocotb.test()
async def fp_mul(dut):
    await _run_group(dut, "mul")


@cocotb.test()
async def fp_fma(dut):
    await _run_group(dut, "fma")


@cocotb.test()
async def fp_cmp(dut):
    await _run_group(dut, "cmp")


@cocotb.test()
async def fp_i2f(dut):
    await _run_group(dut, "i2f")


@cocotb.test()
async def fp_u2f(dut):
    await _run_group(dut, "u2f")
