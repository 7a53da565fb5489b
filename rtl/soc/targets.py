"""Bus targets the SoC places next to the training core: a BRAM buffer and a status/counter block."""
from __future__ import annotations

from amaranth import Module, Signal
from amaranth.lib import wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In

from ..bus import BusSignature, Region
from ..link.engine import LinkStats


def _addr_bits(words: int) -> int:
    return max(1, (words - 1).bit_length())


class BramTarget(wiring.Component):
    """`depth` words of block RAM (sync read: r_valid one cycle after the request), e.g. the dataset buffer."""

    def __init__(self, depth: int, *, name: str = "mem", description: str = "", data_width: int = 16,
                 addr_width: int | None = None):
        if not isinstance(depth, int) or not 1 <= depth <= (1 << 24):
            raise ValueError(f"depth must be an int in 1..2**24 words, got {depth!r}")
        self.depth, self.region_name, self.description = depth, name, description
        self.data_width = data_width
        super().__init__({"bus": In(BusSignature(addr_width or _addr_bits(depth), data_width))})

    @staticmethod
    def regions_for(depth: int, name: str, description: str = "", data_width: int = 16) -> list[Region]:
        return [Region(name, 0, depth, "rw", description, {"element": f"u{data_width}"})]

    def regions(self) -> list[Region]:
        return self.regions_for(self.depth, self.region_name, self.description, self.data_width)

    def elaborate(self, platform):
        m = Module()
        m.submodules.mem = mem = Memory(shape=self.data_width, depth=self.depth, init=[])
        w, r = mem.write_port(), mem.read_port()
        bus = self.bus
        inside = bus.addr < self.depth
        m.d.comb += [bus.req_ready.eq(1), r.addr.eq(bus.addr), w.addr.eq(bus.addr), w.data.eq(bus.w_data),
                     w.en.eq(bus.req_valid & bus.we & inside), bus.r_data.eq(r.data)]
        m.d.sync += bus.r_valid.eq(bus.req_valid & ~bus.we)
        return m


STATUS_REGS = [  # (name, access, description); all 16-bit words, counters wrap
    ("build_id", "r", "build ID, 4 words, little-endian bytes"),
    ("scratch", "rw", "free register for link tests"),
    ("leds", "rw", "user LED bits (board LEDs not used for status)"),
    ("cycles", "r", "free-running clock-cycle counter, 2 words (low first), latched on reading the low word"),
    ("frames_ok", "r", "link: frames received with a good CRC"),
    ("naks", "r", "link: frames refused (CRC/COBS/length) and NAKed"),
    ("dups", "r", "link: duplicate requests answered from the stored response"),
    ("bad_cmds", "r", "link: valid frames with a bad command/length"),
    ("watchdogs", "r", "link: parser resynchronisations by the watchdog"),
    ("dropped", "r", "link: bytes dropped while a request was executing"),
    ("session", "rw", "the host's nonzero session token; 0 after every reset, so the host sees that the board "
                      "lost its configuration (core constants) since it last set it up"),
]


class StatusTarget(wiring.Component):
    """Build ID, a scratch register, LEDs, a cycle counter and the link's event counters."""

    def __init__(self, build_id: bytes, addr_width: int = 5):
        if len(build_id) != 8:
            raise ValueError(f"build_id must be 8 bytes, got {len(build_id)}")
        self.build_id = bytes(build_id)
        super().__init__({
            "bus": In(BusSignature(addr_width, 16)),
            "stats": In(LinkStats()),
            "leds": wiring.Out(16),
        })

    @staticmethod
    def layout() -> list[tuple[str, int, int, str, str]]:
        out, off = [], 0
        for name, acc, desc in STATUS_REGS:
            size = 4 if name == "build_id" else 2 if name == "cycles" else 1
            out.append((name, off, size, acc, desc))
            off += size
        return out

    @classmethod
    def regions_static(cls) -> list[Region]:
        return [Region(n, o, s, a, d) for n, o, s, a, d in cls.layout()]

    def regions(self) -> list[Region]:
        return self.regions_static()

    def elaborate(self, platform):
        m = Module()
        bus = self.bus
        offs = {n: o for n, o, *_ in self.layout()}
        scratch = Signal(16)
        session = Signal(16)
        cycles = Signal(32)
        cycles_hi = Signal(16)
        m.d.sync += cycles.eq(cycles + 1)
        counters = {}
        for name in ("frame_ok", "nak", "dup", "bad_cmd", "watchdog", "dropped"):
            c = Signal(16, name=f"count_{name}")
            with m.If(getattr(self.stats, name)):
                m.d.sync += c.eq(c + 1)
            counters[name] = c
        reg_of = {"frames_ok": counters["frame_ok"], "naks": counters["nak"], "dups": counters["dup"],
                  "bad_cmds": counters["bad_cmd"], "watchdogs": counters["watchdog"],
                  "dropped": counters["dropped"], "scratch": scratch, "leds": self.leds, "session": session}
        m.d.comb += bus.req_ready.eq(1)
        rd = Signal(16)
        with m.Switch(bus.addr):
            for i in range(4):
                with m.Case(offs["build_id"] + i):
                    m.d.comb += rd.eq(int.from_bytes(self.build_id[2 * i:2 * i + 2], "little"))
            with m.Case(offs["cycles"]):
                m.d.comb += rd.eq(cycles[:16])
            with m.Case(offs["cycles"] + 1):
                m.d.comb += rd.eq(cycles_hi)
            for name, sig in reg_of.items():
                with m.Case(offs[name]):
                    m.d.comb += rd.eq(sig)
        m.d.sync += [bus.r_valid.eq(bus.req_valid & ~bus.we), bus.r_data.eq(rd)]
        with m.If(bus.req_valid & ~bus.we & (bus.addr == offs["cycles"])):
            m.d.sync += cycles_hi.eq(cycles[16:])  # a consistent 32-bit snapshot
        with m.If(bus.req_valid & bus.we):
            with m.If(bus.addr == offs["scratch"]):
                m.d.sync += scratch.eq(bus.w_data)
            with m.If(bus.addr == offs["leds"]):
                m.d.sync += self.leds.eq(bus.w_data)
            with m.If(bus.addr == offs["session"]):
                m.d.sync += session.eq(bus.w_data)
        return m
