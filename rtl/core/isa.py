"""The core's instruction set: one 16-bit word per phase of one layer at one time step.

`Instruction` is the word (fields LSB first): op (4 bits) | layer (3 bits, 1..L) | t (6 bits, 0..63) |
flags (3 bits: op variants, `FLAG_*` below; 0 = the plain op).  The sequencer reads it through a view
(`Instruction(prog_rp.data)`); the program compiler (`spikemesh.firmware.program`) packs it with `encode` /
`decode`, which take every offset and width from the same layout (`spikemesh.rtl.words`).
"""
# (no `from __future__ import annotations`: the Struct's field shapes are its annotations, evaluated)
from amaranth.lib import data, enum

from ..words import field_width, pack, unpack


class Op(enum.Enum, shape=4):
    END = 0  # stop, raise done
    CLRV = 1  # start of a sample: v and the OTTT traces a are +0.0 (NEUR / TRACE at step 0 read them so)
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
    # SLTT-K with random steps (CoreConfig.k_random): `KGATE` with layer 1 draws whether step t joins this
    # sample's K (t field: T - 1 - t; golden lfsr.random_k_steps), with layer 0 reuses the last draw; a step not
    # drawn skips every word up to the next KEND
    KGATE = 14
    KEND = 15


class Instruction(data.Struct):
    """One program word."""

    op: Op
    layer: 3  # 1..L (0 for END / CLRV)
    t: 6  # time step 0..63
    flags: 3  # op variants (FLAG_*); 0: the op as `Op` describes it


#: `flags` bit: the OPZO variant of an op (rule opzo, a core generated with CoreConfig(opzo=True); golden
#: `backward_opzo`, docs/core.md "OPZO on chip"):
#:   NEUR  l: noise first, I := fl(I + (z ? sigma : -sigma)), one LFSR step per neuron (z = the new lsb); keeps z_j
#:   DELTA L: the list of gs_L != 0 (k ascending, the output error NEUR L left in acc): the d of the GS below
#:   GS    l: e_l := sum over that list of fl(B_l[k, :] * gs_L[k]) into layer l's own gs (acc at noff_l)
#:   UPD   l: B_l := fl(q + fl(B_l * beta)), q[k, j] = s_L[t][k] ? (z_l[j] ? kappa : -kappa) : +0 (row k per pass)
FLAG_OPZO = 1
OPZO_OPS = ("NEUR", "DELTA", "GS", "UPD")  # the ops that have an OPZO variant


#: field widths of the instruction word (the sequencer's op / layer / step registers)
OP_BITS, LAYER_BITS, T_BITS = (field_width(Instruction, n) for n in ("op", "layer", "t"))
assert Instruction.as_shape().size == 16


def encode(op: Op, layer: int = 0, t: int = 0, flags: int = 0) -> int:
    """The program word of `op` on `layer` at step `t` (`flags`: its variant, FLAG_*)."""
    if flags & FLAG_OPZO and Op(op).name not in OPZO_OPS:
        raise ValueError(f"flags: {Op(op).name} has no OPZO variant (only {OPZO_OPS})")
    for name, v in (("layer", layer), ("t", t), ("flags", flags)):
        if not 0 <= v < (1 << field_width(Instruction, name)):
            raise ValueError(f"{name} must be in 0..{(1 << field_width(Instruction, name)) - 1}, got {v}")
    return pack(Instruction, op=Op(op), layer=layer, t=t, flags=flags)


def decode(word: int) -> tuple[Op, int, int]:
    """(op, layer, t) of a program word."""
    f = unpack(Instruction, word)
    return f["op"], f["layer"], f["t"]


def decode_flags(word: int) -> int:
    """The flags field of a program word (its op variant)."""
    return unpack(Instruction, word)["flags"]
