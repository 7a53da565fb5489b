"""spikemesh.sim.golden: the bit-exact FP16 SNN training golden model (docs/golden.md, docs/golden-contract.md)."""
from .config import RULES, SURROGATES, LOSSES, ENCODINGS, FORMATS, SNNConfig
from .core import ForwardResult, SampleResult, forward, predict, sample_gradients, train_sample
from .data import load_digits_split
from .encoding import encode
from .lfsr import lfsr_sequence, lfsr_step, rate_spikes, sample_seed
from .numerics import bits, canon
from .surrogates import surrogate, surrogate_table
from .trace import Trace, TraceEvent
from .training import EpochStats, evaluate, init_weights, train_epoch
from .work import PhaseCounts, StateBytes, WorkCounts, state_bytes

__all__ = [
    "RULES", "SURROGATES", "LOSSES", "ENCODINGS", "FORMATS", "SNNConfig", "ForwardResult", "SampleResult",
    "forward", "predict", "sample_gradients", "train_sample", "load_digits_split", "encode", "lfsr_sequence", "lfsr_step",
    "rate_spikes", "sample_seed", "bits", "canon", "surrogate", "surrogate_table", "Trace", "TraceEvent",
    "EpochStats", "evaluate", "init_weights", "train_epoch", "PhaseCounts", "StateBytes", "WorkCounts",
    "state_bytes",
]
