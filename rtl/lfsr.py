"""The project's 16-bit LFSR, specified once for the golden model, the host and the gateware.

Galois LFSR shifting right, feedback polynomial x^16 + x^14 + x^13 + x^11 + 1 (toggle mask TAPS), maximal
length 65535, the state is never 0:  lsb = s & 1;  s >>= 1;  if lsb: s ^= TAPS.  What each stream draws from
it (rate encoding, SLTT-K's random steps, OPZO's noise, stochastic rounding) is in spikemesh.sim.golden.lfsr.
"""
from __future__ import annotations

TAPS = 0xB400
PERIOD = 65535
WORD_STEPS = 16  # a "word" draw: advance 16 steps, take the whole 16-bit state


def lfsr_step(state: int) -> int:
    """One step of the LFSR on an int state."""
    return (state >> 1) ^ (TAPS if state & 1 else 0)


def lfsr_advance(state, steps: int):
    """The state `steps` LFSR steps after `state` (an Amaranth value). The LFSR is linear over GF(2), so each
    output bit is the XOR of a fixed set of input bits (the columns are the steps applied to each unit state):
    a one-level XOR network whatever `steps` is."""
    from amaranth import Cat

    cols = []
    for k in range(16):
        v = 1 << k
        for _ in range(steps):
            v = lfsr_step(v)
        cols.append(v)
    bits = []
    for i in range(16):
        terms = [state[k] for k in range(16) if cols[k] >> i & 1]
        x = terms[0]
        for t in terms[1:]:
            x = x ^ t
        bits.append(x)
    return Cat(*bits)
