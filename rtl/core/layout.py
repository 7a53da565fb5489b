"""Where everything lives: memory sizes, per-layer bases and the bus regions, computed from a CoreConfig.

Both the hardware and the host use this one computation (the host through `regions()` / the MemoryMap JSON).
The bit fields of the CTRL and MODE registers are `data.Struct`s (`CtrlWrite`, `CtrlStatus`, `Mode`): the core
reads them through views, and the `Field`s of the memory map are derived from them.
"""
# (no `from __future__ import annotations`: the Structs' field shapes are their annotations, evaluated)
from dataclasses import dataclass

import numpy as np
from amaranth.lib import data

from ..bus import Region, Register, struct_fields
from .config import CoreConfig

def _f16_reg(name: str, offset: int, desc: str) -> Register:
    return Register(name, offset, "rw", f"FP16 {desc}")


class CtrlWrite(data.Struct):
    """The CTRL word a write acts on."""

    start: 1
    clear: 1
    _reserved: 14


class CtrlStatus(data.Struct):
    """The CTRL word a read returns."""

    busy: 1
    done: 1
    _reserved: 14


class Mode(data.Struct):
    """The MODE register: training mode bits (firmware/program.py core_constants)."""

    direct: 1
    hard_reset: 1
    tri: 1
    dense: 1
    psi_all: 1
    table: 1
    dense_upd: 1
    membrane: 1
    _reserved: 8


#: The control registers (word offsets inside the `ctrl` region) and their bit fields: the ONE definition the
#: hardware (rtl/core/core.py), the memory map (`CoreLayout.regions`) and the host driver
#: (firmware/core_driver.py) share.
CTRL_REGISTERS = (
    Register("ctrl", 0, "rw", "write: start a program at start_pc, clear the counters; read: busy, done",
             struct_fields(CtrlWrite, "w", {"start": "start the program at start_pc (ignored while busy)",
                                            "clear": "clear the performance counters"}) +
             struct_fields(CtrlStatus, "r", {"busy": "a program is running",
                                             "done": "the last program ran to its end"})),
    Register("start_pc", 1, "rw", "program word the next start begins at"),
    Register("label", 2, "rw", "the sample's class label (LOSS)"),
    Register("mode", 3, "rw", "training mode bits (firmware/program.py core_constants)", struct_fields(Mode, "rw", {
        "direct": "direct FP16 inputs x (else rate-coded input events)",
        "hard_reset": "hard reset after a spike (else soft)",
        "tri": "triangle surrogate (else rectangle)",
        "dense": "dense lists: every neuron, zeros included",
        "psi_all": "keep psi of every step (BPTT/TBPTT)",
        "table": "psi from the surrogate table (sigmoid/atan; sg_table_depth > 0)",
        "dense_upd": "UPD over every column of W/G (else only the columns WG touched)",
        "membrane": "membrane readout: the output layer does not spike, its loss is on h (membrane_readout cores)"})),
    _f16_reg("lam", 4, "membrane decay lambda"),
    _f16_reg("theta", 5, "firing threshold"),
    _f16_reg("loss_c", 6, "loss scale / T"),
    _f16_reg("eta", 7, "learning rate / loss scale"),
    _f16_reg("sg_w", 8, "surrogate half width (rect) or width (tri)"),
    _f16_reg("sg_inv", 9, "1 / surrogate width"),
    _f16_reg("sg_inv2", 10, "1 / surrogate width^2"),
    Register("config_id", 11, "r", "the core's configuration ID (rtl/core/core.py config_id)"),
)
#: control register names in word order
CTRL_REGS = tuple(r.name for r in CTRL_REGISTERS)


def ctrl_offset(name: str) -> int:
    """Word offset of control register `name` inside the `ctrl` region."""
    return next(r.offset for r in CTRL_REGISTERS if r.name == name)


assert [r.offset for r in CTRL_REGISTERS] == list(range(len(CTRL_REGS)))
_CTRL, _MODE = CTRL_REGISTERS[0], CTRL_REGISTERS[3]
#: MODE register bits
MODE_DIRECT, MODE_HARD_RESET, MODE_TRI, MODE_DENSE, MODE_PSI_ALL = (
    _MODE.field(n).mask for n in ("direct", "hard_reset", "tri", "dense", "psi_all"))
MODE_TABLE = _MODE.field("table").mask  # psi from the surrogate table (sigmoid/atan; sg_table_depth > 0)
MODE_DENSE_UPD = _MODE.field("dense_upd").mask  # same bits as the sparse update, which skips untouched columns
MODE_MEMBRANE = _MODE.field("membrane").mask  # non-spiking output layer, loss on its membrane h
#: table-surrogate window registers (word offsets inside the `sgr` region, firmware/surrogate_table.py)
SGR_REGISTERS = (Register("lo", 0, "rw", "|x| bits of the table's first entry"),
                 Register("below", 1, "rw", "psi (FP16) for |x| below the window"),
                 Register("above", 2, "rw", "psi (FP16) for |x| above the window"))
SGR_REGS = tuple(r.name for r in SGR_REGISTERS)
#: SLTT-K random-step registers (word offsets inside the `ksr` region; CoreConfig.k_random)
KSR_REGISTERS = (Register("k_seed", 0, "rw", "LFSR state this sample's step draws start from (the host writes it per "
                                           "sample: golden lfsr.stream_seed(lfsr_seed, n, STREAM_K_STEPS))"),
                 Register("k_count", 1, "rw", "|K|: steps drawn per sample"))
KSR_REGS = tuple(r.name for r in KSR_REGISTERS)
#: OPZO registers (word offsets inside the `osr` region; CoreConfig.opzo; firmware/program.py opzo_constants)
OSR_REGISTERS = (Register("z_seed", 0, "rw", "LFSR state this sample's noise draws start from (the host writes it per "
                                           "sample: golden lfsr.stream_seed(lfsr_seed, n, STREAM_OPZO_NOISE))"),
                 _f16_reg("sigma", 1, "noise amplitude sigma"),
                 _f16_reg("beta", 2, "feedback momentum beta"),
                 _f16_reg("kappa", 3, "feedback step fl((1 - beta) / sigma)"))
OSR_REGS = tuple(r.name for r in OSR_REGISTERS)
#: stochastic-rounding register (word offsets inside the `ssr` region; CoreConfig.stochastic_rounding)
SSR_REGISTERS = (Register("sr_seed", 0, "rw", "LFSR state this sample's rounding draws start from (the host writes it "
                                            "per sample: golden lfsr.stream_seed(lfsr_seed, n, STREAM_SR))"),)
SSR_REGS = tuple(r.name for r in SSR_REGISTERS)
#: CTRL write bits / STATUS read bits
CTRL_START, CTRL_CLEAR_COUNTERS = _CTRL.field("start").mask, _CTRL.field("clear").mask
STATUS_BUSY, STATUS_DONE = _CTRL.field("busy").mask, _CTRL.field("done").mask
#: 32-bit performance counters, two words each (low word first)
COUNTERS = ("cycles", "fp_cycles", "bp_cycles", "wg_cycles", "upd_cycles",
            "fwd_events", "mac_ops", "neuron_ops", "psi_nonzero", "delta_nonzero", "stall_cycles", "mac_issues")
#: extra counters of a core with the forward engine (CoreConfig.overlap): engine busy cycles, and the cycles
#: it is busy while the sequencer works on a non-forward op (the work the overlap hides)
OVERLAP_COUNTERS = ("fwd_busy", "overlap_cycles")

#: Block RAMs of the largest supported device, the LFE5U-85F on ULX3S-85F (boards/profiles.py ECP5_DP16KD):
#: every core must fit it (CoreConfig refuses the rest before any hardware is generated)
LARGEST_DEVICE, LARGEST_DEVICE_BRAMS = "ECP5-85F", 208
#: DP16KD geometries (words, data bits per port): 1..18 bits on DP16KD, 36 on its PDPW16KD form (yosys
#: lattice/brams_16kd.txt; both cost 128 in yosys' memory_libmap, 9-bit bytes)
DP16KD_MODES = ((16384, 1), (8192, 2), (4096, 4), (2048, 9), (1024, 18), (512, 36))
#: what memory_libmap adds to a block-RAM mapping beyond the LUT-RAM one (port emulation), fitted to yosys'
#: choices on the cores of tests/test_core_generation.py (96 x 16 -> LUT RAM, 106 x 16 -> one DP16KD, ...):
#: any value in 14..34 reproduces all of them
BRAM_EXTRA_COST = 24


def _libmap_cost(width: int, depth: int, ports: int, lanes: int, words: int, bits: int, unit_cost: int,
                 byte: int) -> tuple[float, int]:
    """(cost, cells) of one memory_libmap geometry (yosys passes/memory/memory_libmap.cc, handle_geom): every
    lane (or the whole word) is padded to whole bytes, address blocks share cells bit-wise, the read ports
    duplicate the array and mux the address blocks, the write port demuxes its enables."""
    eb = min(byte, bits) if byte else bits
    lane = width // lanes
    swz = lanes * (-(-lane // eb) * eb)
    blocks = -(-depth // words)
    cells = -(-blocks * swz // bits)
    cost = unit_cost * cells * ports + 0.5 * ports * (blocks - 1) * width
    if blocks > 1:
        cost += 0.5 * blocks * lanes
    return cost, cells


def dp16kd_blocks(width: int, depth: int, lanes: int = 1, ports: int = 1) -> int:
    """DP16KD blocks yosys maps one memory to (0: LUT RAM, TRELLIS_DPR16X4): `depth` words of `width` bits,
    `lanes` 16-bit lanes with their own write enables (lanemem), one write port and `ports` read ports (each
    read port past the first duplicates the array). The cheaper of LUT RAM and the best block geometry in
    memory_libmap's cost model, so e.g. W of 784-100-10 takes 80 blocks of 16384 x 1, not 78 of 1024 x 18:
    the x1 geometry needs a 5-way read mux instead of a 78-way one."""
    lut, _ = _libmap_cost(width, depth, ports, lanes, 16, 4, 4, 0)
    best = None
    for words, bits in DP16KD_MODES:
        cost, cells = _libmap_cost(width, depth, ports, lanes, words, bits, 128, 9)
        if best is None or cost < best[0]:
            best = (cost, cells * ports)
    return 0 if lut < best[0] + BRAM_EXTRA_COST else best[1]


def _bits(n: int) -> int:
    """Bits to hold 0..n-1 (at least 1)."""
    return max(1, (n - 1).bit_length())


@dataclass(frozen=True)
class CoreLayout:
    cfg: CoreConfig

    @property
    def L(self) -> int:
        return self.cfg.n_layers

    @property
    def nb(self) -> int:  # neuron index bits
        return _bits(max(self.cfg.layers))

    @property
    def lnb(self) -> int:
        """Entry bits of the psi and delta lists: they hold neuron layers only, so a wide input layer (784
        inputs) does not widen them."""
        return _bits(max(self.cfg.layers[1:]))

    @property
    def lb(self) -> int:  # layer index bits (0..L)
        return _bits(self.L + 1)

    @property
    def tb(self) -> int:
        return _bits(self.cfg.t_max)

    @property
    def counters(self) -> tuple[str, ...]:
        """The counters this core has, in bus order (COUNTERS, then OVERLAP_COUNTERS with the forward engine)."""
        return COUNTERS + (OVERLAP_COUNTERS if self.cfg.overlap else ())

    @property
    def lanes(self) -> int:
        return self.cfg.lanes

    def pad(self, n: int) -> int:
        """n rounded up to a whole number of P-lane words."""
        p = self.cfg.lanes
        return (n + p - 1) // p * p

    def stride(self, l: int) -> int:
        """Column stride of W_l / G_l: N_l padded to a multiple of P, so every column starts a word (the
        padding entries are never read by a narrow pass; wide passes compute on them harmlessly)."""
        return self.pad(self.cfg.sizes[l])

    def wsize(self, l: int) -> int:
        """Words (elements) W_l occupies, padding included."""
        return self.stride(l) * self.cfg.n_in(l)

    def wbase(self, l: int) -> int:
        """Base of W_l / G_l (l = 1..L); element [i, j] at wbase + j * stride(l) + i (column-major)."""
        return sum(self.wsize(k) for k in range(1, l))

    @property
    def w_bank_words(self) -> int:
        """Words per bank of the skewed W memory (rtl/core/skewmem.py): wdepth / P, or more when a GS row read
        of the last word of a padded row reaches past the end (its padding lanes read whatever lies there)."""
        P = self.cfg.lanes
        words = -(-self.wdepth // P)
        if P == 1:
            return words
        for l in range(1, self.L + 1):
            n_out, n_in = self.cfg.sizes[l], self.cfg.n_in(l)
            last = self.wbase(l) + (self.pad(n_in) - 1) * self.stride(l) + n_out - 1
            words = max(words, last // P + 1)
        return words

    def pack_matrix(self, l: int, w, skew: bool = False) -> np.ndarray:
        """W_l (N_l x N_{l-1}) as the wsize(l) FP16 bit patterns the host writes at wbase(l) (padding +0)."""
        n_out, n_in = self.cfg.sizes[l], self.cfg.n_in(l)
        dt = self.cfg.value_dtype
        cols = np.zeros((n_in, self.stride(l)), dt)
        cols[:, :n_out] = np.asarray(w, dt).T
        if skew:
            cols = self._skew(cols, 1)
        return cols.reshape(-1).view(np.uint16)

    def _skew(self, cols: np.ndarray, sign: int) -> np.ndarray:
        """W's bank skew (rtl/core/skewmem.py) on a layer's columns (n_in x stride): element k of column j goes to
        lane (k + j) mod P of its word (sign=1), or back (sign=-1)."""
        P = self.cfg.lanes
        if P == 1:
            return cols
        words = cols.reshape(cols.shape[0], -1, P)
        return np.stack([np.roll(words[j], sign * (j % P), axis=-1) for j in range(cols.shape[0])]).reshape(cols.shape)

    def unpack_matrix(self, l: int, words, skew: bool = False) -> np.ndarray:
        """The inverse of pack_matrix: wsize(l) words read at wbase(l) -> W_l (N_l x N_{l-1}, the core's value dtype)."""
        n_out, n_in = self.cfg.sizes[l], self.cfg.n_in(l)
        cols = np.asarray(words, np.uint16).view(self.cfg.value_dtype).reshape(n_in, self.stride(l))
        if skew:
            cols = self._skew(cols, -1)
        return cols[:, :n_out].T.copy()

    @property
    def wdepth(self) -> int:
        return self.wbase(self.L + 1)

    # ---- G: the same layout as W, except layer 1 of a wg_table core (CoreConfig.wg_table): its table H, row X
    # (a set of steps, bit t = step t) at gbase(1) + X * stride(1), and G_1[:, j] = H[S_j]
    @property
    def hrows(self) -> int:
        """Rows of the input-gradient table (0: the core keeps G_1 as a matrix)."""
        return 1 << self.cfg.t_max if self.cfg.wg_table else 0

    def gsize(self, l: int) -> int:
        """Words G_l occupies: W_l's, or layer 1's table of a wg_table core."""
        return self.hrows * self.stride(1) if l == 1 and self.cfg.wg_table else self.wsize(l)

    def gbase(self, l: int) -> int:
        """Base of G_l (l = 1..L) in memory `g`: element [i, j] at gbase + j * stride(l) + i (layer 1 of a
        wg_table core: table row X at gbase(1) + X * stride(1))."""
        return sum(self.gsize(k) for k in range(1, l))

    @property
    def gdepth(self) -> int:
        return self.gbase(self.L + 1)

    @property
    def tch_width(self) -> int:
        """Bits per input column in the column-bit memory `tch`: one (touched since the last UPD), or t_max on a
        wg_table core (layer 1's S_j: bit t set when input j fired at step t, FWD 1,t; cleared by CLRV)."""
        return self.cfg.t_max if self.cfg.wg_table else 1

    def input_gradient(self, table, s_masks) -> np.ndarray:
        """G_1 (N_1 x N_0) of a wg_table core from its table H (hrows x stride(1) words, memory order) and the
        step sets S_j (one int per input): column j is row S_j of the table."""
        h = np.asarray(table, np.uint16).view(self.cfg.value_dtype).reshape(self.hrows, self.stride(1))
        return h[np.asarray(s_masks, np.int64), :self.cfg.sizes[1]].T.copy()

    # ---- OPZO feedback matrices B_l (N_L x N_l, hidden l = 1..L-1), row-major: a row is one contiguous pass
    def bstride(self, l: int) -> int:
        """Row stride of B_l: N_l padded to the lanes, so every row starts a word (padding stays +0)."""
        return self.pad(self.cfg.sizes[l])

    def bbase(self, l: int) -> int:
        """Base of B_l in memory `b`; element [k, j] at bbase + k * bstride(l) + j."""
        return sum(self.cfg.out_size * self.bstride(k) for k in range(1, l))

    @property
    def bdepth(self) -> int:
        return self.bbase(self.cfg.out_layer) if self.cfg.opzo else 0

    def pack_feedback(self, l: int, b) -> np.ndarray:
        """B_l (N_L x N_l) as the bit patterns the host writes at bbase(l) (row padding +0)."""
        rows = np.zeros((self.cfg.out_size, self.bstride(l)), self.cfg.value_dtype)
        rows[:, :self.cfg.sizes[l]] = np.asarray(b, self.cfg.value_dtype)
        return rows.reshape(-1).view(np.uint16)

    def unpack_feedback(self, l: int, words) -> np.ndarray:
        rows = np.asarray(words, np.uint16).view(self.cfg.value_dtype).reshape(self.cfg.out_size, self.bstride(l))
        return rows[:, :self.cfg.sizes[l]].copy()

    def noff(self, l: int) -> int:
        """Offset of layer l's neurons (l = 1..L) in the per-neuron memories (v, acc, dp); word aligned."""
        return sum(self.pad(n) for n in self.cfg.sizes[1:l])

    @property
    def ndepth(self) -> int:
        return self.noff(self.L + 1)

    @property
    def gs0_off(self) -> int:
        """Offset in `acc` of gs_0 = dL/ds_0, the error of the core's INPUT (written by `GS 1`): a core holding
        a later slice of a model-parallel network sends it back to the core of the previous layers."""
        return self.ndepth

    @property
    def acc_depth(self) -> int:
        return self.ndepth + self.pad(self.cfg.layers[0])

    def abase(self, l: int) -> int:
        """Offset of the OTTT trace of layer l's input (N_{l-1} entries, l = 1..L) in the trace memory `a`."""
        return sum(self.cfg.n_in(k) for k in range(1, l))

    @property
    def adepth(self) -> int:
        return self.abase(self.L + 1)

    @property
    def spk_depth(self) -> int:
        """Spike event lists: address {t, layer, e}; layer 0 holds the input events (written by the host)."""
        return 1 << (self.nb + self.lb + self.tb)

    def spk_addr(self, layer: int, t: int, e: int) -> int:
        return (((t << self.lb) | layer) << self.nb) | e

    @property
    def cnt_depth(self) -> int:
        return 1 << (self.lb + self.tb)

    def cnt_addr(self, layer: int, t: int) -> int:
        return (t << self.lb) | layer

    @property
    def list_depth(self) -> int:
        """psi != 0 and delta != 0 lists: address {layer, e}, entries (index, fp16 value)."""
        return 1 << (self.lnb + self.lb)

    def list_addr(self, layer: int, e: int) -> int:
        return (layer << self.lnb) | e

    @property
    def psi_depth(self) -> int:
        """psi lists are kept per step (BPTT reads them backwards): address {t, layer, e}."""
        return 1 << (self.lnb + self.lb + self.tb)

    def psi_addr(self, layer: int, t: int, e: int) -> int:
        return (((t << self.lb) | layer) << self.lnb) | e

    def memories(self) -> list[tuple[str, int, int, int, int]]:
        """Every block-RAM-like memory the core instantiates (rtl/core/core.py, lanemem.py), as
        (name, width in bits, depth in words, read ports, lanes); each has one write port. A second read port
        makes yosys duplicate the memory (the forward engine's ports on w, spk, cnt and x)."""
        c, P, nb = self.cfg, self.cfg.lanes, self.nb
        ov = 2 if c.overlap else 1
        words = lambda n: max(1, -(-n // P))  # P-lane memories: element depth -> words (lanemem.lane_memory)
        w = ([("w", 16, self.wdepth, ov, 1)] if P == 1 else  # P > 1: skewed banks (rtl/core/skewmem.py)
             [(f"w{b}", 16, self.w_bank_words, ov, 1) for b in range(P)])
        out = w + [("g", 16 * P, words(self.gdepth), 1, P),
               ("v", 16, self.ndepth, 1, 1), ("acc", 16 * P, words(self.acc_depth), 1, P),
               ("x", 16, c.layers[0], ov, 1), ("spk", nb + 1, self.spk_depth, ov, 1),
               ("cnt", nb + 1, self.cnt_depth, ov, 1), ("psi", 16 + nb, self.psi_depth, 1, 1),
               ("dp", 16 * P, words(self.ndepth), 1, P), ("dlt", 16 + nb, self.list_depth, 1, 1),
               ("a", 16, self.adepth, 1, 1), ("prog", 16, c.prog_depth, 1, 1),
               ("tch", self.tch_width, self.adepth, 1, 1)]
        if c.sg_table_depth:
            out.append(("sgt", 16, c.sg_table_depth, 1, 1))
        if c.opzo:  # B, and z_l / s_L of the step (one bit per neuron, P per word): the MAC's and the sequencer's port
            out += [("b", 16 * P, words(self.bdepth), 1, P), ("zs", P, words(self.ndepth), 2, 1)]
        if c.overlap:
            out.append(("accf", 16 * P, words(self.ndepth), 1, P))
        return out

    def bram_blocks(self) -> dict[str, int]:
        """ECP5 DP16KD blocks per memory (0: LUT RAM), the estimate `CoreConfig` checks against the largest
        supported device. It matched yosys memory_libmap block for block on the cores in docs/core.md
        ("Generation time"); nextpnr places exactly what yosys maps."""
        return {name: dp16kd_blocks(width, depth, lanes, ports) for name, width, depth, ports, lanes in self.memories()}

    def region_sizes(self) -> list[tuple[str, int, str, str]]:
        c = self.cfg
        sgt = [("sgt", c.sg_table_depth, "rw", "surrogate table: psi for |x| bits lo + k (firmware/surrogate_table.py)"),
               ("sgr", len(SGR_REGS), "rw", "surrogate table window registers: " + ", ".join(SGR_REGS))]
        fwd = [("accf", self.ndepth, "r", "forward engine's input current I per neuron (overlap), layer l at noff_l")]
        ksr = [("ksr", len(KSR_REGS), "rw", "SLTT-K random-step registers: " + ", ".join(KSR_REGS))]
        ssr = [("ssr", len(SSR_REGS), "rw", "stochastic-rounding register: " + ", ".join(SSR_REGS))]
        opzo = [("b", self.bdepth, "rw", "OPZO feedback matrices, B_l[k,j] at bbase_l + k*bstride_l + j (bstride_l = "
                                         "N_l padded to lanes)"),
                ("osr", len(OSR_REGS), "rw", "OPZO registers: " + ", ".join(OSR_REGS))]
        return [
            ("ctrl", len(CTRL_REGS), "rw", "control, status and FP16 constants: " + ", ".join(CTRL_REGS)),
            ("counters", 2 * len(self.counters), "r", "32-bit counters, low word first: " + ", ".join(self.counters)),
            ("prog", c.prog_depth, "rw", "program words (spikemesh.rtl.core.isa)"),
            ("w", self.wdepth, "rw", "weights, W_l[i,j] at wbase_l + j*stride_l + i (stride_l = N_l padded to lanes)"),
            ("g", self.gdepth, "rw", "weight gradients, G_l[i,j] at gbase_l + j*stride_l + i (wbase_l unless the "
                                     "core has wg_table: then G_1 is the table H, row X at gbase_1 + X*stride_1)"),
            ("v", self.ndepth, "rw", "membrane v per neuron, layer l at noff_l"),
            ("acc", self.acc_depth, "rw", "input current I / error gs per neuron (last phase's value); gs_0 at gs0_off"),
            ("x", c.layers[0], "rw", "direct FP16 inputs x_j"),
            ("spk", self.spk_depth, "rw", "spike event lists {t, layer, e} -> neuron index | fired << nb"),
            ("cnt", self.cnt_depth, "rw", "spike event counts {t, layer}"),
            ("psi", 2 * self.psi_depth, "r", "psi list {t, layer, e}: word 2e index, 2e+1 psi (!= 0 only, unless dense/BPTT)"),
            ("dp", self.ndepth, "rw", "BPTT temporal term: delta of the later step, per neuron"),
            ("a", self.adepth, "rw", "OTTT presynaptic traces: input j of layer l at abase_l + j"),
            ("dlt", 2 * self.list_depth, "r", "delta != 0 list {layer, e}: word 2e index, 2e+1 delta (dense: all)"),
        ] + (fwd if c.overlap else []) + (sgt if c.sg_table_depth else []) + (ksr if c.k_random else []) + (opzo if c.opzo else []) \
            + (ssr if c.stochastic_rounding else [])

    def regions(self) -> list[Region]:
        """Each region aligned to its own power-of-two span (largest first), so decoding is cheap."""
        items = sorted(self.region_sizes(), key=lambda r: -r[1])
        out, off = [], 0
        for name, size, access, desc in items:
            span = 1 << _bits(size) if size > 1 else 1
            off = (off + span - 1) // span * span
            fields = {"layers": list(self.cfg.layers)}
            if self.cfg.heads:
                fields["heads"] = list(self.cfg.heads)
            if name in ("w", "g"):
                fields["wbase"] = [self.wbase(l) for l in range(1, self.L + 2)]
                if name == "g":
                    fields["gbase"] = [self.gbase(l) for l in range(1, self.L + 2)]
                fields["stride"] = [self.stride(l) for l in range(1, self.L + 1)]
                fields["lanes"] = self.cfg.lanes
            if name == "b":
                fields["bbase"] = [self.bbase(l) for l in range(1, self.cfg.out_layer + 1)]
                fields["bstride"] = [self.bstride(l) for l in range(1, self.cfg.out_layer)]
            if name == "a":
                fields["abase"] = [self.abase(l) for l in range(1, self.L + 2)]
            if name in ("v", "acc", "accf"):
                fields["noff"] = [self.noff(l) for l in range(1, self.L + 2)]
            if name == "acc":
                fields["gs0_off"] = self.gs0_off
            out.append(Region(name, off, size, access, desc, fields, self.registers(name)))
            off += size
        return out

    def registers(self, region: str) -> tuple[Register, ...]:
        """The named registers (and their bit fields) of a register region: ctrl, counters, sgr, ksr."""
        if region == "ctrl":
            return CTRL_REGISTERS
        if region == "sgr":
            return SGR_REGISTERS
        if region == "ksr":
            return KSR_REGISTERS
        if region == "osr":
            return OSR_REGISTERS
        if region == "ssr":
            return SSR_REGISTERS
        if region == "counters":
            return tuple(Register(name, 2 * k, "r", "32-bit counter, low word first", words=2)
                         for k, name in enumerate(self.counters))
        return ()

    def region(self, name: str) -> Region:
        for r in self.regions():
            if r.name == name:
                return r
        raise KeyError(name)

    @property
    def addr_width(self) -> int:
        end = max(r.offset + r.size for r in self.regions())
        return _bits(end)
