"""NIR (Neuromorphic Intermediate Representation, `nir` 1.0.8) in and out: a trained network as a NIR graph,
and a NIR graph as the starting weights of on-chip training (`spikemesh export --nir`, `spikemesh train --init`).

The network is the golden model's (spikemesh.sim.golden.core.forward_step), per layer l and step t:

    I[t] = W_l s_{l-1}[t]            W_l: (N_l, N_{l-1}), NIR Linear's (out, in) convention
    h[t] = lam * v[t-1] + I[t]
    s[t] = h[t] >= theta
    v[t] = h[t] - theta * s[t]  (reset "soft")   or   0 where s[t]  (reset "hard")

Each layer becomes `Linear(W_l)` -> `LIF`, with the LIF chosen so that the forward-Euler step of NIR's
tau dv/dt = (v_leak - v) + r I with the graph's dt (metadata["dt"], 1e-4 as snnTorch's NIR import assumes)
is that update: tau = dt / (1 - lam) (so beta = 1 - dt/tau = lam), r = tau / dt (so the input gain
r dt / tau = 1), v_leak = 0, v_threshold = theta, v_reset = 0 (lam = 1: an `IF` node with r = 1).
NIR's LIF fires on v > v_threshold and resets to v_reset: the golden model's `>=` and soft reset are not
expressible, so the graph's metadata["spikemesh"] carries every SNNConfig field (lam, theta, reset, T,
encoding, surrogate, rule, ...) and `read_nir` restores them exactly.  docs/nir.md has the whole mapping.
"""
from __future__ import annotations

import ast
import contextlib
import io
from dataclasses import asdict, dataclass, fields

import numpy as np

NIR_DT = 1e-4  # the time step snnTorch's import_nir / export_nir assume (and write when there is none)
META_KEY = "spikemesh"
META_FORMAT = 1
SUPPORTED = ("a feed-forward chain Input -> [Linear (or Affine with zero bias) -> LIF | IF | CubaLIF with "
             "tau_syn = dt] per layer -> Output, one lam and theta for all neurons (Flatten/Identity are skipped)")
_PASS = ("Flatten", "Identity")
_NEURONS = ("LIF", "IF", "CubaLIF")
_DENSE = ("Linear", "Affine")


def _nir():
    try:
        import nir
    except ImportError:  # pragma: no cover - a runtime dependency
        raise ValueError("NIR support needs the `nir` package (pip install nir==1.0.8)") from None
    return nir


# ---------------------------------------------------------------------------------------------- export

def lif_parameters(lam: float, theta: float, dt: float = NIR_DT) -> dict[str, float]:
    """NIR LIF parameters whose forward-Euler step with `dt` is h = lam v + I, fire at theta, reset to 0."""
    if lam >= 1.0:
        return {"r": 1.0, "v_threshold": float(theta)}  # an IF node: v += r I
    tau = dt / (1.0 - lam)
    return {"tau": tau, "r": tau / dt, "v_leak": 0.0, "v_threshold": float(theta), "v_reset": 0.0}


def _meta_of(snn) -> dict:
    out = {"format": META_FORMAT}
    for k, v in asdict(snn).items():
        if v is None:
            continue  # h5py stores no None: an absent key is None
        out[k] = np.asarray(v, np.int64) if isinstance(v, (tuple, list)) else v
    return out


def to_nir(snn, weights):
    """The NIR graph of a golden-model network (`snn`: SNNConfig) with `weights` W_1..W_L (N_l, N_{l-1})."""
    nir = _nir()
    shapes = [tuple(s) for s in snn.weight_shapes()]
    if snn.rule == "local" and len(shapes) > snn.n_layers:
        raise ValueError("rule local: the heads of the non-final blocks have no NIR form; export a network "
                         "trained with another rule (NIR holds the inference network only)")
    if [np.shape(w) for w in weights] != shapes:
        raise ValueError(f"weights must have shapes {shapes} for sizes {'-'.join(map(str, snn.sizes))}, got "
                         f"{[np.shape(w) for w in weights]}")
    nodes = {"input": nir.Input(input_type={"input": np.array([snn.sizes[0]])})}
    edges, prev = [], "input"
    for l, w in enumerate(weights, start=1):
        n = np.shape(w)[0]
        p = lif_parameters(snn.lam, snn.theta)
        arr = {k: np.full(n, v, np.float64) for k, v in p.items()}
        nodes[f"fc{l}"] = nir.Linear(weight=np.asarray(w, np.float32))  # FP16 -> FP32 is exact
        nodes[f"lif{l}"] = nir.IF(**arr) if "tau" not in p else nir.LIF(**arr)
        edges += [(prev, f"fc{l}"), (f"fc{l}", f"lif{l}")]
        prev = f"lif{l}"
    nodes["output"] = nir.Output(output_type={"output": np.array([snn.sizes[-1]])})
    edges.append((prev, "output"))
    return nir.NIRGraph(nodes=nodes, edges=edges, metadata={"dt": NIR_DT, META_KEY: _meta_of(snn)})


def write_nir(path, snn, weights) -> None:
    """Write the NIR graph of the network to `path` (HDF5, nir.write)."""
    _nir().write(str(path), to_nir(snn, weights))


# ---------------------------------------------------------------------------------------------- import

@dataclass
class NirNetwork:
    """A NIR graph as the golden model's network: FP16 weights and the neuron parameters."""

    weights: list[np.ndarray]  # float16, (N_l, N_{l-1})
    sizes: tuple[int, ...]
    lam: float
    theta: float
    reset: str  # from the metadata; "hard" (NIR's reset to v_reset = 0) without it
    snn: dict | None  # every SNNConfig field from metadata["spikemesh"], None for a foreign graph
    rounded: int  # weights that rounding to FP16 changed (0 for a spikemesh export)
    dt: float

    def snn_config(self):
        """The SNNConfig: exactly the exported one with metadata, else the golden defaults + these neurons."""
        from spikemesh.sim.golden import SNNConfig

        if self.snn is not None:
            return SNNConfig(**self.snn)
        return SNNConfig(sizes=self.sizes, lam=self.lam, theta=self.theta, reset=self.reset)


def _refuse(what: str) -> ValueError:
    return ValueError(f"{what}; supported: {SUPPORTED}")


def _scalar(name: str, node_name: str, arr) -> float:
    a = np.asarray(arr, np.float64).ravel()
    if a.size == 0 or not np.all(a == a[0]):
        raise _refuse(f"NIR node {node_name!r}: {name} differs between neurons (the core has one value per network)")
    return float(a[0])


def _fp16_exact(name: str, value: float, where: str) -> float:
    """`value` (a float computed from NIR time constants) as the FP16 number it stands for, or refuse."""
    if not np.isfinite(value):
        raise ValueError(f"NIR node {where!r}: {name} = {value!r} is not finite")
    v16 = float(np.float16(value))
    if not np.isfinite(v16) or abs(v16 - value) > 1e-6 * max(1.0, abs(value)):
        raise ValueError(f"NIR node {where!r}: {name} = {value!r} is not exact in FP16 (nearest {v16!r}); the chip "
                         f"supports only FP16-exact lam in [0, 1] and theta in (0, 64]")
    return v16


def _neuron(name: str, node, dt: float) -> tuple[float, float]:
    """(lam, theta) of one neuron node under snnTorch's discretisation with `dt`."""
    kind = type(node).__name__
    if kind == "IF":
        lam, gain = 1.0, _scalar("r", name, node.r)
    else:
        if kind == "CubaLIF":
            tau_syn = _scalar("tau_syn", name, node.tau_syn)
            alpha = 1.0 - dt / tau_syn
            if abs(alpha) > 1e-9:
                raise _refuse(f"NIR node {name!r} is a CubaLIF with synaptic dynamics (tau_syn = {tau_syn!r}, alpha = "
                              f"1 - dt/tau_syn = {alpha:.6g}): the core has no synaptic current")
            tau, w_in = _scalar("tau_mem", name, node.tau_mem), _scalar("w_in", name, node.w_in)
        else:
            tau, w_in = _scalar("tau", name, node.tau), 1.0
        if _scalar("v_leak", name, node.v_leak) != 0.0:
            raise _refuse(f"NIR node {name!r}: v_leak must be 0 (the core's membrane decays to 0)")
        lam = 1.0 - dt / tau
        gain = w_in * _scalar("r", name, node.r) * dt / tau
    if _scalar("v_reset", name, node.v_reset) != 0.0:
        raise _refuse(f"NIR node {name!r}: v_reset must be 0")
    if gain == 0.0:
        raise ValueError(f"NIR node {name!r}: input gain r dt / tau is 0")
    # an input gain g != 1 is the same network with the threshold divided by g (snnTorch's import does this)
    theta = _scalar("v_threshold", name, node.v_threshold) / gain
    return _fp16_exact("lam = 1 - dt/tau", lam, name), _fp16_exact("theta = v_threshold / (r dt / tau)", theta, name)


def _chain(graph) -> list[tuple[str, object]]:
    """The nodes from Input to Output, or a one-line refusal of anything that is not a feed-forward chain."""
    nodes, edges = graph.nodes, [tuple(e) for e in graph.edges]
    for name, node in nodes.items():
        kind = type(node).__name__
        if kind == "NIRGraph":
            raise _refuse(f"NIR node {name!r} is a sub-graph (a recurrent layer): not supported")
        if kind not in ("Input", "Output", *_PASS, *_NEURONS, *_DENSE):
            raise _refuse(f"NIR node {name!r} is a {kind}: not supported")
    for a, b in edges:
        if a not in nodes or b not in nodes:
            raise ValueError(f"NIR edge {a} -> {b} names a node the graph does not have")
    ins = [k for k, n in nodes.items() if type(n).__name__ == "Input"]
    outs = [k for k, n in nodes.items() if type(n).__name__ == "Output"]
    if len(ins) != 1 or len(outs) != 1:
        raise _refuse(f"the graph has {len(ins)} Input and {len(outs)} Output nodes (one each is needed)")
    succ: dict[str, list[str]] = {k: [] for k in nodes}
    for a, b in edges:
        succ[a].append(b)
    # a cycle (recurrent edge) first: it also shows as a node with two successors, which says less
    state: dict[str, int] = {}

    def visit(k: str) -> None:
        state[k] = 1
        for b in succ[k]:
            if state.get(b) == 1:
                raise _refuse(f"recurrent edge {k} -> {b}: not supported")
            if b not in state:
                visit(b)
        state[k] = 2

    for k in nodes:
        if k not in state:
            visit(k)
    chain, k, seen = [], ins[0], set()
    while True:
        chain.append((k, nodes[k]))
        seen.add(k)
        if k == outs[0]:
            break
        if len(succ[k]) != 1:
            raise _refuse(f"NIR node {k!r} feeds {len(succ[k])} nodes ({', '.join(succ[k]) or 'none'}): not a "
                          f"feed-forward chain")
        k = succ[k][0]
    rest = sorted(set(nodes) - seen)
    if rest:
        raise _refuse(f"NIR nodes {', '.join(rest)} are not on the path from input to output")
    return [(k, n) for k, n in chain if type(n).__name__ not in _PASS]


def _meta_dict(meta) -> dict | None:
    from spikemesh.sim.golden import SNNConfig

    if not isinstance(meta, dict):
        return None
    names = {f.name for f in fields(SNNConfig)}
    out = {}
    for k, v in meta.items():
        if k not in names:
            continue
        if isinstance(v, bytes):
            v = v.decode()
        if isinstance(v, np.ndarray) and v.ndim > 0:
            v = tuple(int(x) for x in v)
        elif isinstance(v, (np.generic, np.ndarray)):
            v = v.item()
        if k in ("sizes", "k_steps", "blocks") and isinstance(v, list):
            v = tuple(v)
        out[k] = v
    return out


def from_nir(graph) -> NirNetwork:
    """The network of a NIR graph: refuses (ValueError, one line) anything the training core cannot run."""
    meta = graph.metadata if isinstance(graph.metadata, dict) else {}
    dt = float(np.asarray(meta.get("dt", NIR_DT)))
    chain = _chain(graph)
    body = chain[1:-1]
    if not body:
        raise _refuse("the graph has no layers")
    weights, params, rounded = [], [], 0
    for i in range(0, len(body), 2):
        dname, dense = body[i]
        if type(dense).__name__ not in _DENSE:
            raise _refuse(f"NIR node {dname!r} ({type(dense).__name__}) where a Linear/Affine layer must be")
        if i + 1 >= len(body) or type(body[i + 1][1]).__name__ not in _NEURONS:
            nxt = f"{body[i + 1][0]!r} ({type(body[i + 1][1]).__name__})" if i + 1 < len(body) else "the Output"
            raise _refuse(f"NIR node {dname!r} is followed by {nxt}, not by a spiking neuron layer")
        nname, neuron = body[i + 1]
        w = np.asarray(dense.weight)
        if w.ndim != 2:
            raise _refuse(f"NIR node {dname!r}: weight of shape {w.shape} (a 2-D (out, in) matrix is needed)")
        if type(dense).__name__ == "Affine" and np.any(np.asarray(dense.bias) != 0):
            raise _refuse(f"NIR node {dname!r} is an Affine with a nonzero bias (max |b| = "
                          f"{float(np.max(np.abs(dense.bias))):g}): the core has no biases")
        if not np.all(np.isfinite(w)):
            raise ValueError(f"NIR node {dname!r}: weights must be finite")
        w16 = w.astype(np.float16)
        if not np.all(np.isfinite(w16)):
            raise ValueError(f"NIR node {dname!r}: a weight overflows FP16 (|w| > 65504)")
        rounded += int(np.count_nonzero(w16.astype(np.float64) != w.astype(np.float64)))
        n_neurons = int(np.asarray(neuron.v_threshold).size)
        if n_neurons != w.shape[0]:
            raise ValueError(f"NIR node {nname!r} has {n_neurons} neurons, its input {dname!r} gives {w.shape[0]}")
        if weights and w.shape[1] != weights[-1].shape[0]:
            raise ValueError(f"NIR node {dname!r} takes {w.shape[1]} inputs, the layer before gives "
                             f"{weights[-1].shape[0]}")
        weights.append(w16)
        params.append((nname, *_neuron(nname, neuron, dt)))
    if len({(lam, theta) for _, lam, theta in params}) != 1:
        raise _refuse("the layers have different lam/theta (" + ", ".join(f"{n}: lam {a:g}, theta {b:g}"
                                                                          for n, a, b in params) + ")")
    sizes = (int(weights[0].shape[1]), *(int(w.shape[0]) for w in weights))
    in_shape = np.asarray(chain[0][1].input_type["input"]).ravel()
    if int(np.prod(in_shape)) != sizes[0]:
        raise ValueError(f"the NIR Input has shape {tuple(int(x) for x in in_shape)}, the first layer takes {sizes[0]}")
    _, lam, theta = params[0]
    snn = _meta_dict(meta.get(META_KEY))
    reset = "hard"
    if snn is not None:
        for key, got in (("sizes", sizes), ("lam", lam), ("theta", theta)):
            if key in snn and snn[key] != got:
                raise ValueError(f"the graph's metadata says {key} {snn[key]!r}, its nodes give {got!r}")
        reset = snn.get("reset", "soft")
    return NirNetwork(weights=weights, sizes=sizes, lam=lam, theta=theta, reset=reset, snn=snn, rounded=rounded,
                      dt=dt)


def read_nir(path) -> NirNetwork:
    nir = _nir()
    try:
        graph = nir.read(str(path), type_check=False)  # the checks below name what is not supported
    except (OSError, KeyError, AssertionError, TypeError, ValueError) as exc:
        raise ValueError(f"{path}: not a readable NIR graph ({type(exc).__name__}: {exc})") from None
    return from_nir(graph)


# ---------------------------------------------------------------------------------------------- sources

def read_weights_source(path) -> tuple[list[np.ndarray], object, str]:
    """(weights, SNNConfig, kind) of a `spikemesh train`/`federate` checkpoint (kind "checkpoint") or of a
    `spikemesh golden train --save` file (kind "golden")."""
    from spikemesh.sim.golden import SNNConfig

    try:
        with np.load(path) as z:
            files = set(z.files)
            golden = {k: z[k] for k in files if k.startswith("W")} if "config" in files else None
            config = str(z["config"]) if "config" in files else None
    except (OSError, ValueError) as exc:
        raise ValueError(f"{path}: not a weights file ({exc})") from None
    if golden is not None:
        weights = [golden[f"W{l}"] for l in range(1, len(golden) + 1)]
        return weights, _parse_config_repr(config, path), "golden"
    if "meta" not in files:
        raise ValueError(f"{path}: neither a spikemesh checkpoint (w1.., meta) nor a golden --save file (W1.., config)")
    from .train import read_weights_file

    weights, meta = read_weights_file(path)
    sizes = (int(weights[0].shape[1]), *(int(w.shape[0]) for w in weights))
    if meta.get("snn"):
        kw = dict(meta["snn"])
        for k in ("sizes", "k_steps", "blocks"):
            if kw.get(k) is not None:
                kw[k] = tuple(kw[k])
        return weights, SNNConfig(**kw), "checkpoint"
    if "rule" in meta:  # a `spikemesh federate` checkpoint: the network spikemesh train builds on these layers
        from spikemesh.rtl.core.config import CoreConfig

        from .train import snn_for_core

        return weights, snn_for_core(CoreConfig(layers=sizes, t_max=4), meta["rule"]), "checkpoint"
    raise ValueError(f"{path}: the checkpoint's meta has no 'snn' (network) and no 'rule'")


def _parse_config_repr(text: str, path) -> object:
    """SNNConfig from the repr a golden --save file holds (literals only, nothing evaluated)."""
    from spikemesh.sim.golden import SNNConfig

    try:
        call = ast.parse(text, mode="eval").body
        if not (isinstance(call, ast.Call) and getattr(call.func, "id", None) == "SNNConfig" and not call.args):
            raise ValueError("not SNNConfig(...)")
        return SNNConfig(**{kw.arg: ast.literal_eval(kw.value) for kw in call.keywords})
    except (SyntaxError, ValueError, TypeError) as exc:
        raise ValueError(f"{path}: unreadable config {text[:60]!r} ({exc})") from None


# ---------------------------------------------------------------------------------------------- train --init

def init_from_nir(path, snn) -> tuple[object, list[np.ndarray], str]:
    """`spikemesh train --init`: (the run's SNNConfig with the graph's lam/theta/reset, FP16 weights, a note).

    `snn` is the network the core trains (its layers, T, rule, ...); the graph must have the same layer sizes
    and neuron parameters the core runs (checked like the chip's control registers)."""
    from .program import constants_from_snn

    net = read_nir(path)
    if net.sizes != tuple(snn.sizes):
        raise ValueError(f"--init {path}: the NIR graph's layers {'-'.join(map(str, net.sizes))} do not match the "
                         f"core's {'-'.join(map(str, snn.sizes))}; supported: a graph of exactly the core's layers")
    try:
        run = snn.replace(lam=net.lam, theta=net.theta, reset=net.reset)
        constants_from_snn(run)
    except ValueError as exc:
        raise ValueError(f"--init {path}: {exc}") from None
    note = (f"--init {path}: {'-'.join(map(str, net.sizes))}, lam {net.lam:g}, theta {net.theta:g}, "
            f"{net.reset} reset")
    if net.rounded:
        note += f"; {net.rounded} weights rounded to FP16"
    for key in ("T", "encoding"):  # run settings: the core's, noted where the exported network used others
        if net.snn is not None and key in net.snn and net.snn[key] != getattr(run, key):
            note += f"; exported with {key} {net.snn[key]}, this core trains with {key} {getattr(run, key)}"
    return run, net.weights, note


# ---------------------------------------------------------------------------------------------- checks

def snntorch_network(graph):
    """The graph loaded by snnTorch's NIR import (`snntorch.import_from_nir`), float32."""
    try:
        from snntorch.import_nir import import_from_nir
    except ImportError:
        raise ValueError("this check needs snntorch (pip install -e '.[test]')") from None
    with contextlib.redirect_stdout(io.StringIO()):  # it prints progress lines
        return import_from_nir(graph)


def snntorch_predictions(graph, cfg, X, index_offset: int = 0) -> np.ndarray:
    """Predictions of the snnTorch-imported graph on pixel rows X: the inputs are the golden encoding
    (`cfg.encoding`), T steps, and the readout is the golden rule (spike count, ties: summed output h,
    then the lowest index), with h = beta mem + input taken from the last layer before it fires."""
    import torch
    from snntorch import Leaky
    from snntorch.utils import reset as reset_hidden

    from spikemesh.sim.golden import encode

    net = snntorch_network(graph)
    leaky = [m for m in net.modules() if isinstance(m, Leaky)]
    last = leaky[-1]
    hs: list[torch.Tensor] = []

    def pre(mod, args):
        x = args[0]
        mem = mod.mem if mod.mem.shape == x.shape else torch.zeros_like(x)
        hs.append(mod.beta.clamp(0, 1) * mem + x)

    hook = last.register_forward_pre_hook(pre)
    try:
        enc = np.stack([encode(cfg, X[i], index_offset + i) for i in range(len(X))]).astype(np.float32)  # (B, T, N)
        reset_hidden(net)
        for m in leaky:
            m.mem = torch.zeros(0)
        counts = torch.zeros(len(X), cfg.sizes[-1])
        with torch.no_grad():
            for t in range(cfg.T):
                out = net(torch.from_numpy(enc[:, t]))
                spk = out[0] if isinstance(out, tuple) else out
                counts += spk
        h_sum = torch.stack(hs).sum(0)
    finally:
        hook.remove()
    from spikemesh.sim.golden import predict

    c, h = counts.numpy().astype(np.int64), h_sum.numpy()
    return np.array([predict(c[i], h[i]) for i in range(len(X))])


def golden_predictions(cfg, weights, X, index_offset: int = 0) -> np.ndarray:
    from spikemesh.sim.golden import forward

    return np.array([forward(cfg, weights, X[i], sample_index=index_offset + i).prediction for i in range(len(X))])


@dataclass
class CheckResult:
    identical: bool  # weights bit for bit and every SNNConfig field equal after export -> import
    golden_acc: float  # golden model in float32 with the exported weights, digits test split
    snntorch_acc: float  # the graph in snnTorch
    agreement: float  # fraction of test samples with the same prediction
    samples: int
    reset: str


def roundtrip_identical(snn, weights, path) -> bool:
    """Export to `path`, import: the FP16 weights bit for bit and every SNNConfig field equal."""
    write_nir(path, snn, weights)
    net = read_nir(path)
    want = [np.asarray(w).astype(np.float16).view(np.uint16) for w in weights]
    got = [w.view(np.uint16) for w in net.weights]
    return bool(len(got) == len(want) and all(np.array_equal(a, b) for a, b in zip(want, got))
                and net.snn_config() == snn)


def check(snn, weights, path) -> CheckResult:
    """Export -> import bit-for-bit check, then the graph in snnTorch vs the golden float32 model on the
    digits test split, same weights, same encoding, same readout."""
    from spikemesh.sim.golden import load_digits_split

    same = roundtrip_identical(snn, weights, path)
    graph = _nir().read(str(path))
    _, _, Xte, yte = load_digits_split()
    cfg32 = snn.replace(fmt="fp32")
    w32 = [np.asarray(w, np.float32) for w in weights]
    g = golden_predictions(cfg32, w32, Xte)
    s = snntorch_predictions(graph, cfg32, Xte)
    return CheckResult(identical=same, golden_acc=float(np.mean(g == yte)), snntorch_acc=float(np.mean(s == yte)),
                       agreement=float(np.mean(g == s)), samples=len(yte), reset=snn.reset)


__all__ = ["NIR_DT", "SUPPORTED", "NirNetwork", "to_nir", "write_nir", "from_nir", "read_nir", "lif_parameters",
           "read_weights_source", "init_from_nir", "snntorch_predictions", "golden_predictions", "check",
           "CheckResult", "roundtrip_identical"]
