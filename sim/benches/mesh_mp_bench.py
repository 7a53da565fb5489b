"""cocotb bench: model-parallel training on TrainingCores of a 2x2 mesh, host at node 0.

Each core holds a contiguous slice of the network's layers and runs the per-step segments of
`firmware.program.compile_segments`; the host node only sequences (starts a segment, polls for done) and
moves per step: the spike event list of each core's last layer to the next core's layer-0 list (and its
count), and gs_0 of each later core (acc[gs0_off..]) to acc[noff_L..] of the previous core. params["move"]:
"copy": one COPY request to the SOURCE core's CopyEngine, which streams the words to the destination
core's bridge (the data never passes the host; the host waits for the destination's acknowledgement);
"relay": the host reads the words over the mesh and writes them to the destination.
The same design holds a core with the whole network (params["single"]); it trains the same samples with
the one-piece program through the same host path, for the comparison.
Runs of kind "local" (rule local): one block (+ head) per core, only spikes move (`train_local`).

Cycle accounting (host clock, per sample): input (label + input load), run (segment start + polls until
done: compute plus the polling/latency overhead), move (the exchanges), check (read-backs for the
comparisons, not counted in the total). Core busy cycles come from the cores' counters.
"""
from __future__ import annotations

import json

import cocotb
import numpy as np

from spikemesh.firmware.program import compile_program, compile_segments, constants_from_snn
from spikemesh.rtl.core.config import CoreConfig
from spikemesh.rtl.core.layout import MODE_DIRECT, CoreLayout
from spikemesh.rtl.mesh.copy_engine import COPY_EXTRA, copy_request_body
from spikemesh.rtl.mesh.flit import MeshConfig
from spikemesh.sim.benches.core_host import f16_bits
from spikemesh.sim.benches.mesh_host import HostPort, MeshCoreHost, reset_mesh
from spikemesh.sim.cocotb_run import cocotb_param
from spikemesh.sim.golden import SNNConfig, encode, init_weights


def core_config(c: dict) -> CoreConfig:
    """A bench core from its params: layers, t_max and, for a local-learning core, heads (rules ("local",))."""
    heads = tuple(c.get("heads", ()))
    return CoreConfig(layers=tuple(c["layers"]), t_max=c["t_max"], heads=heads,
                      **({"rules": ("local",)} if heads else {}))


class Core(MeshCoreHost):
    """One core of the chain: its slice, its segmented program, segment launch and the moves."""

    def __init__(self, port: HostPort, cfg: CoreConfig, node: int):
        lay = CoreLayout(cfg)
        super().__init__(port, cfg, node, lay.addr_width)
        self.first_launch = True

    async def launch(self, pc: int) -> None:
        """start_pc and ctrl in one request packet (counters cleared at the first launch of a sample)."""
        ctrl = self.reg_value("ctrl", start=1, clear=int(self.first_launch))
        self.first_launch = False
        await self.host_port.transact(self.node, True, [self.reg_addr("start_pc") | pc << self.aw,
                                                        self.reg_addr("ctrl") | ctrl << self.aw])


async def move(port: HostPort, how: str, src: Core, src_addr: int, dst: Core, dst_addr: int, n: int,
               spikes: bool) -> None:
    """n words from src's bus address to dst's; spike entries re-packed (index | fired << nb per core)."""
    if how == "copy":
        body = copy_request_body(port.cfg, dst.node, src_addr, n, dst_addr, dst.aw, src.lay.nb, dst.lay.nb, spikes)
        await port.send(src.node, COPY_EXTRA, body, dst.node)
        return
    words = []
    for k in range(0, n, src.batch):
        resp = await port.transact(src.node, False, [src_addr + i for i in range(k, min(n, k + src.batch))])
        words += [r >> src.aw for r in resp]
    if spikes:
        words = [(w & ((1 << src.lay.nb) - 1)) | ((w >> src.lay.nb) & 1) << dst.lay.nb for w in words]
    for k in range(0, n, dst.batch):
        await port.transact(dst.node, True, [(dst_addr + k + i) | w << dst.aw
                                             for i, w in enumerate(words[k:k + dst.batch])])


async def move_step_spikes(port: HostPort, how: str, src: Core, dst: Core, layer: int, t: int) -> None:
    """src's spike list of `layer` at step t (all N slots and its count) into dst's layer-0 list of step t."""
    await move(port, how, src, src.base["spk"] + src.lay.spk_addr(layer, t, 0), dst,
               dst.base["spk"] + dst.lay.spk_addr(0, t, 0), src.cfg.layers[layer], True)
    await move(port, how, src, src.base["cnt"] + src.lay.cnt_addr(layer, t), dst,
               dst.base["cnt"] + dst.lay.cnt_addr(0, t), 1, False)


class PhaseClock:
    """Cycles per named phase, from the host port's cycle count."""

    def __init__(self, port: HostPort):
        self.port, self.mark, self.acc = port, port.cycles, {}

    def to(self, name: str) -> None:
        self.acc[name] = self.acc.get(name, 0) + self.port.cycles - self.mark
        self.mark = self.port.cycles


async def run_and_wait(cores: list[Core], pcs: list[int]) -> None:
    for c, pc in zip(cores, pcs):
        await c.launch(pc)
    for c in cores:
        await c.wait_done()


async def train_model_parallel(port, p, snn, chain: list[Core], samples, check: bool) -> list[dict]:
    how = p["move"]
    T = snn.T
    progs = [compile_segments(c.cfg, snn.rule, T, i == 0, i == len(chain) - 1, snn.k_steps)
             for i, c in enumerate(chain)]
    consts = constants_from_snn(snn)
    for i, c in enumerate(chain):
        for name, val in consts.items():
            if name == "mode" and i > 0:
                val &= ~MODE_DIRECT  # only the first core takes the FP16 input; later cores take spikes
            await c.set_reg(name, val)
        await c.write_block("prog", 0, progs[i].words)
    W = init_weights(snn, p["seed"])
    lo = 0
    for c in chain:
        await c.write_weights(W[lo:lo + c.cfg.n_layers])
        lo += c.cfg.n_layers
    out = []
    for si, (pix, label) in enumerate(samples):
        clk = PhaseClock(port)
        rec = {"spikes": {}, "gs": {}}
        for c in chain:
            c.first_launch = True
        await chain[-1].set_reg("label", label)
        await chain[0].load_input(encode(snn, np.asarray(pix), si), snn.encoding == "direct", snn.dense)
        clk.to("input")

        async def move_spikes(i, t):
            nxt = chain[i + 1]
            await move_step_spikes(port, how, chain[i], nxt, chain[i].cfg.n_layers, t)
            clk.to("move")
            if check:
                rec["spikes"][f"{i}_{t}"] = await nxt.read_events(0, t)
                clk.to("check")

        async def move_gs(i, t):
            c, nxt, Lc = chain[i], chain[i + 1], chain[i].cfg.n_layers
            await move(port, how, nxt, nxt.base["acc"] + nxt.lay.gs0_off, c, c.base["acc"] + c.lay.noff(Lc),
                       c.cfg.layers[-1], False)
            clk.to("move")
            if check:
                rec["gs"][f"{i}_{t}"] = f16_bits(await c.read_neurons("acc", Lc)).tolist()
                clk.to("check")

        async def forward(t):
            for i, c in enumerate(chain):
                await run_and_wait([c], [progs[i].starts[("fwd", t)]])
                clk.to("run")
                if i + 1 < len(chain):
                    await move_spikes(i, t)

        async def backward(t):
            if ("bwd", t) in progs[-1].starts:  # BPTT: the last core's backward is a segment of its own
                await run_and_wait([chain[-1]], [progs[-1].starts[("bwd", t)]])
                clk.to("run")
            for i in range(len(chain) - 2, -1, -1):
                if ("bwd", t) not in progs[i].starts:
                    continue
                await move_gs(i, t)
                await run_and_wait([chain[i]], [progs[i].starts[("bwd", t)]])
                clk.to("run")

        n = len(chain)
        if snn.rule == "bptt" and p.get("pipeline"):
            # wavefront: in forward round r core i runs fwd(r - i); in backward round r core i runs bwd(t),
            # t = T-1 - (r - (n-1-i)). Each core's own op order is unchanged; a round's moves happen before its
            # launches (cores idle), so gs_0(t) leaves core i+1 before its bwd(t-1) overwrites it.
            for r in range(T + n - 1):
                for i in range(n - 1):
                    if 0 <= r - 1 - i < T:
                        await move_spikes(i, r - 1 - i)
                act = [(c, progs[i].starts[("fwd", r - i)]) for i, c in enumerate(chain) if 0 <= r - i < T]
                await run_and_wait([c for c, _ in act], [pc for _, pc in act])
                clk.to("run")
            for r in range(T + n - 1):
                def tb(i):
                    return T - 1 - (r - (n - 1 - i))
                for i in range(n - 1):
                    if 0 <= tb(i) < T:
                        await move_gs(i, tb(i))
                act = [(c, progs[i].starts[("bwd", tb(i))]) for i, c in enumerate(chain) if 0 <= tb(i) < T]
                await run_and_wait([c for c, _ in act], [pc for _, pc in act])
                clk.to("run")
        elif snn.rule == "bptt":
            for t in range(T):
                await forward(t)
            for t in reversed(range(T)):
                await backward(t)
        else:
            for t in range(T):
                await forward(t)
                await backward(t)
        await run_and_wait(chain, [pr.starts[("upd", 0)] for pr in progs])  # both cores update at once
        clk.to("run")
        rec["busy"] = [(await c.counters())["cycles"] for c in chain]
        rec["weights"] = [f16_bits(await c.read_matrix("w", l)).tolist() for c in chain
                          for l in range(1, c.cfg.n_layers + 1)]
        clk.to("check")
        rec["phases"] = clk.acc
        out.append(rec)
    return out


async def train_local(port, p, snn, chain: list[Core], samples, check: bool) -> list[dict]:
    """Local learning, block b (+ its head) on chain[b] (`placement.local_blocks`): only spikes move, forward.

    p["pipeline"] False: one core at a time, the single-core order (per step: every core's fwd t, the move
    after each; at a window's last step every core's bwd); True: each core runs its own segment list
    (fwd t ..., bwd at each window end, upd) as soon as its input is there: a core is started whenever it is
    idle and, for fwd t, the block below's s[t] has been moved; a move waits until its two cores are idle
    (memories are reachable only then) and goes before either is started again. p["corrupt"]: [block, layer,
    row, col] flips bit 14 of that initial weight on the core (a negative check)."""
    from spikemesh.firmware.placement import local_blocks

    how, T, n = p["move"], snn.T, len(chain)
    blocks = local_blocks(snn.sizes, snn.blocks)
    if len(blocks) != n:
        raise ValueError(f"{len(blocks)} blocks need {len(blocks)} cores, got a chain of {n}")
    progs = [compile_segments(c.cfg, "local", T, i == 0, i == n - 1, window=snn.window) for i, c in enumerate(chain)]
    consts = constants_from_snn(snn)
    for i, c in enumerate(chain):
        for name, val in consts.items():
            await c.set_reg(name, val & ~MODE_DIRECT if name == "mode" and i > 0 else val)
        await c.write_block("prog", 0, progs[i].words)
    W = init_weights(snn, p["seed"])
    for c, b in zip(chain, blocks):
        await c.write_weights([W[k] for k in b.weight_indices])
    if p.get("corrupt"):
        b, l, r, col = p["corrupt"]
        w = np.array(W[blocks[b].weight_indices[l - 1]], np.float16).view(np.uint16)
        w[r, col] ^= 1 << 14
        await chain[b].write_matrix("w", l, w.view(np.float16))
    out = []
    for si, (pix, label) in enumerate(samples):
        clk = PhaseClock(port)
        rec = {"spikes": {}}
        for c in chain:
            c.first_launch = True
            await c.set_reg("label", label)  # every block has its own loss
        await chain[0].load_input(encode(snn, np.asarray(pix), si), snn.encoding == "direct", snn.dense)
        clk.to("input")

        async def move_spikes(i: int, t: int) -> None:
            nxt = chain[i + 1]
            await move_step_spikes(port, how, chain[i], nxt, blocks[i].send_layer, t)
            clk.to("move")
            if check:
                rec["spikes"][f"{i}_{t}"] = await nxt.read_events(0, t)
                clk.to("check")

        if p.get("pipeline"):
            seqs = [list(pr.order) for pr in progs]  # each core's UPD too: no block waits for another's
            pos, running, pending, sent = [0] * n, {}, [], set()
            while running or pending or any(pos[i] < len(seqs[i]) for i in range(n)):
                for i, t in list(pending):
                    if i not in running and i + 1 not in running:
                        await move_spikes(i, t)
                        pending.remove((i, t))
                        sent.add((i, t))
                busy = {j for i, _ in pending for j in (i, i + 1)}
                for i in range(n):
                    if i in running or i in busy or pos[i] >= len(seqs[i]):
                        continue
                    kind, t = seqs[i][pos[i]]
                    if kind == "fwd" and i > 0 and (i - 1, t) not in sent:
                        continue
                    await chain[i].launch(progs[i].starts[(kind, t)])
                    running[i] = (kind, t)
                    pos[i] += 1
                finished = False
                while running and not finished:  # poll the running cores in turn until one is done
                    for i in sorted(running):
                        st = await chain[i].status()
                        if st["done"] and not st["busy"]:
                            kind, t = running.pop(i)
                            if kind == "fwd" and i + 1 < n:
                                pending.append((i, t))
                            finished = True
                clk.to("run")
        else:
            for t in range(T):
                for i, c in enumerate(chain):
                    await run_and_wait([c], [progs[i].starts[("fwd", t)]])
                    clk.to("run")
                    if i + 1 < n:
                        await move_spikes(i, t)
                for i, c in enumerate(chain):
                    if ("bwd", t) in progs[i].starts:
                        await run_and_wait([c], [progs[i].starts[("bwd", t)]])
                        clk.to("run")
            await run_and_wait(chain, [pr.starts[("upd", 0)] for pr in progs])
            clk.to("run")
        rec["busy"] = [(await c.counters())["cycles"] for c in chain]
        # in the golden order (main W_1..W_L, then the heads), whatever core holds them
        got = {}
        for c, b in zip(chain, blocks):
            for l, k in enumerate(b.weight_indices, start=1):
                got[k] = f16_bits(await c.read_matrix("w", l)).tolist()
        rec["weights"] = [got[k] for k in sorted(got)]
        clk.to("check")
        rec["phases"] = clk.acc
        out.append(rec)
    return out


async def train_single(port, p, snn, core: Core, samples) -> list[dict]:
    words = compile_program(core.cfg, snn.rule, snn.T, snn.k_steps,
                            window=snn.window if snn.rule in ("tbptt", "local") else None)
    for name, val in constants_from_snn(snn).items():
        await core.set_reg(name, val)
    await core.write_block("prog", 0, words)
    await core.write_weights(init_weights(snn, p["seed"]))
    out = []
    for si, (pix, label) in enumerate(samples):
        clk = PhaseClock(port)
        core.first_launch = True
        await core.set_reg("label", label)
        await core.load_input(encode(snn, np.asarray(pix), si), snn.encoding == "direct", snn.dense)
        clk.to("input")
        await run_and_wait([core], [0])
        clk.to("run")
        rec = {"busy": [(await core.counters())["cycles"]],
               "weights": [f16_bits(await core.read_matrix("w", l)).tolist() for l in range(1, core.cfg.n_layers + 1)]}
        clk.to("check")
        rec["phases"] = clk.acc
        out.append(rec)
    return out


@cocotb.test()
async def model_parallel_cores(dut):
    p = cocotb_param()
    mesh = MeshConfig(*p["mesh"])

    def snn_of(run: dict) -> SNNConfig:
        kw = {**p["snn"], **run.get("snn", {})}
        return SNNConfig(**{**kw, "sizes": tuple(kw["sizes"]),
                            "k_steps": tuple(kw["k_steps"]) if kw.get("k_steps") else None,
                            "blocks": tuple(kw["blocks"]) if kw.get("blocks") else None})

    await reset_mesh(dut)
    port = HostPort(dut, mesh)

    def core(node: int) -> Core:
        c = p["cores"][str(node)]
        return Core(port, core_config(c), node)

    samples = [(np.asarray(x, np.int64), int(y)) for x, y in p["samples"]]
    result = {}
    for run in p["runs"]:  # each run starts from the initial weights; run["n"]: its first n samples
        snn, use = snn_of(run), samples[:run.get("n", len(samples))]
        if run["kind"] == "local":
            chain = [core(n) for n in run["chain"]]
            result[run["name"]] = await train_local(port, {**p, "move": run.get("move", "copy"),
                                                           "pipeline": run.get("pipeline", False),
                                                           "corrupt": run.get("corrupt")},
                                                    snn, chain, use, run.get("check", True))
        elif run["kind"] == "mp":
            chain = [core(n) for n in run["chain"]]
            result[run["name"]] = await train_model_parallel(port, {**p, "move": run["move"],
                                                                    "pipeline": run.get("pipeline", False)},
                                                             snn, chain, use,
                                                             run.get("check", True))
        else:
            result[run["name"]] = await train_single(port, p, snn, core(run["node"]), use)
    with open(p["out"], "w") as fh:
        json.dump(result, fh)
