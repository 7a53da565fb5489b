"""Stimulus and golden reference for the FP unit benches: packed stream payloads (fields LSB first, as the
units' data.StructLayouts put them) and the expected {result, flags} from `spikemesh.sim.fp`."""
from __future__ import annotations

import itertools

import numpy as np

from spikemesh.rtl.formats import FPFormat
from spikemesh.sim import fp as golden

CMP_OPS = ("lt", "le", "eq", "fmin", "fmax")  # CmpOp encoding order


def corner_values(fmt: FPFormat) -> list[int]:
    """Zeros, subnormal and normal extremes, ones, ties, inf, quiet/signalling NaNs, both signs."""
    m, s = fmt.man_bits, fmt.sign_bit
    one = fmt.bias << m
    pos = [0, 1, (1 << m) - 1, 1 << m, (1 << m) | 1, one, one | 1, one | (1 << (m - 1)), one + (1 << m),
           fmt.inf - 1, fmt.inf - (1 << m), fmt.inf, fmt.canonical_nan, fmt.inf | 1, fmt.inf | ((1 << m) - 1)]
    return pos + [v | s for v in pos]


def _pack(fields: list[np.ndarray | list[int]], widths: list[int]) -> list[int]:
    out = [0] * len(fields[0])
    shift = 0
    for f, w in zip(fields, widths):
        out = [o | (int(v) << shift) for o, v in zip(out, f)]
        shift += w
    return out


def _sample(rows: list[tuple[int, ...]], n: int, rng: np.random.Generator) -> list[tuple[int, ...]]:
    if len(rows) <= n:
        return rows
    idx = rng.choice(len(rows), size=n, replace=False)
    return [rows[i] for i in sorted(idx)]


def stimulus(name: str, fmt: FPFormat, int_width: int, n_random: int, n_corner: int, exhaustive: bool,
             rng: np.random.Generator) -> list[int]:
    w = fmt.width
    if name in ("i2f", "u2f"):
        if exhaustive and int_width <= 16:
            xs = list(range(1 << int_width))
        else:
            edge = [0, 1, 2, 3, (1 << int_width) - 1, (1 << (int_width - 1)) - 1, 1 << (int_width - 1),
                    (1 << (int_width - 1)) + 1]
            xs = edge + [int(v) for v in rng.integers(0, 1 << min(int_width, 63), size=n_random, dtype=np.uint64)]
        return xs
    arity = 3 if name == "fma" else 2
    corners = _sample(list(itertools.product(corner_values(fmt), repeat=arity)), n_corner, rng)
    ops = golden.random_operands(fmt, n_random, rng, "mixed", arity=arity)
    rows = corners + list(zip(*[o.tolist() for o in ops]))
    if name == "cmp" and exhaustive and w == 16:
        # A few operands against every 16-bit pattern, both orders; the op rotates over the five compares.
        for x in (0, fmt.bias << fmt.man_bits, fmt.sign_bit | 1, fmt.canonical_nan):
            rows += [(x, v) for v in range(1 << 16)] + [(v, x) for v in range(1 << 16)]
    cols = [list(c) for c in zip(*rows)]
    n = len(rows)
    if name == "add":
        op = rng.integers(0, 2, size=n)
        return _pack(cols + [op], [w, w, 1])
    if name == "cmp":
        op = np.arange(n) % len(CMP_OPS)
        return _pack(cols + [op], [w, w, 3])
    return _pack(cols, [w] * arity)


def reference(name: str, fmt: FPFormat, ins: np.ndarray, int_width: int) -> tuple[np.ndarray, np.ndarray]:
    """Expected (result bits, flags) as uint64 arrays for packed input payloads `ins` (Python ints)."""
    w = fmt.width
    mask = (1 << w) - 1
    field = lambda k: np.array([(int(v) >> (k * w)) & mask for v in ins], dtype=np.uint64)
    if name in ("i2f", "u2f"):
        xs = np.array([int(v) for v in ins], dtype=np.uint64)
        r, f = golden.from_int(fmt, xs, int_width, name == "i2f")
    elif name == "add":
        a, b = field(0), field(1)
        sub = np.array([(int(v) >> (2 * w)) & 1 for v in ins], dtype=bool)
        ra, fa = golden.add(fmt, a, b)
        rs, fs = golden.sub(fmt, a, b)
        r, f = np.where(sub, rs, ra), np.where(sub, fs, fa)
    elif name == "mul":
        r, f = golden.mul(fmt, field(0), field(1))
    elif name == "fma":
        r, f = golden.fma(fmt, field(0), field(1), field(2))
    elif name == "cmp":
        a, b = field(0), field(1)
        op = np.array([(int(v) >> (2 * w)) & 7 for v in ins])
        r = np.zeros(len(ins), dtype=np.uint64)
        f = np.zeros(len(ins), dtype=np.uint64)
        for k, fn in enumerate(CMP_OPS):
            sel = op == k
            if sel.any():
                rk, fk = getattr(golden, fn)(fmt, a[sel], b[sel])
                r[sel], f[sel] = rk, fk
    else:
        raise ValueError(f"unknown group {name!r}")
    return np.asarray(r, dtype=np.uint64), np.asarray(f, dtype=np.uint64)
