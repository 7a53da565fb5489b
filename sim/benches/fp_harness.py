"""A test harness around the stream FP units: several lanes per operation (one or more per pipeline depth),
each lane's valid/ready/payload packed side by side into wide ports, so one cocotb step moves many vectors
and one Verilator build covers every unit and depth of a format."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from amaranth.hdl import Module
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from spikemesh.rtl.formats import FPFormat
from spikemesh.rtl.fp import FPAdd, FPCompare, FPFMA, FPFromInt, FPMul


@dataclass(frozen=True)
class Group:
    """One operation under test: `make(depth)` builds a stream unit; one lane per entry of `depths`."""

    name: str
    make: Callable[[int], wiring.Component]
    depths: tuple[int, ...]


def groups_for(fmt: FPFormat, all_depths: bool, lanes_per_depth: int, int_width: int = 16) -> list[Group]:
    def dl(maxd: int, default: int, extra: int = 1) -> tuple[int, ...]:
        # Small units get more lanes where the vector count is large (exhaustive compare / conversion).
        ds = range(maxd + 1) if all_depths else [default]
        n = lanes_per_depth * (extra if all_depths else 1)
        return tuple(d for d in ds for _ in range(n))
    return [
        Group("add", lambda d: FPAdd(fmt, d), dl(4, 2)),
        Group("mul", lambda d: FPMul(fmt, d), dl(4, 2)),
        Group("fma", lambda d: FPFMA(fmt, d), dl(5, 3)),
        Group("cmp", lambda d: FPCompare(fmt, d), dl(2, 1, extra=4)),
        Group("i2f", lambda d: FPFromInt(fmt, int_width, True, d), dl(3, 1, extra=2)),
        Group("u2f", lambda d: FPFromInt(fmt, int_width, False, d), dl(3, 1, extra=2)),
    ]


class LaneHarness(wiring.Component):
    """Ports per group G with K lanes: G_in_valid/G_out_ready (K bits in), G_in_ready/G_out_valid (K bits out),
    G_in_data (K x payload, lane 0 in the low bits), G_out_data (K x {result, flags})."""

    def __init__(self, groups: list[Group]) -> None:
        self.groups = groups
        self.units = {g.name: [g.make(d) for d in g.depths] for g in groups}
        sig = {}
        for g in groups:
            u = self.units[g.name][0]
            k = len(g.depths)
            self_win, self_wout = len(u.i.payload.as_value()), len(u.o.payload.as_value())
            sig.update({f"{g.name}_in_valid": In(k), f"{g.name}_in_ready": Out(k),
                        f"{g.name}_in_data": In(k * self_win), f"{g.name}_out_valid": Out(k),
                        f"{g.name}_out_ready": In(k), f"{g.name}_out_data": Out(k * self_wout)})
        super().__init__(sig)

    def widths(self, name: str) -> tuple[int, int]:
        u = self.units[name][0]
        return len(u.i.payload.as_value()), len(u.o.payload.as_value())

    def elaborate(self, platform):
        m = Module()
        for g in self.groups:
            win, wout = self.widths(g.name)
            p = lambda s: getattr(self, f"{g.name}_{s}")
            for k, u in enumerate(self.units[g.name]):
                m.submodules[f"{g.name}{k}_d{u.depth}"] = u
                m.d.comb += [
                    u.i.valid.eq(p("in_valid")[k]), p("in_ready")[k].eq(u.i.ready),
                    u.i.payload.as_value().eq(p("in_data")[k * win:(k + 1) * win]),
                    p("out_valid")[k].eq(u.o.valid), u.o.ready.eq(p("out_ready")[k]),
                    p("out_data")[k * wout:(k + 1) * wout].eq(u.o.payload.as_value()),
                ]
        return m
