"""Local learning across mesh cores: each block (+ its head) on its own core, only spikes move between cores.

- programs: a block core's segments are the single-core local program restricted to the block's layers, and
  TBPTT with the local window on the block's chain (so a block core needs rule tbptt and no heads);
- golden: every block trained on its own from the spikes of the block below equals `train_sample` for rule
  local, bit for bit (2 and 3 blocks, direct and rate input);
- cocotb + Verilator: digits 64-16-10 with a head after layer 1 (k = 2 of T = 4), block 0 on node 1, block 1
  on node 2 of a 2x2 mesh, sequential and pipelined host schedules, and the local network on one core: W and
  heads after every sample bit for bit the golden model's, every moved s_1[t] the golden one; a corrupted
  initial weight is detected.
"""
import numpy as np
import pytest

from spikemesh.firmware.placement import local_blocks
from spikemesh.firmware.program import compile_segments, local_block_ops, sample_ops, segment_ops
from spikemesh.rtl.core.config import CoreConfig
from spikemesh.rtl.core.isa import Op
from spikemesh.sim import golden
from spikemesh.sim.golden import SNNConfig, init_weights, load_digits_split
from spikemesh.sim.golden_mesh import local_block_train


def _restrict_local(ops, full: CoreConfig, blk):
    """The single-core local program's ops on block `blk`'s layers, renumbered to the block core (its main
    layers 1.., then its head)."""
    Lm = full.out_layer
    local = {l: l - blk.first + 1 for l in range(blk.first, blk.last + 1)}
    if blk.head is not None:
        local[blk.head + 1] = blk.last - blk.first + 2  # the head's layer on the full core: Lm + 1 + b
    out = []
    for op, l, t in ops:
        if op == Op.CLRV:
            out.append((op, 0, 0))
        elif op == Op.LOSS and l == Lm and blk.head is not None:
            continue  # the main output's loss belongs to the final block
        elif l in local:
            out.append((op, local[l], t))
    return out


@pytest.mark.parametrize("sizes,blocks,T,k", [((12, 7, 6, 5, 4), (1, 2, 1), 4, 2), ((12, 7, 6, 5, 4), (2, 2), 5, 3),
                                               ((10, 6, 4), (1, 1), 4, 4)])
def test_block_segments_are_the_local_order_and_tbptt(sizes, blocks, T, k):
    heads = tuple(b.last for b in local_blocks(sizes, blocks)[:-1])
    full = CoreConfig(sizes, t_max=T, heads=heads, rules=("local",), prog_depth=1024)
    ref = sample_ops(full, "local", T, window=k)
    for blk in local_blocks(sizes, blocks):
        cfg = CoreConfig(blk.core_layers, t_max=T)
        segs = local_block_ops(cfg, T, k)
        got = [o for _, ops in segs for o in ops]
        assert got == _restrict_local(ref, full, blk), blk
        assert got == sample_ops(cfg, "tbptt", T, window=k)  # the block core runs TBPTT on its chain
        ends = [t for t in range(T) if (t + 1) % k == 0 or t == T - 1]
        assert [key for key, _ in segs] == [key for t in range(T) for key in
                                            ([("fwd", t)] + ([("bwd", t)] if t in ends else []))] + [("upd", 0)]
        assert not any(op == Op.GS and l == 1 for op, l, _ in got)  # nothing goes to the block below
        prog = compile_segments(cfg, "local", T, blk.index == 0, blk.head is None, window=k)
        for key, ops in segs:
            assert prog.ops_of(key) == ops


def test_block_segments_refused():
    with pytest.raises(ValueError, match="rules must include it and heads must be"):
        local_block_ops(CoreConfig((10, 6, 4), t_max=4, heads=(1,), rules=("local",)), 4, 2)
    with pytest.raises(ValueError, match="rules must include it"):
        local_block_ops(CoreConfig((10, 6, 4), t_max=4, rules=("sltt",)), 4, 2)
    with pytest.raises(ValueError, match="window must be an int in 1..T=4"):
        segment_ops(CoreConfig((10, 6, 4), t_max=4), "local", 4, True, True, window=5)
    with pytest.raises(ValueError, match="window is only used by rule local"):
        segment_ops(CoreConfig((10, 6, 4), t_max=4), "sltt", 4, True, True, window=2)
    with pytest.raises(ValueError, match="T must be an int in 1..t_max=4"):
        local_block_ops(CoreConfig((10, 6, 4), t_max=4), 5)


def test_local_blocks_plan():
    b = local_blocks((64, 16, 16, 10), (2, 1))
    assert [(x.first, x.last, x.head, x.core_layers, x.weight_indices, x.send_layer) for x in b] == [
        (1, 2, 3, (64, 16, 16, 10), (0, 1, 3), 2), (3, 3, None, (16, 10), (2,), 1)]
    with pytest.raises(ValueError, match="blocks must be positive layer counts summing to 3"):
        local_blocks((64, 16, 16, 10), (1, 1))


@pytest.mark.parametrize("sizes,blocks,extra", [((64, 16, 10), (1, 1), dict(window=2)),
                                                ((64, 16, 16, 10), (1, 1, 1), dict(window=3)),
                                                ((64, 16, 16, 10), (1, 2), dict(window=2, encoding="rate"))])
def test_golden_blocks_on_their_own_equal_train_sample(sizes, blocks, extra):
    X, y, _, _ = load_digits_split()
    cfg = SNNConfig(sizes=sizes, T=4, rule="local", blocks=blocks, surrogate="tri", surrogate_width=2.0,
                    lr=2.0 ** -3, **extra)
    W = init_weights(cfg, 0)
    for si in range(3):
        ref = golden.train_sample(cfg, W, X[si], int(y[si]), sample_index=si)
        got = local_block_train(cfg, W, X[si], int(y[si]), si)
        for li, (a, b) in enumerate(zip(ref.weights, got.weights)):
            np.testing.assert_array_equal(np.asarray(b, np.float16).view(np.uint16),
                                          np.asarray(a, np.float16).view(np.uint16), err_msg=f"W {li} sample {si}")
        assert all(not np.array_equal(a, b) for a, b in zip(ref.weights, W)), "every block must learn"
        assert len(got.spikes) == len(blocks) - 1 and all(any(s.any() for s in ss) for ss in got.spikes)
        W = ref.weights
    bad = [np.array(w, copy=True) for w in W]
    bad[-1][0, 0] = -bad[-1][0, 0] + np.float16(1.0)  # a different head weight must give other bits
    assert not np.array_equal(local_block_train(cfg, bad, X[0], int(y[0]), 0).weights[-1],
                              golden.train_sample(cfg, W, X[0], int(y[0]), sample_index=0).weights[-1])


# ---------------------------------------------------------------- two TrainingCores, cocotb + Verilator

RUNS = [{"name": "seq", "kind": "local", "chain": [1, 2], "n": 3},
        {"name": "pipe", "kind": "local", "chain": [1, 2], "n": 3, "pipeline": True},
        {"name": "single", "kind": "single", "node": 3, "n": 2},
        {"name": "corrupt", "kind": "local", "chain": [1, 2], "n": 1, "pipeline": True, "check": False,
         "corrupt": [1, 1, 3, 5]}]


def test_digits_local_blocks_on_two_cores(tmp_path):
    from spikemesh.gen.mesh_perf import LOCAL_SNN, check_local, run_local

    res, samples = run_local(tmp_path, n_samples=3, runs=RUNS)
    snn = SNNConfig(**LOCAL_SNN)
    good = [r for r in RUNS if r["name"] != "corrupt"]
    check_local(res, samples, good)  # W and heads after every sample, bit for bit
    W = init_weights(snn, 0)
    for si, (x, y) in enumerate(samples):
        blk = local_block_train(snn, W, np.asarray(x), y, si)
        for name in ("seq", "pipe"):
            assert len(res[name]) == 3
            for t in range(snn.T):
                assert res[name][si]["spikes"][f"0_{t}"] == np.flatnonzero(blk.spikes[0][t]).tolist(), (name, si, t)
        W = blk.weights
    assert sum(len(v) for v in res["seq"][0]["spikes"].values()) > 0
    with pytest.raises(RuntimeError, match="corrupt: W 2 .* after sample 0"):
        check_local(res, samples, [r for r in RUNS if r["name"] == "corrupt"])
    # the blocks do not wait for each other: the pipelined schedule runs in fewer host cycles
    for si in range(3):
        assert res["pipe"][si]["phases"]["run"] < res["seq"][si]["phases"]["run"], si


THREE = {**dict(sizes=(64, 16, 16, 10), T=4, rule="local", surrogate="tri", surrogate_width=2.0, lr=2.0 ** -3),
         "blocks": (1, 1, 1), "window": 3}  # windows {0, 1, 2} and {3}


def test_digits_local_three_blocks_on_three_cores(tmp_path):
    """Blocks 64-16 + head, 16-16 + head, 16-10 on nodes 1, 2, 3: both schedules, two moves per step."""
    from spikemesh.gen.mesh_perf import check_local, run_local

    runs = [{"name": "seq3", "kind": "local", "chain": [1, 2, 3], "n": 2},
            {"name": "pipe3", "kind": "local", "chain": [1, 2, 3], "n": 2, "pipeline": True}]
    res, samples = run_local(tmp_path, n_samples=2, runs=runs, snn=THREE)
    check_local(res, samples, runs, THREE)
    snn = SNNConfig(**THREE)
    W = init_weights(snn, 0)
    for si, (x, y) in enumerate(samples):
        blk = local_block_train(snn, W, np.asarray(x), y, si)
        for name in ("seq3", "pipe3"):
            for b in (0, 1):
                for t in range(snn.T):
                    assert res[name][si]["spikes"][f"{b}_{t}"] == np.flatnonzero(blk.spikes[b][t]).tolist(), \
                        (name, si, b, t)
        assert res["pipe3"][si]["phases"]["run"] < res["seq3"][si]["phases"]["run"], si
        W = blk.weights
