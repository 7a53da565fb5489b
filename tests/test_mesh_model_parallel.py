"""Model parallel on real training cores over the mesh.

- segmented programs: every core's op order is the single-core program's restricted to its layers;
- CopyEngine (pysim): core-to-core copies (with spike-entry re-packing) between bus memories, requests to
  the bridges passing through in between;
- cocotb + Verilator: 64-16-10 digits network split over two TrainingCores on a 2x2 mesh, trained sample
  by sample; each core's W equals the single-core golden model's after every sample and every exchanged
  spike list / gs equals the golden trace's.
"""
import random

import numpy as np
import pytest
from amaranth import Module, Signal
from amaranth.lib import wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In
from amaranth.sim import Simulator

from spikemesh.firmware.placement import PacketType, packet, parse_packet
from spikemesh.firmware.program import compile_segments, sample_ops, segment_ops
from spikemesh.rtl.bus import BusSignature
from spikemesh.rtl.core.config import CoreConfig
from spikemesh.rtl.core.isa import Op
from spikemesh.rtl.mesh import MeshConfig
from spikemesh.rtl.mesh.copy_engine import COPY_EXTRA, CopyMeshSystem, copy_request_body


# ---------------------------------------------------------------- segmented programs

def _restrict(ops, lo, hi, first):
    """sample_ops of the whole network restricted to layers lo..hi, renumbered 1.. (GS lo kept unless first)."""
    out = []
    for op, l, t in ops:
        if op == Op.CLRV:
            out.append((op, 0, 0))
        elif lo <= l <= hi and not (op == Op.GS and l == lo and first):
            out.append((op, l - lo + 1, t))
        elif op == Op.GS and l == hi + 1:
            pass  # the next core's GS of its first layer
    return out


@pytest.mark.parametrize("rule,k", [("sltt", None), ("sltt_k", (1, 3)), ("ottt_a", None), ("bptt", None)])
def test_segments_are_the_single_core_order_per_core(rule, k):
    full = CoreConfig((12, 7, 6, 5, 4), t_max=4)
    ref = [o for o in sample_ops(full, rule, 4, k) if o[0] not in (Op.UPD,)]
    # GS on layer 1 of the whole network does not exist; on a slice starting at layer 3 it is `GS 1`
    for lo, hi in ((1, 2), (3, 3), (4, 4), (1, 4)):
        cfg = CoreConfig(full.layers[lo - 1:hi + 1], t_max=4)
        first, last = lo == 1, hi == 4
        segs = segment_ops(cfg, rule, 4, first, last, k)
        got = [o for _, ops in segs for o in ops if o[0] != Op.UPD]
        want = _restrict(ref, lo, hi, first)
        if rule == "bptt":  # the single-core program clears dp before the first backward step, all layers
            want = [o for o in want if o[0] != Op.DCLR]
            got = [o for o in got if o[0] != Op.DCLR]
            if not last:
                want = [o for o in want if o[0] != Op.LOSS]
        assert got == want, (lo, hi)
        assert segs[-1][1] == [(Op.UPD, l, 0) for l in range(1, hi - lo + 2)]
        assert any(o[:2] == (Op.GS, 1) for o in got) == (not first)
        prog = compile_segments(cfg, rule, 4, first, last, k)
        for key, ops in segs:
            assert prog.ops_of(key) == ops
        assert [key for key, _ in segs] == list(prog.order)
        if last and rule != "bptt":
            assert not any(key[0] == "bwd" for key in prog.order)  # the last core's step is one segment


def test_segments_refused():
    cfg = CoreConfig((8, 4), t_max=4)
    with pytest.raises(ValueError, match="rule must be one of"):
        segment_ops(cfg, "ottt_o", 4, True, True)
    with pytest.raises(ValueError, match="T must be an int in 1..t_max=4"):
        segment_ops(cfg, "sltt", 5, True, True)
    with pytest.raises(ValueError, match="k_steps must be sorted"):
        segment_ops(cfg, "sltt_k", 4, True, True, (2, 1))
    with pytest.raises(ValueError, match="prog_depth"):
        compile_segments(CoreConfig((8, 4, 4, 4, 4, 4, 4, 4), t_max=16, prog_depth=16), "sltt", 16, True, True)


def test_plan_slices():
    from spikemesh.firmware.placement import ModelParallelPlan
    plan = ModelParallelPlan(MeshConfig(2, 2), (1, 1, 2, 3))
    assert plan.slices() == [(1, 1, 2), (2, 3, 3), (3, 4, 4)]
    assert plan.core_layers((64, 32, 16, 12, 10)) == {1: (64, 32, 16), 2: (16, 12), 3: (12, 10)}
    with pytest.raises(ValueError, match="one contiguous run of layers"):
        ModelParallelPlan(MeshConfig(2, 2), (1, 2, 1)).slices()
    with pytest.raises(ValueError, match="sizes must list 5 layer sizes"):
        plan.core_layers((64, 10))


# ---------------------------------------------------------------- CopyEngine (pysim)

class BusMemory(wiring.Component):
    """Bus target: memory answering reads `latency` cycles later, accepting at most every other cycle."""

    def __init__(self, addr_width: int, latency: int):
        self.addr_width, self.latency = addr_width, latency
        super().__init__({"bus": In(BusSignature(addr_width, 16))})

    def elaborate(self, platform):
        m = Module()
        mem = m.submodules.mem = Memory(shape=16, depth=1 << self.addr_width, init=[])
        wp, rp = mem.write_port(), mem.read_port()
        busy, toggle = Signal(), Signal()
        m.d.sync += toggle.eq(~toggle)
        ready = toggle & ~busy
        m.d.comb += [self.bus.req_ready.eq(ready), wp.addr.eq(self.bus.addr), wp.data.eq(self.bus.w_data),
                     wp.en.eq(self.bus.req_valid & ready & self.bus.we), rp.addr.eq(self.bus.addr)]
        pipe = Signal(self.latency)
        fire = self.bus.req_valid & ready & ~self.bus.we
        m.d.sync += pipe.eq((pipe << 1) | fire)
        m.d.comb += [self.bus.r_valid.eq(pipe[-1]), self.bus.r_data.eq(rp.data)]
        with m.If(fire):
            m.d.sync += busy.eq(1)
        with m.If(self.bus.r_valid):
            m.d.sync += busy.eq(0)
        return m


def test_copy_request_refused():
    with pytest.raises(ValueError, match="flit_width must be >= 32"):
        copy_request_body(MeshConfig(2, 2, flit_width=24), 1, 0, 1, 0, 8)
    with pytest.raises(ValueError, match="count must be an int in 1..65535"):
        copy_request_body(MeshConfig(2, 2), 1, 0, 0, 0, 8)
    with pytest.raises(ValueError, match="dst_aw must be an int in 1..16"):
        copy_request_body(MeshConfig(2, 2), 1, 0, 4, 0, 17)


def test_copy_engine_moves_words_core_to_core():
    cfg = MeshConfig(2, 2)
    aws = {1: 8, 2: 7, 3: 6}
    dut = CopyMeshSystem(cfg, {1: lambda: BusMemory(8, 1), 2: lambda: BusMemory(7, 3), 3: lambda: BusMemory(6, 2)})
    rng = random.Random(5)
    src = {a: rng.getrandbits(16) for a in range(40)}
    # (kind, packet flits, node the response comes from, expected response body check)
    steps = []
    seq = [0]

    def send(node, write, items):
        seq[0] += 1
        body = [a | d << aws[node] for a, d in items]
        steps.append(("rw", packet(cfg, 0, node, PacketType.CONTROL, seq[0], int(write), body), node, items))

    def copy(s, d, sa, n, da, **kw):
        seq[0] += 1
        body = copy_request_body(cfg, d, sa, n, da, aws[d], **kw)
        steps.append(("copy", packet(cfg, 0, s, PacketType.CONTROL, seq[0], COPY_EXTRA, body), d, n))

    send(1, True, list(src.items())[:20])
    send(1, True, list(src.items())[20:])
    copy(1, 2, 3, 17, 50)                          # plain words
    copy(1, 3, 0, 40, 10, src_nb=6, dst_nb=4, repack=True)  # spike entries re-packed (some wrap: masked)
    copy(2, 3, 50, 1, 2)                            # a copy of a copy, one word
    send(2, False, [(50 + k, 0) for k in range(17)])
    send(3, False, [(10 + k, 0) for k in range(40)] + [(2, 0)])
    results = []

    async def tb(ctx):
        ready = [1, 1, 0, 1, 0]
        cyc = 0
        for kind, flits, node, _ in steps:
            pos, rx = 0, []
            while True:
                ctx.set(dut.host_in[0].valid, pos < len(flits))
                if pos < len(flits):
                    ctx.set(dut.host_in[0].payload.as_value(), flits[pos])
                r = ready[cyc % len(ready)]
                ctx.set(dut.host_out[0].ready, r)
                sent = pos < len(flits) and ctx.get(dut.host_in[0].ready)
                got = r and ctx.get(dut.host_out[0].valid)
                val = ctx.get(dut.host_out[0].payload.as_value()) if got else None
                await ctx.tick()
                cyc += 1
                assert cyc < 20000, "timeout"
                pos += sent
                if got:
                    rx.append(val)
                    if (val >> (cfg.flit_width + 1)) & 1:
                        break
            results.append(parse_packet(cfg, rx))

    sim = Simulator(dut)
    sim.add_clock(1e-6)
    sim.add_testbench(tb)
    sim.run()
    for (kind, _, node, _), p in zip(steps, results):
        assert p["src"] == node  # copies are acknowledged by the DESTINATION's bridge, to the requester
    got2 = [r >> 7 for r in results[5]["body"]]
    assert got2 == [src[3 + k] for k in range(17)]
    got3 = [r >> 6 for r in results[6]["body"]]
    repacked = [(src[k] & 63) | ((src[k] >> 6) & 1) << 4 for k in range(40)]
    assert got3[:40] == repacked
    assert got3[40] == src[3]
    assert len(results[3]["body"]) == 40 and results[3]["body"][0] & 63 == 10  # ack of the writes at node 3


# ---------------------------------------------------------------- two TrainingCores, cocotb + Verilator

RUNS = [{"name": "mp_copy", "kind": "mp", "chain": [1, 2], "move": "copy", "n": 4},
        {"name": "mp_relay", "kind": "mp", "chain": [1, 2], "move": "relay", "n": 2},
        {"name": "single", "kind": "single", "node": 3, "n": 2},
        {"name": "mp_copy_bptt", "kind": "mp", "chain": [1, 2], "move": "copy", "n": 2, "snn": {"rule": "bptt"},
         "pipeline": True},
        {"name": "mp_copy_ottt_a", "kind": "mp", "chain": [1, 2], "move": "copy", "n": 2, "snn": {"rule": "ottt_a"}},
        {"name": "mp_copy_sltt_k", "kind": "mp", "chain": [1, 2], "move": "copy", "n": 2,
         "snn": {"rule": "sltt_k", "k_steps": [1, 3]}}]


def test_digits_model_parallel_on_two_cores(tmp_path):
    from spikemesh.firmware.placement import ModelParallelPlan
    from spikemesh.gen.mesh_perf import MP_CHAIN, MP_SNN, run_mp
    from spikemesh.sim.golden import SNNConfig, init_weights
    from spikemesh.sim.golden_mesh import model_parallel_exchange

    res, samples = run_mp(tmp_path, n_samples=4, runs=RUNS)
    plan = ModelParallelPlan(MeshConfig(2, 2), MP_CHAIN)
    for run in RUNS:
        kw = {**MP_SNN, **run.get("snn", {})}
        snn = SNNConfig(**{**kw, "k_steps": tuple(kw["k_steps"]) if kw.get("k_steps") else None})
        W = init_weights(snn, 0)
        n_spikes = n_gs = 0
        assert len(res[run["name"]]) == run["n"]
        for si, (x, y) in enumerate(samples[:run["n"]]):
            msgs, ref = model_parallel_exchange(snn, plan, W, np.asarray(x), y, si)
            want_w = [np.asarray(w, np.float16).view(np.uint16) for w in ref.weights]
            assert any(not np.array_equal(a, np.asarray(b, np.float16).view(np.uint16)) for a, b in zip(want_w, W)), \
                "the golden update changed no weight: the comparison could not fail"
            rec = res[run["name"]][si]
            for li, w in enumerate(rec["weights"]):
                np.testing.assert_array_equal(np.asarray(w, np.uint16), want_w[li],
                                              err_msg=f"{run['name']}: W of layer {li + 1} after sample {si}")
            if run["kind"] == "mp":
                for m in msgs:
                    key, name = f"0_{m['t']}", run["name"]
                    if m["kind"] == "spike":
                        assert rec["spikes"][key] == np.flatnonzero(m["value"]).tolist(), f"{name}: s_1[{m['t']}] {si}"
                        n_spikes += len(rec["spikes"][key])
                    else:
                        assert rec["gs"][key] == m["value"].view(np.uint16).tolist(), f"{name}: gs_1[{m['t']}] {si}"
                        n_gs += int(np.count_nonzero(m["value"]))
                assert set(rec["spikes"]) == {f"0_{m['t']}" for m in msgs if m["kind"] == "spike"}
                assert set(rec["gs"]) == {f"0_{m['t']}" for m in msgs if m["kind"] == "error"}
            W = ref.weights
        if run["kind"] == "mp":
            assert n_spikes > 0 and n_gs > 0, run["name"]
