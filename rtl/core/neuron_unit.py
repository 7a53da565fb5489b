"""The neuron unit: `NEUR l,t` over the layer's neurons, one per cycle, on its own FP pipes (docs/core.md).

Per neuron i (ascending), in the golden model's order of operations (sim/golden/core.py, `forward_step`):
`h = fl(fl(lam * v) + I)` (v = +0 at step 0), spike `s = h >= theta`, `v := s ? (hard reset ? +0 : fl(h - theta))
: h`, surrogate `psi(fl(h - theta))` (rectangle, triangle or table). It writes v, the spike event list (fired
neurons; every neuron on the dense schedule), the psi != 0 list and, for the output layer, the error
`gs = fl(fl(s - y) * c)` into acc. OPZO adds the noise `I := fl(I + (z ? sigma : -sigma))` first; a membrane
readout output layer keeps `v = h`, fires nothing and lists `fl(fl(h - y) * c)` in place of psi.
"""
from __future__ import annotations

from amaranth import Cat, Const, Module, Mux, Signal
from amaranth.lib import data, wiring
from amaranth.lib.wiring import In, Out

from ..lfsr import lfsr_advance
from .config import CoreConfig
from .isa import LAYER_BITS, T_BITS
from .layout import CoreLayout
from .pipes import _delay, _delay_valid, fp_pipe_factories
from .ports import _bits, read_port_signature, write_port_signature

SIGN = 0x8000  # the sign bit of FP16 and BF16 (the output error's -c)

# the registers the unit reads (the core's control, surrogate-table and OPZO registers); constant during a run
neuron_params_layout = data.StructLayout({
    "lam": 16, "theta": 16, "sg_w": 16, "sg_inv": 16, "sg_inv2": 16, "loss_c": 16, "label": 16, "sigma": 16,
    "sg_lo": 16, "sg_below": 16, "sg_above": 16,
    "tri": 1, "table": 1, "membrane": 1, "hard_reset": 1, "dense": 1, "psi_all": 1,
})


class NeuronUnit(wiring.Component):
    """NEUR `layer`, `t` over `count` neurons whose v / I live at `base`, `base + 1`, ...

    start (in, one cycle): begin; layer / t / count / base (in, with start). noise (in): the OPZO variant (its
    z draws step the LFSR); seed / seed_load (in): load the LFSR (a new sample). params (in): the registers.
    busy (out): a neuron still issues or is in the pipeline. issuing (out): the v / cur reads are the unit's
    this cycle. spikes / psis (out): entries this NEUR wrote to the spike list and to the psi list (the core
    stores them as the lists' counts once the unit is idle).
    Ports: `v_r` / `v_w` (membrane), `cur_r` (I: the MAC's or the forward engine's accumulator), `spk_w`,
    `psi_w` (the lists), `acc_w` (gs of the output layer), `zs_w` (OPZO: z and s_L bits, a lane mask), `sgt_r`
    (the surrogate table)."""

    def __init__(self, cfg: CoreConfig, lay: CoreLayout):
        self.cfg, self.lay = cfg, lay
        NB, LNB, LB, TB, P = lay.nb, lay.lnb, lay.lb, lay.tb, cfg.lanes
        ports = {
            "start": In(1), "layer": In(LAYER_BITS), "t": In(T_BITS), "count": In(NB + 1), "base": In(16),
            "noise": In(1), "seed": In(16), "seed_load": In(1), "params": In(neuron_params_layout),
            "busy": Out(1), "issuing": Out(1), "spikes": Out(NB + 1), "psis": Out(NB + 1),
            "v_r": Out(read_port_signature(16, 16)), "cur_r": Out(read_port_signature(16, 16)),
            "v_w": Out(write_port_signature(16, 16)),
            "spk_w": Out(write_port_signature(NB + LB + TB, NB + 1)),
            "psi_w": Out(write_port_signature(LNB + LB + TB, 16 + NB)),
            "acc_w": Out(write_port_signature(16, 16)),
        }
        if cfg.opzo:
            ports["zs_w"] = Out(write_port_signature(16, P, P))
        if cfg.sg_table_depth:
            ports["sgt_r"] = Out(read_port_signature(_bits(cfg.sg_table_depth), 16, en=True))
        super().__init__(ports)

    def elaborate(self, platform) -> Module:
        cfg, lay = self.cfg, self.lay
        NB, LNB, LB, P = lay.nb, lay.lnb, lay.lb, cfg.lanes
        lg = P.bit_length() - 1
        fmt = cfg.fmt
        ONE = fmt.bias << fmt.man_bits
        INF = fmt.inf
        prm = self.params
        m = Module()
        mul_pipe, add_pipe = fp_pipe_factories(m, cfg)
        busy_regs: list = []

        n_i = Signal(NB + 1, name="nu_i")
        n_count = Signal(NB + 1, name="nu_count")
        n_layer = Signal(LAYER_BITS, name="nu_layer")
        n_t = Signal(T_BITS, name="nu_t")
        n_v0 = Signal(name="nu_v0")  # step 0: v is +0 (the start of a sample; CLRV does not clear v)
        n_out = Signal(name="nu_out")
        n_mem = Signal(name="nu_mem")  # membrane readout of the output layer: no spikes, v = h, the list holds the error
        n_addr = Signal(16, name="nu_addr")  # base + n_i, a register: no adder in front of a LUTRAM address
        spk_cnt, psi_cnt = self.spikes, self.psis
        # n_i < n_count, kept as a register: the comparator's carry chain fed the unit's busy and, through the
        # sequencer's NEUR state, the cnt write (a 64-32-10 P = 1 critical path)
        n_issue = Signal(name="nu_issue")
        m.d.comb += self.issuing.eq(n_issue)
        with m.If(n_issue):
            # n_i < n_count while issuing, so n_i + 1 fits n_i's width and "< n_count" is "!= n_count"
            m.d.sync += [n_i.eq(n_i + 1), n_addr.eq(n_addr + 1), n_issue.eq((n_i + 1)[:len(n_i)] != n_count)]
        m.d.comb += [self.v_r.addr.eq(n_addr), self.cur_r.addr.eq(n_addr)]
        nmul, nadd1 = mul_pipe("nu_mul"), add_pipe("nu_add_h")
        LM, LA = nmul.latency, nadd1.latency
        nv1 = _delay_valid(m, n_issue, 1, "nu_v1", busy_regs)
        # the neuron index and its v / acc address travel together: the write-back needs no adder in front
        ni1 = _delay(m, Cat(n_i[:NB], n_addr), 1, "nu_i1")
        v_in, cur_in = Mux(n_v0, 0, self.v_r.data), self.cur_r.data
        if cfg.opzo:
            # OPZO noise: the LFSR steps once per neuron as it issues, z = the new state's lsb; one adder stage in
            # front, I := fl(I + (z ? sigma : -sigma)), the golden draw order (t, l, j)
            z_lfsr = Signal(16, name="nu_z_lfsr")
            z_next = Signal(16, name="nu_z_next")
            m.d.comb += z_next.eq(lfsr_advance(z_lfsr, 1))
            with m.If(n_issue & self.noise):
                m.d.sync += z_lfsr.eq(z_next)
            with m.If(self.seed_load):
                m.d.sync += z_lfsr.eq(self.seed)
            z1 = _delay(m, z_next[0], 1, "nu_z1")
            nzadd = add_pipe("nu_noise")
            m.d.comb += [nzadd.a.eq(self.cur_r.data), nzadd.b.eq(Cat(prm.sigma[:15], ~z1)), nzadd.sub.eq(0),
                         nzadd.i_valid.eq(nv1)]
            with m.If(nv1 & self.noise):  # keep z_l[t][j] for the B update
                zw_a = Signal(16, name="nu_zw_a")
                m.d.comb += zw_a.eq(ni1[NB:])
                m.d.comb += [self.zs_w.addr.eq(zw_a[lg:]), self.zs_w.data.eq(Cat(*([z1] * P))),
                             self.zs_w.en.eq((Const(1, P) << zw_a[:lg])[:P] if P > 1 else 1)]
            v_in = Mux(n_v0, 0, _delay(m, self.v_r.data, LA, "nu_vn"))
            cur_in = Mux(self.noise, nzadd.result, _delay(m, self.cur_r.data, LA, "nu_curn"))
            nv1 = _delay_valid(m, nv1, LA, "nu_vn1", busy_regs)
            ni1 = _delay(m, ni1, LA, "nu_in1")
        # lam * v, then + I
        m.d.comb += [nmul.a.eq(prm.lam), nmul.b.eq(v_in), nmul.i_valid.eq(nv1)]
        nv2 = _delay_valid(m, nv1, LM, "nu_v2", busy_regs)
        ni2 = _delay(m, ni1, LM, "nu_i2")
        cur2 = _delay(m, cur_in, LM, "nu_cur2")
        m.d.comb += [nadd1.a.eq(nmul.result), nadd1.b.eq(cur2), nadd1.sub.eq(0), nadd1.i_valid.eq(nv2)]
        nv3 = _delay_valid(m, nv2, LA, "nu_v3", busy_regs)
        ni3 = _delay(m, ni2, LA, "nu_i3")
        h3 = nadd1.result
        theta = prm.theta
        s3 = Signal(name="nu_s3")
        # h >= theta for theta > 0: h positive, not NaN, magnitude bits >= theta bits
        m.d.comb += s3.eq(~h3[15] & (h3[:15] <= INF) & (h3[:15] >= theta[:15])
                          & (~n_mem if cfg.membrane_readout else 1))
        nadd2 = add_pipe("nu_add_x")
        m.d.comb += [nadd2.a.eq(h3), nadd2.b.eq(theta), nadd2.sub.eq(1), nadd2.i_valid.eq(nv3)]
        if cfg.membrane_readout:  # x = fl(h - y), y = 1.0 at the label, else +0: the loss error before the scale c
            m.d.comb += nadd2.b.eq(Mux(n_mem, Mux(ni3[:NB] == prm.label[:NB], ONE, 0), theta))
        nv4 = _delay_valid(m, nv3, LA, "nu_v4", busy_regs)
        ni4 = _delay(m, ni3, LA, "nu_i4")
        h4 = _delay(m, h3, LA, "nu_h4")
        sp4 = _delay(m, s3, LA, "nu_s4")
        x4 = nadd2.result
        ax4 = Signal(16, name="nu_ax4")
        m.d.comb += ax4.eq(x4[:15])
        inwin4 = Signal(name="nu_inwin4")
        m.d.comb += inwin4.eq(ax4 < prm.sg_w[:15])  # NaN magnitudes exceed every finite width
        vnew4 = Signal(16, name="nu_vnew4")
        m.d.comb += vnew4.eq(Mux(sp4, Mux(prm.hard_reset, 0, x4), h4))
        psi_rect4 = Signal(16, name="nu_psi_rect4")
        m.d.comb += psi_rect4.eq(Mux(inwin4, prm.sg_inv, 0))
        if "tri" in cfg.surrogates:
            tmul = mul_pipe("nu_tri_mul")
            m.d.comb += [tmul.a.eq(ax4), tmul.b.eq(prm.sg_inv2), tmul.i_valid.eq(nv4)]
            tadd = add_pipe("nu_tri_add")
            tv = _delay_valid(m, nv4, LM, "nu_tv", busy_regs)
            m.d.comb += [tadd.a.eq(prm.sg_inv), tadd.b.eq(tmul.result), tadd.sub.eq(1), tadd.i_valid.eq(tv)]
            dl = LM + LA
            nv_e = _delay_valid(m, tv, LA, "nu_ve", busy_regs)
            ni_e = _delay(m, ni4, dl, "nu_ie")
            sp_e = _delay(m, sp4, dl, "nu_se")
            vnew_e = _delay(m, vnew4, dl, "nu_vnewe")
            win_e = _delay(m, inwin4, dl, "nu_wine")
            rect_e = _delay(m, psi_rect4, dl, "nu_recte")
            psi_e = Signal(16, name="nu_psi_e")
            m.d.comb += psi_e.eq(Mux(prm.tri, Mux(win_e, tadd.result, 0), rect_e))
        else:
            nv_e, ni_e, sp_e, vnew_e = nv4, ni4, sp4, vnew4
            psi_e = psi_rect4
        if cfg.sg_table_depth:
            # table surrogate: |x| bits - lo address the window at stage 4, the BRAM answers one cycle later;
            # the rect/tri result waits for it when its own path is shorter (tri at depth 0)
            dl = LM + LA if "tri" in cfg.surrogates else 0
            kb = cfg.sg_table_depth.bit_length() - 1
            below4, above4 = Signal(name="nu_below4"), Signal(name="nu_above4")
            dif4 = Signal(16, name="nu_dif4")
            m.d.comb += [below4.eq(ax4 < prm.sg_lo[:15]), dif4.eq(ax4 - prm.sg_lo[:15])]
            m.d.comb += above4.eq(dif4[kb:] != 0)  # NaN/inf: past every window the host accepts (+0)
            m.d.comb += [self.sgt_r.addr.eq(dif4[:kb]), self.sgt_r.en.eq(nv4)]
            tsel = Signal(2, name="nu_tsel")
            m.d.comb += tsel.eq(Cat(below4, above4))
            tsel5 = _delay(m, tsel, 1, "nu_tsel5")
            psi_t5 = Signal(16, name="nu_psi_t5")
            m.d.comb += psi_t5.eq(Mux(tsel5[0], prm.sg_below, Mux(tsel5[1], prm.sg_above, self.sgt_r.data)))
            extra = max(0, 1 - dl)
            if extra:
                nv_e = _delay_valid(m, nv_e, extra, "nu_vt", busy_regs)
                ni_e, sp_e, vnew_e, psi_e = (_delay(m, sig, extra, f"nu_{nm}t") for sig, nm in
                                             ((ni_e, "i"), (sp_e, "s"), (vnew_e, "vnew"), (psi_e, "psi")))
            psi_te = _delay(m, psi_t5, dl + extra - 1, "nu_psite")
            psi_ee = Signal(16, name="nu_psi_ee")
            m.d.comb += psi_ee.eq(Mux(prm.table, psi_te, psi_e))  # constant during a run
            psi_e = psi_ee
        if cfg.membrane_readout:
            # the output error fl(fl(h - y) * c) takes psi's place in the list (DELTA: fl(e * 1.0) = e, acc holds
            # 1.0), so BPTT's backward finds every step's error in the per-step psi lists
            lmul = mul_pipe("nu_loss_mul")
            m.d.comb += [lmul.a.eq(x4), lmul.b.eq(prm.loss_c), lmul.i_valid.eq(nv4)]
            dl_e = (LM + LA if "tri" in cfg.surrogates else 0)
            if cfg.sg_table_depth:
                dl_e += max(0, 1 - dl_e)
            extra = max(0, LM - dl_e)
            if extra:
                nv_e = _delay_valid(m, nv_e, extra, "nu_vm", busy_regs)
                ni_e, sp_e, vnew_e, psi_e = (_delay(m, sig, extra, f"nu_{nm}m") for sig, nm in
                                             ((ni_e, "i"), (sp_e, "s"), (vnew_e, "vnew"), (psi_e, "psi")))
            err_e = _delay(m, lmul.result, dl_e + extra - LM, "nu_err")
            psi_me = Signal(16, name="nu_psi_me")
            m.d.comb += psi_me.eq(Mux(n_mem, err_e, psi_e))
            psi_e = psi_me
        na_e, ni_e = ni_e[NB:], ni_e[:NB]
        with m.If(nv_e):
            m.d.comb += [self.v_w.addr.eq(na_e), self.v_w.data.eq(vnew_e), self.v_w.en.eq(1)]
            with m.If(sp_e | prm.dense):
                m.d.comb += [self.spk_w.addr.eq(Cat(spk_cnt[:NB], n_layer[:LB], n_t)),
                             self.spk_w.data.eq(Cat(ni_e, sp_e)), self.spk_w.en.eq(1)]
                m.d.sync += spk_cnt.eq(spk_cnt + 1)
            with m.If((psi_e[:15] != 0) | prm.psi_all):
                m.d.comb += [self.psi_w.addr.eq(Cat(psi_cnt[:LNB], n_layer[:LB], n_t)),
                             self.psi_w.data.eq(Cat(psi_e, ni_e)), self.psi_w.en.eq(1)]
                m.d.sync += psi_cnt.eq(psi_cnt + 1)
            with m.If(n_out):
                if cfg.opzo:  # keep s_L[t][k] for the B update
                    zs_a = Signal(16, name="nu_zs_a")
                    m.d.comb += zs_a.eq(na_e)
                    m.d.comb += [self.zs_w.addr.eq(zs_a[lg:]), self.zs_w.data.eq(Cat(*([sp_e] * P))),
                                 self.zs_w.en.eq((Const(1, P) << zs_a[:lg])[:P] if P > 1 else 1)]
                # output error gs_L = fl(fl(s - y) * c): +0, c or -c
                y = Signal(name="nu_y")
                m.d.comb += y.eq(ni_e == prm.label[:len(ni_e)])  # labels are neuron indices
                m.d.comb += [self.acc_w.addr.eq(na_e), self.acc_w.en.eq(1),
                             self.acc_w.data.eq(Mux(sp_e == y, 0, Mux(sp_e, prm.loss_c, prm.loss_c ^ SIGN)))]
                if cfg.membrane_readout:  # membrane readout: gs := 1.0, the error is in the psi list
                    with m.If(n_mem):
                        m.d.comb += self.acc_w.data.eq(ONE)
        m.d.comb += self.busy.eq(n_issue | Cat(*busy_regs).any())
        # last, so a start takes priority over the counters' steps above
        with m.If(self.start):
            m.d.sync += [n_i.eq(0), n_count.eq(self.count), n_issue.eq(self.count != 0), n_layer.eq(self.layer),
                         n_t.eq(self.t), n_v0.eq(self.t == 0), n_out.eq(self.layer >= cfg.out_layer),
                         n_addr.eq(self.base), spk_cnt.eq(0), psi_cnt.eq(0)]
            if cfg.membrane_readout:
                m.d.sync += n_mem.eq(prm.membrane & (self.layer == cfg.out_layer))
        return m
