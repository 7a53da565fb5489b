"""Table surrogates (sigmoid, atan) for the core: the golden 65536-entry FP16 table as a window + two constants.

The golden table (`spikemesh.sim.golden.surrogates.surrogate_table`) is indexed by the FP16 bits of
x = fl(h - theta). psi is even and falls monotonically with |x|, so the core stores only the magnitude
patterns ax = bits(x) & 0x7FFF in [lo, lo + depth) (`CoreConfig.sg_table_depth` entries, bus region `sgt`)
and two values in the `sgr` registers: `below` for ax < lo (psi(0) rounded) and `above` for
ax >= lo + depth (+0: the table reaches +0 long before the infinities, and NaN/inf map to +0).
The host refuses a (kind, width) whose golden table is not exactly this shape for the generated depth.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..rtl.core.config import TABLE_SURROGATES
from ..rtl.core.layout import SGR_REGS
from ..sim.golden.surrogates import surrogate_table

__all__ = ["SGR_REGS", "TABLE_SURROGATES", "SurrogateWindow", "min_depth", "needed_span", "reconstruct",
           "surrogate_window"]


@dataclass(frozen=True)
class SurrogateWindow:
    """What the host writes: `entries` (depth FP16 bit patterns) into `sgt`, lo/below/above into `sgr`."""

    kind: str
    width: float
    lo: int
    below: int
    above: int
    entries: np.ndarray  # uint16, len = depth

    @property
    def depth(self) -> int:
        return len(self.entries)

    def regs(self) -> dict[str, int]:
        return dict(zip(SGR_REGS, (self.lo, self.below, self.above)))


def _half_table(kind: str, width: float) -> np.ndarray:
    """The golden table for ax = 0..0x7FFF (uint16 bits), after checking that it is even in x."""
    if kind not in TABLE_SURROGATES:
        raise ValueError(f"kind must be one of {TABLE_SURROGATES} (rect and tri need no table), got {kind!r}")
    t = surrogate_table(kind, float(width)).view(np.uint16)
    pos, neg = t[:0x8000], t[0x8000:]
    if not np.array_equal(pos, neg):  # the hardware indexes |x|: the table for x and -x must agree
        raise ValueError(f"surrogate {kind!r} width {width}: golden table is not even in x")
    return pos


def needed_span(kind: str, width: float) -> tuple[int, int]:
    """(lo, hi): the smallest window of magnitude patterns outside which the table is psi(0) below / the
    value at 0x7FFF (a NaN pattern, +0) above."""
    pos = _half_table(kind, width)
    differ_lo = np.flatnonzero(pos != pos[0])
    differ_hi = np.flatnonzero(pos != pos[0x7FFF])
    lo = int(differ_lo[0]) if len(differ_lo) else 0x8000
    hi = int(differ_hi[-1]) + 1 if len(differ_hi) else 0
    return lo, max(lo, hi)


def min_depth(kind: str, width: float) -> int:
    """The smallest power-of-two sg_table_depth that holds (kind, width) exactly."""
    lo, hi = needed_span(kind, width)
    return 1 << max(0, (hi - lo - 1).bit_length())


def surrogate_window(kind: str, width: float, depth: int) -> SurrogateWindow:
    """The window for a core generated with sg_table_depth = depth; ValueError if it cannot be exact."""
    if not isinstance(depth, int) or depth <= 0 or depth & (depth - 1):
        raise ValueError(f"depth (sg_table_depth) must be a positive power of two, got {depth!r}")
    pos = _half_table(kind, width)
    lo, hi = needed_span(kind, width)
    if hi - lo > depth:
        raise ValueError(f"surrogate {kind!r} width {width}: the golden table needs a window of {hi - lo} "
                         f"entries (sg_table_depth >= {min_depth(kind, width)}), the core has {depth}")
    entries = np.zeros(depth, np.uint16)
    n = min(depth, 0x8000 - lo)
    entries[:n] = pos[lo:lo + n]
    win = SurrogateWindow(kind, float(width), lo, int(pos[0]), int(pos[0x7FFF]), entries)
    got = reconstruct(win)
    want = surrogate_table(kind, float(width)).view(np.uint16)
    if not np.array_equal(got, want):  # cannot happen for a span computed above; guards the hardware rule
        bad = int(np.flatnonzero(got != want)[0])
        raise ValueError(f"surrogate {kind!r} width {width}: window differs from the golden table at {bad:#06x}")
    return win


def reconstruct(win: SurrogateWindow) -> np.ndarray:
    """The 65536-entry table the hardware computes from the window (its lookup rule, in numpy)."""
    ax = np.arange(1 << 16, dtype=np.int64) & 0x7FFF
    d = ax - win.lo
    idx = np.clip(d, 0, win.depth - 1)
    return np.where(d < 0, win.below, np.where(d >= win.depth, win.above, win.entries[idx])).astype(np.uint16)
