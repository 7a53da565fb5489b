"""What the engines do (WorkCounts) and what they must keep (state_bytes): counted in the SPARSE schedule.

Per phase: `events` (FP: nonzero inputs consumed; BP: nonzero deltas; WG: (delta != 0, input != 0) pairs;
update: nonzero G entries), `adds` and `muls` (FP16 operations actually performed, every fl(+), fl(-), fl(x)
of docs/golden-contract.md; compares and table look-ups are not counted), `skipped` (accumulation terms /
weight updates that the sparse schedule leaves out and the dense one performs); update.vanished counts the
nonzero updates rounded away (W unchanged).
"""
from __future__ import annotations

from dataclasses import dataclass, field

from .config import SNNConfig

PHASES = ("fp", "bp", "wg", "update")


@dataclass
class PhaseCounts:
    events: int = 0
    adds: int = 0
    muls: int = 0
    skipped: int = 0
    vanished: int = 0  # update only: nonzero updates that left W unchanged (below ulp(W)/2 under RNE)

    def __iadd__(self, other: "PhaseCounts") -> "PhaseCounts":
        self.vanished += other.vanished
        self.events += other.events
        self.adds += other.adds
        self.muls += other.muls
        self.skipped += other.skipped
        return self


@dataclass
class WorkCounts:
    fp: PhaseCounts = field(default_factory=PhaseCounts)
    bp: PhaseCounts = field(default_factory=PhaseCounts)
    wg: PhaseCounts = field(default_factory=PhaseCounts)
    update: PhaseCounts = field(default_factory=PhaseCounts)

    def __iadd__(self, other: "WorkCounts") -> "WorkCounts":
        for p in PHASES:
            getattr(self, p).__iadd__(getattr(other, p))
        return self

    def as_dict(self) -> dict[str, dict[str, int]]:
        return {p: vars(getattr(self, p)).copy() for p in PHASES}


@dataclass(frozen=True)
class StateBytes:
    """Bytes the hardware keeps for one sample: `temporal` grows with what the rule stores across steps,
    `fixed` is v (per neuron) + G (per weight) + rule-specific constant state (traces)."""

    temporal: int
    fixed: int

    @property
    def total(self) -> int:
        return self.temporal + self.fixed


def state_bytes(cfg: SNNConfig, T: int | None = None, value_bytes: int | None = None) -> StateBytes:
    """State per rule as a function of T (default cfg.T). Values are `value_bytes` (2 for fp16, 4 for fp32);
    a spike is 1 bit. BPTT keeps, per step and layer, h (for psi and the reset) and s (the next layer's WG
    input; the input layer's spikes or, for direct input, nothing extra since x is constant)."""
    T = cfg.T if T is None else T
    vb = value_bytes if value_bytes is not None else (4 if cfg.fmt == "fp32" else 2)
    sizes = cfg.sizes
    shapes = cfg.weight_shapes()[:cfg.n_lif]  # LIF layers (opzo's feedback matrices are added below)
    neurons = sum(r for r, _ in shapes)  # every LIF layer incl. heads
    weights = sum(r * c for r, c in shapes)
    fixed = vb * (neurons + weights)
    in_bits = 0 if cfg.encoding == "direct" else sizes[0]
    per_step_bits = in_bits + sum(r * (8 * vb + 1) for r, _ in shapes)  # h (value) + s (bit) per neuron
    if cfg.rule == "bptt":
        temporal = (per_step_bits * T + 7) // 8
    elif cfg.rule in ("tbptt", "local"):
        temporal = (per_step_bits * min(cfg.k, T) + 7) // 8
    elif cfg.rule in ("sltt", "sltt_k"):
        temporal = 0
    else:  # ottt_a / ottt_o / opzo: one presynaptic trace per input of every layer, independent of T
        temporal = 0
        fixed += vb * sum(c for _, c in shapes)
        if cfg.rule == "opzo":  # the feedback matrices B_l (N_L x N_l), kept across samples
            fixed += vb * sum(r * c for r, c in cfg.weight_shapes()[cfg.n_lif:])
    if cfg.encoding == "direct":
        fixed += vb * sizes[0]
    return StateBytes(temporal=temporal, fixed=fixed)
