"""The word layouts defined once as amaranth shapes: host packing (`spikemesh.rtl.words`) agrees with the
gateware's view of the same Struct, and the memory map's fields are the Structs' fields."""
import pytest
from amaranth import Module, Signal
from amaranth.lib import data
from amaranth.sim import Simulator

from spikemesh.rtl.bus import struct_fields, struct_value
from spikemesh.rtl.core.isa import Instruction, Op, decode, encode
from spikemesh.rtl.core.layout import CTRL_REGISTERS, MODE_TABLE, CtrlStatus, Mode
from spikemesh.rtl.formats import FLAG_WIDTH, Flag, Flags
from spikemesh.rtl.mesh.copy_engine import CopyDest, copy_request_body
from spikemesh.rtl.mesh.flit import MeshConfig, make_head, parse_head
from spikemesh.rtl.words import field_mask, pack, pack_words, unpack


def test_pack_unpack_round_trip_and_range_checks():
    w = pack(Instruction, op=Op.WGA, layer=5, t=63)
    assert unpack(Instruction, w) == {"op": Op.WGA, "layer": 5, "t": 63, "flags": 0}
    assert w == Instruction.const({"op": Op.WGA, "layer": 5, "t": 63}).as_bits()  # amaranth's own packing
    with pytest.raises(ValueError, match="does not fit"):
        pack(Instruction, layer=8)
    with pytest.raises(KeyError):
        pack(Instruction, nope=1)
    assert pack_words(data.StructLayout({"a": 16, "b": 16}), a=1, b=2) == [1, 2]


def test_instruction_encode_decode():
    assert encode(Op.FWD, 3, 9) == 2 | 3 << 4 | 9 << 7
    assert decode(encode(Op.DELTAT, 7, 63)) == (Op.DELTAT, 7, 63)
    with pytest.raises(ValueError, match="t must be"):
        encode(Op.FWD, 1, 64)


def test_register_fields_come_from_the_structs():
    ctrl, mode = CTRL_REGISTERS[0], CTRL_REGISTERS[3]
    assert [f.name for f in mode.fields] == [n for n, _ in Mode.as_shape() if not n.startswith("_")]
    assert mode.field("table").mask == MODE_TABLE == field_mask(Mode, "table")
    assert {f.name for f in ctrl.fields if "r" in f.access} == {"busy", "done"}
    assert dict(ctrl.layout("r"))["done"].offset == CtrlStatus.as_shape()["done"].offset
    with pytest.raises(KeyError):
        struct_fields(Mode, "rw", {"nope": "x"})


def test_flags_struct_matches_the_host_flag_bits():
    assert FLAG_WIDTH == 5 and all(int(getattr(Flag, n.upper())) == 1 << f.offset for n, f in Flags.as_shape())


def test_host_packing_matches_the_gateware_view():
    """A word packed on the host reads back field by field through a view of the same Struct (Amaranth sim)."""
    cfg = MeshConfig(3, 3, 32)
    dest = copy_request_body(cfg, 5, 1, 2, 0x1234, 12)[1]
    head = make_head(2, 1, 0, 2, 3, 300, extra=1)
    assert parse_head(head)["seq"] == 300 % 256 and parse_head(head)["extra"] == 1
    m = Module()
    sig = Signal(32)
    view = data.View(CopyDest, sig[:CopyDest.as_shape().size])
    status = Signal(16)
    busy, done = Signal(), Signal()
    m.d.comb += status.eq(struct_value(CtrlStatus, busy=busy, done=done))
    sim = Simulator(m)
    out = {}

    async def tb(ctx):
        ctx.set(sig, dest)
        ctx.set(done, 1)
        out.update(addr=ctx.get(view.dst_addr), x=ctx.get(view.dst_x), y=ctx.get(view.dst_y),
                   aw=ctx.get(view.dst_aw), status=ctx.get(status))

    sim.add_testbench(tb)
    sim.run()
    assert out == {"addr": 0x1234, "x": 2, "y": 1, "aw": 12, "status": pack(CtrlStatus, done=1)}
