"""CoreConfig: the generation-time parameters of one training core, validated once."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..formats import BF16, FP16, FPFormat

#: rules whose programs the core can run (the sequencer ops they need are compiled in)
IMPLEMENTED_RULES = ("sltt", "sltt_k", "bptt", "tbptt", "ottt_a", "ottt_o", "local", "opzo")
#: rules a core runs by default; `local` needs a core generated with its blocks' heads (CoreConfig.heads),
#: `opzo` one generated with its feedback matrices (CoreConfig.opzo)
DEFAULT_RULES = ("sltt", "sltt_k", "bptt", "tbptt", "ottt_a", "ottt_o")
#: rules whose layer-1 gradient the input-gradient table (CoreConfig.wg_table) can hold, and its largest t_max
WG_TABLE_RULES = ("sltt", "sltt_k", "bptt", "tbptt")
WG_TABLE_MAX_T = 8
SURROGATES = ("rect", "tri", "sigmoid", "atan")
TABLE_SURROGATES = ("sigmoid", "atan")  # need the surrogate table memory (sg_table_depth > 0)
SG_TABLE_DEPTHS = (0,) + tuple(1 << k for k in range(10, 16))  # 0: no table; else 1024..32768 entries
MAX_LAYERS = 7  # 3-bit layer field in an instruction
MAX_T = 64  # 6-bit step field in an instruction
MAX_NEURONS = 1024
LANES = (1, 2, 4, 8, 16)  # MAC lanes: power of two, so element address -> (word, lane) is a shift and a mask


#: number formats of the core's datapath (the word layout is the same: 16 bits, sign on top)
CORE_FORMATS = (FP16, BF16)


@dataclass(frozen=True)
class CoreConfig:
    """One core training a fully connected LIF network `layers` = (N_0, N_1, ..., N_L).

    Layer sizes are fixed at generation (they size the memories); the program chooses rule, T and steps.
    `heads` (local learning, rule `local`): the main layers (1..L-1, ascending) that end a block and feed an
    auxiliary head, a LIF layer of N_L neurons with its own loss. The core holds the heads as layers
    L+1, L+2, ... after the main layers (`n_layers` counts them; `out_layer` is the main output L).
    """

    layers: tuple[int, ...]
    t_max: int = 8
    rules: tuple[str, ...] = DEFAULT_RULES
    surrogates: tuple[str, ...] = ("rect", "tri")
    direct_input: bool = True  # first layer may take FP16 inputs (mul then add)
    add_depth: int = 4  # pipeline registers requested from spikemesh.rtl.fp.FPAddPipe (4: the fast FPGA build)
    # 5: the normaliser's shift amount gets its own stage (depth 4's normalisation was the 64-32-10 P = 1 core's
    # critical path); one cycle more of SAFE spacing and neuron pipeline
    mul_depth: int = 5
    prog_depth: int = 256
    fmt: FPFormat = FP16  # FP16 or BF16: both 16 bits wide, so memories, buses and lists are the same
    lanes: int = 1  # P parallel MAC lanes: W, G and acc are P FP16 words wide (docs/core.md, "Lanes")
    # a separate forward engine runs FWD while the sequencer runs BP/WG ops (docs/core.md, "Engine overlap")
    overlap: bool = False
    # entries of the table-surrogate window (firmware/surrogate_table.py; docs/core.md, "Table surrogates");
    # 0 = no table memory. sigmoid needs 16384, atan 32768 for an exact golden table.
    sg_table_depth: int = 0
    heads: tuple[int, ...] = ()
    # the membrane readout (MODE membrane): a non-spiking output layer whose loss is taken on h (one more multiplier)
    membrane_readout: bool = False
    # SLTT-K drawing its step set per sample on chip (ops KGATE / KEND, registers k_seed / k_count)
    k_random: bool = False
    # OPZO (rule opzo): the feedback matrices B_1..B_{L-1} (memory `b`), the noise LFSR (register region `osr`)
    # and the op variants that use them (isa.FLAG_OPZO)
    opzo: bool = False
    # UPD rounds W - fl(G*eta) stochastically (rtl/fp/sr_add.py) with words from an LFSR seeded per sample
    # (register region `ssr`); fp16 only, as the golden weight_update="sr"
    stochastic_rounding: bool = False
    # layer 1's weight gradient kept as a table over step sets instead of the N_1 x N_0 matrix G_1 (binary input
    # events only): H[X] = the sum of delta_1[t] over t in X in WG order, and G_1[:, j] = H[S_j], S_j the steps
    # whose WG saw input j fire. 2^t_max x N_1 words instead of N_0 x N_1: what lets a 784-input core fit
    # (docs/core.md, "Input-gradient table")
    wg_table: bool = False

    def __post_init__(self) -> None:
        object.__setattr__(self, "layers", tuple(self.layers))
        object.__setattr__(self, "heads", tuple(self.heads))
        object.__setattr__(self, "rules", tuple(self.rules))
        object.__setattr__(self, "surrogates", tuple(self.surrogates))
        if not 2 <= len(self.layers) <= MAX_LAYERS + 1:
            raise ValueError(f"layers must list 2..{MAX_LAYERS + 1} sizes (N_0..N_L), got {len(self.layers)}")
        for i, n in enumerate(self.layers):
            if not isinstance(n, int) or not 1 <= n <= MAX_NEURONS:
                raise ValueError(f"layers[{i}] must be an int in 1..{MAX_NEURONS}, got {n!r}")
        if not isinstance(self.t_max, int) or not 1 <= self.t_max <= MAX_T:
            raise ValueError(f"t_max must be an int in 1..{MAX_T}, got {self.t_max!r}")
        for r in self.rules:
            if r not in IMPLEMENTED_RULES:
                raise ValueError(f"rules: {r!r} is not implemented in the core; allowed: {IMPLEMENTED_RULES}")
        if not self.rules:
            raise ValueError(f"rules must name at least one of {IMPLEMENTED_RULES}")
        for s in self.surrogates:
            if s not in SURROGATES:
                raise ValueError(f"surrogates: {s!r} not supported; allowed: {SURROGATES}")
        if self.sg_table_depth not in SG_TABLE_DEPTHS or not isinstance(self.sg_table_depth, int):
            raise ValueError(f"sg_table_depth must be 0 (no table) or a power of two in 1024..32768, "
                             f"got {self.sg_table_depth!r}")
        for s in self.surrogates:
            if s in TABLE_SURROGATES and self.sg_table_depth == 0:
                raise ValueError(f"surrogates: {s!r} needs the surrogate table (sg_table_depth > 0, a power of "
                                 f"two in 1024..32768)")
        if "rect" not in self.surrogates:
            raise ValueError("surrogates must include 'rect' (the default surrogate)")
        from ..fp import FPAddPipe, FPMulPipe

        for name, unit in (("add_depth", FPAddPipe), ("mul_depth", FPMulPipe)):
            v = getattr(self, name)
            if not isinstance(v, int) or not 0 <= v <= unit.MAX_DEPTH:  # the spikemesh.rtl.fp pipe's depths
                raise ValueError(f"{name} must be an int in 0..{unit.MAX_DEPTH}, got {v!r}")
        if not isinstance(self.prog_depth, int) or not 16 <= self.prog_depth <= 4096:
            raise ValueError(f"prog_depth must be an int in 16..4096, got {self.prog_depth!r}")
        if not isinstance(self.lanes, int) or self.lanes not in LANES:
            raise ValueError(f"lanes must be one of {LANES}, got {self.lanes!r}")
        if not isinstance(self.overlap, bool):
            raise ValueError(f"overlap must be a bool (True: separate forward engine), got {self.overlap!r}")
        L = len(self.layers) - 1
        if list(self.heads) != sorted(set(self.heads)) or not all(isinstance(h, int) and 1 <= h < L
                                                                  for h in self.heads):
            raise ValueError(f"heads must be ascending unique main layers in 1..{L - 1} (the last layer of each "
                             f"non-final block), got {self.heads!r}")
        if L + len(self.heads) > MAX_LAYERS:
            raise ValueError(f"layers and heads: {L} main layers + {len(self.heads)} heads exceed the "
                             f"{MAX_LAYERS} layers an instruction can name")
        if "local" in self.rules and not self.heads:
            raise ValueError("rules: 'local' needs heads (the main layers that end a block, e.g. heads=(1,))")
        if self.heads and self.rules != ("local",):
            raise ValueError(f"rules must be ('local',) for a core with heads (its program trains them), got {self.rules}")
        if not isinstance(self.membrane_readout, bool):
            raise ValueError(f"membrane_readout must be a bool, got {self.membrane_readout!r}")
        if not isinstance(self.k_random, bool):
            raise ValueError(f"k_random must be a bool, got {self.k_random!r}")
        if self.k_random and "sltt_k" not in self.rules:
            raise ValueError(f"k_random draws SLTT-K's steps: rules must include 'sltt_k', got {self.rules}")
        if not isinstance(self.opzo, bool):
            raise ValueError(f"opzo must be a bool, got {self.opzo!r}")
        if "opzo" in self.rules and not self.opzo:
            raise ValueError("rules: 'opzo' needs a core generated with its feedback matrices (opzo=True)")
        if self.opzo:
            if self.rules != ("opzo",):
                raise ValueError(f"rules must be ('opzo',) for a core with feedback matrices (opzo=True), "
                                 f"got {self.rules}")
            if L < 2:
                raise ValueError(f"opzo needs at least one hidden layer (layers with >= 3 sizes), got {self.layers}")
            if self.overlap:
                raise ValueError("opzo: overlap must be False (the forward engine does not inject the noise)")
        if not isinstance(self.stochastic_rounding, bool):
            raise ValueError(f"stochastic_rounding must be a bool, got {self.stochastic_rounding!r}")
        if self.stochastic_rounding and (self.opzo or self.heads):  # their update order is not verified with SR
            raise ValueError("stochastic_rounding must be False for a core with heads (local) or opzo=True")
        if self.fmt not in CORE_FORMATS:
            raise ValueError(f"fmt must be one of {[f.name for f in CORE_FORMATS]} (16-bit formats the core is "
                             f"verified for), got {self.fmt!r}")
        if self.fmt != FP16 and self.stochastic_rounding:
            raise ValueError(f"stochastic_rounding must be False with fmt {self.fmt.name}: it is defined for fp16 "
                             f"only (golden weight_update='sr')")
        if self.fmt != FP16 and self.sg_table_depth:
            raise ValueError(f"sg_table_depth must be 0 with fmt {self.fmt.name}: the surrogate table is FP16 only "
                             f"(rect and tri work in every format), got {self.sg_table_depth}")
        if not isinstance(self.wg_table, bool):
            raise ValueError(f"wg_table must be a bool, got {self.wg_table!r}")
        if self.wg_table:
            if self.direct_input:
                raise ValueError("direct_input must be False with wg_table: layer 1's gradient is a table over step "
                                 "sets only when its inputs are binary events (rate coding)")
            bad = [r for r in self.rules if r not in WG_TABLE_RULES]
            if bad:
                raise ValueError(f"rules: {bad} cannot use wg_table (their layer-1 gradient is not a sum of deltas "
                                 f"per input event); allowed with wg_table: {WG_TABLE_RULES}")
            if not 1 <= self.t_max <= WG_TABLE_MAX_T:
                raise ValueError(f"t_max must be in 1..{WG_TABLE_MAX_T} with wg_table (the table has 2^t_max rows), "
                                 f"got {self.t_max}")
            for name in ("overlap", "k_random", "stochastic_rounding"):
                if getattr(self, name):
                    raise ValueError(f"{name} must be False with wg_table (the combination is not verified)")
        self._check_fits()

    def _check_fits(self) -> None:
        """Refuse, before any hardware is built, a core whose memories need more block RAMs than the largest
        supported device has (`CoreLayout.bram_blocks`, the DP16KD yosys maps them to): emitting one takes time
        and memory in proportion to its memory bits (docs/core.md, "Generation time") for nothing."""
        from .layout import LARGEST_DEVICE, LARGEST_DEVICE_BRAMS, CoreLayout

        lay = CoreLayout(self)
        need = lay.bram_blocks()
        total = sum(need.values())
        if total <= LARGEST_DEVICE_BRAMS:
            return
        top = ", ".join(f"{k} {v}" for k, v in sorted(need.items(), key=lambda kv: -kv[1]) if v)
        sizing = "".join(f", {k}={getattr(self, k)!r}" for k, d in
                         (("lanes", 1), ("overlap", False), ("sg_table_depth", 0),
                                          ("wg_table", False)) if getattr(self, k) != d)
        raise ValueError(
            f"layers={self.layers} (t_max={self.t_max}{sizing}) do not fit any supported board: block RAMs "
            f"needed {total} DP16KD ({top}; W holds {lay.wdepth:,} FP16 words, G {lay.gdepth:,}), available "
            f"{LARGEST_DEVICE_BRAMS} on the largest device ({LARGEST_DEVICE}, 1024 x 18 bits each); use smaller "
            f"layers, a lower t_max, wg_table=True (rate-coded input: no N_0 x N_1 G_1), or split the network over several cores (model parallel, docs/mesh.md)")

    @property
    def n_layers(self) -> int:
        """LIF layers the core holds: the main layers 1..L, then one per head."""
        return len(self.layers) - 1 + len(self.heads)

    @property
    def out_layer(self) -> int:
        """The main network's output layer L (its spikes are the prediction)."""
        return len(self.layers) - 1

    @property
    def out_size(self) -> int:
        """N_L: neurons of the main output layer (rows of every OPZO feedback matrix)."""
        return self.layers[-1]

    @property
    def sizes(self) -> tuple[int, ...]:
        """Neurons of every layer 0..n_layers: the main layers, then the heads (N_L each)."""
        return self.layers + (self.layers[-1],) * len(self.heads)

    def src(self, l: int) -> int:
        """The layer whose spikes feed layer l: l - 1, or for a head the block's last main layer."""
        return l - 1 if l <= self.out_layer else self.heads[l - self.out_layer - 1]

    def n_in(self, l: int) -> int:
        """Inputs of layer l (columns of W_l)."""
        return self.sizes[self.src(l)]

    @property
    def value_dtype(self):
        """numpy dtype of the core's values on the host side (float16, or ml_dtypes' bfloat16)."""
        if self.fmt == BF16:
            import ml_dtypes

            return ml_dtypes.bfloat16
        return np.float16
