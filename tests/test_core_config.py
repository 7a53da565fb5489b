"""Generation-time checks of the core: configuration, program compiler, memory map; and one quick pysim run."""
import numpy as np
import pytest
from amaranth.sim import Simulator

from spikemesh.firmware.program import compile_program, constants_from_snn, core_constants, sample_ops
from spikemesh.rtl.bus import MemoryMap
from spikemesh.rtl.core import CoreConfig, CoreLayout, Op, TrainingCore, decode, encode


@pytest.mark.parametrize("kwargs, word", [
    (dict(layers=(8,)), "layers"),
    (dict(layers=(8, 0)), "layers[1]"),
    (dict(layers=(8, 2000)), "layers[1]"),
    (dict(layers=(8, 4), t_max=0), "t_max"),
    (dict(layers=(8, 4), t_max=65), "t_max"),
    (dict(layers=(8, 4), rules=("local",)), "rules"),
    (dict(layers=(8, 4), surrogates=("sigmoid",)), "surrogates"),
    (dict(layers=(8, 4), add_depth=9), "add_depth"),
    (dict(layers=(8, 4), prog_depth=8), "prog_depth"),
    (dict(layers=(8, 4), lanes=0), "lanes"),
    (dict(layers=(8, 4), lanes=3), "lanes"),
    (dict(layers=(8, 4), lanes=32), "lanes"),
])
def test_bad_config_names_parameter(kwargs, word):
    with pytest.raises(ValueError, match=word.replace("[", r"\[").replace("]", r"\]")):
        CoreConfig(**kwargs)


def test_program_refusals():
    cfg = CoreConfig(layers=(8, 6, 3), t_max=4, rules=("sltt",), prog_depth=16)
    with pytest.raises(ValueError, match="T must"):
        compile_program(cfg, "sltt", 5)
    with pytest.raises(ValueError, match="rule"):
        compile_program(cfg, "sltt_k", 2, (0,))
    with pytest.raises(ValueError, match="prog_depth"):
        compile_program(cfg, "sltt", 4)  # 4 steps x 7 phases do not fit 16 words
    with pytest.raises(ValueError, match="theta"):
        core_constants(lam=0.5, theta=-1.0, T=4, loss_scale=256, lr=0.03125, surrogate="rect",
                       surrogate_width=1.0, reset="soft", direct=True)


def test_sltt_program_order():
    cfg = CoreConfig(layers=(8, 6, 3), t_max=4)
    ops = sample_ops(cfg, "sltt", 2)
    assert ops[0] == (Op.CLRV, 0, 0)
    step0 = [o for o in ops[1:] if o[2] == 0 and o[0] != Op.UPD]
    assert step0 == [(Op.FWD, 1, 0), (Op.NEUR, 1, 0), (Op.FWD, 2, 0), (Op.NEUR, 2, 0), (Op.DELTA, 2, 0),
                     (Op.WG, 2, 0), (Op.GS, 2, 0), (Op.DELTA, 1, 0), (Op.WG, 1, 0)]
    assert ops[-2:] == [(Op.UPD, 1, 0), (Op.UPD, 2, 0)]
    ks = sample_ops(cfg, "sltt_k", 4, (1, 3))
    assert sorted({t for op, _, t in ks if op == Op.DELTA}) == [1, 3]
    for w in compile_program(cfg, "sltt", 3):
        assert encode(*decode(w)) == w


def test_bptt_program_order():
    cfg = CoreConfig(layers=(8, 6, 3), t_max=4)
    ops = sample_ops(cfg, "bptt", 2, update=False)
    fwd = [(Op.FWD, 1, 0), (Op.NEUR, 1, 0), (Op.FWD, 2, 0), (Op.NEUR, 2, 0),
           (Op.FWD, 1, 1), (Op.NEUR, 1, 1), (Op.FWD, 2, 1), (Op.NEUR, 2, 1)]
    assert ops[1:9] == fwd
    assert ops[9:11] == [(Op.DCLR, 1, 0), (Op.DCLR, 2, 0)]
    assert ops[11:19] == [(Op.LOSS, 2, 1), (Op.DECAY, 2, 1), (Op.DELTAT, 2, 1), (Op.WG, 2, 1), (Op.GS, 2, 1),
                          (Op.DECAY, 1, 1), (Op.DELTAT, 1, 1), (Op.WG, 1, 1)]
    tb = sample_ops(cfg, "tbptt", 4, window=2, update=False)
    assert [o for o in tb if o[0] == Op.DCLR and o[1] == 1] == [(Op.DCLR, 1, 0)] * 2
    with pytest.raises(ValueError, match="window"):
        sample_ops(cfg, "tbptt", 4, window=5)
    with pytest.raises(ValueError, match="reset"):
        core_constants(lam=0.5, theta=1.0, T=4, loss_scale=256, lr=0.03125, surrogate="rect",
                       surrogate_width=1.0, reset="hard", direct=True, temporal=True)


def test_ottt_program_order():
    cfg = CoreConfig(layers=(8, 6, 3), t_max=4)
    step0 = [(Op.FWD, 1, 0), (Op.NEUR, 1, 0), (Op.TRACE, 1, 0), (Op.FWD, 2, 0), (Op.NEUR, 2, 0), (Op.TRACE, 2, 0),
             (Op.DELTA, 2, 0), (Op.WGA, 2, 0), (Op.GS, 2, 0), (Op.DELTA, 1, 0), (Op.WGA, 1, 0)]
    a = sample_ops(cfg, "ottt_a", 2)
    assert a[1:12] == step0 and a[-2:] == [(Op.UPD, 1, 0), (Op.UPD, 2, 0)]
    assert sum(o[0] == Op.UPD for o in a) == 2
    o = sample_ops(cfg, "ottt_o", 2)
    assert o[1:14] == step0 + [(Op.UPD, 1, 0), (Op.UPD, 2, 0)]  # SGD step after every time step
    assert sum(x[0] == Op.UPD for x in o) == 4
    assert not any(x[0] == Op.UPD for x in sample_ops(cfg, "ottt_o", 2, update=False))
    lay = CoreLayout(cfg)
    assert [lay.abase(l) for l in (1, 2, 3)] == [0, 8, 14] and lay.region("a").size == 14


def test_regions_fit_a_memory_map():
    lay = CoreLayout(CoreConfig(layers=(64, 128, 128, 10), t_max=8))
    regs = lay.regions()
    spans = sorted((r.offset, r.offset + r.size) for r in regs)
    assert all(a[1] <= b[0] for a, b in zip(spans, spans[1:])), "regions overlap"
    mm = MemoryMap(addr_width=24)
    base = mm.add("core", regs)
    assert mm.region("core", "w") == (base + lay.region("w").offset, lay.wdepth)
    assert lay.wdepth == 64 * 128 + 128 * 128 + 128 * 10


def test_constants_match_golden_config():
    from spikemesh.sim.golden import SNNConfig

    c = constants_from_snn(SNNConfig(sizes=(8, 6, 3), T=8, rule="sltt", surrogate="tri", surrogate_width=2.0,
                                     reset="hard"))
    f16 = lambda x: int(np.float16(x).view(np.uint16))
    assert c["loss_c"] == f16(256 / 8) and c["eta"] == f16(2.0**-5 / 256)
    assert c["sg_w"] == f16(2.0) and c["sg_inv"] == f16(0.5) and c["sg_inv2"] == f16(0.25)
    assert c["mode"] == 1 | 2 | 4


@pytest.mark.parametrize("depth, rule, enc, seed", [(2, "sltt", "direct", 1), (4, "bptt", "direct", 1),
                                                    (4, "ottt_a", "rate", 5), (4, "ottt_o", "direct", 7)])
def test_core_pysim_quick(depth, rule, enc, seed):
    """The whole core in Amaranth's simulator: one sample step by step, then one full-program sample.
    Depth 4 is the FP pipe depth a fast FPGA build uses (every pass spacing follows the latency)."""
    from spikemesh.sim.benches.core_bench import check_training
    from spikemesh.sim.benches.core_host import PysimCoreHost

    core = dict(layers=(8, 6, 3), t_max=3, add_depth=depth, mul_depth=depth)
    p = {"core": core, "snn": dict(sizes=(8, 6, 3), T=3, rule=rule, encoding=enc), "seed": seed, "samples": 2,
         "gain": 1.5}
    dut = TrainingCore(CoreConfig(**core))
    sim = Simulator(dut)
    sim.add_clock(1e-8)
    out = []

    async def tb(ctx):
        out.append(await check_training(PysimCoreHost(ctx, dut), p))

    sim.add_testbench(tb)
    sim.run()
    assert out and "bit-exact" in out[0]


def test_lanes_refusal_lists_allowed_values():
    with pytest.raises(ValueError, match=r"lanes must be one of \(1, 2, 4, 8, 16\), got 6"):
        CoreConfig(layers=(8, 4), lanes=6)


def test_lane_strides_and_padding():
    """Columns of W_l start whole P-lane words (stride = N_l padded), neuron offsets are word aligned, and
    pack/unpack is the identity on the matrix with +0 in the padding."""
    lay = CoreLayout(CoreConfig(layers=(7, 5, 3), t_max=2, lanes=4))
    assert [lay.stride(l) for l in (1, 2)] == [8, 4]
    assert [lay.wbase(l) for l in (1, 2, 3)] == [0, 56, 76] and lay.wdepth == 76
    assert [lay.noff(l) for l in (1, 2, 3)] == [0, 8, 12] and lay.gs0_off == 12 and lay.acc_depth == 20
    assert lay.region("w").fields["stride"] == [8, 4] and lay.region("w").size == 76
    w = np.arange(35, dtype=np.float16).reshape(5, 7) + 1
    words = lay.pack_matrix(1, w)
    assert words.shape == (56,) and words.dtype == np.uint16
    assert words.view(np.float16)[8 * 3 + 2] == w[2, 3] and not words.reshape(7, 8)[:, 5:].any()
    assert (lay.unpack_matrix(1, words) == w).all()
    one = CoreLayout(CoreConfig(layers=(7, 5, 3), t_max=2))  # one lane: the unpadded layout of before
    assert [one.wbase(l) for l in (1, 2, 3)] == [0, 35, 50] and [one.noff(l) for l in (1, 2, 3)] == [0, 5, 8]
    assert (one.pack_matrix(1, w) == w.T.reshape(-1).view(np.uint16)).all()


@pytest.mark.parametrize("lanes, rule, enc, seed", [(2, "sltt", "direct", 1), (4, "ottt_a", "rate", 5)])
def test_core_pysim_lanes(lanes, rule, enc, seed):
    """P-lane core in Amaranth's simulator on sizes that are not multiples of P (padded columns and neuron
    blocks, gs_0 included): bit-exact with the golden model step by step, then one full-program sample."""
    from spikemesh.sim.benches.core_pysim import run_pysim

    core = dict(layers=(7, 5, 3), t_max=3, lanes=lanes)
    p = {"core": core, "snn": dict(sizes=(7, 5, 3), T=3, rule=rule, encoding=enc), "seed": seed, "samples": 2,
         "gain": 1.5}
    out, ctr = run_pysim(p)
    assert out and "bit-exact" in out[0]
    # the UPD passes ran wide: fewer issues than element operations
    assert ctr["mac_issues"] < ctr["mac_ops"], ctr


@pytest.mark.parametrize("registered", [False, True])
def test_bus_read_answer_latency(registered):
    """A bus read answers r_valid with the data at once after the transfer, or a cycle later from a register
    (`registered_reads`, what the board SoC sets): a memory word and a control register read back the same."""
    from spikemesh.firmware.train import SIM_CORE, SIM_SOC
    from spikemesh.rtl.core.core import config_id
    from spikemesh.rtl.core import CTRL_REGS
    from spikemesh.rtl.soc.top import SoC

    cfg = CoreConfig(layers=(8, 6, 3), t_max=3)
    dut = TrainingCore(cfg, registered_reads=registered)
    lay = dut.layout
    w_at = lay.region("w").offset + 5
    cid_at = lay.region("ctrl").offset + CTRL_REGS.index("config_id")
    out = []

    async def tb(ctx):
        b = dut.bus
        ctx.set(b.req_valid, 1)
        ctx.set(b.we, 1)
        ctx.set(b.addr, w_at)
        ctx.set(b.w_data, 0x3C01)
        await ctx.tick()
        for addr in (w_at, cid_at):
            ctx.set(b.we, 0)
            ctx.set(b.addr, addr)
            assert ctx.get(b.req_ready)
            await ctx.tick()  # the read's transfer
            ctx.set(b.req_valid, 0)
            waited = 0
            while not ctx.get(b.r_valid):
                waited += 1
                assert waited < 4, "no read answer"
                await ctx.tick()
            out.append((waited, ctx.get(b.r_data)))
            ctx.set(b.req_valid, 1)

    sim = Simulator(dut)
    sim.add_clock(1e-8)
    sim.add_testbench(tb)
    sim.run()
    lat = int(registered)
    assert out == [(lat, 0x3C01), (lat, config_id(cfg))]
    with pytest.raises(ValueError, match="registered_reads"):
        TrainingCore(cfg, registered_reads=1)
    assert SoC(SIM_SOC, core=TrainingCore(SIM_CORE)).core.registered_reads
