"""The sample loader copies records from the dataset BRAM while the link's requests wait (Amaranth sim)."""
import numpy as np
import pytest
from amaranth import Module
from amaranth.lib import wiring
from amaranth.lib.wiring import In
from amaranth.sim import Simulator

from spikemesh.firmware.dataset import encode_records
from spikemesh.rtl.bus import BusDecoder, BusSignature, MemoryMap
from spikemesh.rtl.soc.loader import SampleLoader, arbitrate
from spikemesh.rtl.soc.targets import BramTarget
from spikemesh.rtl.soc.top import _connect_narrower


class LoaderRig(wiring.Component):
    """link-side initiator port -> arbiter -> decoder -> dataset BRAM, loader registers, a sink BRAM."""

    def __init__(self):
        mm = MemoryMap(addr_width=19)
        self.ds_base = mm.add("dataset", BramTarget.regions_for(1 << 17, "data"))
        self.ld_base = mm.add("loader", SampleLoader.regions_static())
        self.sink_base = mm.add("sink", BramTarget.regions_for(1 << 16, "data"))  # its addresses use bit 16: dest_hi
        self.mm = mm
        super().__init__({"link": In(BusSignature(19, 16))})

    def elaborate(self, platform):
        m = Module()
        m.submodules.dec = dec = BusDecoder(self.mm, ["dataset", "loader", "sink"])
        m.submodules.ld = ld = SampleLoader(self.ds_base, 19)
        m.submodules.ds = ds = BramTarget(1 << 17, addr_width=19)
        m.submodules.sink = sink = BramTarget(1 << 16, addr_width=19)
        arbitrate(m, wiring.flipped(self.link), ld, dec.bus)
        wiring.connect(m, dec.t_dataset, ds.bus)
        wiring.connect(m, dec.t_sink, sink.bus)
        _connect_narrower(m, dec.t_loader, ld.bus)
        return m


def link_xfer(ctx, link):
    """`await xfer(addr, we, data)`: one transfer on the link-side port -> (read data or None, cycles waited)."""
    async def xfer(addr, we=0, data=0):
        ctx.set(link.addr, addr), ctx.set(link.we, we), ctx.set(link.w_data, data)
        ctx.set(link.req_valid, 1)
        waited = 0
        while True:
            ready = ctx.get(link.req_ready)  # before the edge: this edge takes the transfer
            await ctx.tick()
            if ready:
                break
            waited += 1
        ctx.set(link.req_valid, 0)
        if not we:
            while not ctx.get(link.r_valid):
                await ctx.tick()
            return ctx.get(link.r_data), waited
        return None, waited
    return xfer


def test_loader_copies_records_while_link_waits():
    rig = LoaderRig()
    rng = np.random.default_rng(1)
    sink = rig.sink_base
    samples = [[(sink + 5, rng.integers(0, 1 << 16, 7)), (sink + 0xF000, [0xBEEF]), (sink + 40, [])],
               [(sink + 100, rng.integers(0, 1 << 16, 30))],
               [(sink + 5, [1, 2, 3])]]
    words = encode_records(samples, 1 << 17)
    far = 0x10004  # sample 3: a record placed above 64 Ki words (table entry high half used)
    samples.append([(sink + 7, [0x1234, 0x5678])])
    words = np.concatenate([words[:6], [far & 0xFFFF, far >> 16], words[6:] + 0]).astype(np.uint16)
    words[[0, 2, 4]] += 2  # the table grew by one entry: shift the other records' offsets
    far_record = [2, (sink + 7) & 0xFFFF, (sink + 7) >> 16, 0x1234, 0x5678, 0]
    out = {}

    async def bench(ctx):
        xfer = link_xfer(ctx, rig.link)

        for i, w in enumerate(words):
            await xfer(rig.ds_base + i, 1, int(w))
        for i, w in enumerate(far_record):
            await xfer(rig.ds_base + far + i, 1, w)
        for n, expect in ((1, samples[1]), (0, samples[0]), (3, samples[3]), (2, samples[2])):
            await xfer(rig.ld_base, 1, n)  # start: the link's next transfer waits for the copy
            got, waited = await xfer(rig.sink_base + 5)
            assert waited > 0
            for addr, ws in expect:
                for k, v in enumerate(ws):
                    out[addr + k] = int(v)  # later samples overwrite earlier ones
            for addr in out:
                assert (await xfer(addr))[0] == out[addr], hex(addr)
        assert (await xfer(rig.ld_base + 1))[0] == 4  # loads counter
        assert (await xfer(rig.ld_base))[0] == 0      # idle

    sim = Simulator(rig)
    sim.add_clock(1e-6)
    sim.add_testbench(bench)
    sim.run()


@pytest.mark.filterwarnings("ignore::amaranth.hdl.UnusedElaboratable")  # the refused loader is never built
def test_encode_records_layout_and_capacity():
    w = encode_records([[(0x12345, [7, 8])], [(3, [9])]], 64)
    assert list(w) == [4, 0, 10, 0, 2, 0x2345, 1, 7, 8, 0, 1, 3, 0, 9, 0]
    with pytest.raises(ValueError, match="capacity"):
        encode_records([[(0, np.zeros(60))]], 64)
    with pytest.raises(ValueError, match="SampleLoader|dataset_base"):
        SampleLoader(1 << 18, 18)


def test_loader_run_trailer_waits_and_times_out():
    """`run` n: record n, then the trailer record `then` (a write, then a wait segment polling a word); a
    two-word write to run+wait is taken only when the wait is over; a wait that never holds counts a timeout."""
    from spikemesh.firmware.dataset import Wait
    from spikemesh.rtl.soc.loader import LOADER_REGS

    reg = {name: off for name, off, *_ in LOADER_REGS}
    rig = LoaderRig()
    sink = rig.sink_base
    flag = sink + 300
    samples = [[(sink + 10, [11, 12])], [(sink + 20, [21])],
               [(sink + 30, [0x5A5A]), (flag, Wait(mask=0x00F0, value=0x0050, limit=1000))],  # trailer A
               [(flag, Wait(mask=0xFFFF, value=0x1234, limit=7))]]                            # trailer B: never holds
    words = encode_records(samples, 1 << 17)
    assert list(words[words.tolist().index(0x8000):][:7]) == [0x8000, flag & 0xFFFF, flag >> 16, 0x00F0, 0x0050,
                                                               1000, 0]

    async def bench(ctx):
        xfer = link_xfer(ctx, rig.link)

        for i, w in enumerate(words):
            await xfer(rig.ds_base + i, 1, int(w))
        await xfer(flag, 1, 0x0357)                     # (0x0357 & 0xF0) == 0x50: the wait holds at once
        await xfer(rig.ld_base + reg["then"], 1, 2)
        assert (await xfer(rig.ld_base + reg["then"]))[0] == 2
        await xfer(rig.ld_base + reg["run"], 1, 1)      # sample 1, then trailer A
        _, waited = await xfer(rig.ld_base + reg["wait"], 1, 0)
        assert waited > 0
        assert (await xfer(sink + 20))[0] == 21 and (await xfer(sink + 30))[0] == 0x5A5A
        assert (await xfer(rig.ld_base + reg["timeouts"]))[0] == 0
        await xfer(rig.ld_base + reg["then"], 1, 3)
        await xfer(rig.ld_base + reg["run"], 1, 0)      # sample 0, then trailer B: 7 reads, then a timeout
        _, waited_b = await xfer(rig.ld_base + reg["wait"], 1, 0)
        assert waited_b > 7 * 2
        assert (await xfer(sink + 10))[0] == 11
        assert (await xfer(rig.ld_base + reg["timeouts"]))[0] == 1
        assert (await xfer(rig.ld_base + reg["loads"]))[0] == 4  # two samples, two trailers

    sim = Simulator(rig)
    sim.add_clock(1e-6)
    sim.add_testbench(bench)
    sim.run()


def test_encode_records_splits_long_writes():
    from spikemesh.rtl.soc.loader import MAX_SEGMENT_WORDS

    w = encode_records([[(100, np.arange(MAX_SEGMENT_WORDS + 3) & 0xFFFF)]], 1 << 17)
    assert w[2] == MAX_SEGMENT_WORDS and w[3:5].tolist() == [100, 0]
    second = 2 + 3 + MAX_SEGMENT_WORDS
    assert w[second:second + 3].tolist() == [3, 100 + MAX_SEGMENT_WORDS, 0] and w[-1] == 0
