"""Floating-point RTL units for any `FPFormat` (FP16 default): add/sub, multiply, fused multiply-add,
compare/min/max and integer conversion. RNE, full subnormals, canonical NaN, RISC-V flags.

Two layers per unit: `*Pipe` (plain pipeline, `i_valid`/`o_valid`, clock enable `en`, `.latency == depth`)
for lock-step datapaths, and a stream wrapper (`i`/`o` valid/ready) for everything else.
"""
from .add import FPAddPipe
from .compare import FPComparePipe
from .fma import FPFMAPipe
from .from_int import FPFromIntPipe
from .mul import FPMulPipe
from .stream import AddOp, CmpOp, FPAdd, FPCompare, FPFMA, FPFromInt, FPMul

__all__ = ["FPAddPipe", "FPMulPipe", "FPFMAPipe", "FPComparePipe", "FPFromIntPipe",
           "FPAdd", "FPMul", "FPFMA", "FPCompare", "FPFromInt", "AddOp", "CmpOp"]
