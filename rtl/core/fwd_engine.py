"""The forward engine of a core with `CoreConfig.overlap`: runs `FWD l,t` on its own while the sequencer
drives BP/WG ops on the MAC stream unit (docs/core.md, "Engine overlap").

It computes exactly what the MAC computes for FWD (same bits by construction): `I := +0` (wide clear), then
per input event j, ascending, `I[:] = fl(I + fl(W[:, j] * m2))` with m2 = 1.0 (spike), x_j (direct first
layer) or +0 (dense schedule, silent input), one P-lane word per cycle. Own event walker (second read ports
on spk, cnt, x), own W read port, own P lanes of FPMulPipe + FPAddPipe, own accumulator memory `accf` that
the neuron unit reads I from. Passes follow the MAC's spacing rule: a pass starts once the previous one has
issued all words and SAFE cycles separate their first issues (same addresses in the same order).
"""
from __future__ import annotations

from amaranth import Array, Cat, Const, Module, Mux, Signal
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from .config import CoreConfig
from .isa import LAYER_BITS, T_BITS
from .layout import CoreLayout
from .skewmem import unskew
from .ports import _bits, lane_write_port_signature, read_port_signature, skew_read_port_signature
from .pipes import fp_pipe_factories, _delay, _delay_valid, _source_layer, _times_const, event_walk_states


class ForwardEngine(wiring.Component):
    """FWD `layer`, `t` on its own memory ports and FP lanes.

    start (in, one cycle, only while `idle`): run FWD `layer`, `t`; direct (in): layer 1 reads x (direct input).
    idle (out): state IDLE and pipeline empty. go / elems (out): a pass starts this cycle and its element count
    (the mac_ops counter); issued (out): a word issues or is cleared this cycle (the mac_issues counter, as the
    MAC counts its clear pass); event (out): an event pass with a real input starts (the fwd_events counter).
    Ports: `spk`, `cnt`, `x` (read ports of its own on the event lists, their counts and x), `w` (its own port
    on W's banks), `accf_r` / `accf_w` (its accumulator I, which the neuron unit reads)."""

    def __init__(self, cfg: CoreConfig, lay: CoreLayout):
        self.cfg, self.lay = cfg, lay
        P = cfg.lanes
        words = -(-lay.ndepth // P) * P
        super().__init__({
            "start": In(1), "layer": In(LAYER_BITS), "t": In(T_BITS), "direct": In(1),
            "idle": Out(1), "go": Out(1), "elems": Out(24), "issuing": Out(1), "issued": Out(1), "event": Out(1),
            "spk": Out(read_port_signature(_bits(lay.spk_depth), lay.nb + 1)),
            "cnt": Out(read_port_signature(_bits(lay.cnt_depth), lay.nb + 1)),
            "x": Out(read_port_signature(_bits(cfg.sizes[0]), 16)),
            "w": Out(skew_read_port_signature(_bits(max(2, lay.w_bank_words * P)), P)),
            "accf_r": Out(wiring.Signature({"addr": Out(_bits(max(2, words))), "word": In(16 * P)})),
            "accf_w": Out(lane_write_port_signature(_bits(max(2, words)), P)),
        })

    def elaborate(self, platform) -> Module:
        m = Module()
        mul_pipe, add_pipe = fp_pipe_factories(m, self.cfg)
        self._build(m, mul_pipe=mul_pipe, add_pipe=add_pipe, spk_rp=self.spk, cnt_rp=self.cnt, x_rp=self.x,
                    w_rp=self.w, accf_rp=self.accf_r, accf_wp=self.accf_w, direct=self.direct)
        return m

    def _build(self, m: Module, *, mul_pipe, add_pipe, spk_rp, cnt_rp, x_rp, w_rp, accf_rp, accf_wp,
               direct) -> None:
        cfg, lay = self.cfg, self.lay
        L, NB, LB, TB, P = lay.L, lay.nb, lay.lb, lay.tb, cfg.lanes
        lg = P.bit_length() - 1
        sizes = cfg.sizes
        muls = [mul_pipe(f"fe_mul{k}") for k in range(P)]
        adds = [add_pipe(f"fe_add{k}") for k in range(P)]
        LM, LA = muls[0].latency, adds[0].latency
        SAFE = LM + LA + 4  # the MAC's rule: read of element i >= LM + LA + 3 cycles after the last write's issue

        N = Array([Const(n, 11) for n in sizes] + [Const(0, 11)])
        NW = Array([Const(lay.pad(n) // P, 11) for n in sizes] + [Const(0, 11)])
        WBASE = Array([Const(lay.wbase(l) if l >= 1 else 0, 24) for l in range(L + 2)])
        NOFF = Array([Const(lay.noff(l) if l >= 1 else 0, 16) for l in range(L + 2)])
        aw = max(lay.wdepth, lay.ndepth).bit_length() + 1

        fl = Signal(LAYER_BITS, name="fe_layer")
        ft = Signal(T_BITS, name="fe_t")
        lin = Signal(LAYER_BITS, name="fe_lin")
        tin = Signal(T_BITS, name="fe_tin")
        isdirect = Signal(name="fe_isdirect")
        m.d.comb += [lin.eq(_source_layer(cfg, fl)), isdirect.eq(direct & (fl == 1)), tin.eq(Mux(isdirect, 0, ft))]
        e = Signal(NB + 1, name="fe_e")
        ecount = Signal(NB + 1, name="fe_ecount")
        j = Signal(NB, name="fe_j")
        fired = Signal(name="fe_fired")
        m2next = Signal(16, name="fe_m2next")
        jcol = Signal(24, name="fe_jcol")
        with m.Switch(fl):
            for l in range(1, L + 1):
                with m.Case(l):
                    m.d.comb += jcol.eq(_times_const(j, lay.stride(l)))
        clr = Signal(11, name="fe_clr")

        # ---- pass issue: one P-lane word of W column j and of I per cycle ----
        p_count = Signal(11, name="fe_p_count")
        p_n = Signal(11, name="fe_p_n")
        p_m2 = Signal(16, name="fe_p_m2")
        p_rot = Signal(max(1, P.bit_length() - 1), name="fe_p_rot")  # column j mod P: W's bank rotation (skewmem)
        ad_run = Signal(aw, name="fe_ad_run")
        a1_run = Signal(aw, name="fe_a1_run")
        since = Signal(range(SAFE + 1), name="fe_since")
        issuing = self.issuing
        m.d.comb += issuing.eq(p_n < p_count)
        can_start = Signal(name="fe_can_start")
        m.d.comb += can_start.eq(~issuing & (since >= SAFE))
        with m.If(since < SAFE):
            m.d.sync += since.eq(since + 1)
        with m.If(issuing):
            m.d.sync += [p_n.eq(p_n + 1), ad_run.eq(ad_run + P), a1_run.eq(a1_run + P)]
            m.d.comb += [w_rp.addr.eq(a1_run), w_rp.rot.eq(p_rot), accf_rp.addr.eq(ad_run)]

        busy_regs: list = []
        v1 = _delay_valid(m, issuing, 1, "fe_v1", busy_regs)
        ad1 = _delay(m, ad_run, 1, "fe_ad1")
        m21 = _delay(m, p_m2, 1, "fe_m21")
        # register the BRAM outputs before the multipliers (as the MAC's S2a)
        v2 = _delay_valid(m, v1, 1, "fe_v2", busy_regs)
        ad2 = _delay(m, ad1, 1, "fe_ad2")
        m22 = _delay(m, m21, 1, "fe_m22")
        if P > 1:  # the banks' outputs registered, the skew's rotation after the register (in front of the multipliers)
            wword2, _ = unskew(_delay(m, w_rp.raw, 1, "fe_wraw2"), _delay(m, w_rp.rot_q, 1, "fe_wrot2"),
                               _delay(m, w_rp.bank_q, 1, "fe_wbank2"), P)
        else:
            wword2 = _delay(m, w_rp.word, 1, "fe_wword2")
        iword2 = _delay(m, accf_rp.word, 1, "fe_iword2")
        v3 = _delay_valid(m, v2, LM, "fe_v3", busy_regs)
        ad3 = _delay(m, ad2, LM, "fe_ad3")
        iword3 = _delay(m, iword2, LM, "fe_iword3")
        for k in range(P):
            m.d.comb += [muls[k].a.eq(wword2[16 * k:16 * k + 16]), muls[k].b.eq(m22), muls[k].i_valid.eq(v2),
                         adds[k].a.eq(iword3[16 * k:16 * k + 16]), adds[k].b.eq(muls[k].result),
                         adds[k].sub.eq(0), adds[k].i_valid.eq(v3)]
        v4 = _delay_valid(m, v3, LA, "fe_v4", busy_regs)
        ad4 = _delay(m, ad3, LA, "fe_ad4")
        with m.If(v4):
            m.d.comb += [accf_wp.addr.eq(ad4), accf_wp.data.eq(adds[0].result), accf_wp.en.eq(1),
                         accf_wp.wide.eq(1), accf_wp.wdata.eq(Cat(*[a.result for a in adds]))]
        pipe_busy = Signal(name="fe_pipe_busy")
        m.d.comb += pipe_busy.eq(issuing | Cat(*busy_regs).any())

        def start_pass(m2) -> None:
            m.d.sync += [p_count.eq(NW[fl]), p_n.eq(0), ad_run.eq(NOFF[fl]), a1_run.eq(WBASE[fl] + jcol),
                         p_m2.eq(m2), p_rot.eq(j[:len(p_rot)]), since.eq(0)]
            m.d.comb += [self.go.eq(1), self.elems.eq(N[fl])]

        with m.FSM(name="fe") as fsm:
            with m.State("IDLE"):
                with m.If(self.start):
                    m.d.sync += [fl.eq(self.layer), ft.eq(self.t), e.eq(0), clr.eq(0)]
                    m.d.comb += [self.go.eq(1), self.elems.eq(N[self.layer])]  # the clear, as the MAC counts it
                    m.next = "CLR"
            with m.State("CLR"):  # I := +0, one word per cycle (the pipeline is empty: no write-port conflict)
                m.d.comb += [accf_wp.addr.eq(NOFF[fl] + (clr << lg)), accf_wp.data.eq(0), accf_wp.wdata.eq(0),
                             accf_wp.wide.eq(1), accf_wp.en.eq(1)]
                m.d.sync += clr.eq(clr + 1)
                with m.If(clr == NW[fl] - 1):
                    m.next = "CNT"
            with m.State("CNT"):
                m.d.comb += cnt_rp.addr.eq(Cat(lin[:LB], tin[:TB]))
                m.next = "CNT2"
            with m.State("CNT2"):
                m.d.sync += ecount.eq(cnt_rp.data)
                m.next = "EV"
            # the next event is fetched while the previous pass still issues
            event_walk_states(m, e=e, ecount=ecount, spk_rp=spk_rp, x_rp=x_rp, j=j, fired=fired, m2next=m2next,
                              isdirect=isdirect, lin=lin, tin=tin, nb=NB, lb=LB, tb=TB, one=cfg.fmt.bias << cfg.fmt.man_bits, done="DRAIN",
                              issue="EV_WAIT")
            with m.State("EV_WAIT"):
                with m.If(can_start):
                    start_pass(m2next)
                    m.d.comb += self.event.eq(fired | isdirect)
                    m.d.sync += e.eq(e + 1)
                    m.next = "EV"
            with m.State("DRAIN"):
                with m.If(~pipe_busy):
                    m.next = "IDLE"
        # dense lists carry silent entries (fired = 0 -> m2 = +0): the walker needs no mode bit
        m.d.comb += [self.idle.eq(fsm.ongoing("IDLE") & ~pipe_busy), self.issued.eq(issuing | fsm.ongoing("CLR"))]
