"""The core's instruction set: one 16-bit word per phase of one layer at one time step.

Word layout (LSB first): op[3:0] | layer[6:4] (1..L) | t[12:7] (0..63) | flags[15:13] (reserved, 0).
The program compiler (`spikemesh.firmware.program`) and the sequencer both use these definitions.
"""
from __future__ import annotations

import enum


class Op(enum.IntEnum):
    END = 0  # stop, raise done
    CLRV = 1  # v := +0.0 for every neuron (start of a sample)
    FWD = 2  # I_l := sum over input events at step t of W_l columns (ascending index)
    NEUR = 3  # leak, fire, reset layer l; emit spike events (l, t) and the psi != 0 list
    DELTA = 4  # delta_l := fl(psi * gs) over the psi != 0 list; keep the delta != 0 list
    GS = 5  # gs_{l-1} := sum over delta != 0 (ascending k) of fl(W_l[k, :] * delta_k)
    WG = 6  # G_l[k, j] += delta_k (* x_j) for input events j at step t, delta_k != 0
    UPD = 7  # W_l := fl(W_l - fl(G_l * eta)); G_l := +0.0
    LOSS = 8  # gs_L := fl(fl(s_L[t] - y) * c) from the output spike list of step t (BPTT backward)
    DCLR = 9  # dp_l := +0.0 (no later step: end of sequence or TBPTT window)
    DECAY = 10  # dp_l := fl(lam * dp_l)  (the temporal term fl(lam * delta[t+1]))
    DELTAT = 11  # delta_l[t] := fl(fl(psi * gs) + dp) over every neuron; dp_l := delta; keep delta != 0
    TRACE = 12  # OTTT trace of layer l's input: a := fl(lam * a), then a[j] := fl(a[j] + src_j) per input event
    WGA = 13  # OTTT: G_l[k, j] += fl(delta_k * a_j) for a_j != 0 (ascending j), delta_k != 0


OP_BITS, LAYER_BITS, T_BITS = 4, 3, 6


def encode(op: Op, layer: int = 0, t: int = 0) -> int:
    if not 0 <= layer < (1 << LAYER_BITS):
        raise ValueError(f"layer must be in 0..{(1 << LAYER_BITS) - 1}, got {layer}")
    if not 0 <= t < (1 << T_BITS):
        raise ValueError(f"t must be in 0..{(1 << T_BITS) - 1}, got {t}")
    return int(op) | (layer << OP_BITS) | (t << (OP_BITS + LAYER_BITS))


def decode(word: int) -> tuple[Op, int, int]:
    return (Op(word & 0xF), (word >> OP_BITS) & 0x7, (word >> (OP_BITS + LAYER_BITS)) & 0x3F)
