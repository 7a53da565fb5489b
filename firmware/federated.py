"""Federated learning across boards with Flower: each worker is one board (a real one on a serial port, or a
simulated board on a socket) reached through the host driver; only weights travel.

- `BoardWorker`: one worker's board and private data; `fit` uploads the global weights and trains E local
  epochs on chip (`train.train`), `evaluate` runs the chip's forward pass on the worker's validation slice.
- `SpikemeshClient`: a Flower `NumPyClient` around a `BoardWorker`.
- `DeterministicFedAvg`: Flower's FedAvg with the aggregation replaced by the golden contract
  (`sim.golden.federated.fedavg`: results in ascending worker id, float64 weighted sum, one FP16 rounding),
  waits for every worker (up to `rejoin_timeout`) before a round, accepts a round with at least
  `min_workers` results, records per-round figures and writes a checkpoint after every round.
The server's global test accuracy is the golden forward pass on the test split (bit-exact with the chip's
forward pass) with the golden read-out.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from spikemesh.sim.golden.federated import fedavg

from .driver import Board
from .inference import chip_predictions, infer
from .train import evaluate, read_weights_file, train, write_weights_file


@dataclass
class WorkerData:
    worker: int
    X_train: np.ndarray
    y_train: np.ndarray
    X_val: np.ndarray
    y_val: np.ndarray


class BoardWorker:
    """One board and its private data. `port`: a serial device or pyserial URL; `build_dir`: the build's
    memory_map.json/build.json. A connection is opened per request, so a board that was unplugged (or a
    simulated board that was restarted) is simply reached again next time."""

    def __init__(self, data: WorkerData, port: str, build_dir, cfg, snn, *, baud: int = 3_000_000,
                 timeout: float = 0.5):
        self.data, self.port, self.build_dir = data, port, Path(build_dir)
        self.cfg, self.snn, self.baud, self.timeout = cfg, snn, baud, timeout
        self.link_bytes = 0
        self.chip_s = 0.0  # on-chip time of the last fit: the core's own cycle counts / its clock

    def _connect(self) -> Board:
        return Board.connect(self.port, self.build_dir, baud=self.baud, timeout=self.timeout)

    def fit(self, weights, local_epochs: int) -> list[np.ndarray]:
        d = self.data
        cycles: list[int] = []
        with self._connect() as b:
            w, _ = train(b, self.cfg, self.snn, weights, d.X_train, d.y_train, epochs=local_epochs, progress=False,
                         core_cycles=cycles)
            self.link_bytes += b.link.stats.bytes_in + b.link.stats.bytes_out
            self.chip_s = sum(cycles) / b.ident.clk_hz
        return w

    def evaluate(self, weights) -> float:
        d = self.data
        if not len(d.y_val):
            return 0.0
        with self._connect() as b:
            counts = infer(b, self.cfg, self.snn, weights, d.X_val)
            self.link_bytes += b.link.stats.bytes_in + b.link.stats.bytes_out
        return float(np.mean(chip_predictions(counts) == d.y_val))


def _client_class():
    from flwr.client import NumPyClient

    class SpikemeshClient(NumPyClient):
        """A board as a Flower client. For fault tests: in `fail_rounds` this worker's fit fails (it drops
        out), in `hang_rounds` it never answers (until its process is killed); `on_fit(round)` is told first."""

        def __init__(self, worker: BoardWorker, fail_rounds: tuple[int, ...] = (), hang_rounds: tuple[int, ...] = (),
                     on_fit=None):
            self.worker, self.fail_rounds, self.hang_rounds = worker, tuple(fail_rounds), tuple(hang_rounds)
            self.on_fit = on_fit

        def get_parameters(self, config):
            raise RuntimeError("the server holds the initial weights (DeterministicFedAvg.initial_parameters)")

        def fit(self, parameters, config):
            rnd = int(config.get("round", 0))
            if self.on_fit:
                self.on_fit(rnd)
            while rnd in self.hang_rounds:
                time.sleep(1)
            if rnd in self.fail_rounds:
                raise ConnectionError(f"worker {self.worker.data.worker} dropped out in round {rnd}")
            w = [np.asarray(p, np.float16) for p in parameters]
            t0 = time.monotonic()
            new = self.worker.fit(w, int(config["local_epochs"]))
            return ([np.asarray(x, np.float16) for x in new], len(self.worker.data.y_train),
                    {"worker": self.worker.data.worker, "fit_s": time.monotonic() - t0,
                     "chip_s": self.worker.chip_s})

        def evaluate(self, parameters, config):
            acc = self.worker.evaluate([np.asarray(p, np.float16) for p in parameters])
            return 1.0 - acc, len(self.worker.data.y_val), {"worker": self.worker.data.worker, "accuracy": acc}

    return SpikemeshClient


@dataclass
class RoundRecord:
    round: int
    workers: list[int]
    failures: int
    test_acc: float
    worker_acc: dict = field(default_factory=dict)  # worker id -> chip accuracy on its validation slice
    bytes_sent: int = 0                              # weight tensors, server -> workers (fit + evaluate)
    bytes_received: int = 0                          # weight tensors, workers -> server
    wall_s: float = 0.0
    chip_s: float = 0.0                              # on-chip time of the slowest worker's fit


def _strategy_class():
    from flwr.common import ndarrays_to_parameters, parameters_to_ndarrays
    from flwr.server.strategy import FedAvg

    class DeterministicFedAvg(FedAvg):
        def __init__(self, *, workers: int, min_workers: int, local_epochs: int, initial: list[np.ndarray],
                     test: tuple[np.ndarray, np.ndarray], snn, first_round: int = 1, checkpoint=None,
                     history: list | None = None, rejoin_timeout: float = 60.0, on_round=None, meta=None):
            super().__init__(fraction_fit=1.0, fraction_evaluate=1.0, min_fit_clients=min_workers,
                             min_evaluate_clients=min_workers, min_available_clients=min_workers,
                             accept_failures=True, initial_parameters=ndarrays_to_parameters(
                                 [np.asarray(w, np.float16) for w in initial]))
            self.workers, self.min_workers, self.local_epochs = workers, min_workers, local_epochs
            self.test, self.snn, self.offset = test, snn, first_round - 1
            self.checkpoint, self.rejoin_timeout, self.on_round = checkpoint, rejoin_timeout, on_round
            self.history: list[RoundRecord] = list(history or [])
            self.global_weights = [np.asarray(w, np.float16) for w in initial]
            self.meta = dict(meta or {})
            self._t0 = time.monotonic()
            self._sent = 0

        def _wait(self, client_manager) -> None:
            client_manager.wait_for(self.workers, timeout=self.rejoin_timeout)  # a worker may rejoin

        def configure_fit(self, server_round, parameters, client_manager):
            self._t0 = time.monotonic()
            self._wait(client_manager)
            rnd = server_round + self.offset
            pairs = super().configure_fit(server_round, parameters, client_manager)
            for _, ins in pairs:
                ins.config.update({"round": rnd, "local_epochs": self.local_epochs})
            self._sent = sum(len(t) for t in parameters.tensors) * len(pairs)
            return pairs

        def aggregate_fit(self, server_round, results, failures):
            rnd = server_round + self.offset
            if len(results) < self.min_workers:
                raise RuntimeError(f"round {rnd}: {len(results)} results, fewer than min workers "
                                   f"{self.min_workers} ({len(failures)} failed)")
            rows = [(int(res.metrics["worker"]), int(res.num_examples), parameters_to_ndarrays(res.parameters))
                    for _, res in results]
            self.global_weights = fedavg(rows)
            acc, _ = evaluate(self.snn, self.global_weights, *self.test)
            self.history.append(RoundRecord(rnd, sorted(r[0] for r in rows), len(failures), acc,
                                            chip_s=max(float(res.metrics.get("chip_s", 0.0)) for _, res in results),
                                            bytes_sent=self._sent,
                                            bytes_received=sum(len(t) for _, res in results
                                                               for t in res.parameters.tensors)))
            return ndarrays_to_parameters(self.global_weights), {}

        def configure_evaluate(self, server_round, parameters, client_manager):
            pairs = super().configure_evaluate(server_round, parameters, client_manager)
            if self.history:
                self.history[-1].bytes_sent += sum(len(t) for t in parameters.tensors) * len(pairs)
            return pairs

        def aggregate_evaluate(self, server_round, results, failures):
            rec = self.history[-1]
            rec.worker_acc = {int(res.metrics["worker"]): float(res.metrics["accuracy"]) for _, res in results}
            rec.wall_s = time.monotonic() - self._t0
            if self.checkpoint:
                save_round_checkpoint(self.checkpoint, self.global_weights, self.history, self.meta)
            if self.on_round:
                self.on_round(rec)
            return None, {}

    return DeterministicFedAvg


def save_round_checkpoint(path, weights, history: list[RoundRecord], meta: dict) -> None:
    """Global weights and every round's record so far (written atomically)."""
    write_weights_file(path, weights, dict(meta, rounds=len(history), history=[
        vars(r) | {"worker_acc": {str(k): v for k, v in r.worker_acc.items()}} for r in history]))


def load_round_checkpoint(path) -> tuple[list[np.ndarray], list[RoundRecord], dict]:
    weights, meta = read_weights_file(path)
    history = [RoundRecord(**(h | {"worker_acc": {int(k): v for k, v in h["worker_acc"].items()}}))
               for h in meta.pop("history")]
    return weights, history, meta


def run_simulation(workers: list[BoardWorker], strategy, rounds: int, *, fail: dict[int, tuple[int, ...]] | None = None,
                   cpus: int = 2) -> None:
    """Flower's simulation engine (Ray): one virtual SuperNode per worker, its board reached over the driver."""
    from flwr.client import ClientApp
    from flwr.server import ServerApp, ServerAppComponents, ServerConfig
    from flwr.simulation import run_simulation as flwr_run_simulation

    client_cls = _client_class()
    fail = fail or {}

    def client_fn(context):
        k = int(context.node_config["partition-id"])
        return client_cls(workers[k], fail.get(k, ())).to_client()

    server = ServerApp(server_fn=lambda ctx: ServerAppComponents(strategy=strategy,
                                                                 config=ServerConfig(num_rounds=rounds)))
    flwr_run_simulation(server_app=server, client_app=ClientApp(client_fn=client_fn), num_supernodes=len(workers),
                        backend_config={"client_resources": {"num_cpus": 1, "num_gpus": 0.0},
                                        "init_args": {"num_cpus": cpus, "include_dashboard": False,
                                                      "logging_level": "error"}})


def strategy(**kwargs):
    return _strategy_class()(**kwargs)


def client(worker: BoardWorker, **faults):
    return _client_class()(worker, **faults)
