"""Register chains and constant multiplies shared by the core's engines (MAC stream unit, forward engine)."""
from __future__ import annotations

from amaranth import Const, Module, Signal


def _delay(m: Module, sig, n: int, name: str):
    """`sig` delayed by n clock cycles (a register chain)."""
    cur = sig
    for k in range(n):
        reg = Signal(cur.shape(), name=f"{name}_d{k}")
        m.d.sync += reg.eq(cur)
        cur = reg
    return cur


def _delay_valid(m: Module, sig, n: int, name: str, busy: list):
    cur = sig
    for k in range(n):
        reg = Signal(name=f"{name}_d{k}")
        m.d.sync += reg.eq(cur)
        busy.append(reg)
        cur = reg
    return cur


def _times_const(x, c: int):
    """x * c as shifts and adds: yosys would map a `*` to a MULT18X18D with constant-0 inputs, a net
    nextpnr-ecp5 fails to route (`$PACKER_GND_NET`, docs/boards.md); the DSPs stay for the FP multipliers."""
    terms = [x << b for b in range(c.bit_length()) if (c >> b) & 1]
    out = Const(0, 1)
    for t in terms:
        out = out + t
    return out
