"""TrainingCore: memories, a MAC stream unit, a neuron unit and the sequencer that runs a program per sample.

Datapath (see docs/core.md):
- MAC stream unit: `dst[a] = fl(acc + fl(m1 * m2))` (or `-`), issued in passes of `count` elements, one per
  cycle on lane 0 (narrow) or, for contiguous passes (FWD, UPD, clears), one P-element word per cycle on
  `cfg.lanes` lanes (wide; W, G and acc are P elements wide, rtl/core/lanemem.py). Forward accumulation, the error gs, the delta list, weight gradients and the weight
  update are all such passes; they differ only in which memories feed m1/acc/dst and how addresses step.
  A pass may start before the previous one drains once `SAFE` cycles separate their first elements:
  passes in one phase touch the same addresses in the same order, so that spacing removes every hazard.
- Neuron unit (`NeuronUnit`, rtl/core/neuron_unit.py): leak, fire, reset, surrogate; writes v, the spike event list
  and the psi != 0 list.
- Sequencer: fetches one instruction (`isa.Op`) per layer phase and walks the event lists that make the
  work sparse: forward per input event, gs per delta != 0, weight gradient per (input event, delta != 0).
"""
from __future__ import annotations

import zlib
from contextlib import nullcontext

from amaranth import Array, Cat, Const, Module, Mux, Signal
from amaranth.lib import wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out

from ..bus import BusSignature, Region, struct_value
from ..lfsr import WORD_STEPS, lfsr_advance
from .config import CoreConfig
from .isa import FLAG_OPZO, LAYER_BITS, OP_BITS, T_BITS, Instruction, Op
from .fwd_engine import ForwardEngine
from .neuron_unit import SIGN, NeuronUnit
from .update_walk import UpdateWalk
from .lanemem import lane_memory
from .skewmem import extra_skew_read_port, skewed_memory, unskew
from .passes import M1, Dst, ListSel, pass_layout
from .pipes import fp_pipe_factories, _delay, _delay_valid, _source_layer, _times_const, event_walk_states
from .layout import CTRL_REGS, KSR_REGS, OSR_REGS, SGR_REGS, SSR_REGS, CoreLayout, CtrlStatus, CtrlWrite, Mode
from ..fp.sr_add import FPSRSubPipe


def config_id(cfg: CoreConfig) -> int:
    """16-bit identity of the generated configuration (the host checks it before loading a map)."""
    text = repr(cfg)
    if not cfg.overlap:  # a core without the forward engine keeps the identity it had before the field existed
        text = text.replace(", overlap=False", "")
    text = text.replace(", sg_table_depth=0", "")  # likewise a core without the surrogate table
    for default in (", heads=()", ", membrane_readout=False", ", k_random=False", ", opzo=False",
                    ", stochastic_rounding=False", ", wg_table=False"):  # nor the later options
        text = text.replace(default, "")
    return zlib.crc32(text.encode()) & 0xFFFF


class TrainingCore(wiring.Component):
    """One training core; `bus` is the host's register/memory target port (see `regions()`); `busy` is high
    while a program runs (memories are then closed to the host; registers stay reachable).

    `registered_reads`: answer bus reads a cycle later, from a register after the region mux. The board SoC
    (rtl/soc) sets it on its core: its host reads come over the UART, and a block RAM's output through the mux into
    the SoC's decoder was the SoC's critical path. Mesh cores keep the earlier answer their reducers issue back to
    back on."""

    def __init__(self, cfg: CoreConfig, *, registered_reads: bool = False):
        if not isinstance(cfg, CoreConfig):
            raise ValueError(f"cfg must be a CoreConfig, got {cfg!r}")
        if not isinstance(registered_reads, bool):
            raise ValueError(f"registered_reads must be a bool, got {registered_reads!r}")
        self.cfg = cfg
        self.registered_reads = registered_reads
        self.layout = CoreLayout(cfg)
        super().__init__({"bus": In(BusSignature(self.layout.addr_width, 16)), "busy": Out(1)})

    def regions(self) -> list[Region]:
        return self.layout.regions()

    def elaborate(self, platform):
        cfg, lay = self.cfg, self.layout
        m = Module()
        L, NB, LNB, LB, TB = lay.L, lay.nb, lay.lnb, lay.lb, lay.tb
        sizes = cfg.sizes  # main layers, then the heads (local learning)
        fmt = cfg.fmt
        ONE = fmt.bias << fmt.man_bits  # 1.0 (FP16 0x3C00, BF16 0x3F80)

        mul_pipe, add_pipe = fp_pipe_factories(m, cfg)

        mul = mul_pipe("mac_mul")
        add = add_pipe("mac_add")
        LM, LA = mul.latency, add.latency
        P = cfg.lanes
        # the OTTT / OPZO ops (TRACE, WGA) and their states are built only for a core whose rules use them
        has_trace = any(r in cfg.rules for r in ("ottt_a", "ottt_o", "opzo"))
        # lanes 1..P-1 of the MAC stream unit (lane 0 is mul/add above): used by wide passes only
        lane_mul = [mul_pipe(f"mac_mul{k}") for k in range(1, P)]
        lane_add = [add_pipe(f"mac_add{k}") for k in range(1, P)]
        # a pass reads element i >= LM + LA + 4 cycles after the previous pass issued it (read at S1b, written
        # after S2r, S2a, the multiplier and the adder); starts SAFE apart put the first reads SAFE + 1 apart
        SAFE = LM + LA + 3

        # ---------------- memories (one sync read port, one write port each) ----------------
        # their shapes are CoreLayout.memories(), which CoreConfig checks against the largest device's BRAMs
        mem_objs = {}
        self.memories = mem_objs  # the last elaboration's Memory objects by name (simulation backdoor for tests)

        def mem(name, width, depth):
            mm = Memory(shape=width, depth=depth, init=[])
            m.submodules[f"mem_{name}"] = mm
            mem_objs[name] = mm
            return mm.read_port(), mm.write_port()

        # W, G and acc are P lanes wide (element addresses for narrow users, see lanemem)
        LG = max(1, P.bit_length() - 1)  # lane-index bits (rotations)
        OFFW = max(1, lay.w_bank_words.bit_length())
        # W in skewed banks: a column word (FWD, UPD) and a row word (GS) are both one read (skewmem)
        w_rp, w_wp, w_banks = skewed_memory(m, "w", lay.w_bank_words * P, P, OFFW)
        g_rp, g_wp = lane_memory(m, "g", lay.gdepth, P)
        v_rp, v_wp = mem("v", 16, lay.ndepth)
        acc_rp, acc_wp = lane_memory(m, "acc", lay.acc_depth, P)
        mem_objs.update({("w" if P == 1 else f"w{b}"): bank for b, bank in enumerate(w_banks)})
        mem_objs.update(g=g_rp.mem, acc=acc_rp.mem)
        x_rp, x_wp = mem("x", 16, sizes[0])
        spk_rp, spk_wp = mem("spk", NB + 1, lay.spk_depth)  # index | fired << NB
        cnt_rp, cnt_wp = mem("cnt", NB + 1, lay.cnt_depth)
        psi_rp, psi_wp = mem("psi", 16 + NB, lay.psi_depth)  # {t, layer, e}: kept per step for BPTT
        # delta of the later step (BPTT temporal path); P lanes wide at P > 1, so DECAY / DCLR run wide and WG can
        # read a step's delta as whole words (DELTAT leaves it there)
        if P > 1:
            dp_rp, dp_wp = lane_memory(m, "dp", lay.ndepth, P)
            mem_objs["dp"] = dp_rp.mem
        else:
            dp_rp, dp_wp = mem("dp", 16, lay.ndepth)
        dlt_rp, dlt_wp = mem("dlt", 16 + NB, lay.list_depth)
        a_rp, a_wp = mem("a", 16, lay.adepth)  # OTTT presynaptic traces, one per input of each layer
        # one bit per input j of each layer (same addressing as `a`): column j of G_l has had a WG pass since
        # the last UPD of layer l. The sparse UPD walks only those columns; every other column of G is +0.
        # A wg_table core keeps t_max bits per input: for layer 1 the step set S_j (bit t: input j fired at step
        # t, set by FWD 1,t), the row of the input-gradient table that is column j of G_1; the other layers use
        # bit 0 as above.
        TW = lay.tch_width
        if TW > 1:
            tch_mem = Memory(shape=TW, depth=lay.adepth, init=[])
            m.submodules["mem_tch"] = tch_mem
            mem_objs["tch"] = tch_mem
            tch_rp, tch_wp = tch_mem.read_port(), tch_mem.write_port(granularity=1)
        else:
            tch_rp, tch_wp = mem("tch", 1, lay.adepth)
        # the sequencer's and the walk's writes of the bits, registered into the port (they are read only by a
        # later UPD's walk, in write order): the state decode in front of the write enable was a P = 4 critical path
        tchw_addr = Signal(16)
        tchw_data = Signal(TW)
        tchw_en = Signal(TW)
        m.d.sync += [tch_wp.addr.eq(tchw_addr), tch_wp.data.eq(tchw_data), tch_wp.en.eq(tchw_en)]
        prog_rp, prog_wp = mem("prog", 16, cfg.prog_depth)
        lg = P.bit_length() - 1  # element address -> word address shift of the P-lane memories (0 at P = 1)
        if cfg.opzo:
            # B_l row-major (rows are contiguous wide passes); zs: one bit per neuron (P per word) at noff_l + j,
            # z_l[t] of the hidden layers and s_L[t] of the output layer of the step (NEUR writes them)
            b_rp, b_wp = lane_memory(m, "b", lay.bdepth, P)
            mem_objs["b"] = b_rp.mem
            zs_mem = Memory(shape=P, depth=max(1, lay.ndepth // P), init=[])
            m.submodules["mem_zs"] = zs_mem
            mem_objs["zs"] = zs_mem
            zs_rp, zs_rp2 = zs_mem.read_port(), zs_mem.read_port()  # the MAC's (B update q), the sequencer's (s_L)
            zs_wp = zs_mem.write_port(granularity=1 if P > 1 else None)
        if cfg.sg_table_depth:  # table surrogates: psi for |x| bits in [lo, lo + depth) (surrogate_table.py)
            sgt_rp, sgt_wp = mem("sgt", 16, cfg.sg_table_depth)
        if cfg.overlap:  # the forward engine's accumulator (I) and its own read ports on spk, cnt, x and W
            accf_rp, accf_wp = lane_memory(m, "accf", lay.ndepth, P)
            mem_objs["accf"] = accf_rp.mem
            fe_ports = dict(spk_rp=mem_objs["spk"].read_port(), cnt_rp=mem_objs["cnt"].read_port(),
                            x_rp=mem_objs["x"].read_port(), w_rp=extra_skew_read_port(m, w_rp, "w_fe", P, OFFW))

        # the host's view of the memories (bus regions), its addresses the ports' lowest-priority defaults
        bus_mems = dict(
            w=(w_rp, w_wp), g=(g_rp, g_wp), v=(v_rp, v_wp), acc=(acc_rp, acc_wp), x=(x_rp, x_wp),
            spk=(spk_rp, spk_wp), cnt=(cnt_rp, cnt_wp), psi=(psi_rp, None), dlt=(dlt_rp, None), dp=(dp_rp, dp_wp),
            a=(a_rp, a_wp), prog=(prog_rp, prog_wp), **({"accf": (accf_rp, None)} if cfg.overlap else {}),
            **({"sgt": (sgt_rp, sgt_wp)} if cfg.sg_table_depth else {}), **({"b": (b_rp, b_wp)} if cfg.opzo else {}))
        self._bus_defaults(m, bus_mems)

        # ---------------- control registers ----------------
        regs = {name: Signal(16, name=f"reg_{name}") for name in CTRL_REGS}
        # busy is the sequencer's "not IDLE" held in a register (set on start, cleared on END), not a decode of its
        # state: it gates every host memory write enable, and the state decode in front of them was a critical path
        busy = Signal()
        done = Signal()
        start = Signal()
        clear_counters = Signal()
        mode = Mode(regs["mode"])
        direct = Signal()
        m.d.comb += direct.eq(mode.direct if cfg.direct_input else 0)
        hard_reset = mode.hard_reset
        dense = mode.dense  # dense schedule: every input and neuron, zeros included (same bits, more cycles)
        dense_upd = Signal()  # UPD over every column (MODE_DENSE_UPD, or implied by the dense schedule)
        m.d.comb += dense_upd.eq(dense | mode.dense_upd)
        psi_all = Signal()  # keep psi of every neuron (BPTT: the temporal path reaches neurons with psi = 0)
        m.d.comb += psi_all.eq(dense | mode.psi_all)
        tri = Signal()
        m.d.comb += tri.eq(mode.tri if "tri" in cfg.surrogates else 0)
        sgr = {name: Signal(16, name=f"sgr_{name}") for name in SGR_REGS} if cfg.sg_table_depth else None
        ksr = {name: Signal(16, name=f"ksr_{name}") for name in KSR_REGS} if cfg.k_random else None
        osr = {name: Signal(16, name=f"osr_{name}") for name in OSR_REGS} if cfg.opzo else None
        ssr = {name: Signal(16, name=f"ssr_{name}") for name in SSR_REGS} if cfg.stochastic_rounding else None
        sr_lfsr = Signal(16) if cfg.stochastic_rounding else None  # the rounding draws' LFSR state

        # per-layer constants (index 0 unused for layer-of-neurons tables)
        N = Array([Const(n, NB + 1) for n in sizes] + [Const(0, NB + 1)])  # the width of the indices it bounds
        WBASE = Array([Const(lay.wbase(l) if l >= 1 else 0, 24) for l in range(L + 2)])
        GBASE = Array([Const(lay.gbase(l) if l >= 1 else 0, 24) for l in range(L + 2)])
        ABASE = Array([Const(lay.abase(l) if l >= 1 else 0, 16) for l in range(L + 2)])
        # NOFF[0]: gs_0 (the input's error, `GS 1`) lives in acc after the neurons; v/dp never use layer 0
        NOFF = Array([Const(lay.noff(l) if l >= 1 else lay.gs0_off, 16) for l in range(L + 2)])
        if cfg.overlap:  # per (layer, t parity): NEUR l,t+1 runs before DELTA l,t reads the count of step t
            psi_cnt2 = Array([Array([Signal(NB + 1, name=f"psi_cnt{l}_{q}") for l in range(L + 1)]) for q in (0, 1)])
        else:
            psi_cnt = Array([Signal(NB + 1, name=f"psi_cnt{l}") for l in range(L + 1)])
        dlt_cnt = Array([Signal(NB + 1, name=f"dlt_cnt{l}") for l in range(L + 1)])
        if P > 1:  # dp of layer l holds the delta DELTAT l computed last (no DECAY / DCLR / DELTA l since)
            dp_fresh = Array([Signal(name=f"dp_fresh{l}") for l in range(L + 1)])

        # wide passes count P-lane words: a layer's neurons (NW), a column of W/G (COLW, padding included)
        NW = Array([Const(lay.pad(n) // P, 11) for n in sizes] + [Const(0, 11)])
        STRIDE = Array([Const(lay.stride(l) if 1 <= l <= L else 0, 11) for l in range(L + 2)])
        COLW = Array([Const(lay.stride(l) // P if 1 <= l <= L else 0, 11) for l in range(L + 2)])  # words per column
        # G written over the bus (a mesh's reduced gradients): the core's column bits do not cover it, so the
        # next UPD of every layer walks all columns
        g_written = Signal()
        gext = Array([Signal(name=f"gext{l}") for l in range(L + 2)])
        with m.If(g_written):
            m.d.sync += [g.eq(1) for g in gext]

        cw = max(lay.wdepth, lay.gdepth, lay.acc_depth).bit_length() + 1
        aw = cw + 1

        # ================= MAC stream unit =================
        mac_busy_regs: list = []
        # the pass being issued (rtl/core/passes.py); p_n counts its issues, ad_run / a1_run its addresses
        pd = Signal(pass_layout(cw, aw, LB, TB, LG, cw + lg if cfg.opzo else None), name="pass")
        p_n = Signal(cw)
        p_oseg = Signal(LB)  # delta list segment written by a Dst.DLT pass (held while its writes drain)
        ad_run = Signal(aw)
        a1_run = Signal(aw)
        since = Signal(range(SAFE + 1))
        dcnt = Signal(NB + 1)
        issuing = Signal()  # p_n < pd.count, kept as a register (set when a pass starts): no comparator on its paths
        with m.If(since < SAFE):
            m.d.sync += since.eq(since + 1)
        with m.If(issuing):
            # p_n < pd.count while issuing, so p_n + 1 fits p_n's width and "< pd.count" is "!= pd.count"
            m.d.sync += [p_n.eq(p_n + 1), ad_run.eq(ad_run + pd.dstride), a1_run.eq(a1_run + pd.m1stride),
                         issuing.eq((p_n + 1)[:len(p_n)] != pd.count)]
        # the pass slot: the sequencer fills it (start_pass) when it is empty, and the pass starts from it once the
        # previous pass has issued (and, for a pass that reads what earlier passes write, SAFE cycles after that
        # one's start). The sequencer's state decode then feeds only the slot's registers; the pass registers,
        # its counters and `issuing` load from registers, and the sequencer walks on while a pass waits.
        nq = Signal.like(pd, name="next_pass")
        nq_ad = Signal(aw, name="next_pass_ad")
        nq_a1 = Signal(aw, name="next_pass_a1")
        nq_nz = Signal(name="next_pass_nz")  # count != 0
        nq_elems = Signal(24, name="next_pass_elems")  # its element operations (the mac_ops counter)
        nq_valid = Signal(name="next_pass_valid")
        nq_safe = Signal(name="next_pass_safe")
        nq_go = Signal(name="next_pass_go")
        m.d.comb += nq_go.eq(nq_valid & ~issuing & (~nq_safe | (since >= SAFE)))
        with m.If(nq_go):
            m.d.sync += [pd.eq(nq), p_n.eq(0), issuing.eq(nq_nz), ad_run.eq(nq_ad), a1_run.eq(nq_a1), since.eq(0),
                         nq_valid.eq(0)]

        # S0: issue; list read
        with m.If(issuing & (pd.lst == ListSel.PSI)):
            m.d.comb += psi_rp.addr.eq(Cat(p_n[:LNB], pd.lseg, pd.lt))
        with m.If(issuing & (pd.lst == ListSel.DLT)):
            m.d.comb += dlt_rp.addr.eq(Cat(p_n[:LNB], pd.lseg))
        s0 = dict(valid=issuing, ad=ad_run, a1=a1_run, list=pd.lst, dmem=pd.dmem, accz=pd.accz, m1src=pd.m1src,
                  m2acc=pd.m2acc, m2base=pd.m2base, m2reg=pd.m2reg, sub=pd.sub, gzero=pd.gzero, wide=pd.wide, rot=pd.rot,
                  row=pd.row, rl=pd.rl)
        if cfg.opzo:
            lmask = Cat(*[Cat(Const(i, lg), p_n) < pd.elems for i in range(P)]) if P > 1 else Const(1, 1)
            s0.update(bq=pd.bq, qs=pd.qs, n=p_n, lm=lmask)
        s1 = {k: Signal(v.shape(), name=f"s1_{k}") for k, v in s0.items()}
        m.d.sync += [s1[k].eq(v) for k, v in s0.items()]
        mac_busy_regs.append(s1["valid"])

        # S1a: register the list read. BRAM output -> list index -> next BRAM address was the critical path
        # (60 MHz on ECP5 at FP depth 4); every pass goes through this stage, so pass spacing is unchanged.
        ldata = Signal(16 + NB)
        m.d.sync += ldata.eq(Mux(s1["list"] == ListSel.PSI, psi_rp.data, dlt_rp.data))
        s1a = {k: Signal(v.shape(), name=f"s1a_{k}") for k, v in s1.items()}
        m.d.sync += [s1a[k].eq(v) for k, v in s1.items()]
        mac_busy_regs.append(s1a["valid"])
        # S1b: list data -> final addresses, registered: the adder no longer sits in front of the LUTRAM reads
        # (ldata -> ad1 adder -> acc / a LUTRAM -> S2 was the P = 1 critical path). Reads and writes of a pass
        # both move one cycle later, so the spacing between dependent passes (SAFE) is unchanged.
        k1 = Signal(NB)
        m.d.comb += k1.eq(Mux(s1a["list"] != ListSel.NONE, ldata[16:], 0))
        ad1 = Signal(aw, name="s1b_ad1")
        a2 = Signal(aw, name="s1b_a2")
        k1b = Signal(NB, name="s1b_k")
        lval1 = Signal(16, name="s1b_lval")
        m.d.sync += [ad1.eq(s1a["ad"] + k1), a2.eq(s1a["m2base"] + k1), k1b.eq(k1), lval1.eq(ldata[:16])]
        s1b = {k: Signal(v.shape(), name=f"s1b_{k}") for k, v in s1a.items()}
        m.d.sync += [s1b[k].eq(v) for k, v in s1a.items()]
        mac_busy_regs.append(s1b["valid"])
        # which memory S1 reads at the destination address (ad1) and which at m1's (a1), decoded a stage ahead
        # and registered with the fields: the read-address muxes of the LUTRAMs (a, acc, dp) then have registers
        # for selects (s1b's decode -> a's address -> a's data -> S2r was a P = 1 critical path)
        d_mems = {"acc": (Dst.ACC,), "g": (Dst.G,), "w": (Dst.W,), "dp": (Dst.DP, Dst.DLT_DP), "a": (Dst.A,)}
        m1_mems = {"w": M1.W, "g": M1.G, "dp": M1.DP, "a": M1.A, **({"b": M1.B} if cfg.opzo else {})}
        rd_d = {k: Signal(name=f"s1b_rd_d_{k}") for k in d_mems}
        rd_m1 = {k: Signal(name=f"s1b_rd_m1_{k}") for k in m1_mems}
        d_live = s1a["valid"] & ~s1a["accz"]
        m.d.sync += [rd_d[k].eq(d_live & Cat(*[s1a["dmem"] == d for d in ds]).any()) for k, ds in d_mems.items()]
        m.d.sync += [rd_m1[k].eq(s1a["valid"] & (s1a["m1src"] == src)) for k, src in m1_mems.items()]
        # bank offsets of a row read: bank b holds lane (b - k) mod P, one row stride (stride_l / P words) apart
        ROWOFF = Array([Array([Const(q * lay.stride(l) // P if 1 <= l <= L else 0, OFFW) for q in range(P)])
                        for l in range(L + 2)])
        if P > 1:
            # W's per-bank word addresses, a stage ahead: no W read takes a list index (W is m1, read at a1, or
            # UPD's destination, read at ad), so the bank adds leave the path from the registers to the banks
            wbank = [Signal(OFFW, name=f"s1b_wbank{b}") for b in range(P)]
            m1w_pre = s1a["m1src"] == M1.W
            # and whether this stage reads W at all, registered with them: the banks' address mux then has a
            # register for its select, not the pass's decoded fields (W's banks spread over the die; the decode
            # in front of their address fan-out was the 784-128-10 P = 8 core's critical path)
            wuse = Signal(name="s1b_wuse")
            m.d.sync += wuse.eq(s1a["valid"] & (m1w_pre | (~s1a["accz"] & (s1a["dmem"] == Dst.W))))
            for b in range(P):
                boff = Mux(s1a["row"], ROWOFF[s1a["rl"]][(b - s1a["rot"])[:LG]], 0)
                m.d.sync += wbank[b].eq(Mux(m1w_pre, s1a["a1"][LG:] + boff, s1a["ad"][LG:])[:OFFW])
        s1 = s1b

        # S1: memory reads at the registered addresses
        if P > 1:
            with m.If(wuse):
                m.d.comb += [w_rp.use_baddr.eq(1), *[w_rp.baddr[b].eq(wbank[b]) for b in range(P)]]
        rps = {"acc": acc_rp, "g": g_rp, "w": w_rp, "dp": dp_rp, "a": a_rp, **({"b": b_rp} if cfg.opzo else {})}
        # while the core runs, `a` reads OTTT's WG walk address unless a pass reads it: the walk needs no state
        # decode in front of the LUT RAM's address (seq state -> a's address -> a's data was a critical path).
        # No pass that reads `a` is in flight during the walk (WGA's passes read the delta list and write G).
        a_walk = Signal(16)
        with m.If(busy):
            m.d.comb += a_rp.addr.eq(a_walk)
        for k in d_mems:
            with m.If(rd_d[k]):
                m.d.comb += rps[k].addr.eq(ad1)
        for k in m1_mems:  # after the destination's: a pass reading one memory at both takes m1's address
            with m.If(rd_m1[k]):
                m.d.comb += rps[k].addr.eq(s1["a1"])
        with m.If(s1["valid"]):
            m.d.comb += w_rp.rot.eq(s1["rot"])
            if cfg.opzo:
                with m.If(s1["bq"]):  # z bits of the word: m2base is the layer's zs word, n the pass's word
                    m.d.comb += zs_rp.addr.eq(s1["m2base"] + s1["n"])
            with m.If(s1["m2acc"]):
                m.d.comb += acc_rp.addr.eq(a2)
            with m.If(s1["gzero"]):
                m.d.comb += [g_wp.addr.eq(s1["a1"]), g_wp.data.eq(0), g_wp.en.eq(1), g_wp.wide.eq(s1["wide"])]
        s2 = {}
        for k in ("valid", "dmem", "accz", "m1src", "m2acc", "m2reg", "sub", "wide", "rot") + (
                ("bq", "qs", "lm") if cfg.opzo else ()):
            s2[k] = Signal(s1[k].shape(), name=f"s2_{k}")
            m.d.sync += s2[k].eq(s1[k])
        s2["ad"] = Signal(aw, name="s2_ad")
        s2["lval"] = Signal(16, name="s2_lval")
        s2["k"] = Signal(NB, name="s2_k")
        m.d.sync += [s2["ad"].eq(ad1), s2["lval"].eq(lval1), s2["k"].eq(k1b)]
        mac_busy_regs.append(s2["valid"])

        # S2r: the memory outputs the MAC takes, registered as they leave the RAMs (a DP16KD's clock-to-out is
        # ~5.8 ns on ECP5-85F; with the operand muxes behind it, BRAM -> operand register was the P = 1 critical
        # path). Read-to-write distance: one cycle longer, still inside SAFE.
        s2 = {k: (_delay_valid(m, v, 1, "mac_v2r", mac_busy_regs) if k == "valid" else _delay(m, v, 1, f"s2r_{k}"))
              for k, v in s2.items()}
        rd_a = _delay(m, a_rp.data, 1, "mac_rd_a")
        rd_acc = _delay(m, acc_rp.data, 1, "mac_rd_acc")
        rd_b = _delay(m, b_rp.data, 1, "mac_rd_b") if cfg.opzo else None
        rd_dp = _delay(m, dp_rp.data, 1, "mac_rd_dp")
        rd_g = _delay(m, g_rp.data, 1, "mac_rd_g")
        if P == 1:
            rd_w, rw_w = _delay(m, w_rp.data, 1, "mac_rd_w"), None
        else:  # the banks' outputs registered, the skew's rotation after the register (in S2, before m1r)
            rw_w, rd_w = unskew(_delay(m, w_rp.raw, 1, "mac_rraw_w"), _delay(m, w_rp.rot_q, 1, "mac_rrot_w"),
                                _delay(m, w_rp.bank_q, 1, "mac_rbank_w"), P)
        rd_zs = _delay(m, zs_rp.data, 1, "mac_rd_zs") if cfg.opzo else None
        rw_acc = _delay(m, acc_rp.word, 1, "mac_rw_acc") if P > 1 else None
        rw_b = _delay(m, b_rp.word, 1, "mac_rw_b") if cfg.opzo and P > 1 else None
        rw_dp = _delay(m, dp_rp.word, 1, "mac_rw_dp") if P > 1 else None
        rw_g = _delay(m, g_rp.word, 1, "mac_rw_g") if P > 1 else None
        # S2: operands -> multiplier
        accv = Signal(16)
        m1v = Signal(16)
        m2v = Signal(16)
        with m.If(~s2["accz"]):
            with m.Switch(s2["dmem"]):
                with m.Case(Dst.ACC):
                    m.d.comb += accv.eq(rd_acc)
                with m.Case(Dst.G):
                    m.d.comb += accv.eq(rd_g)
                with m.Case(Dst.W):
                    m.d.comb += accv.eq(rd_w)
                with m.Case(Dst.DP, Dst.DLT_DP):
                    m.d.comb += accv.eq(rd_dp)
                with m.Case(Dst.A):
                    m.d.comb += accv.eq(rd_a)
        with m.Switch(s2["m1src"]):
            with m.Case(M1.W):
                # a wide pass takes lane 0 of the word: a GS row word starts at element k, not at a word boundary
                m.d.comb += m1v.eq(rd_w if P == 1 else Mux(s2["wide"], rw_w[:16], rd_w))
            with m.Case(M1.G):
                m.d.comb += m1v.eq(rd_g)
            with m.Case(M1.LIST):
                m.d.comb += m1v.eq(s2["lval"])
            with m.Case(M1.DP):
                m.d.comb += m1v.eq(rd_dp)
            with m.Case(M1.A):
                m.d.comb += m1v.eq(rd_a)
            with m.Case(M1.ONE):
                m.d.comb += m1v.eq(ONE)
            if cfg.opzo:
                with m.Case(M1.B):
                    m.d.comb += m1v.eq(rd_b)  # a word-aligned wide read: lane 0
        if cfg.opzo:
            # the B update's addend q per lane: +-kappa (sign: z_j = -1) on a fired output neuron's row, else +0
            qlanes = [Mux(s2["qs"] & s2["lm"][i], Cat(osr["kappa"][:15], ~rd_zs[i]), 0) for i in range(P)]
            with m.If(s2["bq"]):
                m.d.comb += accv.eq(qlanes[0])
        m.d.comb += m2v.eq(Mux(s2["m2acc"], rd_acc, s2["m2reg"]))
        # S2a: register the operands (BRAM output -> operand mux -> multiplier input logic was the next critical
        # path); uniform for every pass, and SAFE still covers the one cycle longer read-to-write distance.
        m1r, m2r = _delay(m, m1v, 1, "mac_m1r"), _delay(m, m2v, 1, "mac_m2r")
        v2a = _delay_valid(m, s2["valid"], 1, "mac_v2a", mac_busy_regs)
        m.d.comb += [mul.a.eq(m1r), mul.b.eq(m2r), mul.i_valid.eq(v2a)]
        v3 = _delay_valid(m, v2a, LM, "mac_v3", mac_busy_regs)
        acc3 = _delay(m, accv, LM + 1, "mac_acc3")
        lane_res = []
        if P > 1:
            # lanes 1..P-1 take their m1 / accumulator from the rest of the word a wide pass read (m2 is the
            # pass's broadcast scalar, m2acc is never wide); the same op as lane 0, so each element's result
            # is the one-lane result bit for bit
            m1w = Signal(16 * P)
            accw = Signal(16 * P)
            with m.Switch(s2["m1src"]):
                with m.Case(M1.W):
                    m.d.comb += m1w.eq(rw_w)
                with m.Case(M1.G):
                    m.d.comb += m1w.eq(rw_g)
                with m.Case(M1.DP):
                    m.d.comb += m1w.eq(rw_dp)
                if cfg.opzo:
                    with m.Case(M1.B):
                        m.d.comb += m1w.eq(rw_b)
            if cfg.opzo:
                with m.If(s2["bq"]):
                    m.d.comb += accw.eq(Cat(*qlanes))
            with m.If(~s2["accz"]):
                with m.Switch(s2["dmem"]):
                    with m.Case(Dst.ACC):
                        m.d.comb += accw.eq(rw_acc)
                    with m.Case(Dst.W):
                        m.d.comb += accw.eq(rw_w)
                    with m.Case(Dst.G):
                        m.d.comb += accw.eq(rw_g)
            sub3w = _delay(m, s2["sub"], LM + 1, "mac_sub3w")
            for k in range(1, P):
                lm, la = lane_mul[k - 1], lane_add[k - 1]
                m.d.comb += [lm.a.eq(_delay(m, m1w[16 * k:16 * k + 16], 1, f"mac_m1r{k}")), lm.b.eq(m2r),
                             lm.i_valid.eq(v2a)]
                m.d.comb += [la.a.eq(_delay(m, accw[16 * k:16 * k + 16], LM + 1, f"mac_acc3_{k}")),
                             la.b.eq(lm.result), la.sub.eq(sub3w), la.i_valid.eq(v3)]
                lane_res.append(la.result)
        wide4 = _delay(m, s2["wide"], LM + 1 + LA, "mac_wide4")
        rot4 = _delay(m, s2["rot"], LM + 1 + LA, "mac_rot4")
        ad3 = _delay(m, s2["ad"], LM + 1, "mac_ad3")
        k3 = _delay(m, s2["k"], LM + 1, "mac_k3")
        dmem3 = _delay(m, s2["dmem"], LM + 1, "mac_dmem3")
        sub3 = _delay(m, s2["sub"], LM + 1, "mac_sub3")

        # S3: adder
        m.d.comb += [add.a.eq(acc3), add.b.eq(mul.result), add.sub.eq(sub3), add.i_valid.eq(v3)]
        v4 = _delay_valid(m, v3, LA, "mac_v4", mac_busy_regs)
        ad4 = _delay(m, ad3, LA, "mac_ad4")
        k4 = _delay(m, k3, LA, "mac_k4")
        dmem4 = _delay(m, dmem3, LA, "mac_dmem4")
        res = add.result
        if cfg.stochastic_rounding:
            res, lane_res = self._sr_update(m, P, LM, LA, sr_lfsr, s2, m1v, m1w if P > 1 else None, v3,
                                            dmem3 == Dst.W, acc3, mul.result, [add.result] + lane_res,
                                            [lane_add[k - 1].a for k in range(1, P)],
                                            [lane_mul[k - 1].result for k in range(1, P)])
        wres = Signal(16 * P)
        m.d.comb += wres.eq(Cat(res, *lane_res))
        m.d.comb += [acc_wp.wdata.eq(wres), w_wp.wdata.eq(wres)]

        # S4: write back
        with m.If(v4):
            with m.Switch(dmem4):
                with m.Case(Dst.ACC):
                    m.d.comb += [acc_wp.addr.eq(ad4), acc_wp.data.eq(res), acc_wp.en.eq(1), acc_wp.wide.eq(wide4)]
                with m.Case(Dst.G):
                    m.d.comb += [g_wp.addr.eq(ad4), g_wp.data.eq(res), g_wp.en.eq(1)]
                    if P > 1:
                        m.d.comb += [g_wp.wide.eq(wide4), g_wp.wdata.eq(wres)]
                with m.Case(Dst.W):
                    m.d.comb += [w_wp.addr.eq(ad4), w_wp.data.eq(res), w_wp.en.eq(1), w_wp.wide.eq(wide4),
                                 w_wp.rot.eq(rot4)]
                with m.Case(Dst.DP):
                    m.d.comb += [dp_wp.addr.eq(ad4), dp_wp.data.eq(res), dp_wp.en.eq(1)]
                    if P > 1:
                        m.d.comb += [dp_wp.wide.eq(wide4), dp_wp.wdata.eq(wres)]
                with m.Case(Dst.A):
                    m.d.comb += [a_wp.addr.eq(ad4), a_wp.data.eq(res), a_wp.en.eq(1)]
                if cfg.opzo:
                    with m.Case(Dst.B):
                        m.d.comb += [b_wp.addr.eq(ad4), b_wp.data.eq(res), b_wp.en.eq(1)]
                        if P > 1:
                            m.d.comb += [b_wp.wide.eq(wide4), b_wp.wdata.eq(wres)]
                with m.Case(Dst.DLT, Dst.DLT_DP):
                    with m.If(dmem4 == Dst.DLT_DP):
                        m.d.comb += [dp_wp.addr.eq(ad4), dp_wp.data.eq(res), dp_wp.en.eq(1)]
                    with m.If((res[:15] != 0) | dense):
                        m.d.comb += [dlt_wp.addr.eq(Cat(dcnt[:LNB], p_oseg)),
                                     dlt_wp.data.eq(Cat(res, k4)), dlt_wp.en.eq(1)]
                        m.d.sync += dcnt.eq(dcnt + 1)
        mac_busy = Signal()
        m.d.comb += mac_busy.eq(nq_valid | issuing | Cat(*mac_busy_regs).any())

        # ================= forward engine (overlap) =================
        if cfg.overlap:
            m.submodules.fwd = fe = ForwardEngine(cfg, lay)
            spk_fe, cnt_fe, x_fe, w_fe = (fe_ports[k] for k in ("spk_rp", "cnt_rp", "x_rp", "w_rp"))
            m.d.comb += [fe.direct.eq(direct),
                         spk_fe.addr.eq(fe.spk.addr), fe.spk.data.eq(spk_fe.data),
                         cnt_fe.addr.eq(fe.cnt.addr), fe.cnt.data.eq(cnt_fe.data),
                         x_fe.addr.eq(fe.x.addr), fe.x.data.eq(x_fe.data),
                         w_fe.addr.eq(fe.w.addr), w_fe.rot.eq(fe.w.rot), fe.w.raw.eq(w_fe.raw),
                         fe.w.rot_q.eq(w_fe.rot_q), fe.w.bank_q.eq(w_fe.bank_q), fe.w.word.eq(w_fe.word),
                         fe.accf_r.word.eq(accf_rp.word),
                         accf_wp.addr.eq(fe.accf_w.addr), accf_wp.data.eq(fe.accf_w.data), accf_wp.en.eq(fe.accf_w.en),
                         accf_wp.wide.eq(fe.accf_w.wide), accf_wp.wdata.eq(fe.accf_w.wdata)]
            with m.If(fe.issuing):  # accf's read port is the engine's while it issues (the neuron unit's after)
                m.d.comb += accf_rp.addr.eq(fe.accf_r.addr)
            cur_rp = accf_rp  # the neuron unit reads I from the forward engine's accumulator
        else:
            cur_rp = acc_rp

        # ================= neuron unit =================
        m.submodules.nu = nu = NeuronUnit(cfg, lay)
        n_noise = Signal()  # the current op is NEUR's OPZO variant (set at DECODE)
        prm = nu.params
        m.d.comb += [prm.lam.eq(regs["lam"]), prm.theta.eq(regs["theta"]), prm.sg_w.eq(regs["sg_w"]),
                     prm.sg_inv.eq(regs["sg_inv"]), prm.sg_inv2.eq(regs["sg_inv2"]), prm.loss_c.eq(regs["loss_c"]),
                     prm.label.eq(regs["label"]), prm.tri.eq(tri), prm.table.eq(mode.table),
                     prm.membrane.eq(mode.membrane), prm.hard_reset.eq(hard_reset), prm.dense.eq(dense),
                     prm.psi_all.eq(psi_all), nu.noise.eq(n_noise)]
        if cfg.opzo:
            m.d.comb += prm.sigma.eq(osr["sigma"])
        if cfg.sg_table_depth:
            m.d.comb += [prm.sg_lo.eq(sgr["lo"]), prm.sg_below.eq(sgr["below"]), prm.sg_above.eq(sgr["above"])]
        m.d.comb += [nu.v_r.data.eq(v_rp.data), nu.cur_r.data.eq(cur_rp.data)]
        with m.If(nu.issuing):
            m.d.comb += [v_rp.addr.eq(nu.v_r.addr), cur_rp.addr.eq(nu.cur_r.addr)]
        if cfg.sg_table_depth:
            m.d.comb += nu.sgt_r.data.eq(sgt_rp.data)
            with m.If(nu.sgt_r.en):
                m.d.comb += sgt_rp.addr.eq(nu.sgt_r.addr)
        if cfg.opzo:
            with m.If(nu.zs_w.en.any()):
                m.d.comb += [zs_wp.addr.eq(nu.zs_w.addr), zs_wp.data.eq(nu.zs_w.data), zs_wp.en.eq(nu.zs_w.en)]
        for unit_wp, core_wp in ((nu.v_w, v_wp), (nu.spk_w, spk_wp), (nu.psi_w, psi_wp), (nu.acc_w, acc_wp)):
            with m.If(unit_wp.en):
                m.d.comb += [core_wp.addr.eq(unit_wp.addr), core_wp.data.eq(unit_wp.data), core_wp.en.eq(1)]
        spk_cnt, n_psi_cnt, nu_busy = nu.spikes, nu.psis, nu.busy

        # ================= sequencer =================
        pc = Signal(range(cfg.prog_depth + 1))
        if cfg.k_random:  # SLTT-K's step draws (KGATE / KEND)
            k_lfsr = Signal(16)
            k_rem = Signal(T_BITS + 1)  # T - t
            k_chosen = Signal(T_BITS + 1)
            k_prod = Signal(16 + T_BITS + 1)
            k_lim = Signal(16 + T_BITS + 2)
            k_in = Signal()  # the last draw chose its step
            k_skip = Signal()  # passing words by up to the next KEND
        op = Signal(OP_BITS)
        ly = Signal(LAYER_BITS)
        tt = Signal(T_BITS)
        e = Signal(NB + 1)
        ecount = Signal(NB + 1)
        j = Signal(NB)
        jcol = Signal(24)  # j * stride_ly (N_ly padded to lanes): the column j of W_ly (no multiplier, see _times_const)
        with m.Switch(ly):
            for l in range(1, L + 1):
                with m.Case(l):
                    m.d.comb += jcol.eq(_times_const(j, lay.stride(l)))
        opf = Signal()  # the current op is its OPZO variant (isa.FLAG_OPZO)
        if cfg.opzo:
            brow = Signal(aw)  # row j of B_ly (hidden layers)
            with m.Switch(ly):
                for l in range(1, cfg.out_layer):
                    with m.Case(l):
                        m.d.comb += brow.eq(lay.bbase(l) + _times_const(j, lay.bstride(l)))
        # the current op's per-layer constants (layer ly and its input layer lin), registered at DECODE: no table
        # lookup between the layer register and the address adders after it
        abase_ly = Signal.like(ABASE[0], name="abase_ly")
        colw_ly = Signal.like(COLW[0], name="colw_ly")
        n_lin = Signal.like(N[0], name="n_lin")
        n_ly = Signal.like(N[0], name="n_ly")
        noff_lin = Signal.like(NOFF[0], name="noff_lin")
        noff_ly = Signal.like(NOFF[0], name="noff_ly")
        nw_lin = Signal.like(NW[0], name="nw_lin")
        nw_ly = Signal.like(NW[0], name="nw_ly")
        # layer ly's delta count (and, P > 1, whether its WG columns run wide), registered every cycle: ly and the
        # counts settle at DECODE, and no WG / WGA pass starts before the cycle after DISPATCH (nor changes them),
        # so the passes read a register, not ly's select of the per-layer counts (a P = 4 critical path)
        dlt_n = Signal(NB + 1, name="dlt_n")
        m.d.sync += dlt_n.eq(dlt_cnt[ly])
        if P > 1:  # WG's column runs wide over dp (see wg_pass)
            wg_wide = Signal(name="wg_wide")
            m.d.sync += wg_wide.eq(dp_fresh[ly] & (colw_ly < dlt_cnt[ly]))
        stride_ly = Signal.like(STRIDE[0], name="stride_ly")
        wbase_ly = Signal.like(WBASE[0], name="wbase_ly")
        # G_ly's base: wbase_ly, except on a wg_table core (layer 1's table is smaller than W_1)
        gbase_ly = Signal.like(GBASE[0], name="gbase_ly") if cfg.wg_table else wbase_ly
        tbl1 = Signal()  # the current op is on layer 1 of a wg_table core (its G_1 is the table)
        hx = Signal(TW + 1)  # WG 1 of a wg_table core: the table row (step set) its pass adds delta to
        hcol = Signal(24)  # hx * stride_1: that row's base (the table starts G)
        u_s = Signal(TW)  # sparse UPD of layer 1 (wg_table): S_j of column j, the table row it subtracts
        # the steps whose WG 1 added a delta to the table since the last UPD 1 / CLRV: a column whose S_j holds
        # none of them has G_1[:, j] = +0 (UPD skips it), and row S_j & ran holds the same sum as row S_j
        ran = Signal(TW)
        ucol = Signal(24)
        if cfg.wg_table:
            m.d.comb += [hcol.eq(_times_const(hx[:TW], lay.stride(1))), ucol.eq(_times_const(u_s, lay.stride(1)))]
        fired = Signal()
        lin = Signal(LAYER_BITS)  # the input layer of the current phase (l - 1; a head's: its block's last layer)
        tin = Signal(T_BITS)  # step whose input events are used (0 for direct inputs: x is constant)
        isdirect = Signal()
        m.d.comb += [lin.eq(_source_layer(cfg, ly)), isdirect.eq(direct & (ly == 1))]
        m.d.comb += tin.eq(Mux(isdirect, 0, tt))
        vclr = Signal(range(max(lay.ndepth, lay.adepth) + 1))
        wa_a = Signal.like(abase_ly, name="wa_a")  # OTTT's WG walk: abase_ly + e, a register (the a read address)
        m.d.comb += a_walk.eq(wa_a)
        m2next = Signal(16)  # the next pass's m2 (x_j, 1.0 or delta_k), fetched while a pass still issues
        gs_k = Signal(NB)  # GS: the delta != 0 list entry's k and delta_k
        gs_d = Signal(16)

        def start_pass(count, dmem, dbase, dstride, accz, m1src, m1base, m1stride, m2reg=0, m2acc=0,
                       m2base=0, lst=ListSel.NONE, lseg=0, sub=0, gzero=0, lt=0, wide=0, elems=None, rot=0, row=0,
                       rl=0, bq=0, qs=0, safe=1, when=None):
            """Fill the pass slot (it must be empty: `~nq_valid`) with `count` issues; a wide pass (P > 1) issues
            P-lane words and `elems` is its element count. `safe`: the pass reads what the passes before it
            write, so it starts SAFE cycles after the last one (0: it touches other addresses and follows as
            soon as the last one has issued). `when`: the pass enters the slot only if it holds; the fields load
            whenever the slot is empty, so that condition drives `nq_valid` alone and not the fields' enables."""
            if P == 1:
                wide = 0
            fields = [nq.count.eq(count), nq_nz.eq(count != 0), nq.dmem.eq(dmem), nq_ad.eq(dbase),
                      nq.dstride.eq(dstride), nq.accz.eq(accz), nq.m1src.eq(m1src), nq_a1.eq(m1base),
                      nq.m1stride.eq(m1stride), nq.m2reg.eq(m2reg), nq.m2acc.eq(m2acc), nq.m2base.eq(m2base),
                      nq.lst.eq(lst), nq.lseg.eq(lseg), nq.sub.eq(sub), nq.gzero.eq(gzero), nq.lt.eq(lt),
                      nq.wide.eq(wide), nq.rot.eq(rot), nq.row.eq(row), nq.rl.eq(rl), nq_safe.eq(safe),
                      nq_elems.eq(count if elems is None else elems)]
            if cfg.opzo:
                fields += [nq.bq.eq(bq), nq.qs.eq(qs), nq.elems.eq(count if elems is None else elems)]
            if when is None:
                m.d.sync += [*fields, nq_valid.eq(1)]
            else:
                with m.If(~nq_valid):
                    m.d.sync += fields
                with m.If(when):
                    m.d.sync += nq_valid.eq(1)

        def start_wide(words, elems, dmem, dbase, accz, m1src, m1base, **kw):
            """A contiguous pass (stride 1 on dst and m1) run P elements per issue."""
            if P == 1:
                start_pass(elems, dmem, dbase, 1, accz, m1src, m1base, 0 if m1src == M1.ZERO else 1, **kw)
            else:
                start_pass(words, dmem, dbase, P, accz, m1src, m1base, 0 if m1src == M1.ZERO else P, wide=1,
                           elems=elems, **kw)

        def wg_pass(gaddr, m2):
            """G[:, j] += fl(delta * m2) over layer ly's delta != 0 list, the column at gaddr (WG). A step's WG
            passes write distinct columns: each follows the last as soon as it has issued."""
            def narrow():
                start_pass(dlt_n, Dst.G, gaddr, 0, 0, M1.LIST, 0, 0, m2reg=m2, lst=ListSel.DLT, lseg=ly,
                           safe=0)
            if P > 1:
                # after DELTAT, dp holds this step's delta of every neuron: when the column's words are fewer
                # than its delta != 0 entries, G[:, j] += fl(delta * x_j) runs P wide over all of them (a zero
                # delta adds +-0: G unchanged, so the bits are the list pass's)
                with m.If(wg_wide):
                    start_wide(colw_ly, n_ly, Dst.G, gaddr, 0, M1.DP, noff_ly, m2reg=m2, safe=0)
                with m.Else():
                    narrow()
            else:
                narrow()

        # phase counters
        ctr = {name: Signal(32, name=f"ctr_{name}") for name in lay.counters}
        phase_fp = Signal()
        phase_bp = Signal()
        phase_wg = Signal()
        phase_upd = Signal()
        stall = Signal()

        def fe_free():
            """DISPATCH of an op that waits for the forward engine (overlap): FWD for a free engine, NEUR for its I,
            UPD so as not to change W under its reads, END for idle. Only those ops' cases hold on it, so the
            engine's state is not in front of the other ops' pass fills."""
            return m.If(fe.idle) if cfg.overlap else nullcontext()

        # sparse UPD's column walk (rtl/core/update_walk.py): the only reader of the bit memory
        m.submodules.upd_walk = uw = UpdateWalk(cfg, lay)
        m.d.comb += [uw.mac_issuing.eq(nq_valid), uw.tch_r.data.eq(tch_rp.data), tch_rp.addr.eq(uw.tch_r.addr),
                     uw.mask.eq(Mux(tbl1, ran, (1 << TW) - 1) if cfg.wg_table else (1 << TW) - 1)]
        # LOSS writes acc from registers, a cycle after their state: lc_* for LOSS_CLR's gs_L := the label's
        # error, l_* in LOSS_W for a fired neuron. The write port's select then needs no state decode.
        l_i = Signal(NB)
        l_we = Signal()
        l_y = Signal()
        lc_we = Signal()
        lc_addr = Signal(16)
        lc_data = Signal(16)
        m.d.sync += [l_we.eq(0), lc_we.eq(0)]
        # LOSS_CLR's address and data every cycle, from vclr whatever the state: only lc_we decodes the state
        # (seq state -> the data's select was a 64-32-10 P = 1 critical path)
        lc_y = Signal()
        m.d.comb += lc_y.eq(vclr == regs["label"][:len(vclr)])
        m.d.sync += [lc_addr.eq(noff_ly + vclr), lc_data.eq(Mux(lc_y, regs["loss_c"] ^ SIGN, 0))]
        if cfg.membrane_readout:  # the output layer's error is in its psi list (no spikes to read)
            with m.If(mode.membrane & (ly == cfg.out_layer)):
                m.d.sync += lc_data.eq(ONE)
        # the program word at pc, read ahead into a register while the core runs: DECODE's table lookups start
        # from word_q, not from the block RAM's output (prog's clock-to-out -> the layer's constants was a 64-32-10
        # P = 1 critical path). pf_ok: pc has held for a cycle, so word_q is prog[pc] from the next cycle on; it
        # costs a cycle only where DECODE follows a change of pc at once (a program's start, a skipped word).
        word_q = Signal(16)
        pf_ok = Signal()
        with m.If(busy):
            m.d.comb += prog_rp.addr.eq(pc)
        m.d.sync += [word_q.eq(prog_rp.data), pf_ok.eq(1)]
        with m.FSM(name="seq") as fsm:
            with m.State("IDLE"):
                with m.If(start):
                    m.d.sync += [pc.eq(regs["start_pc"]), done.eq(0), busy.eq(1), pf_ok.eq(0)]
                    m.next = "FETCH"
            with m.State("FETCH"):
                with m.If(pf_ok):  # word_q holds prog[pc] from the next cycle on
                    m.next = "DECODE"
            with m.State("DECODE"):
                word = Instruction(word_q)
                if cfg.opzo:  # the OPZO variants (isa.FLAG_OPZO) branch here; NEUR's just turns the noise on
                    opz = Signal()
                    m.d.comb += opz.eq((word.flags & FLAG_OPZO) != 0)
                    m.d.sync += [opf.eq(opz), n_noise.eq(opz & (word.op == Op.NEUR))]
                    with m.If(opz):
                        m.d.sync += [vclr.eq(0), dcnt.eq(0)]
                m.d.sync += [op.eq(word.op), ly.eq(word.layer), tt.eq(word.t), pc.eq(pc + 1), e.eq(0), pf_ok.eq(0)]
                src_w = Signal(LAYER_BITS)  # the decoded op's input layer
                m.d.comb += src_w.eq(_source_layer(cfg, word.layer))
                m.d.sync += [abase_ly.eq(ABASE[word.layer]),
                             colw_ly.eq(COLW[word.layer]),
                             n_lin.eq(N[src_w]),
                             n_ly.eq(N[word.layer]),
                             noff_lin.eq(NOFF[src_w]),
                             noff_ly.eq(NOFF[word.layer]),
                             nw_lin.eq(NW[src_w]),
                             nw_ly.eq(NW[word.layer]),
                             stride_ly.eq(STRIDE[word.layer]),
                             wbase_ly.eq(WBASE[word.layer])]
                if cfg.wg_table:
                    m.d.sync += [gbase_ly.eq(GBASE[word.layer]), tbl1.eq(word.layer == 1)]
                m.next = "DISPATCH"
                if cfg.opzo:
                    with m.If(opz):
                        with m.Switch(word.op):
                            with m.Case(Op.DELTA):
                                m.next = "GL_WAIT"
                            with m.Case(Op.GS):
                                m.next = "GSB_CLR"
                            with m.Case(Op.UPD):
                                m.next = "BU_RD"
                if cfg.k_random:
                    with m.If(k_skip & (word.op != Op.KEND)):  # a step not drawn: its backward words pass by
                        m.next = "FETCH"
            with m.State("DISPATCH"):
                with m.Switch(op):
                    with m.Case(Op.END), fe_free():
                        m.d.sync += [done.eq(1), busy.eq(0)]
                        m.next = "IDLE"
                    with m.Case(Op.CLRV):
                        m.d.sync += vclr.eq(0)
                        if cfg.k_random:  # a new sample: its step draws start from its seed
                            m.d.sync += [k_lfsr.eq(ksr["k_seed"]), k_chosen.eq(0), k_in.eq(0), k_skip.eq(0)]
                        if cfg.opzo:  # and its noise draws from theirs
                            m.d.comb += [nu.seed.eq(osr["z_seed"]), nu.seed_load.eq(1)]
                        if cfg.stochastic_rounding:  # and its rounding draws from theirs
                            m.d.sync += sr_lfsr.eq(ssr["sr_seed"])
                        m.next = "CLRV"
                    with m.Case(Op.FWD), fe_free():
                        if cfg.overlap:  # kick the forward engine (idle: fe_free) and go on at once
                            m.d.comb += [fe.start.eq(1), fe.layer.eq(ly), fe.t.eq(tt)]
                            m.next = "FETCH"
                        else:
                            start_wide(nw_ly, n_ly, Dst.ACC, noff_ly, 1, M1.ZERO, 0)  # I := +0
                            m.next = "EV_CNT"
                    with m.Case(Op.NEUR), fe_free():
                        m.d.comb += [nu.start.eq(1), nu.layer.eq(ly), nu.t.eq(tt), nu.count.eq(n_ly),
                                     nu.base.eq(noff_ly)]
                        m.next = "NEUR"
                    with m.Case(Op.DELTA):
                        m.d.sync += [dcnt.eq(0), p_oseg.eq(ly)]
                        n_psi = psi_cnt2[tt[0]][ly] if cfg.overlap else psi_cnt[ly]  # the count of step tt
                        start_pass(n_psi, Dst.DLT, 0, 0, 1, M1.LIST, 0, 0, m2acc=1, m2base=noff_ly,
                                   lst=ListSel.PSI, lseg=ly, lt=tt)
                        if P > 1:
                            m.d.sync += dp_fresh[ly].eq(0)
                        m.next = "DRAIN"
                    with m.Case(Op.DELTAT):
                        # delta = dp + fl(psi * gs) over every neuron (dp = fl(lam * delta[t+1])); dp := delta
                        m.d.sync += [dcnt.eq(0), p_oseg.eq(ly)]
                        start_pass(n_ly, Dst.DLT_DP, noff_ly, 0, 0, M1.LIST, 0, 0, m2acc=1, m2base=noff_ly,
                                   lst=ListSel.PSI, lseg=ly, lt=tt)
                        if P > 1:
                            m.d.sync += dp_fresh[ly].eq(1)
                        m.next = "DRAIN"
                    with m.Case(Op.DCLR):
                        start_wide(nw_ly, n_ly, Dst.DP, noff_ly, 1, M1.ZERO, 0)
                        if P > 1:
                            m.d.sync += dp_fresh[ly].eq(0)
                        m.next = "DRAIN"
                    with m.Case(Op.DECAY):
                        start_wide(nw_ly, n_ly, Dst.DP, noff_ly, 1, M1.DP, noff_ly, m2reg=regs["lam"])
                        if P > 1:
                            m.d.sync += dp_fresh[ly].eq(0)
                        m.next = "DRAIN"
                    with m.Case(Op.LOSS):
                        m.d.sync += vclr.eq(0)
                        m.next = "LOSS_CLR"
                    with m.Case(Op.GS):
                        start_wide(nw_lin, n_lin, Dst.ACC, noff_lin, 1, M1.ZERO, 0)  # gs := +0
                        m.d.sync += ecount.eq(dlt_cnt[ly])
                        m.next = "GS_EV"
                    with m.Case(Op.WG):
                        m.next = "EV_CNT"
                        if cfg.wg_table:  # layer 1: no event walk, the table's passes (S_j came from FWD 1)
                            m.d.sync += hx.eq(0)
                            with m.If(tbl1):
                                m.next = "WGT"
                                with m.If(dlt_cnt[ly] == 0):
                                    m.next = "DRAIN"  # no delta != 0: nothing to add
                                with m.Else():
                                    m.d.sync += ran.eq(ran | (Const(1, TW) << tt[:TB])[:TW])
                    if has_trace:  # OTTT / OPZO: the input traces a and their weight gradient
                        with m.Case(Op.TRACE):
                            # a := fl(fl(lam * a) + +0) = fl(lam * a) (a >= +0); the input events then add src_j.
                            # Those passes hit single addresses out of this pass's order: let it drain first. At
                            # step 0 the sample's trace starts from a = +0: m1 is +0, not the last sample's a.
                            start_pass(n_lin, Dst.A, abase_ly, 1, 1, Mux(tt == 0, M1.ZERO, M1.A), abase_ly, 1,
                                       m2reg=regs["lam"])
                            m.next = "TR_DRAIN"
                        with m.Case(Op.WGA):
                            m.d.sync += [e.eq(0), wa_a.eq(abase_ly)]
                            with m.If(dlt_cnt[ly] == 0):
                                m.next = "DRAIN"  # no delta != 0: nothing to accumulate
                            with m.Else():
                                m.next = "WA_EV"
                    with m.Case(Op.UPD), fe_free():
                        m.d.comb += [uw.start.eq(1), uw.count.eq(n_lin), uw.abase.eq(abase_ly),
                                     uw.all.eq(dense_upd | gext[ly])]
                        m.d.sync += gext[ly].eq(0)
                        m.next = "UPD_COLS"
                    if cfg.k_random:
                        with m.Case(Op.KGATE):
                            with m.If(ly[0]):  # draw: advance one word (16 steps), then the selection test
                                m.d.sync += [k_lfsr.eq(lfsr_advance(k_lfsr, WORD_STEPS)), k_rem.eq(tt + 1)]
                                m.next = "KDRAW"
                            with m.Else():  # the step's later backward pieces follow the same draw
                                m.d.sync += k_skip.eq(~k_in)
                                m.next = "FETCH"
                        with m.Case(Op.KEND):
                            m.d.sync += k_skip.eq(0)
                            m.next = "FETCH"
                    with m.Default():
                        m.next = "FETCH"
            # --- sparse UPD: one wide pass per touched column j of layer ly, ascending. The bit memory is read one
            # column ahead while a pass issues; the passes write disjoint columns, so they follow each other
            # without the read-after-write spacing (SAFE) other passes keep.
            with m.State("UPD_COLS"):
                if cfg.wg_table:  # layer 1: G_1[:, j] is table row S_j, shared by columns: kept until HCLR
                    start_wide(colw_ly, n_ly, Dst.W, wbase_ly + jcol, 0, M1.G, Mux(tbl1, ucol, gbase_ly + jcol),
                               m2reg=regs["eta"], sub=1, gzero=~tbl1, rot=j[:LG], safe=0, when=uw.issue)
                else:
                    start_wide(colw_ly, n_ly, Dst.W, wbase_ly + jcol, 0, M1.G, gbase_ly + jcol,
                               m2reg=regs["eta"], sub=1, gzero=1, rot=j[:LG], safe=0, when=uw.issue)
                with m.If(uw.take):
                    m.d.sync += j.eq(uw.col)
                    if cfg.wg_table:
                        m.d.sync += u_s.eq(uw.bits)
                    m.d.comb += [tchw_addr.eq(uw.tch_w.addr), tchw_data.eq(uw.tch_w.data),
                                 tchw_en.eq(uw.tch_w.en)]
                with m.If(uw.done):
                    m.next = "DRAIN"
                    if cfg.wg_table:
                        with m.If(tbl1):
                            m.next = "HCLR"
            if cfg.k_random:
                # Knuth's selection sampling (golden lfsr.random_k_steps): step t joins K iff
                # (R - 1) * (T - t) < (k - chosen) * 65535, R the drawn word; one register stage per side
                with m.State("KDRAW"):
                    left = (k_lfsr - 1)[:16] * k_rem
                    kk = (ksr["k_count"][:T_BITS + 1] - k_chosen)[:T_BITS + 1]
                    m.d.sync += [k_prod.eq(left), k_lim.eq((kk << 16) - kk)]
                    m.next = "KDRAW2"
                with m.State("KDRAW2"):
                    pick = Signal()
                    m.d.comb += pick.eq(k_prod < k_lim)
                    m.d.sync += [k_in.eq(pick), k_chosen.eq(k_chosen + pick), k_skip.eq(~pick)]
                    m.next = "FETCH"
            # start of a sample. v and the OTTT traces a need no clearing: NEUR and TRACE at step 0 read them as
            # +0 (n_v0, TRACE's m1). A wg_table core empties layer 1's step sets S_j here (FWD 1 sets them).
            with m.State("CLRV"):
                if cfg.wg_table:
                    m.d.sync += [ran.eq(0), vclr.eq(vclr + 1)]
                    m.d.comb += [tchw_addr.eq(vclr), tchw_data.eq(0), tchw_en.eq((1 << TW) - 1)]
                    with m.If(vclr == cfg.layers[0] - 1):
                        m.next = "FETCH"
                else:
                    m.next = "FETCH"
            if has_trace:
                with m.State("TR_DRAIN"):
                    with m.If(~mac_busy):
                        m.next = "EV_CNT"
                # --- OTTT weight gradient: every input j of layer ly with a_j != 0 (dense: all), ascending ---
                with m.State("WA_EV"):
                    with m.If(e == n_lin):
                        m.next = "DRAIN"
                    with m.Else():
                        m.next = "WA_J"
                with m.State("WA_J"):
                    m.d.sync += [j.eq(e[:NB]), m2next.eq(a_rp.data)]
                    with m.If((a_rp.data[:15] != 0) | dense):
                        m.next = "WA_WAIT"
                    with m.Else():
                        m.d.sync += [e.eq(e + 1), wa_a.eq(wa_a + 1)]
                        m.next = "WA_EV"
                with m.State("WA_WAIT"):  # WGA passes write distinct columns of G: no spacing between them
                    m.d.comb += stall.eq(nq_valid)
                    with m.If(~nq_valid):
                        start_pass(dlt_n, Dst.G, gbase_ly + jcol, 0, 0, M1.LIST, 0, 0, m2reg=m2next,
                                   lst=ListSel.DLT, lseg=ly, safe=0)
                        m.d.comb += [tchw_addr.eq(abase_ly + j), tchw_data.eq(1), tchw_en.eq(1)]
                        m.d.sync += [e.eq(e + 1), wa_a.eq(wa_a + 1)]
                        m.next = "WA_EV"
            # --- input events of layer `lin` at step `tin` (FWD, WG and TRACE) ---
            with m.State("EV_CNT"):
                m.d.comb += cnt_rp.addr.eq(Cat(lin[:LB], tin[:TB]))
                m.next = "EV_CNT2"
            with m.State("EV_CNT2"):
                m.d.sync += ecount.eq(cnt_rp.data)
                with m.If((op == Op.WG) & (dlt_cnt[ly] == 0)):
                    m.next = "DRAIN"  # nothing to accumulate: no delta != 0
                with m.Else():
                    m.next = "EV"
            event_walk_states(m, e=e, ecount=ecount, spk_rp=spk_rp, x_rp=x_rp, j=j, fired=fired, m2next=m2next,
                              isdirect=isdirect, lin=lin, tin=tin, nb=NB, lb=LB, tb=TB, one=ONE, done="DRAIN",
                              issue="EV_WAIT")
            with m.State("EV_WAIT"):
                # FWD passes accumulate into the same I (read-after-write: SAFE apart); WG and TRACE passes write
                # distinct columns of G / entries of a, so they follow each other as soon as one has issued
                ev_go = Signal()
                m.d.comb += [ev_go.eq(~nq_valid), stall.eq(nq_valid)]
                with m.If(ev_go):
                    with m.If(op == Op.FWD):
                        start_wide(nw_ly, n_ly, Dst.ACC, noff_ly, 0, M1.W, wbase_ly + jcol, m2reg=m2next,
                                   rot=j[:LG])
                        if cfg.wg_table:  # FWD 1 on a wg_table core: input j fired at step t, bit t of S_j
                            m.d.comb += [tchw_addr.eq(j), tchw_data.eq((1 << TW) - 1),
                                         tchw_en.eq(Mux(fired & tbl1, (Const(1, TW) << tt[:TB])[:TW], 0))]
                    with (m.Elif(op == Op.TRACE) if has_trace else nullcontext()):
                        if has_trace:  # a[j] := fl(a[j] + fl(1.0 * src_j)), src_j = x_j or 1.0
                            start_pass(1, Dst.A, abase_ly + j, 0, 0, M1.ONE, 0, 0, m2reg=m2next, safe=0)
                    with m.Else():
                        wg_pass(gbase_ly + jcol, m2next)
                        m.d.comb += [tchw_addr.eq(abase_ly + j), tchw_data.eq(1), tchw_en.eq(1)]
                    m.d.sync += e.eq(e + 1)
                    m.next = "EV"
            if cfg.wg_table:
                # --- WG 1 on the table: H[X] += delta_1[t] for every step set X that holds t, X ascending. Rows
                # are distinct, so a pass follows the last as soon as it has issued; H[X] took the earlier steps'
                # deltas in WG order, so H[S_j] is G_1[:, j] bit for bit. S_j (from FWD 1) may hold steps whose
                # WG did not run (SLTT-K, a step without delta != 0): they added nothing to any row, so H[S_j]
                # is the same value.
                with m.State("WGT"):
                    with m.If(hx[TW]):
                        m.next = "DRAIN"
                    with m.Elif(~hx.bit_select(tt[:TB], 1)):
                        m.d.sync += hx.eq(hx + 1)
                    with m.Else():
                        m.d.comb += stall.eq(nq_valid)
                        with m.If(~nq_valid):
                            wg_pass(hcol, ONE)
                            m.d.sync += hx.eq(hx + 1)
                # --- after UPD 1 on the table: H := +0 (every row, for the next sample) ---
                with m.State("HCLR"):
                    m.d.comb += stall.eq(nq_valid)
                    with m.If(~nq_valid):
                        m.d.sync += ran.eq(0)
                        HE = lay.hrows * lay.stride(1)
                        start_wide(HE // P, HE, Dst.G, 0, 1, M1.ZERO, 0, safe=0)
                        m.next = "DRAIN"
            # --- gs of layer lin from the delta != 0 list of layer ly ---
            with m.State("GS_EV"):
                with m.If(e == ecount):
                    m.next = "DRAIN"
                with m.Else():
                    seg = Mux(opf, 0, ly[:LB]) if cfg.opzo else ly[:LB]  # OPZO: the list of gs_L != 0
                    m.d.comb += dlt_rp.addr.eq(Cat(e[:LNB], seg))
                    m.next = "GS_K"
            with m.State("GS_K"):
                # k and delta_k into registers of their own: j and m2next have many sources, and the list block
                # RAM's output through their muxes was a 64-32-10 P = 1 critical path (OPZO's B row needs j)
                m.d.sync += [gs_k.eq(dlt_rp.data[16:]), gs_d.eq(dlt_rp.data[:16])]
                if cfg.opzo:
                    m.d.sync += j.eq(dlt_rp.data[16:])
                m.next = "GS_WAIT"
            with m.State("GS_WAIT"):
                m.d.comb += stall.eq(nq_valid)
                with m.If(~nq_valid):
                    with (m.If(opf) if cfg.opzo else nullcontext()):
                        if cfg.opzo:  # e_l += fl(B_l[k, :] * gs_L[k]): row k of B_l is one contiguous wide pass
                            start_wide(nw_ly, n_ly, Dst.ACC, noff_ly, 0, M1.B, brow, m2reg=gs_d)
                    with (m.Else() if cfg.opzo else nullcontext()):
                        if P == 1:
                            start_pass(n_lin, Dst.ACC, noff_lin, 1, 0, M1.W, wbase_ly + gs_k, stride_ly, m2reg=gs_d)
                        else:  # one row word of W_l per issue: gs[j..j+P-1] += fl(W[k, j..j+P-1] * delta_k)
                            start_pass(nw_lin, Dst.ACC, noff_lin, P, 0, M1.W, wbase_ly + gs_k, stride_ly * P,
                                       m2reg=gs_d, wide=1, elems=n_lin, rot=gs_k[:LG], row=1, rl=ly)
                    m.d.sync += e.eq(e + 1)
                    m.next = "GS_EV"
            if cfg.opzo:
                NL, noff_out = cfg.out_size, lay.noff(cfg.out_layer)
                # --- DELTA L (OPZO): the list of gs_L != 0 (dense: all), k ascending, into list segment 0 ---
                with m.State("GL_WAIT"):
                    with m.If(~mac_busy):  # acc's read port is the MAC's while a pass runs
                        m.next = "GL_RD"
                with m.State("GL_RD"):
                    m.d.comb += acc_rp.addr.eq(noff_ly + vclr)
                    m.next = "GL_WR"
                with m.State("GL_WR"):
                    with m.If((acc_rp.data[:15] != 0) | dense):
                        m.d.comb += [dlt_wp.addr.eq(Cat(dcnt[:LNB], Const(0, LB))), dlt_wp.en.eq(1),
                                     dlt_wp.data.eq(Cat(acc_rp.data, vclr[:NB]))]
                        m.d.sync += dcnt.eq(dcnt + 1)
                    m.d.sync += vclr.eq(vclr + 1)
                    m.next = "GL_RD"
                    with m.If(vclr == NL - 1):
                        m.next = "GL_END"
                with m.State("GL_END"):
                    m.d.sync += dlt_cnt[0].eq(dcnt)
                    m.next = "FETCH"
                # --- GS l (OPZO): e_l := +0, then one pass per entry of that list (GS_EV .. GS_WAIT) ---
                with m.State("GSB_CLR"):
                    start_wide(nw_ly, n_ly, Dst.ACC, noff_ly, 1, M1.ZERO, 0)
                    m.d.sync += ecount.eq(dlt_cnt[0])
                    m.next = "GS_EV"
                # --- UPD l (OPZO): B_l row k := fl(q + fl(B_l[k, :] * beta)) for k = 0..N_L-1; s_L[t][k] from zs ---
                zs_row = Signal(16)
                m.d.comb += zs_row.eq(noff_out + vclr)
                with m.State("BU_RD"):
                    m.d.comb += zs_rp2.addr.eq(zs_row[lg:])
                    m.d.sync += j.eq(vclr)
                    m.next = "BU_GO"
                with m.State("BU_GO"):  # rows are disjoint: a pass follows the last one as soon as it has issued
                    m.d.comb += [zs_rp2.addr.eq(zs_row[lg:]), stall.eq(nq_valid)]
                    with m.If(~nq_valid):
                        s_row = zs_rp2.data.bit_select(zs_row[:lg], 1) if P > 1 else zs_rp2.data[0]
                        start_wide(nw_ly, n_ly, Dst.B, brow, 1, M1.B, brow, m2reg=osr["beta"],
                                   m2base=noff_ly[lg:] if P > 1 else noff_ly, bq=1, qs=s_row, safe=0)
                        m.d.sync += vclr.eq(vclr + 1)
                        m.next = "BU_RD"
                        with m.If(vclr == NL - 1):
                            m.next = "DRAIN"
            # --- LOSS t: gs_L[t] from the output spike list of step t (BPTT recomputes it at backward time) ---
            with m.State("LOSS_CLR"):
                m.d.sync += [lc_we.eq(1), vclr.eq(vclr + 1)]
                n_cmp = Signal(len(vclr) + 1)  # the layer's neuron count, as wide as vclr + 1
                m.d.comb += n_cmp.eq(n_ly)
                with m.If(vclr + 1 == n_cmp):
                    m.d.sync += e.eq(0)
                    m.next = "LOSS_CNT"
            with m.State("LOSS_CNT"):
                m.d.comb += cnt_rp.addr.eq(Cat(ly[:LB], tt[:TB]))
                m.next = "LOSS_CNT2"
            with m.State("LOSS_CNT2"):
                m.d.sync += ecount.eq(cnt_rp.data)
                m.next = "LOSS_EV"
            with m.State("LOSS_EV"):
                with m.If(e == ecount):
                    m.next = "FETCH"
                with m.Else():
                    m.d.comb += spk_rp.addr.eq(Cat(e[:NB], ly[:LB], tt[:TB]))
                    m.d.sync += e.eq(e + 1)
                    m.next = "LOSS_R"
            # register the spike-list read: BRAM output -> label compare -> acc write was the core's critical path
            with m.State("LOSS_R"):
                m.d.sync += [l_i.eq(spk_rp.data[:NB]), l_we.eq(spk_rp.data[NB]),
                             l_y.eq(spk_rp.data[:NB] == regs["label"][:NB])]
                m.next = "LOSS_W"
            with m.State("LOSS_W"):
                m.next = "LOSS_EV"
            with m.State("NEUR"):
                with m.If(~nu_busy):
                    m.d.comb += cnt_wp.addr.eq(Cat(ly[:LB], tt[:TB]))
                    m.d.comb += [cnt_wp.data.eq(spk_cnt), cnt_wp.en.eq(1)]
                    if cfg.overlap:
                        m.d.sync += psi_cnt2[tt[0]][ly].eq(n_psi_cnt)
                    else:
                        m.d.sync += psi_cnt[ly].eq(n_psi_cnt)
                    m.next = "FETCH"
            with m.State("DRAIN"):
                with m.If(~mac_busy):
                    with m.If((op == Op.DELTA) | (op == Op.DELTAT)):
                        m.d.sync += dlt_cnt[ly].eq(dcnt)
                    m.next = "FETCH"
        with m.If(lc_we):
            m.d.comb += [acc_wp.addr.eq(lc_addr), acc_wp.en.eq(1), acc_wp.data.eq(lc_data)]
        with m.If(l_we):
            m.d.comb += [acc_wp.addr.eq(noff_ly + l_i), acc_wp.en.eq(1), acc_wp.data.eq(Mux(l_y, 0, regs["loss_c"]))]
        m.d.comb += self.busy.eq(busy)
        with m.Switch(op):
            with m.Case(Op.FWD, Op.NEUR, Op.TRACE):
                m.d.comb += phase_fp.eq(busy)
            with m.Case(Op.DELTA, Op.GS, Op.DELTAT, Op.DCLR, Op.DECAY, Op.LOSS):
                m.d.comb += phase_bp.eq(busy)
            with m.Case(Op.WG, Op.WGA):
                m.d.comb += phase_wg.eq(busy)
            with m.Case(Op.UPD):
                m.d.comb += phase_upd.eq(busy)
        if cfg.opzo:  # the B update is backward work (as the golden model counts it), not the W update
            with m.If(opf & (op == Op.UPD)):
                m.d.comb += [phase_upd.eq(0), phase_bp.eq(busy)]

        # ---------------- performance counters ----------------
        incs = {
            "cycles": busy, "fp_cycles": phase_fp, "bp_cycles": phase_bp, "wg_cycles": phase_wg,
            "upd_cycles": phase_upd, "fwd_events": fsm.ongoing("EV_WAIT") & ~nq_valid & (op == Op.FWD) & (fired | isdirect),
            "mac_issues": issuing, "neuron_ops": nu.issuing,
            "psi_nonzero": psi_wp.en, "delta_nonzero": dlt_wp.en & busy, "stall_cycles": stall,
        }
        if cfg.opzo:  # the list of gs_L != 0 (OPZO DELTA L) is not a delta list
            incs["delta_nonzero"] = dlt_wp.en & busy & ~opf
        if cfg.overlap:
            fwd_op = (op == Op.FWD) | (op == Op.NEUR) | (op == Op.TRACE)
            del incs["mac_issues"]
            incs.update({"fwd_events": fe.event, "fwd_busy": ~fe.idle, "overlap_cycles": ~fe.idle & busy & ~fwd_op})
        # element operations of the passes that start this cycle (P per issued word of a wide pass, padding not),
        # from the pass slot's register, added a cycle later: a pass never starts on the core's last busy cycle
        # (its issues and the pipeline drain follow), so the total is read the same
        ops_q = Signal(25, name="ctr_ops_q")
        m.d.sync += ops_q.eq(Mux(nq_go, nq_elems, 0) + (Mux(fe.go, fe.elems, 0) if cfg.overlap else 0))
        with m.If(clear_counters):
            m.d.sync += [c.eq(0) for c in ctr.values()]
        with m.Else():
            for name, inc in incs.items():
                with m.If(inc):
                    m.d.sync += ctr[name].eq(ctr[name] + 1)
            if cfg.overlap:  # both engines issue and count element operations (the sum is the one-engine total)
                m.d.sync += ctr["mac_issues"].eq(ctr["mac_issues"] + issuing + fe.issued)
            m.d.sync += ctr["mac_ops"].eq(ctr["mac_ops"] + ops_q)

        # ---------------- bus target ----------------
        self._bus(m, regs, ctr, busy, done, start, clear_counters, g_written, bus_mems,
            reg_regions={k: v for k, v in (("sgr", sgr), ("ksr", ksr), ("ssr", ssr), ("osr", osr)) if v is not None})
        return m

    def _sr_update(self, m, P, LM, LA, sr_lfsr, s2, m1v, m1w, v3, is_upd3, acc3, mul3, rne4, lane_acc3, lane_mul3):
        """Stochastic rounding of UPD (the only pass writing W): W := SR(W - fl(G*eta)) on every lane whose G is
        nonzero, in the golden order (columns ascending, rows ascending: a word's lanes in lane order). Lane k
        takes the (c_k + 1)-th word draw after the state, c_k = nonzero lanes below it; the state then moves by
        16 steps per nonzero lane. Padded rows of G are +0 (every wide pass writes them from +0 operands), so
        they take no draw. Lanes with G = 0 keep the RNE adder's result (W - 0 = W). The SR units have the
        adder's latency, so the write-back timing is unchanged. Returns (lane 0 result, lanes 1..P-1)."""
        g2 = [m1v] + [m1w[16 * k:16 * k + 16] for k in range(1, P)]  # G per lane at S2 (m1 of the pass)
        nz2 = Signal(P, name="sr_nz2")
        m.d.comb += nz2.eq(Cat(*[(g[:15] != 0) & (s2["m1src"] == M1.G) for g in g2]))
        nz3 = _delay(m, nz2, LM + 1, "sr_nz3")
        go = Signal(name="sr_go")
        m.d.comb += go.eq(v3 & is_upd3)
        adv = [sr_lfsr] + [lfsr_advance(sr_lfsr, WORD_STEPS * i) for i in range(1, P + 1)]
        cnt = Const(0, P.bit_length())
        out = []
        for k in range(P):
            draws = Array(adv[1:k + 2])  # lane k: draw c_k + 1, c_k in 0..k
            r = Signal(16, name=f"sr_r{k}")
            m.d.comb += r.eq(draws[cnt] if k else adv[1])
            u = FPSRSubPipe(LA)
            m.submodules[f"sr_sub{k}"] = u
            m.d.comb += [u.a.eq(acc3 if k == 0 else lane_acc3[k - 1]), u.b.eq(mul3 if k == 0 else lane_mul3[k - 1]),
                         u.r.eq(r), u.i_valid.eq(go)]
            sel4 = _delay(m, go & nz3[k], LA, f"sr_sel4_{k}")
            res = Signal(16, name=f"sr_res{k}")
            m.d.comb += res.eq(Mux(sel4, u.result, rne4[k]))
            out.append(res)
            cnt = (cnt + nz3[k])[:P.bit_length()]
        with m.If(go):
            m.d.sync += sr_lfsr.eq(Array(adv)[cnt])
        return out[0], out[1:]

    def _bus_defaults(self, m, mems):
        """Each memory region's read address, write address and write data default to the host's (bus.addr
        minus the region's offset), before the core's own users override them: the host reaches the memories
        only while the core is idle (req_ready), so no `busy` mux sits in front of a port's address."""
        bus = self.bus
        for r in self.layout.regions():
            if r.name not in mems:
                continue
            rp, wp = mems[r.name]
            off = Signal(range(max(r.size, 2)), name=f"boff_{r.name}")
            m.d.comb += off.eq(bus.addr - r.offset)
            addr = off[1:] if r.name in ("psi", "dlt") else off
            m.d.comb += rp.addr.eq(addr)
            if wp is not None:
                m.d.comb += [wp.addr.eq(addr), wp.data.eq(bus.w_data)]

    def _bus(self, m, regs, ctr, busy, done, start, clear_counters, g_written, mems, reg_regions):
        """`reg_regions`: the optional register regions (sgr, ksr) as {region: {register: Signal}}."""
        bus, lay = self.bus, self.layout
        regions = {r.name: r for r in lay.regions()}
        r_sel = Signal(range(len(regions) + 1))
        r_half = Signal()
        r_data = Signal(16)
        r_pend = Signal()
        m.d.sync += r_pend.eq(0)
        names = list(regions)
        transfer = Signal()
        m.d.comb += transfer.eq(bus.req_valid & bus.req_ready)
        # registers are always reachable; memories only while the core is idle (their ports are in use).
        # One continuous expression (no process): Icarus misses time-0 events of an always block whose
        # inputs never change, which left req_ready at X.
        mem_hits = []
        for idx, name in enumerate(names):
            r = regions[name]
            hit = Signal(name=f"hit_{name}")
            lo = (bus.addr >= r.offset) if r.offset else Const(1)  # a region at 0 has no lower bound to test
            m.d.comb += hit.eq(lo & (bus.addr < r.offset + r.size))
            off = Signal(range(max(r.size, 2)), name=f"off_{name}")
            m.d.comb += off.eq(bus.addr - r.offset)
            if name in mems:
                mem_hits.append(hit)
            # a register region is always ready (regions are disjoint: no memory hit, so req_ready is 1), so its
            # accesses need not wait for req_ready's `busy` term
            with m.If((transfer if name in mems else bus.req_valid) & hit):
                with m.If(~bus.we):
                    m.d.sync += [r_pend.eq(1), r_sel.eq(idx), r_half.eq(off[0])]
                if name == "ctrl":
                    with m.If(~bus.we):
                        with m.Switch(off):
                            for k, reg in enumerate(CTRL_REGS):
                                with m.Case(k):
                                    if reg == "ctrl":
                                        val = struct_value(CtrlStatus, busy=busy, done=done)
                                    elif reg == "config_id":
                                        val = Const(config_id(self.cfg), 16)
                                    else:
                                        val = regs[reg]
                                    m.d.sync += r_data.eq(val)
                    with m.Else():
                        with m.Switch(off):
                            for k, reg in enumerate(CTRL_REGS):
                                with m.Case(k):
                                    if reg == "ctrl":
                                        w = CtrlWrite(bus.w_data)
                                        m.d.comb += [start.eq(w.start & ~busy), clear_counters.eq(w.clear)]
                                    elif reg != "config_id":
                                        m.d.sync += regs[reg].eq(bus.w_data)
                elif name in reg_regions:  # optional register regions, always reachable like ctrl
                    with m.Switch(off):
                        for k, sig in enumerate(reg_regions[name].values()):
                            with m.Case(k):
                                with m.If(bus.we):
                                    m.d.sync += sig.eq(bus.w_data)
                                with m.Else():
                                    m.d.sync += r_data.eq(sig)
                elif name == "counters":
                    with m.If(~bus.we):
                        with m.Switch(off):
                            for k, cname in enumerate(lay.counters):
                                with m.Case(2 * k):
                                    m.d.sync += r_data.eq(ctr[cname][:16])
                                with m.Case(2 * k + 1):
                                    m.d.sync += r_data.eq(ctr[cname][16:])
                elif mems[name][1] is not None:
                    with m.If(bus.we):
                        m.d.comb += mems[name][1].en.eq(1)
                        if name == "g":
                            m.d.comb += g_written.eq(1)
        m.d.comb += bus.req_ready.eq(~(Cat(*mem_hits).any() & busy))
        answer = Signal(16)
        with m.Switch(r_sel):
            for idx, name in enumerate(names):
                with m.Case(idx):
                    if name in ("ctrl", "counters", *reg_regions):
                        m.d.comb += answer.eq(r_data)
                    elif name in ("psi", "dlt"):
                        data = mems[name][0].data
                        m.d.comb += answer.eq(Mux(r_half, data[:16], data[16:]))
                    else:
                        m.d.comb += answer.eq(mems[name][0].data)
        if self.registered_reads:
            r_valid_q = Signal()
            r_data_q = Signal(16)
            m.d.sync += [r_valid_q.eq(r_pend), r_data_q.eq(answer)]
            m.d.comb += [bus.r_valid.eq(r_valid_q), bus.r_data.eq(r_data_q)]
        else:
            m.d.comb += [bus.r_valid.eq(r_pend), bus.r_data.eq(answer)]
