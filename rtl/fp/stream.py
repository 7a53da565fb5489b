"""Stream (valid/ready) wrappers around the `*Pipe` cores. The whole pipe advances when its output slot is
free or being taken (`en = i.ready = ~o.valid | o.ready`): valid never depends on ready, payloads hold."""
from __future__ import annotations



from amaranth.hdl import Module
from amaranth.lib import data, enum, stream, wiring
from amaranth.lib.wiring import In, Out

from ..formats import FLAG_WIDTH, FP16, FPFormat
from .add import FPAddPipe
from .compare import FPComparePipe
from .fma import FPFMAPipe
from .from_int import FPFromIntPipe
from .mul import FPMulPipe


class AddOp(enum.Enum, shape=1):
    ADD = 0
    SUB = 1


class CmpOp(enum.Enum, shape=3):
    LT = 0
    LE = 1
    EQ = 2
    MIN = 3
    MAX = 4


def result_layout(fmt: FPFormat) -> data.StructLayout:
    return data.StructLayout({"result": fmt.width, "flags": FLAG_WIDTH})


class _StreamUnit(wiring.Component):
    """Common valid/ready plumbing; subclasses map the payload fields onto the pipe's ports."""

    def __init__(self, pipe: wiring.Component, in_layout: data.StructLayout, kind: str) -> None:
        self.pipe = pipe
        self.fmt = pipe.fmt
        self.depth = pipe.depth
        self._kind = kind
        super().__init__({"i": In(stream.Signature(in_layout)),
                          "o": Out(stream.Signature(result_layout(pipe.fmt)))})

    @property
    def latency(self) -> int:
        return self.pipe.latency

    @property
    def module_name(self) -> str:
        return self.pipe.module_name.replace("fp_", f"fp_stream_", 1)

    def _drive(self, m: Module, pipe) -> None:
        raise NotImplementedError

    def elaborate(self, platform):
        m = Module()
        m.submodules.pipe = pipe = self.pipe
        en = ~pipe.o_valid | self.o.ready
        m.d.comb += [pipe.en.eq(en), self.i.ready.eq(en), pipe.i_valid.eq(self.i.valid),
                     self.o.valid.eq(pipe.o_valid)]
        self._drive(m, pipe)
        return m


class FPAdd(_StreamUnit):
    """Stream adder: i.payload = {a, b, op: AddOp}, o.payload = {result, flags}."""

    def __init__(self, fmt: FPFormat = FP16, depth: int = 2) -> None:
        w = fmt.width
        super().__init__(FPAddPipe(fmt, depth), data.StructLayout({"a": w, "b": w, "op": AddOp}), "add")

    def _drive(self, m, pipe):
        p = self.i.payload
        m.d.comb += [pipe.a.eq(p.a), pipe.b.eq(p.b), pipe.sub.eq(p.op == AddOp.SUB),
                     self.o.payload.result.eq(pipe.result), self.o.payload.flags.eq(pipe.flags)]


class FPMul(_StreamUnit):
    """Stream multiplier: i.payload = {a, b}, o.payload = {result, flags}."""

    def __init__(self, fmt: FPFormat = FP16, depth: int = 2, *, dsp: str = "auto") -> None:
        w = fmt.width
        super().__init__(FPMulPipe(fmt, depth, dsp=dsp), data.StructLayout({"a": w, "b": w}), "mul")

    def _drive(self, m, pipe):
        p = self.i.payload
        m.d.comb += [pipe.a.eq(p.a), pipe.b.eq(p.b),
                     self.o.payload.result.eq(pipe.result), self.o.payload.flags.eq(pipe.flags)]


class FPFMA(_StreamUnit):
    """Stream fused multiply-add: i.payload = {a, b, c} -> a*b + c, o.payload = {result, flags}."""

    def __init__(self, fmt: FPFormat = FP16, depth: int = 3, *, dsp: str = "auto") -> None:
        w = fmt.width
        super().__init__(FPFMAPipe(fmt, depth, dsp=dsp), data.StructLayout({"a": w, "b": w, "c": w}), "fma")

    def _drive(self, m, pipe):
        p = self.i.payload
        m.d.comb += [pipe.a.eq(p.a), pipe.b.eq(p.b), pipe.c.eq(p.c),
                     self.o.payload.result.eq(pipe.result), self.o.payload.flags.eq(pipe.flags)]


class FPCompare(_StreamUnit):
    """Stream compare: i.payload = {a, b, op: CmpOp}; o.payload.result = 0/1 for LT/LE/EQ, the value for
    MIN/MAX; flags follow the op (LT/LE signaling, EQ/MIN/MAX quiet). The op travels beside the pipe."""

    def __init__(self, fmt: FPFormat = FP16, depth: int = 1) -> None:
        w = fmt.width
        super().__init__(FPComparePipe(fmt, depth), data.StructLayout({"a": w, "b": w, "op": CmpOp}), "cmp")

    def _drive(self, m, pipe):
        p = self.i.payload
        m.d.comb += [pipe.a.eq(p.a), pipe.b.eq(p.b)]
        op = p.op
        # Delay the op by the pipe's latency with the same enable, so it meets its own result.
        for k in range(pipe.latency):
            nxt = data.Signal(CmpOp, name=f"op_d{k + 1}")
            with m.If(pipe.en):
                m.d.sync += nxt.eq(op)
            op = nxt
        out = self.o.payload
        with m.Switch(op):
            with m.Case(CmpOp.LT):
                m.d.comb += [out.result.eq(pipe.lt), out.flags.eq(pipe.flags)]
            with m.Case(CmpOp.LE):
                m.d.comb += [out.result.eq(pipe.le), out.flags.eq(pipe.flags)]
            with m.Case(CmpOp.EQ):
                m.d.comb += [out.result.eq(pipe.eq), out.flags.eq(pipe.quiet_flags)]
            with m.Case(CmpOp.MIN):
                m.d.comb += [out.result.eq(pipe.min), out.flags.eq(pipe.quiet_flags)]
            with m.Default():
                m.d.comb += [out.result.eq(pipe.max), out.flags.eq(pipe.quiet_flags)]


class FPFromInt(_StreamUnit):
    """Stream integer -> FP: i.payload = {x}, o.payload = {result, flags}."""

    def __init__(self, fmt: FPFormat = FP16, int_width: int = 16, signed: bool = True, depth: int = 1) -> None:
        super().__init__(FPFromIntPipe(fmt, int_width, signed, depth), data.StructLayout({"x": int_width}), "from_int")

    def _drive(self, m, pipe):
        m.d.comb += [pipe.x.eq(self.i.payload.x),
                     self.o.payload.result.eq(pipe.result), self.o.payload.flags.eq(pipe.flags)]
