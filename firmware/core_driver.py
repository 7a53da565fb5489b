"""The ONE host driver of a TrainingCore: registers by name, the core's memories, the per-sample sequence.

It talks to a small bus-port interface, so every host uses the same code:

    class BusPort:
        async def read(self, addr: int, n: int) -> list[int]       # n words from addr on
        async def write(self, addr: int, words) -> None            # a block of words from addr on
        async def idle(self, cycles: int) -> None                  # optional: let the clock run

Backends: `BoardPort` (anything with `Board`'s synchronous read/write: the host link to a real or simulated
board, firmware/mesh_train.py's `NodeBus` over the mesh), the cocotb and Amaranth-simulator ports and the
mesh host port in sim/benches (core_host.py, mesh_host.py).  A synchronous port never suspends, so
`SyncCoreDriver` runs the same coroutines to completion at once (firmware's `CoreClient`).

Addresses and register fields come from the memory map (the `core` target; for a bare core, its own
`CoreLayout.regions()`), whose register and field definitions live in rtl/core/layout.py: e.g.
`await drv.write_reg("ctrl", start=1, clear=1)`, `(await drv.read_fields("ctrl"))["done"]`.
The element arithmetic inside a region (weight columns, event lists) is `CoreLayout`'s.
"""
from __future__ import annotations

import functools
import inspect
import time
from dataclasses import asdict

import numpy as np

from spikemesh.rtl.bus import decode_fields, encode_fields
from spikemesh.rtl.core.config import CoreConfig
from spikemesh.rtl.core.layout import CoreLayout


def f16_bits(a) -> np.ndarray:
    """16-bit encodings: FP16 and BF16 arrays as they are, anything else rounded to FP16 first."""
    a = np.asarray(a)
    if a.dtype.itemsize == 2 and a.dtype.kind in "fV":  # float16, or ml_dtypes' bfloat16 (kind 'V')
        return a.view(np.uint16)
    return a.astype(np.float16).view(np.uint16)


class CoreNotDone(AssertionError):
    """The core did not finish within the polls / time allowed."""


class BoardPort:
    """A `BusPort` over any object with `Board`'s synchronous `read(addr, n)` / `write(addr, words)`."""

    def __init__(self, board):
        self.board = board

    async def read(self, addr: int, n: int):
        return self.board.read(addr, n)

    async def write(self, addr: int, words) -> None:
        self.board.write(addr, words)

    async def idle(self, cycles: int) -> None:
        pass


def core_target(memory_map, name: str = "core") -> dict | None:
    """The `core` target (dict: base, regions) of a memory map (MemoryMap or anything with `.targets`)."""
    return next((t for t in memory_map.targets if t["name"] == name), None)


class CoreDriver:
    """A TrainingCore behind `port`; `target`: its memory-map target (None: the bare core, regions at 0)."""

    def __init__(self, port, cfg: CoreConfig, target: dict | None = None):
        self.port, self.cfg, self.lay = port, cfg, CoreLayout(cfg)
        if target is None:
            target = {"name": "core", "base": 0, "regions": [asdict(r) for r in self.lay.regions()]}
        self.target = target
        regions = target["regions"]
        self.base = {r["name"]: target["base"] + r["offset"] for r in regions}
        self.size = {r["name"]: r["size"] for r in regions}
        expect = {r.name: r.offset for r in self.lay.regions()}
        if expect != {r["name"]: r["offset"] for r in regions}:
            raise self.map_error("the core configuration does not match the board's memory map")
        # register definitions: the map's (a map from before registers were listed: the layout's, the same source)
        self._regs: dict[str, tuple[int, dict]] = {}
        for r in self.lay.regions():
            listed = next(x for x in regions if x["name"] == r.name).get("registers")
            regs = listed if listed is not None else [asdict(g) for g in r.registers]
            for g in regs:
                self._regs[g["name"]] = (self.base[r.name] + g["offset"], g)

    @staticmethod
    def map_error(msg: str) -> Exception:
        return ValueError(msg)

    # ---- raw words ----
    async def read(self, addr: int, n: int) -> list[int]:
        return [int(w) for w in await self.port.read(addr, n)]

    async def write(self, addr: int, words) -> None:
        await self.port.write(addr, [int(w) & 0xFFFF for w in np.asarray(words).ravel()])

    async def idle(self, cycles: int) -> None:
        if cycles and hasattr(self.port, "idle"):
            await self.port.idle(cycles)

    # ---- registers by name (memory map) ----
    def register(self, name: str) -> tuple[int, dict]:
        """(bus address, register dict: name, offset, access, fields, words) of a register of the core."""
        try:
            return self._regs[name]
        except KeyError:
            raise KeyError(f"the core has no register {name!r} (registers: {list(self._regs)})") from None

    def reg_addr(self, name: str) -> int:
        return self.register(name)[0]

    def reg_value(self, name: str, value: int | None = None, **fields: int) -> int:
        """The word `write_reg(name, value, **fields)` writes."""
        reg = self.register(name)[1]
        if (value is None) == (not fields):
            raise TypeError(f"write_reg({name!r}): give a value or fields, not both")
        return int(value) & 0xFFFF if value is not None else encode_fields(name, reg["fields"], fields)

    async def write_reg(self, name: str, value: int | None = None, **fields: int) -> None:
        """Write a register: a whole value, or named fields (the rest 0): write_reg("ctrl", start=1, clear=1)."""
        await self.write(self.reg_addr(name), [self.reg_value(name, value, **fields)])

    async def read_reg(self, name: str) -> int:
        """A register's value (registers of several words: low word first)."""
        addr, reg = self.register(name)
        words = await self.read(addr, reg.get("words", 1))
        return sum(w << (16 * k) for k, w in enumerate(words))

    async def read_fields(self, name: str) -> dict[str, int]:
        return decode_fields(self.register(name)[1]["fields"], await self.read_reg(name))

    set_reg, get_reg = write_reg, read_reg

    # ---- regions ----
    async def write_block(self, region: str, offset: int, words) -> None:
        await self.write(self.base[region] + offset, words)

    async def read_block(self, region: str, offset: int, n: int) -> list[int]:
        return await self.read(self.base[region] + offset, n)

    async def clear_region(self, region: str) -> None:
        await self.write_block(region, 0, np.zeros(self.size[region], np.uint16))

    # ---- network state ----
    def _matrix_base(self, region: str, l: int) -> int:
        if region == "g" and l == 1 and self.cfg.wg_table:
            raise ValueError("l: G_1 of a wg_table core is its input-gradient table (read_input_gradient), not a "
                             "matrix; G_l of layers 2..L are matrices")
        return self.lay.gbase(l) if region == "g" else self.lay.wbase(l)

    async def write_matrix(self, region: str, l: int, w) -> None:
        """W_l (or G_l) column-major, columns padded to the lanes (CoreLayout)."""
        await self.write_block(region, self._matrix_base(region, l), self.lay.pack_matrix(l, w, skew=region == "w"))

    async def read_matrix(self, region: str, l: int) -> np.ndarray:
        words = await self.read_block(region, self._matrix_base(region, l), self.lay.wsize(l))
        return self.lay.unpack_matrix(l, words, skew=region == "w")

    async def read_input_gradient(self, s_masks) -> np.ndarray:
        """G_1 (N_1 x N_0) of a wg_table core: its table's rows picked by the step sets S_j (`s_masks`, one int per
        input: bit t set when input j fired at step t; steps whose WG 1 did not run may be left out, their
        deltas are in no row; CoreLayout.input_gradient)."""
        if not self.cfg.wg_table:
            raise ValueError("read_input_gradient needs a core generated with CoreConfig(wg_table=True)")
        words = await self.read_block("g", self.lay.gbase(1), self.lay.gsize(1))
        return self.lay.input_gradient(words, s_masks)

    async def write_weights(self, weights) -> None:
        """W_1..W_L, then (an OPZO core, the golden model's weight list) the feedback matrices B_1..B_{L-1}."""
        n = self.cfg.n_layers
        if len(weights) > n and not self.cfg.opzo:
            raise ValueError(f"weights: {len(weights)} matrices for a core of {n} layers (feedback matrices need "
                             f"a core generated with CoreConfig(opzo=True))")
        for l, w in enumerate(weights[:n], start=1):
            await self.write_matrix("w", l, w)
        for l, b in enumerate(weights[n:], start=1):
            await self.write_feedback(l, b)

    async def read_weights(self) -> list[np.ndarray]:
        """W_1..W_L, then B_1..B_{L-1} on an OPZO core (the golden model's weight list)."""
        fb = [await self.read_feedback(l) for l in range(1, self.cfg.out_layer)] if self.cfg.opzo else []
        return [await self.read_matrix("w", l) for l in range(1, self.cfg.n_layers + 1)] + fb

    async def write_feedback(self, l: int, b) -> None:
        """OPZO feedback matrix B_l (N_L x N_l, hidden l = 1..L-1), row-major, rows padded to the lanes."""
        await self.write_block("b", self.lay.bbase(l), self.lay.pack_feedback(l, b))

    async def read_feedback(self, l: int) -> np.ndarray:
        words = await self.read_block("b", self.lay.bbase(l), self.cfg.out_size * self.lay.bstride(l))
        return self.lay.unpack_feedback(l, words)

    async def read_neurons(self, region: str, l: int) -> np.ndarray:
        words = await self.read_block(region, self.lay.noff(l), self.cfg.sizes[l])
        return np.array(words, np.uint16).view(self.cfg.value_dtype)

    async def read_trace(self, l: int) -> np.ndarray:
        """OTTT presynaptic trace of layer l's inputs (N_{l-1} values)."""
        words = await self.read_block("a", self.lay.abase(l), self.cfg.n_in(l))
        return np.array(words, np.uint16).view(self.cfg.value_dtype)

    # State a sample's program expects to find cleared by the previous sample (G after UPD, traces, the
    # temporal terms): a sample cut short by a reset, or a host killed mid-sample, leaves it dirty.
    STATE_REGIONS = ("g", "v", "acc", "dp", "a")

    async def clear_state(self) -> None:
        """Zero the core's state memories, as after power-on (the weights are written separately)."""
        for name in self.STATE_REGIONS:
            if name in self.base:
                await self.clear_region(name)

    # ---- event and psi/delta lists ----
    async def write_events(self, layer: int, t: int, idx, fired=None) -> None:
        """Event list entries: index | fired << nb (sparse lists hold only fired entries), then the count."""
        for addr, words in self._event_writes(layer, t, idx, fired):
            await self.write(addr, words)

    def _event_writes(self, layer: int, t: int, idx, fired=None) -> list[tuple[int, np.ndarray]]:
        idx = np.asarray(idx, np.int64).ravel()
        fired = np.ones(len(idx), np.int64) if fired is None else np.asarray(fired, np.int64).ravel()
        out = []
        if len(idx):  # the entries e = 0..n-1 of one (layer, t) list are consecutive addresses
            out.append((self.base["spk"] + self.lay.spk_addr(layer, t, 0), idx | (fired << self.lay.nb)))
        out.append((self.base["cnt"] + self.lay.cnt_addr(layer, t), np.array([len(idx)])))
        return out

    async def read_events(self, layer: int, t: int) -> list[int]:
        """Indices of the neurons that fired (dense lists also hold the silent ones, flagged 0)."""
        n = (await self.read(self.base["cnt"] + self.lay.cnt_addr(layer, t), 1))[0]
        words = await self.read(self.base["spk"] + self.lay.spk_addr(layer, t, 0), n) if n else []
        return [w & ((1 << self.lay.nb) - 1) for w in words if w >> self.lay.nb]

    async def read_list(self, region: str, layer: int, n: int, t: int = 0) -> list[tuple[int, int]]:
        """(index, fp16 bits) entries of the psi list of (layer, t) or the delta list of layer."""
        e0 = self.lay.psi_addr(layer, t, 0) if region == "psi" else self.lay.list_addr(layer, 0)
        words = await self.read(self.base[region] + 2 * e0, 2 * n) if n else []
        return [(words[2 * e], words[2 * e + 1]) for e in range(n)]

    # ---- one sample ----
    def input_writes(self, X, direct: bool, label: int | None = None,
                     dense: bool = False, k_seed: int | None = None,
                     sr_seed: int | None = None, z_seed: int | None = None) -> list[tuple[int, np.ndarray]]:
        """The bus writes that load one sample: the label (unless None), SLTT-K's step seed (unless None,
        `program.step_seed`), the rounding seed (unless None, `program.round_seed`), then direct: x (FP16) + its
        nonzero indices as step-0 input events; rate: one event list per step.  Dense: every input index, zeros included (flagged).  Streamed per sample, or
        stored once on the board (firmware/dataset.py)."""
        out = [] if label is None else [(self.reg_addr("label"), np.array([int(label) & 0xFFFF]))]
        if k_seed is not None:
            out.append((self.reg_addr("k_seed"), np.array([int(k_seed) & 0xFFFF])))
        if sr_seed is not None:
            out.append((self.reg_addr("sr_seed"), np.array([int(sr_seed) & 0xFFFF])))
        if z_seed is not None:  # OPZO's noise seed (`program.noise_seed`)
            out.append((self.reg_addr("z_seed"), np.array([int(z_seed) & 0xFFFF])))
        if direct:
            x = np.asarray(X[0], self.cfg.value_dtype)
            out.append((self.base["x"], f16_bits(x)))
            out += self._event_writes(0, 0, np.arange(len(x)) if dense else np.flatnonzero(x))
        else:
            for t, s in enumerate(X):
                s = np.asarray(s) != 0
                out += (self._event_writes(0, t, np.arange(len(s)), s) if dense
                        else self._event_writes(0, t, np.flatnonzero(s)))
        return out

    async def load_input(self, X, direct: bool, dense: bool = False, *, label: int | None = None,
                         k_seed: int | None = None, sr_seed: int | None = None, z_seed: int | None = None) -> None:
        for addr, words in self.input_writes(X, direct, label, dense, k_seed, sr_seed, z_seed):
            await self.write(addr, words)

    async def set_surrogate(self, kind: str, width: float) -> None:
        """Refuse a surrogate the core was not generated with; write a table surrogate's window (sgr, sgt)."""
        from .surrogate_table import TABLE_SURROGATES, surrogate_window

        if kind not in self.cfg.surrogates:
            raise ValueError(f"surrogate {kind!r} is not built into this core; allowed: {self.cfg.surrogates}")
        if kind in TABLE_SURROGATES:
            win = surrogate_window(kind, width, self.cfg.sg_table_depth)
            await self.write(self.base["sgr"], list(win.regs().values()))
            await self.write(self.base["sgt"], win.entries)

    async def set_constants(self, snn, table: bool = True) -> None:
        """Every constant register for `snn` (firmware.program.constants_from_snn) and its surrogate (unless
        `table` is False: a table already loaded)."""
        from .program import constants_from_snn

        if snn.encoding == "direct" and not self.cfg.direct_input:
            raise ValueError("encoding 'direct' needs a core generated with CoreConfig(direct_input=True); this one "
                             "takes rate-coded input events only")
        if snn.readout == "membrane" and not self.cfg.membrane_readout:
            raise ValueError("readout 'membrane' needs a core generated with CoreConfig(membrane_readout=True)")
        k_random = snn.rule == "sltt_k" and snn.k_random
        if k_random and not self.cfg.k_random:
            raise ValueError("k_random: SLTT-K's random steps need a core generated with CoreConfig(k_random=True)")
        for name, val in constants_from_snn(snn).items():
            await self.write_reg(name, val)
        if snn.rule == "opzo":
            from .program import opzo_constants

            if not self.cfg.opzo:
                raise ValueError("rule opzo needs a core generated with CoreConfig(opzo=True)")
            for name, val in opzo_constants(snn).items():
                await self.write_reg(name, val)
        if k_random:
            await self.write_reg("k_count", len(snn.k_steps))
        if table:
            await self.set_surrogate(snn.surrogate, snn.surrogate_width)

    async def load_program(self, words, pc: int = 0) -> None:
        await self.write_block("prog", 0, words)
        await self.write_reg("start_pc", pc)

    async def configure(self, snn, program) -> None:
        """The network's constants, its surrogate and a program: what a reset takes away or a new run needs."""
        await self.set_constants(snn)
        await self.load_program(program)

    async def start(self, program=None, *, clear_counters: bool = True) -> None:
        """Load `program` (if given; start_pc 0), then start the core (counters cleared unless told not to)."""
        if program is not None:
            await self.load_program(program)
        await self.write_reg("ctrl", start=1, clear=int(clear_counters))

    async def status(self) -> dict[str, bool]:
        return {k: bool(v) for k, v in (await self.read_fields("ctrl")).items()}

    async def wait_done(self, max_polls: int | None = 1_000_000, poll_gap: int = 0,
                        timeout: float | None = None) -> int:
        """Poll the status until the core is idle and done; the number of polls before that.  `poll_gap`
        idle cycles between polls; `timeout`: wall-clock seconds."""
        deadline = None if timeout is None else time.monotonic() + timeout
        k = 0
        while True:
            st = await self.read_fields("ctrl")
            if st["done"] and not st["busy"]:
                return k
            k += 1
            expired = ((max_polls is not None and k >= max_polls)
                       or (deadline is not None and time.monotonic() > deadline))
            await self.not_done(st, expired, timeout)
            await self.idle(poll_gap)

    async def not_done(self, status: dict, expired: bool, timeout: float | None) -> None:
        """Called after each poll that found the core not done (a backend may check the board here)."""
        if expired:
            raise CoreNotDone(f"the core did not finish (status {status})")

    async def run(self, program=None, *, max_polls: int | None = 1_000_000, poll_gap: int = 0,
                  timeout: float | None = None, clear_counters: bool = True) -> int:
        """The per-sample sequence after the inputs: [program,] start, poll until done."""
        await self.start(program, clear_counters=clear_counters)
        return await self.wait_done(max_polls, poll_gap, timeout)

    def run_writes(self, *, clear_counters: bool, limit: int) -> list[tuple[int, object]]:
        """The loader trailer that trains on the loaded sample: start the core, then wait (at most `limit`
        status reads) until it is idle and done (firmware/dataset.py `Wait`)."""
        from .dataset import Wait

        fields = {f["name"]: f for f in self.register("ctrl")[1]["fields"]}
        busy, done = (((1 << fields[n]["width"]) - 1) << fields[n]["offset"] for n in ("busy", "done"))
        return [(self.reg_addr("ctrl"), [self.reg_value("ctrl", start=1, clear=int(clear_counters))]),
                (self.reg_addr("ctrl"), Wait(mask=busy | done, value=done, limit=limit))]

    async def counters(self) -> dict[str, int]:
        """Every 32-bit performance counter this core has (the forward engine's too), one block read."""
        regs = [(addr, g) for addr, g in self._regs.values() if g.get("words", 1) == 2
                and self.base["counters"] <= addr < self.base["counters"] + self.size["counters"]]
        w = await self.read(self.base["counters"], self.size["counters"])
        base = self.base["counters"]
        return {g["name"]: w[a - base] | (w[a - base + 1] << 16) for a, g in regs}


def run_sync(coro):
    """Run a coroutine whose awaits never suspend (a synchronous port) to its end; its result."""
    try:
        coro.send(None)
    except StopIteration as stop:
        return stop.value
    coro.close()
    raise RuntimeError("a synchronous CoreDriver's port suspended: use the async CoreDriver")


class SyncCoreDriver:
    """`CoreDriver`'s methods as plain calls, for a port that never suspends (`BoardPort`)."""

    def __init__(self, driver: CoreDriver):
        self.driver = driver

    def __getattr__(self, name: str):
        attr = getattr(self.driver, name)
        if inspect.iscoroutinefunction(attr):
            return functools.wraps(attr)(lambda *a, **k: run_sync(attr(*a, **k)))
        return attr
