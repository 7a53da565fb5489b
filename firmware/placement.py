"""Multi-core plans on the mesh: which core does what and which packets flow between cores.

Two modes (docs/mesh.md):
- model parallel: layer l runs on core `layer_core[l-1]`; spikes s_l[t] go forward to the core of layer l+1,
  errors gs_l[t] (dL/ds_l, computed by layer l+1) come back. The arithmetic is unchanged, so the result is
  the single-core golden model's, bit for bit; the network must deliver the right bits in the right order.
- data parallel: every core trains the same weights on its own sample; the gradients are combined by a
  chain reduction in a FIXED order (`order`), acc = fl(acc + G_c), so `spikemesh.sim.golden_mesh` mirrors
  it bit for bit; the last core applies the SGD update and broadcasts the new weights.

Packet formats (flit width W, k = W // 16 FP16 values or W spike bits per body flit):
- head extra field (above the header): `train_extra_layout` (rtl/mesh/flit.py): layer (4 bits), block index,
  final in the top bit;
- SPIKE: seq = t, body = packed spike bits of s_l[t] (LSB = neuron 0);
- ERROR: seq = t, body = FP16 bits of gs_l[t], k per flit (value 0 in the low 16 bits);
- WEIGHT: seq = block index (mod 256), body = FP16 bits of one block of a row-major flattened G or W.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from amaranth.lib import data

from spikemesh.rtl.mesh.flit import (PACKET_LAYER_BITS, MeshConfig, PacketType, make_head, pack_flit, parse_head,
                                     train_extra_layout, unpack_flit)
from spikemesh.rtl.words import field_width, pack, unpack

ORDERS = ("index", "snake")


def fp16_per_flit(cfg: MeshConfig) -> int:
    return cfg.flit_width // 16


def _check_extra(cfg: MeshConfig, layer: int, block: int) -> data.StructLayout:
    lay = train_extra_layout(cfg)
    if not 0 <= layer < (1 << field_width(lay, "layer")):
        raise ValueError(f"layer must be in 0..{(1 << field_width(lay, 'layer')) - 1}, got {layer}")
    if not 0 <= block < (1 << field_width(lay, "block")):
        raise ValueError(f"block index must be in 0..{(1 << field_width(lay, 'block')) - 1} at flit_width "
                         f"{cfg.flit_width}, got {block}: use larger blocks or a wider flit")
    return lay


def head_extra(cfg: MeshConfig, layer: int, block: int = 0, final: bool = False) -> int:
    return pack(_check_extra(cfg, layer, block), layer=layer, block=block, final=int(final))


def parse_extra(cfg: MeshConfig, extra: int) -> tuple[int, int, bool]:
    f = unpack(train_extra_layout(cfg), extra)
    return f["layer"], f["block"], bool(f["final"])


def fp16_words(cfg: MeshConfig, values: np.ndarray) -> list[int]:
    """FP16 values -> body words, k per word, value i in bits [16*(i%k), 16*(i%k)+16)."""
    b = np.asarray(values, np.float16).view(np.uint16).ravel()
    k = fp16_per_flit(cfg)
    return [sum(int(v) << (16 * j) for j, v in enumerate(b[i:i + k])) for i in range(0, len(b), k)]


def words_fp16(cfg: MeshConfig, words: list[int], n: int) -> np.ndarray:
    k = fp16_per_flit(cfg)
    out = [(w >> (16 * j)) & 0xFFFF for w in words for j in range(k)][:n]
    if len(out) != n:
        raise ValueError(f"expected {n} FP16 values, got {len(out)}")
    return np.asarray(out, np.uint16).view(np.float16)


def spike_words(cfg: MeshConfig, spikes: np.ndarray) -> list[int]:
    s = np.asarray(spikes).astype(bool).ravel()
    W = cfg.flit_width
    return [sum(1 << j for j, v in enumerate(s[i:i + W]) if v) for i in range(0, len(s), W)]


def words_spikes(cfg: MeshConfig, words: list[int], n: int) -> np.ndarray:
    W = cfg.flit_width
    return np.asarray([(w >> j) & 1 for w in words for j in range(W)][:n], bool)


def packet(cfg: MeshConfig, src: int, dst: int, ptype: PacketType, seq: int, extra: int,
           body: list[int]) -> list[int]:
    """Flit values (data | head << W | tail << W+1) of one packet from core `src` to core `dst`."""
    sx, sy = cfg.coords(src)
    dx, dy = cfg.coords(dst)
    words = [make_head(dx, dy, sx, sy, int(ptype.value if hasattr(ptype, "value") else ptype), seq, extra)]
    words += body
    return [pack_flit(cfg.flit_width, w, i == 0, i == len(words) - 1) for i, w in enumerate(words)]


def parse_packet(cfg: MeshConfig, flits: list[int]) -> dict:
    words = [unpack_flit(cfg.flit_width, f)[0] for f in flits]
    h = parse_head(words[0])
    layer, block, final = parse_extra(cfg, h["extra"])
    return {"src": cfg.node(h["src_x"], h["src_y"]), "dst": cfg.node(h["dst_x"], h["dst_y"]),
            "ptype": h["ptype"], "seq": h["seq"], "layer": layer, "block": block, "final": final,
            "body": words[1:]}


def chain_order(cfg: MeshConfig, cores: tuple[int, ...], order: str) -> list[int]:
    """The fixed reduction order: ascending core index, or snake (row-major, odd rows reversed: 1 hop each)."""
    if order not in ORDERS:
        raise ValueError(f"order must be one of {ORDERS}, got {order!r}")
    if order == "index":
        return sorted(cores)
    key = {c: (cfg.coords(c)[1], cfg.coords(c)[0] if cfg.coords(c)[1] % 2 == 0 else -cfg.coords(c)[0])
           for c in cores}
    return sorted(cores, key=key.__getitem__)


@dataclass(frozen=True)
class DataParallelPlan:
    mesh: MeshConfig
    cores: tuple[int, ...]
    order: str = "index"
    block: int = 32  # FP16 values per WEIGHT packet

    def __post_init__(self):
        object.__setattr__(self, "cores", tuple(int(c) for c in self.cores))
        if not self.cores or len(set(self.cores)) != len(self.cores):
            raise ValueError(f"cores must be a non-empty tuple of distinct core indices, got {self.cores!r}")
        if any(not 0 <= c < self.mesh.n_nodes for c in self.cores):
            raise ValueError(f"cores must be in 0..{self.mesh.n_nodes - 1} on a {self.mesh.rows}x"
                             f"{self.mesh.cols} mesh, got {self.cores!r}")
        if self.order not in ORDERS:
            raise ValueError(f"order must be one of {ORDERS}, got {self.order!r}")
        if not isinstance(self.block, int) or not 1 <= self.block <= 256:
            raise ValueError(f"block must be an int in 1..256 FP16 values, got {self.block!r}")

    @property
    def chain(self) -> list[int]:
        return chain_order(self.mesh, self.cores, self.order)

    def blocks(self, shapes: list[tuple[int, int]]) -> list[tuple[int, int, int, int]]:
        """(layer index 0.., block index, start, stop) over each row-major flattened matrix."""
        out = []
        for li, (r, c) in enumerate(shapes):
            n = r * c
            for b, start in enumerate(range(0, n, self.block)):
                _check_extra(self.mesh, li, b)
                out.append((li, b, start, min(start + self.block, n)))
        return out


@dataclass(frozen=True)
class ModelParallelPlan:
    mesh: MeshConfig
    layer_core: tuple[int, ...]  # core of main layer 1..L

    def __post_init__(self):
        object.__setattr__(self, "layer_core", tuple(int(c) for c in self.layer_core))
        if not self.layer_core:
            raise ValueError("layer_core must name a core for every layer, got an empty tuple")
        if any(not 0 <= c < self.mesh.n_nodes for c in self.layer_core):
            raise ValueError(f"layer_core entries must be in 0..{self.mesh.n_nodes - 1}, got {self.layer_core!r}")
        if len(self.layer_core) > (1 << PACKET_LAYER_BITS):
            raise ValueError(f"at most {1 << PACKET_LAYER_BITS} layers, got {len(self.layer_core)}")

    def slices(self) -> list[tuple[int, int, int]]:
        """(node, first layer, last layer) per core in chain order: each core holds a contiguous slice, the
        core layout `compile_segments` compiles for (a core's local layer 1 = the slice's first layer)."""
        out: list[tuple[int, int, int]] = []
        for l, c in enumerate(self.layer_core, start=1):
            if out and out[-1][0] == c:
                out[-1] = (c, out[-1][1], l)
            elif any(n == c for n, _, _ in out):
                raise ValueError(f"layer_core must give each core one contiguous run of layers, got {self.layer_core!r}")
            else:
                out.append((c, l, l))
        return out

    def core_layers(self, sizes: tuple[int, ...]) -> dict[int, tuple[int, ...]]:
        """Per core node, the layer sizes of its slice (N_{first-1}, ..., N_last): its `CoreConfig.layers`."""
        if len(sizes) != len(self.layer_core) + 1:
            raise ValueError(f"sizes must list {len(self.layer_core) + 1} layer sizes (N_0..N_L), got {len(sizes)}")
        return {c: tuple(sizes[lo - 1:hi + 1]) for c, lo, hi in self.slices()}

    def script(self, exchange: list[dict]) -> dict[int, list[tuple[str, int]]]:
        """Per core, the sequence of ("send"|"recv", message index) a core would execute: a layer sends its
        output once computed and must receive its input first (`exchange` in the order the model computes)."""
        ops: dict[int, list[tuple[str, int]]] = {c: [] for c in range(self.mesh.n_nodes)}
        for i, msg in enumerate(exchange):
            ops[msg["src"]].append(("send", i))
            ops[msg["dst"]].append(("recv", i))
        return {c: o for c, o in ops.items() if o}

    def packets(self, exchange: list[dict]) -> list[list[int]]:
        """The packet of each message of `exchange` (see `golden_mesh.model_parallel_exchange`)."""
        out = []
        for msg in exchange:
            if msg["kind"] == "spike":
                body = spike_words(self.mesh, msg["value"])
                ptype = PacketType.SPIKE
            else:
                body = fp16_words(self.mesh, msg["value"])
                ptype = PacketType.ERROR
            out.append(packet(self.mesh, msg["src"], msg["dst"], ptype, msg["t"] & 0xFF,
                              head_extra(self.mesh, msg["layer"]), body))
        return out


@dataclass(frozen=True)
class LocalBlock:
    """One block of a local-learning network on its own core (docs/mesh.md, "Local learning across cores").

    The core holds the block's main layers first..last and, unless the block is the final one, its head as
    the core's last layer; it trains them as one chain (`firmware.program.local_block_ops`)."""

    index: int                  # block 0..
    first: int                  # first main layer (1-based)
    last: int                   # last main layer
    head: int | None            # index of the head's W in the golden weight list (None: the final block)
    core_layers: tuple[int, ...]  # the core's CoreConfig.layers: N_{first-1}, ..., N_last (, N_L for the head)

    @property
    def weight_indices(self) -> tuple[int, ...]:
        """Indices into the golden weight list (main W_1..W_L, then the heads) in the core's layer order."""
        return tuple(range(self.first - 1, self.last)) + ((self.head,) if self.head is not None else ())

    @property
    def send_layer(self) -> int:
        """The core-local layer whose spikes feed the next block's core (the block's last main layer)."""
        return self.last - self.first + 1


def local_blocks(sizes: tuple[int, ...], blocks: tuple[int, ...]) -> list[LocalBlock]:
    """The per-core split of a local-learning network `sizes` (N_0..N_L) with `blocks` main layers per block."""
    sizes, blocks = tuple(int(n) for n in sizes), tuple(int(b) for b in blocks)
    L = len(sizes) - 1
    if L < 1 or not blocks or any(b < 1 for b in blocks) or sum(blocks) != L:
        raise ValueError(f"blocks must be positive layer counts summing to {L} (the layers of sizes {sizes}), "
                         f"got {blocks!r}")
    out, first = [], 1
    for b, n in enumerate(blocks):
        last = first + n - 1
        final = b == len(blocks) - 1
        head = None if final else L + b
        out.append(LocalBlock(b, first, last, head, sizes[first - 1:last + 1] + (() if final else (sizes[-1],))))
        first = last + 1
    return out
