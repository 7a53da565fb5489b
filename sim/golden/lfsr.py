"""The 16-bit LFSR behind rate (Poisson-like) input encoding: one specification for host, firmware and model.

Galois LFSR, shifting right, feedback polynomial x^16 + x^14 + x^13 + x^11 + 1 (toggle mask 0xB400),
maximal length 65535, the state is never 0:  lsb = s & 1;  s >>= 1;  if lsb: s ^= 0xB400.

Rate encoding of one sample (pixels p_j in 0..16): the LFSR starts at `sample_seed(lfsr_seed, n)` (n = the
sample's index in its data set); draws are made for t = 0..T-1 (outer) and j = 0..N_0-1 (inner); each draw
first advances the LFSR by STEPS_PER_DRAW = 4 steps, then fires iff (s >> 12) < p_j (top nibble, 0..15),
so p = 0 never fires, p = 16 always fires, and P(fire) ~ p/16.
"""
from __future__ import annotations

import numpy as np

from ...rtl.lfsr import PERIOD, TAPS, WORD_STEPS, lfsr_step  # the LFSR itself is specified once (rtl/lfsr.py)

STEPS_PER_DRAW = 4
SEED_STRIDE = 0x9E3B  # odd, so consecutive sample indices get well separated seeds


def lfsr_sequence(seed: int, n: int) -> np.ndarray:
    """The next n states after `seed` (seed itself not included)."""
    out = np.empty(n, np.uint16)
    s = seed
    for i in range(n):
        s = lfsr_step(s)
        out[i] = s
    return out


_ORBIT: np.ndarray | None = None
_POS: np.ndarray | None = None


def _orbit() -> tuple[np.ndarray, np.ndarray]:
    """All 65535 states in order from state 1, and each state's position in that orbit (random access)."""
    global _ORBIT, _POS
    if _ORBIT is None:
        orbit = np.empty(PERIOD, np.uint16)
        orbit[0] = 1
        orbit[1:] = lfsr_sequence(1, PERIOD - 1)
        pos = np.zeros(1 << 16, np.int64)
        pos[orbit] = np.arange(PERIOD)
        _ORBIT, _POS = orbit, pos
    return _ORBIT, _POS


def sample_seed(lfsr_seed: int, sample_index: int) -> int:
    """Start state for sample n: 1 + ((lfsr_seed - 1 + n * 0x9E3B) mod 65535), never 0."""
    return 1 + ((lfsr_seed - 1 + sample_index * SEED_STRIDE) % PERIOD)


def rate_spikes(pixels: np.ndarray, T: int, seed: int) -> np.ndarray:
    """(T, N_0) boolean spikes for integer pixels 0..16, drawn as the module docstring says."""
    pixels = np.asarray(pixels)
    n = pixels.shape[0]
    orbit, pos = _orbit()
    idx = (pos[seed] + STEPS_PER_DRAW * np.arange(1, T * n + 1)) % PERIOD
    draws = orbit[idx].reshape(T, n)
    return (draws >> 12) < pixels[None, :]


# ---- further random streams (SLTT-K random steps, OPZO noise, stochastic rounding) -------------------------
# Each stream s has its own start state per sample: stream_seed(lfsr_seed, n, s) (stream 0 = rate input,
# identical to sample_seed). All draws use the same LFSR, advanced as each function says.
STREAM_STRIDE = 0x4F1B
STREAM_K_STEPS, STREAM_OPZO_NOISE, STREAM_SR = 1, 2, 3


def stream_seed(lfsr_seed: int, sample_index: int, stream: int) -> int:
    """1 + ((lfsr_seed - 1 + n * 0x9E3B + stream * 0x4F1B) mod 65535): never 0; stream 0 = sample_seed."""
    return 1 + ((lfsr_seed - 1 + sample_index * SEED_STRIDE + stream * STREAM_STRIDE) % PERIOD)


def lfsr_draws(state: int, n: int, steps: int) -> tuple[np.ndarray, int]:
    """n draws, each the state after advancing `steps` steps from the previous one; and the final state."""
    orbit, pos = _orbit()
    idx = (pos[state] + steps * np.arange(1, n + 1, dtype=np.int64)) % PERIOD
    out = orbit[idx].astype(np.int64)
    return out, (int(out[-1]) if n else state)


def random_k_steps(T: int, k: int, seed: int) -> tuple[int, ...]:
    """k of the steps 0..T-1 drawn without replacement (selection sampling, Knuth's algorithm S): for
    t = 0..T-1 one word draw R (16 steps); t is chosen iff (R - 1) * (T - t) < (k - chosen) * 65535."""
    words, _ = lfsr_draws(seed, T, WORD_STEPS)
    chosen = []
    for t in range(T):
        if (int(words[t]) - 1) * (T - t) < (k - len(chosen)) * PERIOD:
            chosen.append(t)
    return tuple(chosen)


def noise_signs(seed: int, n: int) -> np.ndarray:
    """n Rademacher signs (+1/-1 as int8): one LFSR step per draw, +1 iff the new state's lsb is 1."""
    draws, _ = lfsr_draws(seed, n, 1)
    return np.where(draws & 1, 1, -1).astype(np.int8)
