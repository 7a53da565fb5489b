"""Compile a network + training rule into the core's per-sample program, and the FP16 constants it reads.

The program is a list of 16-bit words (`spikemesh.rtl.core.isa`), one per layer phase per time step,
fully unrolled over T (so SLTT-K's step set and any later rule are just different instruction lists).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..rtl.core.config import IMPLEMENTED_RULES, CoreConfig
from ..rtl.core.isa import FLAG_OPZO, Op, encode
from ..rtl.core.layout import Mode
from ..rtl.words import pack

TEMPORAL_RULES = ("bptt", "tbptt", "local")  # backward walks steps in reverse, with the temporal term
OVERLAP_RULES = ("sltt", "sltt_k", "ottt_a")  # rules whose program interleaves forward t+1 with backward t
OVERLAP_ORDERS = ("front", "split", "spread")


def _f16(x: float, exact: bool = True, fmt: str = "fp16") -> int:
    """The 16-bit encoding of x in the core's format (fp16 or bf16), rounded once (RNE) unless `exact`."""
    from ..sim.golden.numerics import bits, to_format

    if fmt not in ("fp16", "bf16"):
        raise ValueError(f"fmt must be 'fp16' or 'bf16' (the core's 16-bit formats), got {fmt!r}")
    v = to_format(np.array([x], np.float64), fmt)
    if exact and float(v[0]) != float(x):
        raise ValueError(f"constant {x!r} is not exact in {fmt.upper()}")
    return int(bits(v)[0])


def sample_ops(cfg: CoreConfig, rule: str, T: int, k_steps: tuple[int, ...] | None = None,
               update: bool = True, window: int | None = None,
               overlap: bool | None = None, overlap_order: str | None = None,
               k_random: bool = False) -> list[tuple[Op, int, int]]:
    """(op, layer, t) for one training sample: clear v, T forward steps with backward as the rule says,
    then the weight update (omitted with update=False, e.g. to read the gradients G first; ottt_o updates
    after every step, and update=False omits those too).

    overlap (default: cfg.overlap, needs a core with the forward engine): for sltt / sltt_k the backward of
    step t runs on the MAC while the forward engine computes `FWD 1,t+1` (OVERLAP_RULES); other rules keep
    the ordinary order (their FWD still runs on the forward engine). overlap_order (OVERLAP_ORDERS): "front"
    runs the whole backward of step t under `FWD 1,t+1`; "split" layers L..2 under `FWD 1,t+1` and layer 1
    under `FWD 2,t+1`; "spread" runs backward layer L+1-l under `FWD l,t+1`. Default (None): "split" (the
    fastest measured, docs/core.md), "front" for ottt_a (the only order its trace allows).
    opzo (a core with CoreConfig.opzo): `opzo_ops`; its op variants are entries (op, layer, t, isa.FLAG_OPZO)."""
    if overlap is None:
        overlap = cfg.overlap
    if overlap and not cfg.overlap:
        raise ValueError("overlap: an interleaved program needs a core generated with CoreConfig.overlap=True")
    if overlap_order is None:
        overlap_order = "front" if rule == "ottt_a" else "split"
    if overlap_order not in OVERLAP_ORDERS:
        raise ValueError(f"overlap_order must be one of {OVERLAP_ORDERS}, got {overlap_order!r}")
    if overlap and rule == "ottt_a" and overlap_order != "front":
        raise ValueError("overlap_order: ottt_a supports only 'front' (TRACE l,t+1 must follow WGA l,t)")
    if rule not in cfg.rules:
        raise ValueError(f"rule {rule!r} is not compiled into this core; allowed: {cfg.rules} "
                         f"(implemented: {IMPLEMENTED_RULES})")
    if not isinstance(T, int) or not 1 <= T <= cfg.t_max:
        raise ValueError(f"T must be an int in 1..t_max={cfg.t_max}, got {T!r}")
    L = cfg.n_layers
    if rule in TEMPORAL_RULES:
        if rule == "bptt" or (rule == "local" and window is None):
            window = T  # one window over the whole sequence (local learning's default too)
        return _temporal_ops(cfg, T, window, update)
    if window is not None:
        raise ValueError(f"window is only used by rules tbptt and local, not {rule!r}")
    if rule == "opzo":
        if k_steps is not None or k_random:
            raise ValueError(f"k_steps / k_random are only used by rule sltt_k, not {rule!r}")
        return opzo_ops(cfg, T, update)
    trace = rule in ("ottt_a", "ottt_o")
    if rule == "sltt_k":
        if not k_steps or list(k_steps) != sorted(set(k_steps)) or not all(0 <= k < T for k in k_steps):
            raise ValueError(f"k_steps must be sorted unique steps in 0..{T - 1}, got {k_steps!r}")
        back = set(range(T)) if k_random else set(k_steps)  # random K: every step's backward, gated on chip
    elif k_steps is not None:
        raise ValueError(f"k_steps is only used by rule sltt_k, not {rule!r}")
    else:
        back = set(range(T))
    if k_random and rule != "sltt_k":
        raise ValueError(f"k_random is only used by rule sltt_k, not {rule!r}")
    if k_random and not cfg.k_random:
        raise ValueError("k_random: drawing K on chip needs a core generated with CoreConfig(k_random=True)")
    if overlap and rule in OVERLAP_RULES:
        return _overlap_ops(L, T, back, update, overlap_order, trace, k_random)
    ops: list[tuple[Op, int, int]] = [(Op.CLRV, 0, 0)]
    for t in range(T):
        for l in range(1, L + 1):
            ops += [(Op.FWD, l, t), (Op.NEUR, l, t)] + ([(Op.TRACE, l, t)] if trace else [])
        if t in back:
            bwd = []
            for l in range(L, 0, -1):
                bwd += [(Op.DELTA, l, t), (Op.WGA if trace else Op.WG, l, t)]
                if l > 1:
                    bwd.append((Op.GS, l, t))
            ops += _gated(bwd, T, t, True) if k_random else bwd
        if update and rule == "ottt_o":  # OTTT_O: SGD step after every time step (next step sees new W)
            ops += [(Op.UPD, l, 0) for l in range(1, L + 1)]
    if update and rule != "ottt_o":
        ops += [(Op.UPD, l, 0) for l in range(1, L + 1)]
    return ops


def opzo_ops(cfg: CoreConfig, T: int, update: bool = True) -> list[tuple]:
    """OPZO (golden `backward_opzo`; entries (op, layer, t, flags) are the isa.FLAG_OPZO variants): per step t
    the forward with noise on the hidden layers and OTTT traces on every layer, then the output layer's DELTA and
    WGA, the list of gs_L != 0, for l = L-1..1 `GS l` through B_l (into e_l), DELTA and WGA, then the B updates
    (they need s_L[t] and every z_l[t]: after NEUR L of step t, before NEUR l of step t+1); W at the end."""
    L, O = cfg.n_layers, FLAG_OPZO
    ops: list[tuple] = [(Op.CLRV, 0, 0)]
    for t in range(T):
        for l in range(1, L + 1):
            ops += [(Op.FWD, l, t), (Op.NEUR, l, t, O) if l < L else (Op.NEUR, l, t), (Op.TRACE, l, t)]
        ops += [(Op.DELTA, L, t), (Op.WGA, L, t), (Op.DELTA, L, t, O)]
        for l in range(L - 1, 0, -1):
            ops += [(Op.GS, l, t, O), (Op.DELTA, l, t), (Op.WGA, l, t)]
        ops += [(Op.UPD, l, t, O) for l in range(1, L)]
    if update:
        ops += [(Op.UPD, l, 0) for l in range(1, L + 1)]
    check_overlap_order(ops, L)
    return ops


def _gated(ops: list[tuple[Op, int, int]], T: int, t: int, draw: bool) -> list[tuple[Op, int, int]]:
    """`ops` (backward work of step t) run only if step t is in the sample's drawn K: KGATE (drawing first if
    `draw`; its t field is T - 1 - t, the remaining steps of the selection test) ... KEND."""
    return [(Op.KGATE, int(draw), T - 1 - t)] + ops + [(Op.KEND, 0, 0)] if ops else []


def _overlap_ops(L: int, T: int, back: set[int], update: bool, order: str = "front",
                 trace: bool = False, gate: bool = False) -> list[tuple[Op, int, int]]:
    """SLTT / SLTT-K for a core with the forward engine: `FWD l,t+1` is kicked, backward work of step t
    (DELTA, WG, GS of one layer, L..1) runs on the MAC meanwhile, then NEUR l,t+1 waits for the engine.
    front: all of step t's backward under `FWD 1,t+1`; split: layers L..2 under `FWD 1,t+1`, layer 1 under
    `FWD 2,t+1`; spread: layer L+1-l's under `FWD l,t+1`. The
    backward of step t needs every NEUR of step t (done before) and is done before NEUR L,t+1 overwrites
    gs_L in acc (its first piece is layer L) and before NEUR l,t+2 reuses psi_cnt of step t's parity.
    OTTT_A (trace, front only): TRACE l,t+1 runs on the MAC under FWD l,t+1, after the whole backward of step
    t (its WGA l,t read the trace of step t, which TRACE l,t+1 overwrites) and after NEUR l-1,t+1."""
    wg = Op.WGA if trace else Op.WG

    def bwd(t: int, l: int) -> list[tuple[Op, int, int]]:
        return [(Op.DELTA, l, t), (wg, l, t)] + ([(Op.GS, l, t)] if l > 1 else []) if t in back else []

    def layer(l: int, t: int, hidden: list) -> list[tuple[Op, int, int]]:
        return [(Op.FWD, l, t)] + hidden + ([(Op.TRACE, l, t)] if trace else []) + [(Op.NEUR, l, t)]

    ops: list[tuple[Op, int, int]] = [(Op.CLRV, 0, 0)]
    for l in range(1, L + 1):
        ops += layer(l, 0, [])
    for t in range(T):
        pieces = [bwd(t, l) for l in range(L, 0, -1)]  # layer L first: DELTA L,t precedes NEUR L,t+1
        if order == "spread":
            under = pieces
        elif order == "split" and L > 1:
            under = [sum(pieces[:-1], []), pieces[-1]] + [[]] * (L - 2)
        else:
            under = [sum(pieces, [])] + [[]] * (L - 1)
        if gate:  # random K: each piece of step t's backward is gated; the first one draws
            first = next(i for i, u in enumerate(under) if u) if any(under) else -1
            under = [_gated(u, T, t, i == first) for i, u in enumerate(under)]
            pieces = [_gated(sum(pieces, []), T, t, True)]
        if t + 1 < T:
            for l in range(1, L + 1):
                ops += layer(l, t + 1, under[l - 1])
        else:
            ops += sum(pieces, [])
    if update:
        ops += [(Op.UPD, l, 0) for l in range(1, L + 1)]
    check_overlap_order(ops, L)
    return ops


def check_overlap_order(ops: list[tuple[Op, int, int]], L: int) -> None:
    """The hazards a core with the forward engine does not interlock (docs/core.md, "Engine overlap"):
    raises AssertionError naming the first one an interleaved program violates. An entry may carry flags
    (op, layer, t, flags): positions are by (op, layer, t), the last such entry; an OPZO `UPD` (the B update)
    is not the weight update."""
    pos = {o[:3]: k for k, o in enumerate(ops) if not (o[0] == Op.UPD and o[3:4] == (FLAG_OPZO,))}
    ops = [o for o in ops if not (o[0] == Op.UPD and o[3:4] == (FLAG_OPZO,))]

    def before(a, b, why: str) -> None:
        if a in pos and b in pos and not pos[a] < pos[b]:
            raise AssertionError(f"overlap program: {a} must come before {b} ({why})")

    for op, l, t, *_ in ops:
        if op == Op.FWD:
            before((Op.FWD, l, t), (Op.NEUR, l, t), "NEUR reads I")
            before((Op.NEUR, l - 1, t), (Op.FWD, l, t), "FWD reads the spike list below")
            before((Op.NEUR, l, t - 1), (Op.FWD, l, t), "NEUR reads the I that FWD overwrites")
        if op == Op.DELTA:
            for k in range(1, L + 1):
                before((Op.NEUR, k, t), (Op.DELTA, l, t), "backward of step t needs every NEUR of step t")
            before((Op.DELTA, l, t), (Op.NEUR, l, t + 2), "psi_cnt is kept per t parity")
            if l == L:
                before((Op.DELTA, L, t), (Op.NEUR, L, t + 1), "NEUR L writes gs_L into acc")
        if op == Op.TRACE:
            before((Op.NEUR, l - 1, t), (Op.TRACE, l, t), "TRACE reads the spike list below")
            before((Op.TRACE, l, t), (Op.WGA, l, t), "WGA reads the trace of step t")
            before((Op.WGA, l, t - 1), (Op.TRACE, l, t), "TRACE overwrites the trace WGA of step t-1 reads")
        if op == Op.UPD:
            for o in ops:
                if o[0] in (Op.FWD, Op.GS, Op.WG, Op.WGA):
                    before(o[:3], (Op.UPD, l, t), "UPD changes W / clears G")


def _temporal_ops(cfg: CoreConfig, T: int, window: int, update: bool) -> list[tuple[Op, int, int]]:
    """BPTT (window = T), TBPTT and local learning: forward every step of a window (the main layers, then any
    heads), then backward t descending in it, main layers L..1, with the temporal term dp cleared at the
    window's last step. Local learning (a head per non-final block): a layer that ends a block first runs its
    head's backward (its own LOSS; its GS writes the block's gs), and the layer above it sends no gs down, so
    the blocks' backward passes are independent (the golden model's `backward`)."""
    if not isinstance(window, int) or not 1 <= window <= T:
        raise ValueError(f"window must be an int in 1..T={T}, got {window!r}")
    Lm, LL = cfg.out_layer, cfg.n_layers
    head_of = {e: Lm + 1 + b for b, e in enumerate(cfg.heads)}
    ops: list[tuple[Op, int, int]] = [(Op.CLRV, 0, 0)]
    for start in range(0, T, window):
        steps = range(start, min(start + window, T))
        for t in steps:
            for l in range(1, LL + 1):
                ops += [(Op.FWD, l, t), (Op.NEUR, l, t)]
        ops += [(Op.DCLR, l, 0) for l in range(1, LL + 1)]
        for t in reversed(steps):
            ops.append((Op.LOSS, Lm, t))
            for l in range(Lm, 0, -1):
                if l in head_of:
                    h = head_of[l]
                    ops += [(Op.LOSS, h, t), (Op.DECAY, h, t), (Op.DELTAT, h, t), (Op.WG, h, t), (Op.GS, h, t)]
                ops += [(Op.DECAY, l, t), (Op.DELTAT, l, t), (Op.WG, l, t)]
                if l > 1 and l - 1 not in head_of:
                    ops.append((Op.GS, l, t))
    if update:
        ops += [(Op.UPD, l, 0) for l in range(1, LL + 1)]
    return ops


def assemble(ops: list[tuple[Op, int, int]], cfg: CoreConfig, end: bool = True) -> list[int]:
    words = [encode(*o) for o in ops] + ([encode(Op.END)] if end else [])
    if len(words) > cfg.prog_depth:
        raise ValueError(f"program needs {len(words)} words; prog_depth is {cfg.prog_depth} "
                         f"(raise CoreConfig.prog_depth or lower T)")
    return words


def compile_program(cfg: CoreConfig, rule: str, T: int, k_steps: tuple[int, ...] | None = None,
                    update: bool = True, window: int | None = None) -> list[int]:
    return assemble(sample_ops(cfg, rule, T, k_steps, update, window), cfg)


def snn_ops(cfg: CoreConfig, snn, update: bool = True, overlap: bool | None = None,
            overlap_order: str | None = None) -> list[tuple[Op, int, int]]:
    """sample_ops for a `spikemesh.sim.golden.SNNConfig`."""
    if snn.rule == "local" and tuple(snn.block_last_layers) != cfg.heads:
        raise ValueError(f"blocks {snn.blocks} put heads after layers {tuple(snn.block_last_layers)}; this core was "
                         f"generated with heads={cfg.heads}")
    if (snn.weight_update == "sr") != cfg.stochastic_rounding:  # the SR core rounds every update stochastically
        raise ValueError(f"weight_update {snn.weight_update!r} needs a core generated with stochastic_rounding="
                         f"{snn.weight_update == 'sr'}, this one has {cfg.stochastic_rounding}")
    return sample_ops(cfg, snn.rule, snn.T, snn.k_steps, update,
                      snn.window if snn.rule in ("tbptt", "local") else None, overlap, overlap_order,
                      k_random=snn.rule == "sltt_k" and snn.k_random)


def step_seed(snn, sample_index: int) -> int | None:
    """The k_seed register of sample `sample_index` (SLTT-K with random steps), or None: the LFSR state the
    golden model's draws start from (sim.golden.core.sample_k_steps)."""
    if not (snn.rule == "sltt_k" and snn.k_random):
        return None
    from ..sim.golden.lfsr import STREAM_K_STEPS, stream_seed

    return stream_seed(snn.lfsr_seed, sample_index, STREAM_K_STEPS)


def round_seed(snn, sample_index: int) -> int | None:
    """The sr_seed register of sample `sample_index` (stochastic rounding of the update,
    CoreConfig.stochastic_rounding), or None: the LFSR state the golden model's rounding draws start from."""
    if snn.weight_update != "sr":
        return None
    from ..sim.golden.lfsr import STREAM_SR, stream_seed

    return stream_seed(snn.lfsr_seed, sample_index, STREAM_SR)


def noise_seed(snn, sample_index: int) -> int | None:
    """The z_seed register of sample `sample_index` (rule opzo), or None: the LFSR state the golden model's
    noise draws start from (sim.golden.core: stream STREAM_OPZO_NOISE)."""
    if snn.rule != "opzo":
        return None
    from ..sim.golden.lfsr import STREAM_OPZO_NOISE, stream_seed

    return stream_seed(snn.lfsr_seed, sample_index, STREAM_OPZO_NOISE)


def opzo_constants(snn) -> dict[str, int]:
    """The OPZO registers (region osr) but the per-sample seed: sigma, beta, kappa = fl((1 - beta) / sigma), in
    the core's format (the golden model rounds kappa once from float64, as here)."""
    if snn.rule != "opzo":
        raise ValueError(f"opzo_constants: rule must be 'opzo', got {snn.rule!r}")
    return {"sigma": _f16(snn.opzo_sigma, fmt=snn.fmt), "beta": _f16(snn.opzo_beta, fmt=snn.fmt),
            "kappa": _f16((1.0 - snn.opzo_beta) / snn.opzo_sigma, exact=False, fmt=snn.fmt)}


def core_constants(*, lam: float, theta: float, T: int, loss_scale: int, lr: float, surrogate: str,
                   surrogate_width: float, reset: str, direct: bool, dense: bool = False,
                   temporal: bool = False, detach_reset: bool = True, fmt: str = "fp16",
                   readout: str = "spikes") -> dict[str, int]:
    """The control-register values (bits in the core's format `fmt`, or mode bits) for one training setup."""
    if surrogate not in ("rect", "tri", "sigmoid", "atan"):  # sigmoid/atan: the host also writes the table
        raise ValueError(f"surrogate must be 'rect', 'tri', 'sigmoid' or 'atan' in the core, got {surrogate!r}")
    if reset not in ("soft", "hard"):
        raise ValueError(f"reset must be 'soft' or 'hard', got {reset!r}")
    if temporal and (reset != "soft" or not detach_reset):
        raise ValueError("reset: the core's BPTT/TBPTT supports only soft reset with the reset detached")
    if readout not in ("spikes", "membrane"):
        raise ValueError(f"readout must be 'spikes' or 'membrane', got {readout!r}")
    if not theta > 0:
        raise ValueError(f"theta must be > 0 (the fire compare assumes it), got {theta!r}")
    a = surrogate_width
    mode = pack(Mode, direct=bool(direct), hard_reset=reset == "hard", tri=surrogate == "tri", dense=bool(dense),
                psi_all=bool(temporal), table=surrogate in ("sigmoid", "atan"), membrane=readout == "membrane")
    if fmt != "fp16" and surrogate in ("sigmoid", "atan"):
        raise ValueError(f"surrogate {surrogate!r} needs the surrogate table, which is FP16 only; with fmt {fmt!r} "
                         f"use 'rect' or 'tri'")
    return {
        "mode": mode,
        "lam": _f16(lam, fmt=fmt),
        "theta": _f16(theta, fmt=fmt),
        "loss_c": _f16(loss_scale / T, exact=False, fmt=fmt),  # rounded once, as the golden model does
        "eta": _f16(lr / loss_scale, exact=False, fmt=fmt),
        "sg_w": _f16(a / 2 if surrogate == "rect" else a, fmt=fmt),
        "sg_inv": _f16(1 / a, fmt=fmt),
        "sg_inv2": _f16(1 / (a * a), fmt=fmt),
    }


def constants_from_snn(snn) -> dict[str, int]:
    """core_constants for a `spikemesh.sim.golden.SNNConfig`."""
    if snn.loss != "mse_step":
        raise ValueError(f"loss must be 'mse_step' on the core (ce_step's softmax is golden-only), got {snn.loss!r}")
    return core_constants(lam=snn.lam, theta=snn.theta, T=snn.T, loss_scale=snn.loss_scale, lr=snn.lr,
                          surrogate=snn.surrogate, surrogate_width=snn.surrogate_width, reset=snn.reset,
                          direct=snn.encoding == "direct", dense=snn.dense,
                          temporal=snn.rule in TEMPORAL_RULES, detach_reset=snn.detach_reset, fmt=snn.fmt,
                          readout=snn.readout)


# ---------------------------------------------------------------- model parallel: per-step segments

SEGMENT_RULES = ("sltt", "sltt_k", "ottt_a", "bptt", "local")
#: the rule a core holding one local-learning block runs: its block (+ head) is a plain chain, trained by TBPTT
LOCAL_BLOCK_RULE = "tbptt"


@dataclass(frozen=True)
class SegmentedProgram:
    """One core's program for model-parallel training, cut into segments that each end with END.

    `starts[(kind, t)]` is the word a segment starts at (the host writes it to `start_pc`): kind "fwd" =
    CLRV (t = 0 only) and FWD/NEUR(/TRACE) of the core's layers at step t ("fwd" of the LAST core also holds
    its backward of step t, which needs nothing from another core); "bwd" = the backward of step t (DELTA,
    WG/WGA, GS of its layers, `GS 1` too unless the core holds layer 1); ("upd", 0) = UPD of every layer.
    `order` lists the segment keys in the order this core runs them."""

    words: tuple[int, ...]
    starts: dict
    order: tuple

    def ops_of(self, key) -> list[tuple[Op, int, int]]:
        from ..rtl.core.isa import decode
        out, pc = [], self.starts[key]
        while (op := decode(self.words[pc]))[0] != Op.END:
            out.append(op)
            pc += 1
        return out


def segment_ops(cfg: CoreConfig, rule: str, T: int, first: bool, last: bool,
                k_steps: tuple[int, ...] | None = None, window: int | None = None
                ) -> list[tuple[tuple[str, int], list[tuple[Op, int, int]]]]:
    """Segments of a core holding a contiguous slice of a network's layers (its local layers 1..L).

    Per core the op order is exactly the single-core program's restricted to its layers, so every value is
    computed as `sample_ops` computes it; the host moves s_L[t] (the core's last layer's spike list) to the
    next core's layer-0 list before that core's "fwd" t, and gs_0[t] (acc[gs0_off..], written by `GS 1`) of
    the next core into acc[noff_L..] before this core's "bwd" t (overwriting the loss error NEUR wrote).

    rule "local": the core holds ONE block of a local-learning network (`local_block_ops`); nothing moves
    backward between cores."""
    if rule == "local":
        if k_steps is not None:
            raise ValueError(f"k_steps is only used by rule sltt_k, not {rule!r}")
        return local_block_ops(cfg, T, window)
    if window is not None:
        raise ValueError(f"window is only used by rule local in a segmented program, not {rule!r}")
    if rule not in SEGMENT_RULES:
        raise ValueError(f"rule must be one of {SEGMENT_RULES} for a segmented (model-parallel) program, "
                         f"got {rule!r}")
    if rule not in cfg.rules:
        raise ValueError(f"rule {rule!r} is not compiled into this core; allowed: {cfg.rules}")
    if not isinstance(T, int) or not 1 <= T <= cfg.t_max:
        raise ValueError(f"T must be an int in 1..t_max={cfg.t_max}, got {T!r}")
    L = cfg.n_layers
    trace = rule == "ottt_a"
    if rule == "sltt_k":
        if not k_steps or list(k_steps) != sorted(set(k_steps)) or not all(0 <= k < T for k in k_steps):
            raise ValueError(f"k_steps must be sorted unique steps in 0..{T - 1}, got {k_steps!r}")
        back = set(k_steps)
    elif k_steps is not None:
        raise ValueError(f"k_steps is only used by rule sltt_k, not {rule!r}")
    else:
        back = set(range(T))

    def fwd(t: int) -> list[tuple[Op, int, int]]:
        ops = [(Op.CLRV, 0, 0)] if t == 0 else []
        for l in range(1, L + 1):
            ops += [(Op.FWD, l, t), (Op.NEUR, l, t)] + ([(Op.TRACE, l, t)] if trace else [])
        return ops

    def gs(l: int, t: int) -> list[tuple[Op, int, int]]:
        return [(Op.GS, l, t)] if l > 1 or not first else []

    segs: list[tuple[tuple[str, int], list[tuple[Op, int, int]]]] = []
    if rule == "bptt":  # forward every step, then backward t descending (golden order), dp cleared first
        segs += [(("fwd", t), fwd(t)) for t in range(T)]
        for t in reversed(range(T)):
            ops = [(Op.DCLR, l, 0) for l in range(1, L + 1)] if t == T - 1 else []
            ops += [(Op.LOSS, L, t)] if last else []
            for l in range(L, 0, -1):
                ops += [(Op.DECAY, l, t), (Op.DELTAT, l, t), (Op.WG, l, t)] + gs(l, t)
            segs.append((("bwd", t), ops))
    else:
        for t in range(T):
            ops = []
            if t in back:
                for l in range(L, 0, -1):
                    ops += [(Op.DELTA, l, t), (Op.WGA if trace else Op.WG, l, t)] + gs(l, t)
            if last:
                segs.append((("fwd", t), fwd(t) + ops))
            else:
                segs.append((("fwd", t), fwd(t)))
                if ops:
                    segs.append((("bwd", t), ops))
    segs.append((("upd", 0), [(Op.UPD, l, 0) for l in range(1, L + 1)]))
    return segs


def local_block_ops(cfg: CoreConfig, T: int, window: int | None = None
                    ) -> list[tuple[tuple[str, int], list[tuple[Op, int, int]]]]:
    """Segments of a core holding one block of a local-learning network: the block's main layers and, for a
    non-final block, its head as the core's last layer (firmware/placement.py `local_blocks`).

    A block's backward reads nothing from another block (the head's GS feeds the block's last layer; no gs
    crosses a block boundary), so the block core's computation is TBPTT with the local window on the chain
    block (+ head): the same ops in the same order as the single-core local program restricted to the
    block's layers (a head's LOSS, DECAY, DELTAT, WG, GS are the output layer's). The core needs rule tbptt and
    no heads of its own. Segments: ("fwd", t): CLRV (t = 0) and FWD/NEUR of every layer at step t;
    ("bwd", t) at the last step t of each window: DCLR, then steps t..window start descending; ("upd", 0)."""
    if LOCAL_BLOCK_RULE not in cfg.rules or cfg.heads:
        raise ValueError(f"a local-learning block core runs its block as a chain with rule {LOCAL_BLOCK_RULE!r}: "
                         f"rules must include it and heads must be () (got rules={cfg.rules}, heads={cfg.heads})")
    if not isinstance(T, int) or not 1 <= T <= cfg.t_max:
        raise ValueError(f"T must be an int in 1..t_max={cfg.t_max}, got {T!r}")
    window = T if window is None else window
    ops = _temporal_ops(cfg, T, window, update=True)  # validates window; one chain, no heads
    segs: list[tuple[tuple[str, int], list[tuple[Op, int, int]]]] = []
    cur: list[tuple[Op, int, int]] = []
    key: tuple[str, int] | None = None
    for op in ops:
        kind = ("fwd" if op[0] in (Op.CLRV, Op.FWD, Op.NEUR) else "upd" if op[0] == Op.UPD else "bwd")
        if key is None or kind != key[0] or (kind == "fwd" and op[0] == Op.FWD and op[1] == 1 and op[2] != key[1]):
            if key is not None:
                segs.append((key, cur))
            cur = []
            t = op[2] if kind == "fwd" else 0 if kind == "upd" else segs[-1][0][1]  # bwd: after the window's last fwd
            key = (kind, t)
        cur.append(op)
    segs.append((key, cur))
    return segs


def compile_segments(cfg: CoreConfig, rule: str, T: int, first: bool, last: bool,
                     k_steps: tuple[int, ...] | None = None, window: int | None = None) -> SegmentedProgram:
    words: list[int] = []
    starts = {}
    for key, ops in segment_ops(cfg, rule, T, first, last, k_steps, window):
        starts[key] = len(words)
        words += [encode(op, l, t) for op, l, t in ops] + [encode(Op.END)]
    if len(words) > cfg.prog_depth:
        raise ValueError(f"segmented program needs {len(words)} words; prog_depth is {cfg.prog_depth} "
                         f"(raise CoreConfig.prog_depth or lower T)")
    return SegmentedProgram(tuple(words), starts, tuple(starts))
