"""Sample loader: a bus initiator that copies one sample's record from the dataset BRAM to its destinations.

The host encodes the dataset once (`spikemesh.firmware.dataset.encode_records`): words 2n, 2n+1 of the
dataset region are the word offset (low, high) of sample n's record; a record is a list of segments
`count, dest_lo, dest_hi, count data words` ended by `count == 0`; each segment's words are written to
consecutive bus addresses from `dest` (the core's input regions and label register, addresses taken
from the memory map by the host).  Writing n to the `sample` register starts the copy; while it runs the
loader owns the SoC bus and the link's next bus transfer waits (`SampleLoaderArbiter`), so "load sample
n" followed by "start the core" needs no polling in between.
"""
from __future__ import annotations

from amaranth import Module, Mux, Signal
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from ..bus import BusSignature, Region

LOADER_REGS = [("sample", 0, 1, "rw", "write n: copy sample n's record from the dataset to its destinations; "
                                      "reads 1 while copying (the link waits anyway)"),
               ("loads", 1, 1, "r", "samples loaded since reset (wraps)")]


class SampleLoader(wiring.Component):
    """`dataset_base`: bus address of the dataset region (from the memory map); `addr_width` of the SoC bus."""

    def __init__(self, dataset_base: int, addr_width: int):
        if not isinstance(dataset_base, int) or not 0 <= dataset_base < (1 << addr_width):
            raise ValueError(f"dataset_base must be in 0..2**addr_width-1, got {dataset_base!r}")
        self.dataset_base, self.addr_width = dataset_base, addr_width
        super().__init__({"bus": In(BusSignature(1, 16)), "init": Out(BusSignature(addr_width, 16)),
                          "busy": Out(1)})

    @staticmethod
    def regions_static() -> list[Region]:
        return [Region(n, o, s, a, d) for n, o, s, a, d in LOADER_REGS]

    def regions(self) -> list[Region]:
        return self.regions_static()

    def elaborate(self, platform):
        m = Module()
        bus, ini = self.bus, self.init
        ptr = Signal(self.addr_width)      # dataset word offset of the next record word
        dest = Signal(self.addr_width)
        count = Signal(16)
        data = Signal(16)
        loads = Signal(16)
        read_addr = Signal(self.addr_width)
        m.d.comb += read_addr.eq(self.dataset_base + ptr)

        # The register target (only reachable by the link, i.e. while idle).
        m.d.comb += bus.req_ready.eq(1)
        m.d.sync += [bus.r_valid.eq(bus.req_valid & ~bus.we),
                     bus.r_data.eq(Mux(bus.addr == 0, self.busy, loads))]
        start = bus.req_valid & bus.we & (bus.addr == 0)

        def read(m, nxt_wait):
            m.d.comb += [ini.req_valid.eq(1), ini.we.eq(0), ini.addr.eq(read_addr)]
            with m.If(ini.req_ready):
                m.d.sync += ptr.eq(ptr + 1)
                m.next = nxt_wait

        with m.FSM() as fsm:
            with m.State("IDLE"):
                with m.If(start):
                    m.d.sync += ptr.eq(bus.w_data << 1)  # first the index table entry (2 words)
                    m.next = "T_REQ"
            with m.State("T_REQ"):
                read(m, "T_WAIT")
            with m.State("T_WAIT"):
                with m.If(ini.r_valid):
                    m.d.sync += dest[:16].eq(ini.r_data)  # dest holds the record offset meanwhile
                    m.next = "T2_REQ"
            with m.State("T2_REQ"):
                read(m, "T2_WAIT")
            with m.State("T2_WAIT"):
                with m.If(ini.r_valid):
                    m.d.sync += ptr.eq(dest[:16] | (ini.r_data << 16))
                    m.next = "C_REQ"
            with m.State("C_REQ"):
                read(m, "C_WAIT")
            with m.State("C_WAIT"):
                with m.If(ini.r_valid):
                    m.d.sync += count.eq(ini.r_data)
                    with m.If(ini.r_data == 0):
                        m.d.sync += loads.eq(loads + 1)
                        m.next = "IDLE"
                    with m.Else():
                        m.next = "L_REQ"
            with m.State("L_REQ"):
                read(m, "L_WAIT")
            with m.State("L_WAIT"):
                with m.If(ini.r_valid):
                    m.d.sync += dest[:16].eq(ini.r_data)
                    m.next = "H_REQ"
            with m.State("H_REQ"):
                read(m, "H_WAIT")
            with m.State("H_WAIT"):
                with m.If(ini.r_valid):
                    if self.addr_width > 16:
                        m.d.sync += dest[16:].eq(ini.r_data)
                    m.next = "D_REQ"
            with m.State("D_REQ"):
                read(m, "D_WAIT")
            with m.State("D_WAIT"):
                with m.If(ini.r_valid):
                    m.d.sync += data.eq(ini.r_data)
                    m.next = "W_REQ"
            with m.State("W_REQ"):
                m.d.comb += [ini.req_valid.eq(1), ini.we.eq(1), ini.addr.eq(dest), ini.w_data.eq(data)]
                with m.If(ini.req_ready):
                    m.d.sync += [dest.eq(dest + 1), count.eq(count - 1)]
                    with m.If(count == 1):
                        m.next = "C_REQ"
                    with m.Else():
                        m.next = "D_REQ"
            m.d.comb += self.busy.eq(~fsm.ongoing("IDLE"))
        return m


def arbitrate(m: Module, link_bus, loader: SampleLoader, target_bus) -> None:
    """The loader owns `target_bus` while busy (it only starts from a link write, so no read is in flight
    at either switch-over); otherwise the link does.  The link's requests simply wait meanwhile."""
    own = loader.busy
    for ini, sel in ((loader.init, own), (link_bus, ~own)):
        m.d.comb += [ini.req_ready.eq(sel & target_bus.req_ready), ini.r_valid.eq(sel & target_bus.r_valid),
                     ini.r_data.eq(target_bus.r_data)]
    with m.If(own):
        m.d.comb += [target_bus.req_valid.eq(loader.init.req_valid), target_bus.addr.eq(loader.init.addr),
                     target_bus.we.eq(loader.init.we), target_bus.w_data.eq(loader.init.w_data)]
    with m.Else():
        m.d.comb += [target_bus.req_valid.eq(link_bus.req_valid), target_bus.addr.eq(link_bus.addr),
                     target_bus.we.eq(link_bus.we), target_bus.w_data.eq(link_bus.w_data)]
