"""The training core: FP/BP/WG phases over event lists, driven by a per-sample program (docs/core.md)."""
from .config import IMPLEMENTED_RULES, CoreConfig
from .core import TrainingCore, config_id
from .isa import Op, decode, encode
from .layout import COUNTERS, CTRL_REGS, CoreLayout

__all__ = ["CoreConfig", "CoreLayout", "TrainingCore", "Op", "encode", "decode", "COUNTERS", "CTRL_REGS",
           "IMPLEMENTED_RULES", "config_id"]
