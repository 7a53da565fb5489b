"""The multi-core board: the mesh's host port behind the link, per-core datasets and runners, the batched
data-parallel contract, and data-parallel training on the simulated 4-core board through the real driver,
bit for bit against golden_mesh (docs/boards.md "Multi-core board", docs/mesh.md)."""
from __future__ import annotations

import random

import numpy as np
import pytest
from amaranth.sim import Simulator

from spikemesh.firmware.placement import DataParallelPlan, PacketType, packet, parse_packet
from spikemesh.rtl.mesh.flit import MeshConfig
from spikemesh.rtl.mesh.host_port import CTL_REGS, RX_OFFSET, TX_OFFSET, HostPort
from spikemesh.sim import golden_mesh as gm
from spikemesh.sim.golden import SNNConfig, init_weights, load_digits_split

SNN = SNNConfig(sizes=(64, 16, 10), T=4, rule="sltt")


def bits(ws):
    return [np.asarray(w, np.float16).view(np.uint16) for w in ws]


# ---- the golden contract: k samples per core ----

def test_batch_step_k1_is_data_parallel_step():
    X, y, _, _ = load_digits_split()
    W = init_weights(SNN, 0)
    plan = DataParallelPlan(MeshConfig(1, 5), (1, 2, 3, 4), "index")
    idx = [5, 9, 2, 7]
    a = gm.data_parallel_step(SNN, plan, W, [X[i] for i in idx], [int(y[i]) for i in idx], idx)
    b = gm.data_parallel_batch_step(SNN, plan, W, [[X[i]] for i in idx], [[int(y[i])] for i in idx],
                                    [[i] for i in idx])
    for p, q in zip(bits(a.weights), bits(b.weights)):
        assert np.array_equal(p, q)


def test_batch_gradient_continues_the_accumulation():
    """k samples without an update: sample 2's terms are added onto the G sample 1 left (k = 1 is
    sample_gradient); refusals as in data_parallel_step."""
    X, y, _, _ = load_digits_split()
    W = init_weights(SNN, 0)
    g1 = gm.batch_gradient(SNN, W, [X[0]], [int(y[0])], [0])
    g_a, _ = gm.sample_gradient(SNN, W, X[0], int(y[0]), 0)
    assert all(np.array_equal(p, q) for p, q in zip(bits(g1), bits(g_a)))
    g2 = gm.batch_gradient(SNN, W, [X[0], X[1]], [int(y[0]), int(y[1])], [0, 1])
    g_b, _ = gm.sample_gradient(SNN, W, X[1], int(y[1]), 1)
    assert any(np.any(p != q) for p, q in zip(bits(g2), bits(g_a)))
    assert any(np.any(p != q) for p, q in zip(bits(g2), bits(g_b)))
    with pytest.raises(ValueError, match="k >= 1"):
        gm.batch_gradient(SNN, W, [], [], [])
    with pytest.raises(ValueError, match="not supported in data-parallel"):
        gm.data_parallel_batch_step(SNNConfig(sizes=(64, 16, 10), T=4, rule="ottt_o"),
                                    DataParallelPlan(MeshConfig(1, 2), (1,)), W, [[X[0]]], [[0]], [[0]])


# ---- the host port (pysim) ----

def _port_sim(W: int, packets: list[list[int]], drop_acks: bool):
    """Packets written into the TX region come out of `tx`, are looped into `rx`, and are read back."""
    dut = HostPort(W, tx_depth=8, rx_depth=16)
    wpf = dut.words_per_flit
    got = {"tx": [], "words": [], "acks": None}

    async def bus_op(ctx, addr, we=0, data=0):
        ctx.set(dut.bus.req_valid, 1)
        ctx.set(dut.bus.we, we)
        ctx.set(dut.bus.addr, addr)
        ctx.set(dut.bus.w_data, data)
        while not ctx.get(dut.bus.req_ready):
            await ctx.tick()
        await ctx.tick()
        ctx.set(dut.bus.req_valid, 0)
        if not we:
            while not ctx.get(dut.bus.r_valid):
                await ctx.tick()
            return ctx.get(dut.bus.r_data)

    async def host(ctx):
        await bus_op(ctx, 4, 1, int(drop_acks))
        await bus_op(ctx, 0, 1, 2)  # long poll: 32 cycles
        for flits in packets:
            await bus_op(ctx, TX_OFFSET, 1, len(flits))
            for f in flits:
                for j in range(wpf):
                    await bus_op(ctx, TX_OFFSET + 1, 1, (f >> (16 * j)) & 0xFFFF)
        await bus_op(ctx, RX_OFFSET)  # waits for a whole packet (or 32 cycles)
        for k in range(40):
            for j in range(4):
                got["words"].append(await bus_op(ctx, RX_OFFSET + 1 + 4 * k + j))
        got["acks"] = await bus_op(ctx, CTL_REGS.index("acks"))

    async def loop(ctx):  # tx -> rx through a one-flit holding register, with stalls
        rng = random.Random(1)
        held = None
        while True:
            ctx.set(dut.tx.ready, int(held is None and rng.random() < 0.7))
            ctx.set(dut.rx.valid, int(held is not None))
            if held is not None:
                ctx.set(dut.rx.payload.as_value(), held)
            took_tx = ctx.get(dut.tx.valid) and ctx.get(dut.tx.ready)
            v = ctx.get(dut.tx.payload.as_value()) if took_tx else None
            took_rx = held is not None and ctx.get(dut.rx.ready)
            await ctx.tick()
            if took_rx:
                held = None
            if took_tx:
                held = v
                got["tx"].append(v)

    sim = Simulator(dut)
    sim.add_clock(1e-8)
    sim.add_testbench(host)
    sim.add_testbench(loop, background=True)
    sim.run()
    return got, wpf


def test_host_port_packets_through_tx_and_rx():
    cfg = MeshConfig(1, 3, 32)
    reads = packet(cfg, 0, 1, PacketType.CONTROL, 7, 0, [1, 2, 3])
    writes = packet(cfg, 0, 2, PacketType.CONTROL, 8, 1, [0x12345678])
    done = packet(cfg, 1, 0, PacketType.WEIGHT, 0, 2, [])
    got, wpf = _port_sim(32, [reads, writes, done], drop_acks=True)
    assert got["tx"] == reads + writes + done  # every flit once, in order, head/tail set by the port
    flits, W = [], 32
    for k in range(0, len(got["words"]), 4):
        fl, d0, d1, _ = got["words"][k:k + 4]
        if fl & 1:
            flits.append(d0 | d1 << 16 | ((fl >> 1) & 1) << W | ((fl >> 2) & 1) << (W + 1))
    assert flits == reads + done  # the write "response" (a CONTROL packet with the write bit) was dropped
    assert got["acks"] == 1
    assert parse_packet(cfg, flits[:len(reads)])["body"] == [1, 2, 3]


def test_host_port_refusals():
    with pytest.raises(ValueError, match="flit_width"):
        HostPort(64)
    with pytest.raises(ValueError, match="rx_depth"):
        HostPort(32, rx_depth=2)


# ---- the simulated 4-core board through the real driver (Verilator, one cached build) ----

@pytest.fixture(scope="module")
def mesh_build():
    from spikemesh.firmware.mesh_train import build_sim_mesh, sim_mesh_soc

    return build_sim_mesh(sim_mesh_soc())


def test_mesh_board_trains_bit_exact(mesh_build):
    """4 cores, 2 samples each per step, 2 steps, 2 epochs; then 1 core of the same board: every epoch's
    weights (read back from every core) bit for bit golden_mesh.data_parallel_batch_step's (mesh_train raises
    otherwise); the link carries one write and a long poll or two per step."""
    from spikemesh.firmware.driver import Board
    from spikemesh.firmware.mesh_train import MeshPort, golden_run, mesh_train
    from spikemesh.firmware.train import SIM_CORE, snn_for_core
    from spikemesh.sim.board import SimBoard

    snn = snn_for_core(SIM_CORE, "sltt")
    X, y, _, _ = load_digits_split()
    W = init_weights(snn, 1)
    with SimBoard(mesh_build) as sim, Board.connect(sim.url, mesh_build, timeout=5.0) as b:
        r4 = mesh_train(b, SIM_CORE, snn, W, X[:16], y[:16], cores=4, k=2, epochs=2, cycles=sim.cycles,
                        progress=False)
        assert [h["golden_bit_exact"] for h in r4.history] == [True, True]
        assert r4.samples == 16 and r4.cycles > 0
        # the epochs differ (training moved the weights) and equal the golden run's
        gold = golden_run(snn, DataParallelPlan(MeshPort(b).cfg, (1, 2, 3, 4)), W, X[:16], y[:16], 2, 2, 16)
        assert not all(np.array_equal(p, q) for p, q in zip(bits(gold[0]), bits(gold[1])))
        assert all(np.array_equal(p, q) for p, q in zip(bits(r4.weights), bits(gold[1])))
        r1 = mesh_train(b, SIM_CORE, snn, W, X[:4], y[:4], cores=1, k=2, epochs=1, cycles=sim.cycles,
                        progress=False)
        assert r1.history[0]["golden_bit_exact"]
        assert MeshPort(b).acks() > 0  # the write acknowledgements were dropped on the board
    # per step: one write (4 go packets + the reduction start) and a long poll or two (2 steps x 2 epochs, plus
    # per epoch the last update and the runners' status)
    assert r4.step_requests <= 4 * 3 + 2 * 10, r4.step_requests
    assert r4.link_requests < 600, r4.link_requests  # mostly set-up and the weight read-backs


def test_mesh_board_other_rules_bit_exact(mesh_build):
    """Every rule the data-parallel mode supports, 4 cores x 2 samples, one step: bit for bit."""
    from spikemesh.firmware.driver import Board
    from spikemesh.firmware.mesh_train import mesh_train
    from spikemesh.firmware.train import SIM_CORE, snn_for_core
    from spikemesh.sim.board import SimBoard

    X, y, _, _ = load_digits_split()
    with SimBoard(mesh_build) as sim, Board.connect(sim.url, mesh_build, timeout=5.0) as b:
        for rule, extra in (("bptt", {}), ("tbptt", {"window": 2}), ("ottt_a", {}), ("sltt_k", {"k_steps": (1, 3)})):
            snn = snn_for_core(SIM_CORE, rule, **extra)
            r = mesh_train(b, SIM_CORE, snn, init_weights(snn, 2), X[8:16], y[8:16], cores=4, k=2, progress=False)
            assert r.history[0]["golden_bit_exact"], rule


def _cli(*argv) -> tuple[int, str]:
    import contextlib
    import io

    from spikemesh.gen.cli import main

    out = io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(out):
        try:
            rc = main(list(argv))
        except SystemExit as exc:
            rc = exc.code
    return rc, out.getvalue()


def test_cli_train_cores_sim(mesh_build, tmp_path):
    rc, out = _cli("train", "--cores", "4", "--sim", "--samples", "16", "--batch", "2",
                   "--checkpoint", str(tmp_path / "ck.npz"))
    assert rc == 0, out
    rows = [line.split() for line in out.splitlines() if line.startswith("    4")]
    assert rows and rows[0][1] == "16" and rows[0][-1] == "True", out  # 4 cores, 16 samples, bit-exact
    assert "training-sample accuracy" in out and (tmp_path / "ck.npz").exists()


@pytest.mark.parametrize("argv, message", [
    (["--cores", "5", "--sim"], "--cores"),
    (["--cores", "4", "--sim", "--rule", "ottt_o"], "--rule ottt_o"),
    (["--cores", "2", "--sim", "--resume", "x.npz"], "--resume is not supported"),
    (["--cores", "4", "--sim", "--batch", "100", "--samples", "50"], "do not fit"),
])
def test_cli_train_cores_refusals(argv, message, tmp_path):
    rc, out = _cli("train", *argv, "--checkpoint", str(tmp_path / "ck.npz"))
    assert rc == 2 and message in out, out


def test_cli_train_cores_needs_a_mesh_build(tmp_path):
    (tmp_path / "build.json").write_text('{"core": {"layers": [64, 16, 10]}}')
    (tmp_path / "memory_map.json").write_text("{}")
    rc, out = _cli("train", "--cores", "4", "--port", "/dev/null", "--build-dir", str(tmp_path),
                   "--checkpoint", str(tmp_path / "ck.npz"))
    assert rc == 2 and "multi-core build" in out, out


def test_cli_train_cores_more_than_the_build_has(tmp_path):
    (tmp_path / "build.json").write_text('{"mesh_core": {"layers": [64, 16, 10], "t_max": 4}, "cores": 2, '
                                         '"config": {"dataset_words": 8192}}')
    (tmp_path / "memory_map.json").write_text("{}")
    rc, out = _cli("train", "--cores", "4", "--port", "/dev/null", "--build-dir", str(tmp_path),
                   "--checkpoint", str(tmp_path / "ck.npz"))
    assert rc == 2 and "has 2 cores" in out, out


def test_mesh4_board_profile():
    """`spikemesh build --board ulx3s-85f --config mesh4`: 4 cores at 36 MHz (3 Mbaud at 12 clocks per bit), the
    simulated board's tile, block RAMs within the device; the build's map tells the host the mesh."""
    import json

    from spikemesh.boards.profiles import board_profile
    from spikemesh.firmware.mesh_train import SIM_MESH_SOC
    from spikemesh.rtl.mesh.board_soc import MeshSoC

    prof = board_profile("ulx3s-85f")
    assert prof.for_config("mesh4").clocks_per_bit == 12 and prof.mesh_cores == {"mesh4": 4}
    cfg = prof.soc_config("mesh4")
    assert cfg.dataset_words == SIM_MESH_SOC.dataset_words and cfg.clk_hz == 36_000_000
    assert sum(prof.bram_estimate("mesh4").values()) <= prof.bram_blocks
    soc = MeshSoC(cfg, prof.core_config("mesh4"), 4)
    info = soc.build_info()
    assert info["cores"] == 4 and info["mesh_core"]["layers"] == (64, 16, 10) and info["mesh_core"]["t_max"] == 4
    mesh = next(t for t in json.loads(soc.map_json)["targets"] if t["name"] == "mesh")
    fields = mesh["regions"][0]["fields"]
    assert fields["nodes"] == [1, 2, 3, 4] and fields["flit_width"] == 32 and fields["cols"] == 5
