"""Wrap a component for an out-of-context FPGA build with two data pins.

Every input bit of the wrapped component comes from one long shift register fed by pin `din`; every output
bit goes into a registered XOR reduction to pin `dout`. So no logic is optimised away and the design fits
any package; the harness itself costs about one flip-flop per input bit plus the XOR tree (reported apart
by building the harness around nothing is not possible, so docs/mesh.md states the input bit count).
"""

from amaranth import Cat, Module, Signal
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out


def _leaves(iface, flip=False):
    """(signal, is_input) for every port signal of `iface` (a component or one of its interfaces)."""
    for path, member, value in iface.signature.flatten(iface):
        yield value, (member.flow == In) != flip


class SynthHarness(wiring.Component):
    din: In(1)
    dout: Out(1)

    def __init__(self, inner: wiring.Component):
        self.inner = inner
        super().__init__()

    def input_bits(self) -> int:
        return sum(len(v.as_value()) if hasattr(v, "as_value") else len(v)
                   for v, is_in in _leaves(self.inner) if is_in)

    def elaborate(self, platform):
        m = Module()
        m.submodules.inner = self.inner
        ins, outs = [], []
        for v, is_in in _leaves(self.inner):
            v = v.as_value() if hasattr(v, "as_value") else v
            (ins if is_in else outs).append(v)
        n_in = sum(len(v) for v in ins)
        shift = Signal(max(n_in, 1))
        m.d.sync += shift.eq(Cat(self.din, shift[:-1]))
        pos = 0
        for v in ins:
            m.d.comb += v.eq(shift[pos:pos + len(v)])
            pos += len(v)
        # registered XOR tree, 8 inputs per level, so the output path is not one long chain
        level = [b for v in outs for b in v]
        while len(level) > 1:
            nxt = []
            for i in range(0, len(level), 8):
                r = Signal()
                m.d.sync += r.eq(Cat(level[i:i + 8]).xor())
                nxt.append(r)
            level = nxt
        m.d.comb += self.dout.eq(level[0] if level else 0)
        return m
