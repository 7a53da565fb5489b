"""A component that is an instance of a Verilog module emitted once, for systems with many equal blocks.

Amaranth emits one Verilog module per instance (19 identical cores = 19 modules that differ only in the
numbers yosys gives their internal names), so Verilator converts and compiles every copy: the 4x5 mesh
with 19 small cores is 528K lines of Verilog and 89 MB of C++. `SharedModule(make, name)` has the same
ports as `make()` but elaborates to an `Instance` of module `name`; `emit_shared(make, name, path)` writes
that module once. Verilator then keeps the multiply-instanced module as one class (not inlined).
"""
from __future__ import annotations

from pathlib import Path
from typing import Callable

from amaranth import ClockSignal, Instance, Module, ResetSignal
from amaranth.lib import wiring
from amaranth.lib.wiring import In

from spikemesh.sim.emit import convert_verilog


class SharedModule(wiring.Component):
    def __init__(self, make: Callable[[], wiring.Component], name: str):
        if not name.isidentifier():
            raise ValueError(f"name must be a Verilog identifier, got {name!r}")
        self.module_name = name
        proto = make()
        proto._MustUse__silence = True  # built only for its ports (amaranth's unused-elaboratable warning)
        self._signature = proto.signature
        super().__init__(self._signature)

    @property
    def signature(self):
        return self._signature

    def elaborate(self, platform):
        m = Module()
        ports = {"i_clk": ClockSignal(), "i_rst": ResetSignal()}
        for path, member, value in self.signature.flatten(self):
            name = "__".join(str(p) for p in path)
            ports[("i_" if member.flow == In else "o_") + name] = value
        m.submodules.inst = Instance(self.module_name, **ports)
        return m


def emit_shared(make: Callable[[], wiring.Component], name: str, path: Path) -> Path:
    """Write `make()` as Verilog module `name` at `path` (kept untouched when unchanged: no rebuild)."""
    text = convert_verilog(make(), name=name, emit_src=False)
    path.parent.mkdir(parents=True, exist_ok=True)
    if not path.exists() or path.read_text() != text:
        path.write_text(text)
    return path
