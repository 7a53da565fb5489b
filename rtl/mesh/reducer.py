"""In-network gradient reduction: G flows core to core and is summed in FP16 by an adder in each node.

`GradReducer` sits in a core's network interface (`rtl/mesh/reduce_node.py`) and streams the core's whole
G region (`g_size` FP16 words from `g_base`, any layout: the sum is element-wise) in one fixed chain order:

- reduce (chain first -> last): the first core reads its G and sends it to `next` raw (acc = G_c0); every
  further core adds its own G element by element as the blocks arrive, `acc = canon(fl(acc + G_c))`
  (one FP16 adder, RNE, a zero sum stored as +0.0), and forwards; the last core writes the sum into its G.
- broadcast (last -> first): once the last core has CONSUMED the whole reduction it reads the sum back and
  sends it to `prev`; every core writes it into its G and forwards to its own `prev`; the first core then
  sends a one-flit "done" packet to `host`. Every core's G now holds the same sum; its UPD ops apply it.

Packets are `WEIGHT` packets in firmware/placement.py's format: seq = block index (mod 256), head extra
layer field = KIND (reduce 0, broadcast 1, done 2), body = `fp16_per_flit` values per flit, `block` values
per packet. A packet is started only when all its flits are buffered (store and forward), so an outgoing
packet never waits for anything but the network. docs/mesh.md ("In-network reduction") argues why this
cannot deadlock.
"""
from __future__ import annotations

import enum as py_enum

from amaranth import Cat, Module, Mux, Signal
from amaranth.lib import data, stream, wiring
from amaranth.lib.fifo import SyncFIFOBuffered
from amaranth.lib.wiring import In, Out

from ..formats import FP16
from ..bus import BusSignature
from ..fp.add import FPAddPipe
from .flit import HEADER_BITS, PACKET_LAYER_BITS, Header, MeshConfig, NodeCoord, PacketType, flit_layout


class Kind(py_enum.IntEnum):
    """Head extra layer field of a reduction packet (`PACKET_LAYER_BITS` wide: where model-parallel packets
    keep their layer, flit.train_extra_layout)."""
    REDUCE = 0
    BCAST = 1
    DONE = 2


class CanonAdd(wiring.Component):
    """`fl(a + b)` with a zero result stored as +0.0 (FPAddPipe, latency `depth`), or `b` unchanged when
    `bypass` (the chain's first term, and broadcast values that are only written). `tag` rides along."""

    def __init__(self, depth: int = 4, tag_width: int = 1):
        self.depth = depth
        self.tag_width = tag_width
        super().__init__({"a": In(16), "b": In(16), "bypass": In(1), "tag": In(tag_width), "i_valid": In(1),
                          "result": Out(16), "o_tag": Out(tag_width), "o_valid": Out(1)})

    def elaborate(self, platform):
        m = Module()
        add = m.submodules.add = FPAddPipe(FP16, self.depth)
        m.d.comb += [add.a.eq(self.a), add.b.eq(self.b), add.i_valid.eq(self.i_valid)]
        # side line with the adder's latency: bypass flag, raw b, tag
        side = Cat(self.bypass, self.b, self.tag)
        for i in range(self.depth):
            nxt = Signal(len(side), name=f"side_{i}")
            m.d.sync += nxt.eq(side)
            side = nxt
        byp, raw, tag = side[0], side[1:17], side[17:]
        s = add.result
        canon = Mux(s[:15] == 0, 0, s)
        m.d.comb += [self.result.eq(Mux(byp, raw, canon)), self.o_tag.eq(tag), self.o_valid.eq(add.o_valid)]
        return m


def coords_bits() -> int:
    """Width of a node's coordinates word (`NodeCoord`)."""
    return NodeCoord.as_shape().size


class GradReducer(wiring.Component):
    """The reduction engine of one node at (x, y). `first`/`last`/`next`/`prev`/`host` come from the
    interface's registers (node coordinates packed x | y << 3); `start` (a pulse) starts the chain at the
    first core. Element rate: up to one G read per cycle (one outstanding read; the next request goes out with
    the answer), one read + one write per element at the last core."""

    def __init__(self, cfg: MeshConfig, x: int, y: int, addr_width: int, g_base: int, g_size: int,
                 block: int = 32, add_depth: int = 4):
        k = cfg.flit_width // 16
        if k < 1:
            raise ValueError(f"flit_width must be >= 16 for FP16 reduction packets, got {cfg.flit_width}")
        if not isinstance(g_size, int) or not 1 <= g_size or not isinstance(g_base, int) or g_base < 0 \
                or g_base + g_size > (1 << addr_width):
            raise ValueError(f"g_base + g_size must lie in the bus's 0..{(1 << addr_width)} words with g_size >= 1,"
                             f" got g_base={g_base!r}, g_size={g_size!r}")
        if not isinstance(block, int) or not 1 <= block <= 256 or block % k:
            raise ValueError(f"block must be an int in 1..256 and a multiple of {k} (FP16 values per flit at "
                             f"flit_width {cfg.flit_width}), got {block!r}")
        if not isinstance(add_depth, int) or not 0 <= add_depth <= FPAddPipe.MAX_DEPTH:
            raise ValueError(f"add_depth must be an int in 0..{FPAddPipe.MAX_DEPTH}, got {add_depth!r}")
        self.cfg, self.x, self.y = cfg, x, y
        self.addr_width, self.g_base, self.g_size = addr_width, g_base, g_size
        self.block, self.add_depth, self.k = block, add_depth, k
        self.n_blocks = -(-g_size // block)
        last_vals = g_size - (self.n_blocks - 1) * block
        self.last_words = -(-last_vals // k)
        self.res_depth = add_depth + 4   # results in flight: input register + adder + bus round trip + slack
        self.word_depth = block // k + 2  # one whole packet (store and forward) + slack
        layout = flit_layout(cfg.flit_width)
        cb = coords_bits()
        super().__init__({
            "net_in": In(stream.Signature(layout)),
            "net_out": Out(stream.Signature(layout)),
            "bus": Out(BusSignature(addr_width, 16)),
            "first": In(1), "last": In(1), "next": In(cb), "prev": In(cb), "host": In(cb),
            "start": In(1),
            "busy": Out(1),
            "passes": Out(16),      # chain passes this node finished (wraps)
            "out_flits": Out(1),    # pulse per flit sent
            "out_stall": Out(1),    # a flit waits for the network this cycle
        })

    def elaborate(self, platform):
        m = Module()
        cfg, k, n, B = self.cfg, self.k, self.g_size, self.block
        W = cfg.flit_width
        fin = self.net_in.payload
        in_kind = fin.data[HEADER_BITS:HEADER_BITS + PACKET_LAYER_BITS]

        # ---- pass configuration
        active = Signal()
        p_in, p_read, p_write, p_send = Signal(), Signal(), Signal(), Signal()
        p_kind = Signal(PACKET_LAYER_BITS)
        p_dst = Signal(coords_bits())
        then_bcast, then_done = Signal(), Signal()   # what follows the pass at the last / the first core
        send_done = Signal()                          # the done packet is pending
        issued = Signal(range(n + 1))     # elements started (input taken, G read issued)
        consumed = Signal(range(n + 1))   # results written / packed
        occ = Signal(range(self.res_depth + 1))  # started, not yet consumed
        blk = Signal(range(self.n_blocks + 1))   # packets sent in this pass
        m.d.comb += self.busy.eq(active | send_done)

        # ---- input unpacker: body flits give k elements each (the pass's last flit may hold fewer)
        lane_in = Signal(range(k))
        elem_in = Signal(16)
        m.d.comb += elem_in.eq(fin.data.word_select(lane_in, 16) if k > 1 else fin.data[:16])
        have_in = Signal()
        m.d.comb += have_in.eq(self.net_in.valid & ~fin.head)
        take_in = Signal()  # an element is taken this cycle
        with m.If(take_in):
            with m.If((lane_in == k - 1) | (issued == n - 1)):
                m.d.comb += self.net_in.ready.eq(1)
                m.d.sync += lane_in.eq(0)
            with m.Else():
                m.d.sync += lane_in.eq(lane_in + 1)
        # head flits: start a pass when idle, skipped inside a pass (one pass spans all blocks)
        start_from_net = Signal()
        with m.If(self.net_in.valid & fin.head):
            with m.If(active & p_in & (issued != n)):
                m.d.comb += self.net_in.ready.eq(1)
            with m.Elif(~active & ~send_done & ~(self.start & self.first)):
                m.d.comb += [self.net_in.ready.eq(1), start_from_net.eq(1)]

        # ---- element pipeline: issue (take input, read G) -> CanonAdd -> result FIFO -> write / pack
        addu = m.submodules.addu = CanonAdd(self.add_depth)
        # one entry more than ever held: SyncFIFOBuffered can refuse a write while its output register refills
        res = m.submodules.res = SyncFIFOBuffered(width=16, depth=self.res_depth + 1)
        m.d.comb += [res.w_en.eq(addu.o_valid), res.w_data.eq(addu.result)]
        words = m.submodules.words = SyncFIFOBuffered(width=W, depth=self.word_depth)

        rd_pend = Signal()
        acc_hold = Signal(16)
        bus = self.bus
        wr_req, rd_req = Signal(), Signal()
        room = Signal()
        m.d.comb += room.eq(occ < self.res_depth)
        can_issue = Signal()
        m.d.comb += can_issue.eq(active & (issued != n) & room & (~p_in | have_in))

        # consumer: head of the result FIFO -> optional bus write -> optional packing into a word
        lane_out = Signal(range(k))
        word = Signal(W)
        pop_res = Signal()
        pack_ok = Signal()
        m.d.comb += pack_ok.eq(~p_send | words.w_rdy)
        # the bus takes a new request in the cycle the previous read's answer arrives (bus.py: targets that
        # need longer hold req_ready low), so a read-only pass streams one element per cycle
        bus_free = Signal()
        m.d.comb += bus_free.eq(~rd_pend | bus.r_valid)
        m.d.comb += wr_req.eq(active & p_write & res.r_rdy & pack_ok & bus_free)
        with m.If(p_write):
            m.d.comb += pop_res.eq(wr_req & bus.req_ready)
        with m.Else():
            m.d.comb += pop_res.eq(active & res.r_rdy & pack_ok)
        m.d.comb += res.r_en.eq(pop_res)
        with m.If(pop_res):
            m.d.sync += consumed.eq(consumed + 1)
            with m.If(p_send):
                full = Signal(W)
                m.d.comb += full.eq(word)
                if k > 1:
                    m.d.comb += full.word_select(lane_out, 16).eq(res.r_data)
                else:
                    m.d.comb += full[:16].eq(res.r_data)
                with m.If((lane_out == k - 1) | (consumed == n - 1)):
                    m.d.comb += [words.w_en.eq(1), words.w_data.eq(full)]
                    m.d.sync += [lane_out.eq(0), word.eq(0)]
                with m.Else():
                    m.d.sync += [lane_out.eq(lane_out + 1), word.eq(full)]

        # issuer: reads only when no write wants the bus (writes drain the pipeline first)
        issue = Signal()
        with m.If(p_read):
            m.d.comb += rd_req.eq(can_issue & bus_free & ~wr_req)
            m.d.comb += issue.eq(rd_req & bus.req_ready)
        with m.Else():
            m.d.comb += issue.eq(can_issue)
        m.d.comb += take_in.eq(issue & p_in)
        with m.If(issue):
            m.d.sync += [issued.eq(issued + 1), acc_hold.eq(elem_in)]
        m.d.comb += [bus.req_valid.eq(wr_req | rd_req), bus.we.eq(wr_req),
                     bus.addr.eq(self.g_base + Mux(wr_req, consumed, issued)), bus.w_data.eq(res.r_data)]
        # a read answer (this cycle for a zero-latency target, else later) enters the adder
        answer = Signal()
        m.d.comb += answer.eq(bus.r_valid & (rd_pend | (issue & p_read)))
        with m.If(rd_pend & bus.r_valid):
            m.d.sync += rd_pend.eq(0)
        with m.If(issue & p_read & ~(bus.r_valid & ~rd_pend)):  # not answered at once: wait for it
            m.d.sync += rd_pend.eq(1)
        # adder inputs registered: the core's read data comes straight from its BRAM through its region mux
        # (the critical path of a 2-core build went BRAM -> bus -> adder alignment without this register)
        with m.If(p_read):
            m.d.sync += [addu.a.eq(Mux(rd_pend, acc_hold, elem_in)), addu.b.eq(bus.r_data),
                         addu.bypass.eq(~p_in), addu.i_valid.eq(answer)]
        with m.Else():
            m.d.sync += [addu.b.eq(elem_in), addu.bypass.eq(1), addu.i_valid.eq(issue)]
        m.d.sync += occ.eq(occ + issue - pop_res)

        # ---- packer: a packet leaves only once all its words are buffered
        cur_words = Signal(range(B // k + 1))
        m.d.comb += cur_words.eq(Mux(blk == self.n_blocks - 1, self.last_words, B // k))
        sent_words = Signal(range(B // k + 1))
        last_word = Signal.like(sent_words)  # cur_words - 1 (cur_words >= 1: last_words and B // k are)
        m.d.comb += last_word.eq(cur_words - 1)
        out = self.net_out
        head = Signal(Header)
        kind_out = Signal(PACKET_LAYER_BITS)
        hdst = Signal(coords_bits())
        hd = data.View(NodeCoord, hdst)
        m.d.comb += [head.dst_x.eq(hd.x), head.dst_y.eq(hd.y), head.src_x.eq(self.x),
                     head.src_y.eq(self.y), head.ptype.eq(PacketType.WEIGHT), head.seq.eq(blk[:8])]
        m.d.comb += [self.out_flits.eq(out.valid & out.ready), self.out_stall.eq(out.valid & ~out.ready)]
        pass_end = Signal()
        with m.FSM(name="packer"):
            with m.State("IDLE"):
                with m.If(send_done):
                    m.next = "DONE"
                with m.Elif(active & p_send & (blk != self.n_blocks) & (words.level >= cur_words)):
                    m.next = "HEAD"
            with m.State("HEAD"):
                m.d.comb += [hdst.eq(p_dst), kind_out.eq(p_kind), out.valid.eq(1), out.payload.head.eq(1),
                             out.payload.data.eq(Cat(head.as_value(), kind_out))]
                with m.If(out.ready):
                    m.d.sync += sent_words.eq(0)
                    m.next = "BODY"
            with m.State("BODY"):
                lastw = sent_words == last_word
                m.d.comb += [out.valid.eq(1), out.payload.data.eq(words.r_data), out.payload.tail.eq(lastw)]
                with m.If(out.ready):
                    m.d.comb += words.r_en.eq(1)
                    m.d.sync += sent_words.eq(sent_words + 1)
                    with m.If(lastw):
                        m.d.sync += blk.eq(blk + 1)
                        m.next = "IDLE"
            with m.State("DONE"):
                m.d.comb += [hdst.eq(self.host), kind_out.eq(Kind.DONE), out.valid.eq(1), out.payload.head.eq(1),
                             out.payload.tail.eq(1), out.payload.data.eq(Cat(head.as_value(), kind_out))]
                with m.If(out.ready):
                    m.d.sync += [send_done.eq(0), self.passes.eq(self.passes + 1)]
                    m.next = "IDLE"

        # ---- pass control
        def begin(m, pin, pread, pwrite, psend, kind, dst, tb, td):
            m.d.sync += [active.eq(1), p_in.eq(pin), p_read.eq(pread), p_write.eq(pwrite), p_send.eq(psend),
                         p_kind.eq(kind), p_dst.eq(dst), then_bcast.eq(tb), then_done.eq(td),
                         issued.eq(0), consumed.eq(0), blk.eq(0), lane_in.eq(0), lane_out.eq(0), word.eq(0)]

        m.d.comb += pass_end.eq(active & (consumed == n) & (~p_send | (blk == self.n_blocks)))
        with m.If(pass_end):
            m.d.sync += [active.eq(0), then_bcast.eq(0), then_done.eq(0)]
            with m.If(then_bcast):   # the last core: the sum is complete in its G; send it back down the chain
                begin(m, 0, 1, 0, 1, Kind.BCAST, self.prev, 0, 0)
            with m.Elif(then_done):  # the first core has the sum: tell the host
                m.d.sync += send_done.eq(1)
            with m.Else():
                m.d.sync += self.passes.eq(self.passes + 1)
        with m.Elif(self.start & ~active & ~send_done & self.first):
            with m.If(self.last):    # a chain of one core: G already is the sum
                m.d.sync += send_done.eq(1)
            with m.Else():
                begin(m, 0, 1, 0, 1, Kind.REDUCE, self.next, 0, 0)
        with m.Elif(start_from_net):
            with m.If(in_kind == Kind.BCAST):
                begin(m, 1, 0, 1, ~self.first, Kind.BCAST, self.prev, 0, self.first)
            with m.Elif(self.last):
                begin(m, 1, 1, 1, 0, Kind.REDUCE, self.next, 1, 0)
            with m.Else():
                begin(m, 1, 1, 0, 1, Kind.REDUCE, self.next, 0, 0)
        return m
