"""Register chains, constant multiplies and the input-event walk shared by the core's engines (sequencer/MAC
stream unit, forward engine)."""
from __future__ import annotations

from amaranth import Array, Cat, Const, Module, Mux, Signal


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


def event_walk_states(m: Module, *, e, ecount, spk_rp, x_rp, j, fired, m2next, isdirect, lin, tin, nb: int, lb: int,
                      tb: int, one: int, done: str, issue: str) -> None:
    """FSM states EV, EV_J, EV_X, EV_GO (call inside `with m.FSM()`): fetch input event e of layer `lin` at step
    `tin` (-> `done` when all `ecount` are taken), latch its index j and fired bit, read x_j, then m2 = x_j
    (direct input), 1.0 (fired) or +0 (a dense list's silent entry) -> state `issue`, which starts the pass and
    bumps e. x is addressed from the latched j, not from the event list's read data: block RAM output ->
    LUT RAM address -> register was the core's critical path (63 MHz on ECP5); the walk runs while the previous
    pass issues, so the extra state costs a cycle only where passes are shorter than the walk, and only a walk
    that reads x (direct input into layer 1) takes it."""
    with m.State("EV"):
        with m.If(e == ecount):
            m.next = done
        with m.Else():
            m.d.comb += spk_rp.addr.eq(Cat(e[:nb], lin[:lb], tin[:tb]))
            m.next = "EV_J"
    with m.State("EV_J"):
        m.d.sync += [j.eq(spk_rp.data[:nb]), fired.eq(spk_rp.data[nb])]
        m.next = "EV_GO"
        with m.If(isdirect):
            m.next = "EV_X"
    with m.State("EV_X"):
        m.d.comb += x_rp.addr.eq(j)
        m.next = "EV_GO"
    with m.State("EV_GO"):
        m.d.sync += m2next.eq(Mux(isdirect, x_rp.data, Mux(fired, one, 0)))
        m.next = issue


def _source_layer(cfg, ly):
    """The layer feeding layer `ly` (a signal): ly - 1, or with heads a table (a head reads its block's end)."""
    if not cfg.heads:
        return ly - 1
    return Array([Const(cfg.src(l) if 1 <= l <= cfg.n_layers else 0, len(ly)) for l in range(1 << len(ly))])[ly]


def fp_pipe_factories(m: Module, cfg):
    """(mul_pipe, add_pipe): each call adds one always-enabled FP multiplier / adder of the core's format and
    depths to `m` under the given name (the MAC lanes, the neuron unit, the forward engine)."""
    from ..fp import FPAddPipe, FPMulPipe

    def make(cls, depth):
        def pipe(name):
            u = cls(cfg.fmt, depth)
            m.submodules[name] = u
            m.d.comb += u.en.eq(1)
            return u
        return pipe

    return make(FPMulPipe, cfg.mul_depth), make(FPAddPipe, cfg.add_depth)
