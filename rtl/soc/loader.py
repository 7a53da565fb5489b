"""Sample loader: a bus initiator that copies one sample's record from the dataset BRAM to its destinations.

The host encodes the dataset once (`spikemesh.firmware.dataset.encode_records`, which packs the Structs below):
words 2n, 2n+1 of the dataset region are the word offset of record n (`IndexEntry`); a record is a list of
segments ended by a 0 word.  Every segment starts with a `SegmentHead` word.  A data segment
(`DataSegment`: count 1..MAX_SEGMENT_WORDS, dest) is followed by its count data words, written to
consecutive bus addresses from `dest` (the core's input regions and label register, addresses taken from the
memory map by the host).  A wait segment (`WaitSegment`: head SEGMENT_WAIT, addr, mask, value, limit) makes the
loader read `addr` until `word & mask == value` (e.g. the core's status until done), at most `limit` reads;
running out counts a timeout.  Multi-word fields are low word first.

Registers: writing n to `sample` copies record n; writing n to `run` copies record n, then record `then`
(a trailer the host stores once, e.g. "start the core, wait until it is done").  While the loader runs it
owns the SoC bus and the link's next bus transfer waits (`arbitrate`): a two-word block write of (n, 0)
to `run` and `wait` is answered only when the trailer is done, so "load sample n, train on it" is one
request and one response.
"""
# no `from __future__ import annotations`: data.Struct reads its field annotations as objects
from amaranth import Module, Mux, Signal
from amaranth.lib import data as data_lib, wiring
from amaranth.lib.wiring import In, Out

from ..bus import BusSignature, Region
from ..words import field_offset, field_width, pack

LOADER_REGS = [("sample", 0, 1, "rw", "write n: copy sample n's record from the dataset to its destinations; "
                                      "reads 1 while copying (the link waits anyway)"),
               ("loads", 1, 1, "r", "records copied since reset (wraps)"),
               ("run", 2, 1, "w", "write n: copy record n, then record `then`"),
               ("wait", 3, 1, "w", "a write is taken when the loader is idle: (n, 0) to run+wait answers when done"),
               ("then", 4, 1, "rw", "the record `run` copies after record n (a trailer: start, wait until done)"),
               ("timeouts", 5, 1, "r", "wait segments that ran out of reads since reset (wraps)")]
REG_ADDR_WIDTH = 3


class IndexEntry(data_lib.Struct):
    """Words 2n, 2n+1 of the dataset: where record n starts (dataset word offset)."""

    offset: 32


class SegmentHead(data_lib.Struct):
    """A segment's first word: a data segment's word count, or `wait` (count 0); the word 0 ends the record."""

    count: 15
    wait: 1


class DataSegment(data_lib.Struct):
    """A data segment's header words; its `head.count` data words follow."""

    head: SegmentHead
    dest: 32


class WaitSegment(data_lib.Struct):
    """A wait segment: poll `addr` until `word & mask == value`, at most `limit` reads."""

    head: SegmentHead
    addr: 32
    mask: 16
    value: 16
    limit: 32


SEGMENT_WAIT = pack(SegmentHead, wait=1)                          # a segment's first word: wait segment
MAX_SEGMENT_WORDS = (1 << field_width(SegmentHead, "count")) - 1  # data words in one data segment
# The loader's states read the segment words in this order (word k of a record at offset 16 k):
assert [field_offset(WaitSegment, n) // 16 for n in ("head", "addr", "mask", "value", "limit")] == [0, 1, 3, 4, 5]
assert [field_offset(DataSegment, n) // 16 for n in ("head", "dest")] == [0, 1]


class SampleLoader(wiring.Component):
    """`dataset_base`: bus address of the dataset region (from the memory map); `addr_width` of the SoC bus."""

    def __init__(self, dataset_base: int, addr_width: int):
        if not isinstance(dataset_base, int) or not 0 <= dataset_base < (1 << addr_width):
            raise ValueError(f"dataset_base must be in 0..2**addr_width-1, got {dataset_base!r}")
        self.dataset_base, self.addr_width = dataset_base, addr_width
        super().__init__({"bus": In(BusSignature(REG_ADDR_WIDTH, 16)), "init": Out(BusSignature(addr_width, 16)),
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
        loads, timeouts = Signal(16), Signal(16)
        then = Signal(16)                  # the trailer record `run` copies after its sample
        trailer = Signal()                 # the current record is followed by record `then`
        mask, value = Signal(16), Signal(16)
        limit = Signal(32)
        waiting = Signal()                 # the current segment is a wait segment
        read_addr = Signal(self.addr_width)
        m.d.comb += read_addr.eq(self.dataset_base + ptr)

        # The register target (only reachable by the link, i.e. while idle).
        regs = {name: off for name, off, *_ in LOADER_REGS}
        m.d.comb += bus.req_ready.eq(1)
        r_data = Signal(16)
        with m.Switch(bus.addr):
            with m.Case(regs["sample"]):
                m.d.comb += r_data.eq(self.busy)
            with m.Case(regs["loads"]):
                m.d.comb += r_data.eq(loads)
            with m.Case(regs["then"]):
                m.d.comb += r_data.eq(then)
            with m.Case(regs["timeouts"]):
                m.d.comb += r_data.eq(timeouts)
        m.d.sync += [bus.r_valid.eq(bus.req_valid & ~bus.we), bus.r_data.eq(r_data)]
        write = bus.req_valid & bus.we
        start = write & ((bus.addr == regs["sample"]) | (bus.addr == regs["run"]))
        with m.If(write & (bus.addr == regs["then"])):
            m.d.sync += then.eq(bus.w_data)

        def read(m, nxt_wait):
            m.d.comb += [ini.req_valid.eq(1), ini.we.eq(0), ini.addr.eq(read_addr)]
            with m.If(ini.req_ready):
                m.d.sync += ptr.eq(ptr + 1)
                m.next = nxt_wait

        with m.FSM() as fsm:
            with m.State("IDLE"):
                with m.If(start):
                    m.d.sync += [ptr.eq(bus.w_data << 1),  # first the index table entry (2 words)
                                 trailer.eq(bus.addr == regs["run"])]
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
                    m.d.sync += [count.eq(ini.r_data), waiting.eq(ini.r_data == SEGMENT_WAIT)]
                    with m.If(ini.r_data == 0):
                        m.d.sync += loads.eq(loads + 1)
                        with m.If(trailer):  # then the trailer record
                            m.d.sync += [trailer.eq(0), ptr.eq(then << 1)]
                            m.next = "T_REQ"
                        with m.Else():
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
                    with m.If(waiting):
                        m.next = "M_REQ"
                    with m.Else():
                        m.next = "D_REQ"
            # ---- wait segment: mask, value, limit (2 words), then poll `dest` ----
            for st, nxt, target in (("M", "V", mask), ("V", "LL", value), ("LL", "LH", limit[:16]),
                                    ("LH", "P", limit[16:])):
                with m.State(f"{st}_REQ"):
                    read(m, f"{st}_WAIT")
                with m.State(f"{st}_WAIT"):
                    with m.If(ini.r_valid):
                        m.d.sync += target.eq(ini.r_data)
                        m.next = f"{nxt}_REQ"
            with m.State("P_REQ"):
                m.d.comb += [ini.req_valid.eq(1), ini.we.eq(0), ini.addr.eq(dest)]
                with m.If(ini.req_ready):
                    m.next = "P_WAIT"
            with m.State("P_WAIT"):
                with m.If(ini.r_valid):
                    with m.If((ini.r_data & mask) == value):
                        m.next = "C_REQ"
                    with m.Elif(limit <= 1):
                        m.d.sync += timeouts.eq(timeouts + 1)
                        m.next = "C_REQ"
                    with m.Else():
                        m.d.sync += limit.eq(limit - 1)
                        m.next = "P_REQ"
            # ---- data segment ----
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
