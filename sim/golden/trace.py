"""The record of one training sample: every value in the order the model computed it."""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


@dataclass(frozen=True)
class TraceEvent:
    phase: str  # "fp", "bp", "wg", "update"
    t: int  # time step (-1: end-of-sample update)
    layer: int  # 1..L main layers, L+1.. heads of the local rule (in block order)
    name: str  # x, I, h, s, v, a | psi, gs, delta, gs_in | G | W (and m, momentum)
    value: np.ndarray


@dataclass
class Trace:
    events: list[TraceEvent] = field(default_factory=list)

    def add(self, phase: str, t: int, layer: int, name: str, value: np.ndarray) -> None:
        self.events.append(TraceEvent(phase, t, layer, name, np.array(value, copy=True)))

    def select(self, name: str, t: int | None = None, layer: int | None = None) -> list[TraceEvent]:
        return [e for e in self.events
                if e.name == name and (t is None or e.t == t) and (layer is None or e.layer == layer)]

    def get(self, name: str, t: int, layer: int) -> np.ndarray:
        """The one value `name` of (t, layer); raises KeyError when absent or ambiguous."""
        found = self.select(name, t, layer)
        if len(found) != 1:
            raise KeyError(f"{len(found)} trace entries for {name!r} at t={t}, layer={layer}")
        return found[0].value
