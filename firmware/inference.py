"""Inference on the chip: a forward-only program (clear v, then FWD + NEUR of every layer for each step),
the sample's inputs loaded as for training, and the output layer's spike lists read back.

The spike lists are bit-exact with the golden forward pass (tests/test_federated.py compares them), so the
per-class spike counts equal `golden.forward(...).counts`.  The chip's read-out is argmax of the counts with
ties to the lowest class; the golden `predict` breaks ties by the summed output membrane first, which the
core does not keep, so the two accuracies can differ by tied samples.
"""
from __future__ import annotations

import numpy as np

from spikemesh.rtl.core.isa import Op

from .driver import Board
from .program import assemble
from .train import CoreClient


def forward_program(cfg, T: int) -> list[int]:
    ops = [(Op.CLRV, 0, 0)]
    for t in range(T):
        for layer in range(1, cfg.n_layers + 1):
            ops += [(Op.FWD, layer, t), (Op.NEUR, layer, t)]
    return assemble(ops, cfg)


def output_counts(core: CoreClient, T: int) -> np.ndarray:
    """Spikes per output neuron over the sample's T steps, from the core's event lists."""
    lay, L = core.lay, core.cfg.n_layers
    cnt = core.board.read(core.base["cnt"], core.size["cnt"])
    counts = np.zeros(core.cfg.layers[-1], np.int64)
    for t in range(T):
        n = int(cnt[lay.cnt_addr(L, t)])
        if n:
            entries = core.board.read(core.base["spk"] + lay.spk_addr(L, t, 0), n)
            fired = entries[(entries >> lay.nb) & 1 == 1] & ((1 << lay.nb) - 1)
            np.add.at(counts, fired.astype(np.int64), 1)
    return counts


def infer(board: Board, cfg, snn, weights, pixels, *, sample_timeout: float = 30.0) -> np.ndarray:
    """(samples, classes) output spike counts of the chip's forward pass with `weights`."""
    from spikemesh.sim.golden import encode

    core = CoreClient(board, cfg)
    core.configure(snn, forward_program(cfg, snn.T))
    core.write_weights(weights)
    out = np.zeros((len(pixels), cfg.layers[-1]), np.int64)
    for n, px in enumerate(pixels):
        core.load_input(encode(snn, px, n), snn.encoding == "direct", label=0)
        core.run(timeout=sample_timeout)
        out[n] = output_counts(core, snn.T)
    return out


def chip_predictions(counts: np.ndarray) -> np.ndarray:
    """argmax per sample, ties to the lowest class (np.argmax's rule)."""
    return np.argmax(counts, axis=1)
