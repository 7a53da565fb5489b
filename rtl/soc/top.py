"""The SoC top: host link (UART or, in simulation, a byte-stream bypass) + BusDecoder + targets.

Targets: `status` (build ID, scratch, LEDs, cycle and link counters), `dataset` (BRAM buffer the host
fills once with encoded samples), `loader` (copies sample n from `dataset` into the core's input regions,
a second bus initiator beside the link: `loader.py`), and the training core when one is plugged in (any component with a
flipped-`BusSignature` port `bus` and a `regions()` method).  The memory map and the build ID are
computed at construction, so `soc.memory_map.to_json()` is the file saved next to the bitstream.
"""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field

from amaranth import Module, Mux, Signal
from amaranth.lib import stream, wiring
from amaranth.lib.wiring import In, Out

from ..bus import BusDecoder, MemoryMap
from ..link.engine import LinkEngine
from ..link.protocol import PROTOCOL_VERSION, Ident, LinkConfig, build_id, map_hash
from .loader import SampleLoader, arbitrate
from .targets import BramTarget, StatusTarget
from ..link.uart import UARTRx, UARTTx


@dataclass(frozen=True)
class SocConfig:
    clk_hz: int = 75_000_000
    link: LinkConfig = field(default_factory=LinkConfig)
    dataset_words: int = 16384       # 16-bit words of BRAM for the on-board dataset
    addr_width: int = 24
    name: str = "spikemesh"

    def __post_init__(self):
        if not isinstance(self.clk_hz, int) or not 1_000_000 <= self.clk_hz <= 500_000_000:
            raise ValueError(f"clk_hz must be an int in 1e6..5e8, got {self.clk_hz!r}")
        if not isinstance(self.dataset_words, int) or not 16 <= self.dataset_words <= (1 << 20):
            raise ValueError(f"dataset_words must be an int in 16..2**20, got {self.dataset_words!r}")
        if not isinstance(self.addr_width, int) or not 8 <= self.addr_width <= 32:
            raise ValueError(f"addr_width must be an int in 8..32, got {self.addr_width!r}")

    @property
    def baud(self) -> float:
        return self.clk_hz / self.link.clocks_per_bit

    def to_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True)


class SoC(wiring.Component):
    """`sim_io=True` adds the byte-stream bypass ports (`bypass` selects them over the UART pins)."""

    def __init__(self, config: SocConfig = SocConfig(), *, core=None, core_config: str = "",
                 sim_io: bool = False):
        if core is not None and hasattr(core, "registered_reads"):
            # host reads come over the link, so a cycle more per read costs nothing; the core's memory outputs
            # through its region mux into the decoder's response register were this SoC's critical path
            core.registered_reads = True
        self.config, self.core, self.sim_io = config, core, sim_io
        mm = MemoryMap(addr_width=config.addr_width, data_width=16)
        mm.add("status", StatusTarget.regions_static())
        self.dataset_base = mm.add("dataset", BramTarget.regions_for(
            config.dataset_words, "data", "sample records for the loader: words 2n, 2n+1 = offset of sample n's record; "
            "record = segments (count, dest_lo, dest_hi, count words), count 0 ends"))
        mm.add("loader", SampleLoader.regions_static())
        if core is not None:
            mm.add("core", core.regions())
            if not core_config and hasattr(core, "cfg"):
                core_config = repr(core.cfg)  # the core's generator parameters go into the build ID
        self.memory_map = mm
        self.map_json = mm.to_json()
        summary = f"{config.name} ds={config.dataset_words}" + (" core" if core is not None else "")
        self.build_id, self.ident = soc_identity(config, core_config, self.map_json, 1 if core is not None else 0,
                                                 summary)
        super().__init__(soc_ports(sim_io))

    def build_info(self) -> dict:
        """What the host needs beside the memory map to check it talks to this build."""
        info = {"build_id": self.build_id.hex(), "map_hash": map_hash(self.map_json).hex(),
                "config": json.loads(self.config.to_json()), "protocol_version": PROTOCOL_VERSION,
                "ident": self.ident.pack().hex(), "has_core": self.core is not None}
        if self.core is not None and hasattr(self.core, "cfg"):
            from dataclasses import asdict as _asdict
            core = _asdict(self.core.cfg)
            core.pop("fmt", None)
            info["core"] = core
        return info

    def elaborate(self, platform):
        m = Module()
        cfg = self.config
        aw = cfg.addr_width
        link, utx = link_front_end(m, self, cfg, self.ident.pack())

        names = ["status", "dataset", "loader"] + (["core"] if self.core is not None else [])
        m.submodules.decoder = dec = BusDecoder(self.memory_map, names)
        m.submodules.loader = loader = SampleLoader(self.dataset_base, aw)
        arbitrate(m, link.bus, loader, dec.bus)
        _connect_narrower(m, dec.t_loader, loader.bus)
        m.submodules.status = status = StatusTarget(self.build_id, addr_width=aw)
        m.submodules.dataset = ds = BramTarget(cfg.dataset_words, name="data", addr_width=aw)
        wiring.connect(m, dec.t_status, status.bus)
        _connect_registered(m, "dataset", dec.t_dataset, ds.bus)
        wiring.connect(m, link.stats, status.stats)
        core_busy = Signal()
        if self.core is not None:
            m.submodules.core = self.core
            _connect_registered(m, "core", dec.t_core, self.core.bus)
            if hasattr(self.core, "busy"):
                m.d.comb += core_busy.eq(self.core.busy)
        m.d.comb += self.leds.eq(status.leds)
        busy = ~link.idle | core_busy | loader.busy
        if self.sim_io:  # nothing to do until the host sends: the simulated board stops clocking
            m.d.comb += self.idle.eq(~busy & ~utx.busy)
        status_outputs(m, self, cfg, link, busy)
        return m


def soc_identity(config: SocConfig, core_config: str, map_json: str, flags: int, summary: str) -> tuple[bytes, Ident]:
    """A board SoC's build ID (its configuration, generator parameters and memory map) and IDENTIFY answer."""
    bid = build_id(config.to_json() + core_config, map_json)
    return bid, Ident(PROTOCOL_VERSION, config.addr_width, 16, flags, config.link.max_words,
                      config.link.clocks_per_bit, config.clk_hz, bid, map_hash(map_json), summary)


def soc_ports(sim_io: bool) -> dict:
    """A board SoC's top ports (what `boards/top.py` and the simulated board's harness connect)."""
    members = {"uart_rx": In(1, init=1), "uart_tx": Out(1, init=1), "leds": Out(16),
               "busy": Out(1), "link_error": Out(1), "heartbeat": Out(1)}
    if sim_io:
        members.update({"bypass": In(1), "byte_in": In(stream.Signature(8)),
                        "byte_out": Out(stream.Signature(8)), "idle": Out(1)})
    return members


def link_front_end(m: Module, top, cfg: SocConfig, ident: bytes) -> tuple[LinkEngine, UARTTx]:
    """The host link of a board SoC `top`: the UART on `uart_rx`/`uart_tx` (with `top.sim_io`, the `bypass`
    byte streams instead while `bypass` is set) into a LinkEngine; returns (link engine, UART transmitter)."""
    m.submodules.link = link = LinkEngine(cfg.link, cfg.addr_width, ident)
    m.submodules.urx = urx = UARTRx(cfg.link.clocks_per_bit)
    m.submodules.utx = utx = UARTTx(cfg.link.clocks_per_bit)
    m.d.comb += [urx.rx.eq(top.uart_rx), top.uart_tx.eq(utx.tx)]
    if top.sim_io:
        with m.If(top.bypass):
            wiring.connect(m, wiring.flipped(top.byte_in), link.rx)
            wiring.connect(m, link.tx, wiring.flipped(top.byte_out))
        with m.Else():
            wiring.connect(m, urx.data, link.rx)
            wiring.connect(m, link.tx, utx.data)
    else:
        wiring.connect(m, urx.data, link.rx)
        wiring.connect(m, link.tx, utx.data)
    return link, utx


def status_outputs(m: Module, top, cfg: SocConfig, link: LinkEngine, busy) -> None:
    """`top.busy`, a ~1.5 Hz `heartbeat`, and `link_error` stretched to ~0.1 s so that it is visible on an LED."""
    hb = Signal(range(cfg.clk_hz // 3 + 1))
    m.d.sync += hb.eq(Mux(hb == cfg.clk_hz // 3, 0, hb + 1))
    with m.If(hb == 0):
        m.d.sync += top.heartbeat.eq(~top.heartbeat)
    m.d.comb += top.busy.eq(busy)
    stretch = Signal(range(cfg.clk_hz // 10 + 1))
    with m.If(link.stats.nak | link.stats.watchdog | link.stats.dropped):
        m.d.sync += stretch.eq(cfg.clk_hz // 10)
    with m.Elif(stretch != 0):
        m.d.sync += stretch.eq(stretch - 1)
    m.d.comb += top.link_error.eq(stretch != 0)


def _connect_registered(m: Module, name: str, initiator, target) -> None:
    """Decoder port -> target through a register slice on the request and on the read response.

    Cuts the arbiter + decoder compare + target decode path (nextpnr's critical path on the 85F train
    build: loader state -> decoder -> core memory address, 56 MHz) and the dataset's address fan-out to
    ~160 DP16KD.  The request is taken at once (`req_ready` = slot empty) and offered to the target from
    the register; reads answer one cycle later than the target does.  The bus has one outstanding
    request, so one slot keeps order; a write sits in it until the target takes it."""
    aw = len(target.addr)
    pend = Signal(name=f"{name}_pend")
    addr, we, w_data = Signal(aw, name=f"{name}_addr"), Signal(name=f"{name}_we"), Signal(16, name=f"{name}_wd")
    r_valid, r_data = Signal(name=f"{name}_rv"), Signal(16, name=f"{name}_rd")
    m.d.comb += [initiator.req_ready.eq(~pend),
                 target.req_valid.eq(pend), target.addr.eq(addr), target.we.eq(we), target.w_data.eq(w_data),
                 initiator.r_valid.eq(r_valid), initiator.r_data.eq(r_data)]
    with m.If(initiator.req_valid & ~pend):
        m.d.sync += [pend.eq(1), addr.eq(initiator.addr[:aw]), we.eq(initiator.we), w_data.eq(initiator.w_data)]
    with m.Elif(target.req_ready):
        m.d.sync += pend.eq(0)
    m.d.sync += [r_valid.eq(target.r_valid), r_data.eq(target.r_data)]


def _connect_narrower(m: Module, initiator, target) -> None:
    """Decoder port -> a target whose bus has fewer address bits (the decoder already limited the span)."""
    aw = len(target.addr)
    m.d.comb += [target.req_valid.eq(initiator.req_valid), target.addr.eq(initiator.addr[:aw]),
                 target.we.eq(initiator.we), target.w_data.eq(initiator.w_data),
                 initiator.req_ready.eq(target.req_ready), initiator.r_valid.eq(target.r_valid),
                 initiator.r_data.eq(target.r_data)]
