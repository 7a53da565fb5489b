"""Router-to-router link with credit-based flow control.

The sender may put a flit on the link (`valid` for one cycle) only while it holds a credit; it starts with
`depth` credits (the receiver's input buffer depth) and gets one back for each `credit` pulse, which the
receiver sends whenever it removes a flit from that buffer. So the receiver's buffer never overflows and
there is no combinational ready path between routers.
"""
from __future__ import annotations

from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from .flit import MAX_FLIT_WIDTH, flit_layout


class CreditLinkSignature(wiring.Signature):
    """Sender-side view of one direction of a link (flip it for the receiver)."""

    def __init__(self, flit_width: int):
        if not isinstance(flit_width, int) or not 1 <= flit_width <= MAX_FLIT_WIDTH:
            raise ValueError(f"flit_width must be an int in 1..{MAX_FLIT_WIDTH}, got {flit_width!r}")
        self._flit_width = flit_width
        super().__init__({"valid": Out(1), "flit": Out(flit_layout(flit_width)), "credit": In(1)})

    @property
    def flit_width(self) -> int:
        return self._flit_width

    def __eq__(self, other):
        return isinstance(other, CreditLinkSignature) and other.flit_width == self.flit_width

    def __repr__(self):
        return f"CreditLinkSignature(flit_width={self.flit_width})"
