"""What travels on the mesh: packet types, the head-flit header, the flit layout and the mesh config.

A packet is one or more flits (wormhole switching). Every flit carries `head`/`tail` marks next to its
`data` word; the head flit's `data` starts (LSB first) with a `Header`, the bits above it are free payload.
A single-flit packet has head = tail = 1.
"""
# no `from __future__ import annotations`: data.Struct reads its field annotations as objects

from dataclasses import dataclass

from amaranth.lib import data, enum

from ..words import pack, unpack

COORD_BITS = 3        # mesh coordinates 0..7 (the generator allows up to 4 rows x 5 columns)
SEQ_BITS = 8          # per-flow sequence number (wraps); lets a receiver check in-order delivery
MAX_ROWS, MAX_COLS = 4, 5
MIN_DEPTH, MAX_DEPTH = 2, 64
MAX_FLIT_WIDTH = 256


class PacketType(enum.Enum, shape=2):
    SPIKE = 0     # spike events / packed spike vectors (forward, model parallel)
    ERROR = 1     # error vectors gs (backward, model parallel)
    WEIGHT = 2    # weight or gradient blocks (data-parallel reduction, weight broadcast)
    CONTROL = 3   # start/stop/barrier tokens


class Direction(enum.IntEnum):
    """Router port index. y grows to the south (row index), x to the east (column index)."""
    NORTH = 0
    EAST = 1
    SOUTH = 2
    WEST = 3
    LOCAL = 4


OPPOSITE = {Direction.NORTH: Direction.SOUTH, Direction.SOUTH: Direction.NORTH,
            Direction.EAST: Direction.WEST, Direction.WEST: Direction.EAST}


class Header(data.Struct):
    dst_x: COORD_BITS
    dst_y: COORD_BITS
    src_x: COORD_BITS
    src_y: COORD_BITS
    ptype: PacketType
    seq: SEQ_BITS


HEADER_BITS = Header.as_shape().size  # 22


class NodeCoord(data.Struct):
    """A node's coordinates in one word (the reducer's next / prev / host registers)."""

    x: COORD_BITS
    y: COORD_BITS


def flit_layout(flit_width: int) -> data.StructLayout:
    return data.StructLayout({"data": flit_width, "head": 1, "tail": 1})


@dataclass(frozen=True)
class MeshConfig:
    """Generation parameters shared by the router and the mesh."""

    rows: int = 2
    cols: int = 2
    flit_width: int = 32
    depth: int = 5  # input buffer depth in flits = credits per link (5 covers the credit round trip: full rate)

    def __post_init__(self):
        if not isinstance(self.rows, int) or not 1 <= self.rows <= MAX_ROWS:
            raise ValueError(f"rows must be an int in 1..{MAX_ROWS}, got {self.rows!r}")
        if not isinstance(self.cols, int) or not 1 <= self.cols <= MAX_COLS:
            raise ValueError(f"cols must be an int in 1..{MAX_COLS}, got {self.cols!r}")
        if not isinstance(self.flit_width, int) or not HEADER_BITS <= self.flit_width <= MAX_FLIT_WIDTH:
            raise ValueError(f"flit_width must be an int in {HEADER_BITS}..{MAX_FLIT_WIDTH} "
                             f"(the header needs {HEADER_BITS} bits), got {self.flit_width!r}")
        if not isinstance(self.depth, int) or not MIN_DEPTH <= self.depth <= MAX_DEPTH:
            raise ValueError(f"depth must be an int in {MIN_DEPTH}..{MAX_DEPTH}, got {self.depth!r}")

    @property
    def n_nodes(self) -> int:
        return self.rows * self.cols

    def coords(self, node: int) -> tuple[int, int]:
        """Node index (row-major, the core index) -> (x, y)."""
        return node % self.cols, node // self.cols

    def node(self, x: int, y: int) -> int:
        return y * self.cols + x

    @property
    def payload_bits(self) -> int:
        """Free payload bits in a head flit above the header."""
        return self.flit_width - HEADER_BITS


class ControlExtra(data.Struct):
    """Head extra field (the bits above the `Header`) of a CONTROL packet: a bus-bridge request
    (rtl/mesh/bus_bridge.py: write 1, read 0) or a copy request (rtl/mesh/copy_engine.py: copy 1, write 0)."""

    write: 1
    copy: 1


#: width of the layer field of a training packet's head extra (firmware/placement.py); the in-network reducer
#: keeps its packet kind there (rtl/mesh/reducer.py)
PACKET_LAYER_BITS = 4


def train_extra_layout(cfg: "MeshConfig") -> data.StructLayout:
    """Head extra field of a SPIKE / ERROR / WEIGHT packet (firmware/placement.py): layer, block index, and
    `final` in the head flit's top bit, the block index taking every bit between."""
    block_bits = cfg.payload_bits - PACKET_LAYER_BITS - 1
    if block_bits < 1:
        raise ValueError(f"flit_width must be >= {PACKET_LAYER_BITS + 2 + HEADER_BITS} for training packets, "
                         f"got {cfg.flit_width}")
    return data.StructLayout({"layer": PACKET_LAYER_BITS, "block": block_bits, "final": 1})


# Integer packing used by testbenches and host models, from the same layouts as the gateware's views.

def make_head(dst_x: int, dst_y: int, src_x: int, src_y: int, ptype: int, seq: int, extra: int = 0) -> int:
    """Head-flit `data` word: header in the low HEADER_BITS, `extra` payload above (seq wraps)."""
    return pack(Header, dst_x=dst_x, dst_y=dst_y, src_x=src_x, src_y=src_y, ptype=PacketType(ptype),
                seq=seq % (1 << SEQ_BITS)) | extra << HEADER_BITS


def parse_head(word: int) -> dict[str, int]:
    f = unpack(Header, word)
    return {**f, "ptype": f["ptype"].value, "extra": word >> HEADER_BITS}


def pack_flit(flit_width: int, word: int, head: bool, tail: bool) -> int:
    return word | int(head) << flit_width | int(tail) << (flit_width + 1)


def unpack_flit(flit_width: int, value: int) -> tuple[int, bool, bool]:
    return value & ((1 << flit_width) - 1), bool(value >> flit_width & 1), bool(value >> (flit_width + 1) & 1)
