"""Integer -> FP conversion (unsigned or two's-complement signed), through the shared rounder."""
from __future__ import annotations

from amaranth.hdl import Const, Module, Mux, signed
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from ..formats import FLAG_WIDTH, FP16, FPFormat
from .common import Stages, check_depth, check_format, normalize, round_pack

FROM_INT_CUTS: dict[int, frozenset[str]] = {
    0: frozenset(),
    1: frozenset({"norm"}),
    2: frozenset({"abs", "norm"}),
    3: frozenset({"abs", "norm", "out"}),
}
MAX_INT_WIDTH = 64


class FPFromIntPipe(wiring.Component):
    """x (int_width bits, signed or unsigned) -> nearest FP value (RNE); overflow gives inf + OF|NX."""

    MAX_DEPTH = 3

    def __init__(self, fmt: FPFormat = FP16, int_width: int = 16, signed: bool = True, depth: int = 1) -> None:
        self.fmt = check_format(fmt)
        lo = 2 if signed else 1
        if not isinstance(int_width, int) or isinstance(int_width, bool) or not lo <= int_width <= MAX_INT_WIDTH:
            raise ValueError(f"int_width must be an int in {lo}..{MAX_INT_WIDTH} (signed={signed}), got {int_width!r}")
        if not isinstance(signed, bool):
            raise ValueError(f"signed must be a bool (True or False), got {signed!r}")
        self.int_width, self.signed = int_width, signed
        self.depth = check_depth(depth, self.MAX_DEPTH, "FPFromIntPipe")
        super().__init__({"x": In(int_width), "i_valid": In(1), "en": In(1, init=1),
                          "result": Out(fmt.width), "flags": Out(FLAG_WIDTH), "o_valid": Out(1)})

    @property
    def latency(self) -> int:
        return self.depth

    @property
    def module_name(self) -> str:
        kind = "i" if self.signed else "u"
        return f"fp_from_{kind}{self.int_width}_{self.fmt.tag}_d{self.depth}"

    def elaborate(self, platform):
        m = Module()
        fmt, n = self.fmt, self.int_width
        st = Stages(m, FROM_INT_CUTS[self.depth], self.en)
        if self.signed:
            neg = self.x[n - 1]
            mag = Mux(neg, -self.x.as_signed(), self.x)[:n]  # |-2^(n-1)| = 2^(n-1) still fits n unsigned bits
        else:
            neg, mag = Const(0, 1), self.x
        x = st.cut("abs", dict(valid=self.i_valid, neg=neg, mag=mag))
        # The integer's MSB weighs 2^(n-1): biased exponent bias + n - 1 (may exceed the format: overflow).
        e = Const(fmt.bias + n - 1, signed((fmt.bias + n).bit_length() + 1))
        nrm = normalize(m, fmt, x.neg, e, x.mag, right=False)
        x = st.cut("norm", dict(nrm, valid=x.valid))
        result, flags = round_pack(m, fmt, x, zero_sign=Const(0, 1))
        x = st.cut("out", dict(valid=x.valid, result=result, flags=flags))
        m.d.comb += [self.result.eq(x.result), self.flags.eq(x.flags), self.o_valid.eq(x.valid)]
        return m
