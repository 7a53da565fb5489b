"""A mesh node's target for the multi-core board: a training core with its own dataset BRAM, a `SampleLoader`
(rtl/soc/loader.py, the single-core board's) and a `Runner` that trains a batch of samples on its own.

Tile bus (what the node's `ReduceNode` sees; `tile_map` places it): `core` at 0 (the core's regions, so the
G region is where the reduction expects it), `dataset` (records in the loader's format, the core's own
samples, filled once by the host over the mesh), `runner` (registers).
`Runner`: the host writes `go` = count (| GO_UPDATE); the runner then (with GO_UPDATE) waits until the core
is idle (it polls the core's status) and starts the update program at `upd_pc`, then for `count` records
from `next`: waits until the core is idle, starts the loader on the record (label + input writes), writes
`start_pc` = 0 and starts the core.  After the last sample it waits until the core is idle again.  So one
one-transfer packet per core and step starts the previous step's update and this step's batch.  The program is the sample program WITHOUT the update (`compile_program(update=False)`), so the
core's G accumulates over the batch (the batched step of sim/golden_mesh.py); the host then starts the
reduction and, after it, every core's UPD ops.
While the loader or the runner is busy it owns the tile's inner bus (core + dataset); a request of the node
(host or reducer) simply waits — the reducer's first G read at a core waits for that core's batch, so the
host may start the reduction right after the runners.  The runner's registers are always reachable.
"""
from __future__ import annotations

from amaranth import Module, Mux, Signal
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from ..bus import BusDecoder, BusSignature, MemoryMap, Region
from ..core.layout import CTRL_CLEAR_COUNTERS, CTRL_START, STATUS_BUSY, CoreLayout, ctrl_offset
from ..soc.loader import SampleLoader
from ..soc.targets import BramTarget
from ..soc.top import _connect_registered

RUNNER_REGS = [("next", 0, 1, "rw", "the dataset record the next batch starts at (advances by one per sample)"),
               ("upd_pc", 1, 1, "rw", "program address of the update (UPD ops)"),
               ("go", 2, 1, "rw", "write: bits 0-14 = samples in the batch, bit 15 = first run the update "
                                  "program (start_pc = upd_pc); reads 1 while it runs"),
               ("runs", 3, 1, "r", "programs started since reset (wraps)")]
GO_UPDATE = 1 << 15


def tile_map(core_cfg, dataset_words: int) -> MemoryMap:
    """The tile's bus map (`core` at 0, `dataset`, `runner`) at the smallest address width that holds it."""
    def place(aw: int) -> MemoryMap:
        mm = MemoryMap(addr_width=aw, data_width=16)
        mm.add("core", CoreLayout(core_cfg).regions())
        mm.add("dataset", BramTarget.regions_for(dataset_words, "data", "this core's sample records (loader format)"))
        mm.add("runner", [Region(*r) for r in RUNNER_REGS])
        return mm

    big = place(32)
    end = max(t["base"] + t["span"] for t in big.targets)
    return place(max(1, (end - 1).bit_length()))


class Runner(wiring.Component):
    """Runs `count` samples from record `first` on the core (see the module docstring)."""

    def __init__(self, addr_width: int, ctrl_addr: int):
        self.addr_width, self.ctrl_addr = addr_width, ctrl_addr
        super().__init__({"bus": In(BusSignature(2, 16)),            # its registers
                          "init": Out(BusSignature(addr_width, 16)),  # the tile's inner bus (core ctrl)
                          "ld": Out(BusSignature(1, 16)),             # the loader's register port
                          "ld_busy": In(1), "busy": Out(1)})

    def elaborate(self, platform):
        m = Module()
        bus, ini = self.bus, self.init
        nxt, upd_pc, runs = Signal(16), Signal(16), Signal(16)
        left, upd = Signal(15), Signal()
        m.d.comb += bus.req_ready.eq(1)
        rd = Signal(16)
        with m.Switch(bus.addr):
            with m.Case(0):
                m.d.comb += rd.eq(nxt)
            with m.Case(1):
                m.d.comb += rd.eq(upd_pc)
            with m.Case(2):
                m.d.comb += rd.eq(self.busy)
            with m.Case(3):
                m.d.comb += rd.eq(runs)
        m.d.sync += [bus.r_valid.eq(bus.req_valid & ~bus.we), bus.r_data.eq(rd)]
        wr = bus.req_valid & bus.we
        with m.If(wr & (bus.addr == 1)):
            m.d.sync += upd_pc.eq(bus.w_data)
        start_pc = self.ctrl_addr + ctrl_offset("start_pc")
        pc = Signal(16)

        def write(addr, value, nxt_state: str) -> None:
            m.d.comb += [ini.req_valid.eq(1), ini.we.eq(1), ini.addr.eq(addr), ini.w_data.eq(value)]
            with m.If(ini.req_ready):
                m.next = nxt_state

        with m.FSM() as fsm:
            with m.State("IDLE"):
                with m.If(wr & (bus.addr == 0)):
                    m.d.sync += nxt.eq(bus.w_data)
                with m.If(wr & (bus.addr == 2)):
                    m.d.sync += [left.eq(bus.w_data[:15]), upd.eq(bus.w_data[15])]
                    m.next = "POLL"
            with m.State("POLL"):
                m.d.comb += [ini.req_valid.eq(1), ini.we.eq(0), ini.addr.eq(self.ctrl_addr)]
                with m.If(ini.req_ready):
                    m.next = "POLL_WAIT"
            with m.State("POLL_WAIT"):
                with m.If(ini.r_valid):
                    with m.If(ini.r_data & STATUS_BUSY):
                        m.next = "POLL"
                    with m.Elif(upd):
                        m.d.sync += [pc.eq(upd_pc), upd.eq(0)]
                        m.next = "START_PC"
                    with m.Elif(left == 0):
                        m.next = "IDLE"
                    with m.Else():
                        m.d.sync += [pc.eq(0), nxt.eq(nxt + 1), left.eq(left - 1)]
                        m.next = "LOAD"
            with m.State("LOAD"):
                m.d.comb += [self.ld.req_valid.eq(1), self.ld.we.eq(1), self.ld.addr.eq(0),
                             self.ld.w_data.eq(nxt - 1)]
                with m.If(self.ld.req_ready):
                    m.next = "LOAD_GAP"
            with m.State("LOAD_GAP"):  # the loader is busy from the cycle after its start
                m.next = "LOAD_WAIT"
            with m.State("LOAD_WAIT"):
                with m.If(~self.ld_busy):
                    m.next = "START_PC"
            with m.State("START_PC"):
                write(start_pc, pc, "START")
            with m.State("START"):
                write(self.ctrl_addr, CTRL_START | CTRL_CLEAR_COUNTERS, "POLL")
                with m.If(ini.req_ready):
                    m.d.sync += runs.eq(runs + 1)
            m.d.comb += self.busy.eq(~fsm.ongoing("IDLE"))
        return m


def _own(m: Module, initiators: list, target) -> None:
    """`target` driven by the first initiator whose select is 1 (list of (bus, select), the last one's select
    is ignored: it owns otherwise).  Ownership only changes with no read in flight (see the callers)."""
    sels = []
    taken = None
    for ini, sel in initiators:
        s = Signal()
        if taken is None:
            m.d.comb += s.eq(sel if sel is not None else 1)
            taken = s
        else:
            m.d.comb += s.eq(~taken & (sel if sel is not None else 1))
            t2 = Signal()
            m.d.comb += t2.eq(taken | s)
            taken = t2
        sels.append(s)
        m.d.comb += [ini.req_ready.eq(s & target.req_ready), ini.r_valid.eq(s & target.r_valid),
                     ini.r_data.eq(target.r_data)]
        with m.If(s):
            m.d.comb += [target.req_valid.eq(ini.req_valid), target.addr.eq(ini.addr), target.we.eq(ini.we),
                         target.w_data.eq(ini.w_data)]


class CoreTile(wiring.Component):
    """`core` (a component with a flipped-BusSignature `bus`, `regions()` and `busy`) + dataset + loader + runner
    behind one bus target port whose address width `tile_map` fixes."""

    def __init__(self, core, core_cfg, dataset_words: int):
        self.core, self.core_cfg, self.dataset_words = core, core_cfg, dataset_words
        self.map = tile_map(core_cfg, dataset_words)
        self.addr_width = self.map.addr_width
        super().__init__({"bus": In(BusSignature(self.addr_width, 16)), "busy": Out(1)})

    def elaborate(self, platform):
        m = Module()
        aw = self.addr_width
        base = {t["name"]: t["base"] for t in self.map.targets}
        ctrl_addr = self.map.region("core", "ctrl")[0]
        m.submodules.core = core = self.core
        m.submodules.dataset = ds = BramTarget(self.dataset_words, name="data", addr_width=aw)
        m.submodules.loader = loader = SampleLoader(base["dataset"], aw)
        m.submodules.runner = runner = Runner(aw, ctrl_addr)
        lb = loader.bus  # only the runner writes the loader's `sample` register (offset 0)
        m.d.comb += [lb.req_valid.eq(runner.ld.req_valid), lb.we.eq(runner.ld.we), lb.addr.eq(0),
                     lb.w_data.eq(runner.ld.w_data), runner.ld.req_ready.eq(lb.req_ready)]
        m.d.comb += runner.ld_busy.eq(loader.busy)

        # outer split: the runner's registers, or the inner bus (core + dataset)
        inner_mm = MemoryMap(addr_width=aw, data_width=16, targets=[t for t in self.map.targets
                                                                     if t["name"] in ("core", "dataset")])
        m.submodules.decoder = dec = BusDecoder(inner_mm, ["core", "dataset"])
        ext = BusSignature(aw, 16).create(path=("ext",))
        bus = self.bus
        to_runner = bus.addr >= base["runner"]
        rsel = Signal()  # who owes the outstanding read answer
        with m.If(bus.req_valid & bus.req_ready & ~bus.we):
            m.d.sync += rsel.eq(to_runner)
        m.d.comb += [runner.bus.addr.eq(bus.addr[:2]), runner.bus.we.eq(bus.we), runner.bus.w_data.eq(bus.w_data),
                     runner.bus.req_valid.eq(bus.req_valid & to_runner),
                     ext.addr.eq(bus.addr), ext.we.eq(bus.we), ext.w_data.eq(bus.w_data),
                     ext.req_valid.eq(bus.req_valid & ~to_runner),
                     bus.req_ready.eq(Mux(to_runner, runner.bus.req_ready, ext.req_ready)),
                     bus.r_valid.eq(Mux(rsel, runner.bus.r_valid, ext.r_valid)),
                     bus.r_data.eq(Mux(rsel, runner.bus.r_data, ext.r_data))]
        _own(m, [(loader.init, loader.busy), (runner.init, runner.busy), (ext, None)], dec.bus)
        _connect_registered(m, "core", dec.t_core, core.bus)
        _connect_registered(m, "dataset", dec.t_dataset, ds.bus)
        m.d.comb += self.busy.eq(core.busy | runner.busy | loader.busy)
        return m
