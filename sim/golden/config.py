"""`SNNConfig`: every knob of the golden model, validated once so a bad value fails at generation time."""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

RULES = ("bptt", "tbptt", "sltt", "sltt_k", "ottt_a", "ottt_o", "local", "opzo")
SURROGATES = ("rect", "tri", "sigmoid", "atan")
LOSSES = ("mse_step", "ce_step")
ENCODINGS = ("direct", "rate")
FORMATS = ("fp16", "fp32", "bf16")
RESETS = ("soft", "hard")
WEIGHT_UPDATES = ("rne", "fp32_master", "sr")
READOUTS = ("spikes", "membrane")

MAX_NEURONS = 4096
MAX_T = 1024


def _is_pow2(x: float) -> bool:
    if not (isinstance(x, (int, float)) and math.isfinite(x) and x > 0):
        return False
    m, _ = math.frexp(x)
    return m == 0.5


def _exact_in(fmt: str, x: float) -> bool:
    from .numerics import to_format

    return float(to_format(np.asarray([x], np.float64), fmt)[0]) == float(x)


@dataclass(frozen=True)
class SNNConfig:
    """A fully connected LIF SNN and how it is trained (see docs/golden.md and docs/golden-contract.md).

    sizes: (N_0 inputs, N_1, ..., N_L classes). window: TBPTT/local window k (None = T).
    k_steps: SLTT-K step set K (an input, sorted). blocks: layers per block for `local` (None = one per layer).
    k_random: SLTT-K draws |K| = len(k_steps) steps per sample from the LFSR (docs/golden.md) instead of K.
    opzo_sigma, opzo_beta: OPZO noise amplitude (power of two) and momentum of its feedback matrices.
    """

    sizes: tuple[int, ...] = (64, 128, 128, 10)
    T: int = 8
    lam: float = 0.5
    theta: float = 1.0
    reset: str = "soft"
    detach_reset: bool = True
    surrogate: str = "rect"
    surrogate_width: float = 1.0
    rule: str = "bptt"
    window: int | None = None
    k_steps: tuple[int, ...] | None = None
    blocks: tuple[int, ...] | None = None
    loss: str = "mse_step"
    loss_scale: int = 256
    lr: float = 2.0**-5
    momentum: float = 0.0
    encoding: str = "direct"
    lfsr_seed: int = 0xACE1
    fmt: str = "fp16"
    weight_update: str = "rne"
    dense: bool = False
    k_random: bool = False
    opzo_sigma: float = 2.0**-1
    opzo_beta: float = 0.99609375  # 1 - 2^-8
    readout: str = "spikes"

    def __post_init__(self) -> None:
        sizes = tuple(self.sizes)
        object.__setattr__(self, "sizes", sizes)
        if len(sizes) < 2:
            raise ValueError(f"sizes must list at least 2 layer sizes (inputs, ..., classes), got {sizes!r}")
        for n in sizes:
            if not isinstance(n, (int, np.integer)) or not 1 <= n <= MAX_NEURONS:
                raise ValueError(f"sizes entries must be ints in 1..{MAX_NEURONS}, got {sizes!r}")
        if sizes[-1] < 2:
            raise ValueError(f"sizes[-1] (number of classes) must be in 2..{MAX_NEURONS}, got {sizes[-1]}")
        if not isinstance(self.T, (int, np.integer)) or not 1 <= self.T <= MAX_T:
            raise ValueError(f"T must be an int in 1..{MAX_T}, got {self.T!r}")
        if self.fmt not in FORMATS:
            raise ValueError(f"fmt must be one of {FORMATS}, got {self.fmt!r}")
        if self.fmt == "bf16":
            from .numerics import bf16_available

            if not bf16_available():
                raise ValueError("fmt 'bf16' needs spikemesh.sim.fp (not present); allowed now: fp16, fp32")
        if not (isinstance(self.lam, (int, float)) and 0.0 <= self.lam <= 1.0 and _exact_in(self.fmt, self.lam)):
            raise ValueError(f"lam must be in [0, 1] and exact in {self.fmt}, got {self.lam!r}")
        if not (isinstance(self.theta, (int, float)) and 0.0 < self.theta <= 64.0 and _exact_in(self.fmt, self.theta)):
            raise ValueError(f"theta must be in (0, 64] and exact in {self.fmt}, got {self.theta!r}")
        if self.reset not in RESETS:
            raise ValueError(f"reset must be one of {RESETS}, got {self.reset!r}")
        if self.surrogate not in SURROGATES:
            raise ValueError(f"surrogate must be one of {SURROGATES}, got {self.surrogate!r}")
        w = self.surrogate_width
        if not _is_pow2(w) or not 2.0**-4 <= w <= 2.0**4:
            raise ValueError(f"surrogate_width must be a power of two in 2^-4..2^4, got {w!r}")
        if self.rule not in RULES:
            raise ValueError(f"rule must be one of {RULES}, got {self.rule!r}")
        if self.window is not None:
            if self.rule not in ("tbptt", "local"):
                raise ValueError(f"window is only used by rules tbptt and local, not {self.rule!r}")
            if not isinstance(self.window, (int, np.integer)) or not 1 <= self.window <= self.T:
                raise ValueError(f"window must be an int in 1..T={self.T}, got {self.window!r}")
        if self.rule == "sltt_k":
            ks = self.k_steps
            if ks is None or len(ks) == 0:
                raise ValueError(f"k_steps (the SLTT-K step set) must be a non-empty sorted tuple of steps in 0..{self.T - 1}")
            ks = tuple(int(k) for k in ks)
            if any(not 0 <= k < self.T for k in ks) or list(ks) != sorted(set(ks)):
                raise ValueError(f"k_steps must be sorted, unique steps in 0..{self.T - 1}, got {self.k_steps!r}")
            object.__setattr__(self, "k_steps", ks)
        elif self.k_steps is not None:
            raise ValueError(f"k_steps is only used by rule sltt_k, not {self.rule!r}")
        if self.k_random not in (False, True):
            raise ValueError(f"k_random must be True or False, got {self.k_random!r}")
        if self.k_random and self.rule != "sltt_k":
            raise ValueError(f"k_random is only used by rule sltt_k, not {self.rule!r}")
        if self.rule == "opzo":
            if self.n_layers < 2:
                raise ValueError("rule opzo needs at least one hidden layer (sizes with >= 3 entries)")
            if not _is_pow2(self.opzo_sigma) or not 2.0**-8 <= self.opzo_sigma <= 1.0:
                raise ValueError(f"opzo_sigma must be a power of two in 2^-8..1, got {self.opzo_sigma!r}")
            if not (isinstance(self.opzo_beta, (int, float)) and 0.0 <= self.opzo_beta < 1.0
                    and _exact_in(self.fmt, self.opzo_beta)):
                raise ValueError(f"opzo_beta must be in [0, 1) and exact in {self.fmt}, got {self.opzo_beta!r}")
        n_layers = len(sizes) - 1
        if self.rule == "local":
            blocks = self.blocks if self.blocks is not None else (1,) * n_layers
            blocks = tuple(int(b) for b in blocks)
            if any(b < 1 for b in blocks) or sum(blocks) != n_layers or len(blocks) < 1:
                raise ValueError(f"blocks must be positive layer counts summing to {n_layers} (the number of layers), got {self.blocks!r}")
            object.__setattr__(self, "blocks", blocks)
        elif self.blocks is not None:
            raise ValueError(f"blocks is only used by rule local, not {self.rule!r}")
        if self.loss not in LOSSES:
            raise ValueError(f"loss must be one of {LOSSES}, got {self.loss!r}")
        S = self.loss_scale
        if not isinstance(S, (int, np.integer)) or not _is_pow2(S) or not 1 <= S <= 2**14:
            raise ValueError(f"loss_scale must be a power of two in 1..2^14, got {S!r}")
        if not _is_pow2(self.lr) or not 2.0**-16 <= self.lr <= 1.0:
            raise ValueError(f"lr must be a power of two in 2^-16..1, got {self.lr!r}")
        if not 2.0**-24 <= self.eta:
            raise ValueError(f"eta = lr/loss_scale must be >= 2^-24 (smallest fp16 subnormal), got {self.eta!r}")
        if not (isinstance(self.momentum, (int, float)) and 0.0 <= self.momentum < 1.0 and _exact_in(self.fmt, self.momentum)):
            raise ValueError(f"momentum must be in [0, 1) and exact in {self.fmt}, got {self.momentum!r}")
        if self.encoding not in ENCODINGS:
            raise ValueError(f"encoding must be one of {ENCODINGS}, got {self.encoding!r}")
        if not isinstance(self.lfsr_seed, (int, np.integer)) or not 1 <= self.lfsr_seed <= 0xFFFF:
            raise ValueError(f"lfsr_seed must be an int in 1..65535 (an LFSR state is never 0), got {self.lfsr_seed!r}")
        if self.weight_update not in WEIGHT_UPDATES:
            raise ValueError(f"weight_update must be one of {WEIGHT_UPDATES}, got {self.weight_update!r}")
        if self.readout not in READOUTS:
            raise ValueError(f"readout must be one of {READOUTS}, got {self.readout!r}")
        if self.readout == "membrane" and self.rule == "opzo":
            raise ValueError("readout 'membrane' is not defined for rule opzo (its feedback learns from output spikes)")
        if self.weight_update == "sr" and self.fmt != "fp16":
            raise ValueError(f"weight_update 'sr' (stochastic rounding) is defined for fmt fp16 only, got {self.fmt!r}")

    # ---- derived quantities -------------------------------------------------------------------------------
    @property
    def n_layers(self) -> int:
        return len(self.sizes) - 1

    @property
    def eta(self) -> float:
        return self.lr / self.loss_scale

    @property
    def k(self) -> int:
        """TBPTT / local window length."""
        return self.window if self.window is not None else self.T

    @property
    def block_last_layers(self) -> tuple[int, ...]:
        """1-based index of the last layer of each NON-final block (local rule): each has a head."""
        if self.rule != "local":
            return ()
        ends, acc = [], 0
        for b in self.blocks[:-1]:
            acc += b
            ends.append(acc)
        return tuple(ends)

    @property
    def n_lif(self) -> int:
        """LIF layers that run forward: main layers and heads (opzo's feedback matrices come after them)."""
        return self.n_layers + len(self.block_last_layers)

    def weight_shapes(self) -> list[tuple[int, int]]:
        """Main layers W_1..W_L, then one head (N_L x N_e) per non-final block (local rule); for opzo the
        momentum feedback matrices B_1..B_{L-1} (N_L x N_l) follow the main layers."""
        s = self.sizes
        shapes = [(s[l], s[l - 1]) for l in range(1, len(s))]
        shapes += [(s[-1], s[e]) for e in self.block_last_layers]
        if self.rule == "opzo":
            shapes += [(s[-1], s[l]) for l in range(1, len(s) - 1)]
        return shapes

    def replace(self, **changes) -> "SNNConfig":
        from dataclasses import replace

        return replace(self, **changes)
