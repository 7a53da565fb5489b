"""IEEE-754 binary formats as (exponent bits, mantissa bits), shared by the RTL generator, the golden model, the
host and the reports (gateware, `spikemesh.sim`, `spikemesh.firmware` and `spikemesh.gen` all import it here).

Exception flags use the RISC-V `fflags` bit layout, so hardware and model agree on one encoding: `Flags` is the
gateware word, `Flag` the host/golden-model bit set, both of that one layout.
"""
# (no `from __future__ import annotations`: the Structs' field shapes are their annotations, evaluated)
import enum
from dataclasses import dataclass

from amaranth.lib import data


class Flags(data.Struct):
    """The exception-flags word of every FP unit (RISC-V fflags layout, LSB first)."""

    nx: 1  # inexact
    uf: 1  # underflow (tiny after rounding AND inexact)
    of: 1  # overflow
    dz: 1  # divide by zero (never raised: there is no divider)
    nv: 1  # invalid


class Flag(enum.IntFlag):
    """Exception flags as a host-side bit set, one bit per field of `Flags`. DZ is never raised."""

    NX = 1 << Flags.as_shape()["nx"].offset
    UF = 1 << Flags.as_shape()["uf"].offset
    OF = 1 << Flags.as_shape()["of"].offset
    DZ = 1 << Flags.as_shape()["dz"].offset
    NV = 1 << Flags.as_shape()["nv"].offset


#: width of the flags word (ports `flags: Out(FLAG_WIDTH)`)
FLAG_WIDTH = Flags.as_shape().size


@dataclass(frozen=True)
class FPFormat:
    """A binary interchange-style format: 1 sign bit, `exp_bits` exponent bits, `man_bits` stored fraction bits."""

    exp_bits: int
    man_bits: int
    name: str = ""

    def __post_init__(self) -> None:
        if not isinstance(self.exp_bits, int) or not 2 <= self.exp_bits <= 11:
            raise ValueError(f"exp_bits must be an int in 2..11, got {self.exp_bits!r}")
        if not isinstance(self.man_bits, int) or not 1 <= self.man_bits <= 52:
            raise ValueError(f"man_bits must be an int in 1..52, got {self.man_bits!r}")
        if self.width > 64:
            raise ValueError(f"1 + exp_bits + man_bits must be <= 64, got {self.width}")
        if not self.name:
            object.__setattr__(self, "name", f"e{self.exp_bits}m{self.man_bits}")

    @property
    def width(self) -> int:
        return 1 + self.exp_bits + self.man_bits

    @property
    def bias(self) -> int:
        return (1 << (self.exp_bits - 1)) - 1

    @property
    def exp_max(self) -> int:
        """The all-ones biased exponent (inf/NaN)."""
        return (1 << self.exp_bits) - 1

    @property
    def precision(self) -> int:
        """Significand bits including the hidden one."""
        return self.man_bits + 1

    @property
    def canonical_nan(self) -> int:
        """The one NaN every unit returns: sign 0, exponent all ones, fraction MSB set (RISC-V style)."""
        return (self.exp_max << self.man_bits) | (1 << (self.man_bits - 1))

    @property
    def inf(self) -> int:
        """+infinity: exponent all ones, fraction 0 (the largest magnitude that is not NaN)."""
        return self.exp_max << self.man_bits

    @property
    def one(self) -> int:
        """+1.0: the bias as exponent, fraction 0 (FP16 0x3C00, BF16 0x3F80)."""
        return self.bias << self.man_bits

    @property
    def layout(self) -> data.StructLayout:
        """The word as an amaranth layout, LSB first: mantissa (stored fraction), exponent, sign."""
        return data.StructLayout({"mantissa": self.man_bits, "exponent": self.exp_bits, "sign": 1})

    @property
    def sign_bit(self) -> int:
        return 1 << (self.width - 1)

    @property
    def tag(self) -> str:
        """Parameter tag for module names, e.g. `e5m10`."""
        return f"e{self.exp_bits}m{self.man_bits}"


FP16 = FPFormat(5, 10, "fp16")
BF16 = FPFormat(8, 7, "bf16")
FP32 = FPFormat(8, 23, "fp32")
FORMATS = {f.name: f for f in (FP16, BF16, FP32)}


def format_by_name(name: str) -> FPFormat:
    try:
        return FORMATS[name]
    except KeyError:
        raise ValueError(f"format must be one of {sorted(FORMATS)}, got {name!r}") from None
