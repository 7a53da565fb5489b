"""The stochastic-rounding subtractor (rtl/fp/sr_add.py) in the Amaranth simulator, bit for bit against the golden
numerics.sr_round_fp16(float64(a) - float64(b), r) on random and edge vectors, combinational and pipelined."""
from __future__ import annotations

import numpy as np
import pytest
from amaranth.sim import Simulator

from spikemesh.rtl.fp.sr_add import FPSRSubPipe
from spikemesh.sim.golden.numerics import sr_round_fp16


def _expected(a: np.ndarray, b: np.ndarray, r: np.ndarray) -> np.ndarray:
    fa, fb = a.view(np.float16).astype(np.float64), b.view(np.float16).astype(np.float64)
    with np.errstate(invalid="ignore"):
        return sr_round_fp16(fa - fb, r).view(np.uint16)


def _vectors(n: int, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    edge = np.array([0x0000, 0x8000, 0x0001, 0x8001, 0x03FF, 0x0400, 0x0401, 0x07FF, 0x3C00, 0xBC00, 0x7BFF,
                     0xFBFF, 0x7BFE, 0x7C00, 0xFC00, 0x7E00, 0x7C01, 0xFE00, 0x3BFF, 0x0200], np.uint16)
    ea, eb = np.meshgrid(edge, edge)
    a = [ea.ravel(), rng.integers(0, 1 << 16, n).astype(np.uint16)]
    b = [eb.ravel(), rng.integers(0, 1 << 16, n).astype(np.uint16)]
    # weight-update-like pairs: b a small fraction of a (most discarded bits are meaningful), incl. subnormals
    w = (rng.standard_normal(n) * np.exp2(rng.integers(-20, 8, n))).astype(np.float16)
    u = (w.astype(np.float64) * np.exp2(-rng.integers(0, 14, n)) * rng.choice([-1, 1], n)).astype(np.float16)
    a.append(w.view(np.uint16))
    b.append(u.view(np.uint16))
    # near-cancellation: b within a few ulps of a
    a.append(w.view(np.uint16))
    b.append((w.view(np.uint16).astype(np.int64) + rng.integers(-3, 4, n)).astype(np.uint16))
    a, b = np.concatenate(a), np.concatenate(b)
    r = rng.integers(1, 1 << 16, len(a))
    r[: len(edge) ** 2: 3] = 0xFFFF  # extreme words: always up unless D == 0
    r[1: len(edge) ** 2: 3] = 1
    return a, b, r


def _run(depth: int, a: np.ndarray, b: np.ndarray, r: np.ndarray) -> np.ndarray:
    dut = FPSRSubPipe(depth)
    sim = Simulator(dut)
    out: list[int] = []
    if depth == 0:
        async def tb(ctx):
            for x, y, z in zip(a.tolist(), b.tolist(), r.tolist()):
                ctx.set(dut.a, x)
                ctx.set(dut.b, y)
                ctx.set(dut.r, z)
                out.append(ctx.get(dut.result))
    else:
        sim.add_clock(1e-8)

        async def tb(ctx):  # one vector per cycle, results collected by o_valid
            n = len(a)
            for i in range(n + depth + 1):
                if i < n:
                    ctx.set(dut.a, int(a[i]))
                    ctx.set(dut.b, int(b[i]))
                    ctx.set(dut.r, int(r[i]))
                ctx.set(dut.i_valid, int(i < n))
                await ctx.tick()
                if ctx.get(dut.o_valid):
                    out.append(ctx.get(dut.result))
    sim.add_testbench(tb)
    sim.run()
    return np.array(out, np.uint16)


def test_sr_sub_combinational_matches_golden() -> None:
    a, b, r = _vectors(3000, 1)
    got, exp = _run(0, a, b, r), _expected(a, b, r)
    bad = np.flatnonzero(got != exp)
    assert not len(bad), [(hex(a[i]), hex(b[i]), r[i], hex(got[i]), hex(exp[i])) for i in bad[:8]]
    # the vectors exercise both directions of the rounding and the specials
    with np.errstate(invalid="ignore", over="ignore"):
        rne = a.view(np.float16).astype(np.float64) - b.view(np.float16).astype(np.float64)
        rne16 = rne.astype(np.float16).view(np.uint16)
    fin = np.isfinite(rne)
    assert 0.05 < np.mean(got[fin] != rne16[fin]) < 0.95
    assert np.any(got == 0x7E00) and np.any(got == 0x7C00) and np.any(got == 0xFC00) and np.any(got < 0x0400)


@pytest.mark.parametrize("depth", [1, 2, 3, 4, 5, 7])
def test_sr_sub_pipelined_matches_golden(depth: int) -> None:
    a, b, r = _vectors(400, 10 + depth)
    got = _run(depth, a, b, r)
    assert len(got) == len(a)
    assert np.array_equal(got, _expected(a, b, r))


def test_sr_sub_detects_a_wrong_random_word() -> None:
    a, b, r = _vectors(300, 3)
    got, exp = _run(0, a, b, r ^ 0x8000), _expected(a, b, r)
    assert np.any(got != exp)


def test_sr_sub_depth_validated() -> None:
    with pytest.raises(ValueError, match="depth must be an int in 0..7"):
        FPSRSubPipe(8)
