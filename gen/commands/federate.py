"""`spikemesh federate`: federated learning across boards (Flower), and the worker process it starts.

  spikemesh federate --workers 5 --sim --rounds 3 --local-epochs 1 --partition iid|dirichlet:0.5
  spikemesh federate --port /dev/ttyUSB0 /dev/ttyUSB1 ... --build-dir build/boards/ulx3s-85f_train
  spikemesh federate --sim --processes     a Flower server here and one worker process per board
  spikemesh federate --bench               IID, Dirichlet 0.5 and centralised training, docs + measured.json
"""
from __future__ import annotations

import argparse

from spikemesh.gen.args import int_range


def register(sub) -> None:
    from spikemesh.rtl.core.config import DEFAULT_RULES

    p = sub.add_parser("federate", help="federated learning across boards with Flower (deterministic FedAvg)")
    where = p.add_mutually_exclusive_group(required=True)
    where.add_argument("--sim", action="store_true", help="one simulated board (Verilator) per worker")
    where.add_argument("--port", nargs="+", help="one serial port / pyserial URL per worker")
    p.add_argument("--build-dir", help="with --port: the boards' build folder (memory_map.json + build.json)")
    p.add_argument("--workers", type=int_range(1, 16), default=5, help="workers (with --port: one per port)")
    p.add_argument("--rounds", type=int_range(1, 1000), default=3, help="federated rounds in total")
    p.add_argument("--local-epochs", type=int_range(1, 100), default=1, help="epochs each worker trains a round")
    p.add_argument("--partition", default="iid", help="iid or dirichlet:ALPHA (label skew, e.g. dirichlet:0.5)")
    p.add_argument("--seed", type=int, default=0, help="partition seed")
    p.add_argument("--val-fraction", type=float, default=0.2, help="each worker's validation slice")
    p.add_argument("--samples", type=int_range(0), default=0,
                   help="use the first N samples of the training split (0: all 1437)")
    p.add_argument("--min-workers", type=int_range(1, 16), default=None,
                   help="fewest results a round accepts (default: workers - 1, at least 1)")
    p.add_argument("--rule", default="sltt", choices=DEFAULT_RULES, help="training rule on chip")
    p.add_argument("--processes", action="store_true",
                   help="run each worker as its own process (Flower's gRPC server here) instead of the "
                        "simulation engine")
    p.add_argument("--checkpoint", default="federated.npz", help="global weights + history after every round")
    p.add_argument("--resume", help="continue from a checkpoint until --rounds rounds are complete")
    p.add_argument("--plot", default="federated.png", help="accuracy per round (PNG)")
    p.add_argument("--rejoin-timeout", type=float, default=60.0,
                   help="seconds a round waits for every worker to be connected before it starts")
    p.add_argument("--round-timeout", type=float, default=600.0,
                   help="with --processes: seconds a round waits for its results (a hung worker counts as failed)")
    p.add_argument("--hang", nargs="+", metavar="WORKER:ROUND",
                   help="fault tests, with --processes: that worker's process stops answering in that round "
                        "(kill it to see it restarted and rejoin)")
    p.add_argument("--bench", action="store_true",
                   help="measure IID, dirichlet:0.5 and centralised training with the same number of on-chip "
                        "sample updates; writes docs/federated.md and docs/measured.json")
    p.set_defaults(func=_federate)

    w = sub.add_parser("federate-worker", help="(internal) one worker process of `federate --processes`")
    w.add_argument("--server", required=True)
    w.add_argument("--worker", type=int, required=True)
    w.add_argument("--workers", type=int, required=True)
    w.add_argument("--port", help="the worker's board (default: start a simulated board)")
    w.add_argument("--build-dir")
    w.add_argument("--partition", default="iid")
    w.add_argument("--seed", type=int, default=0)
    w.add_argument("--val-fraction", type=float, default=0.2)
    w.add_argument("--samples", type=int, default=0)
    w.add_argument("--rule", default="sltt")
    w.add_argument("--ready-file", help="touched once the worker's board is up (tests)")
    w.add_argument("--log", help="append 'fit ROUND' here when a round's fit starts (tests)")
    w.add_argument("--hang-rounds", help="rounds in which the worker never answers, e.g. 2 (fault tests)")
    w.set_defaults(func=_worker)


def _federate(args: argparse.Namespace) -> int:
    from spikemesh.firmware.federated_cli import run_federate, run_bench

    return run_bench(args) if args.bench else run_federate(args)


def _worker(args: argparse.Namespace) -> int:
    from spikemesh.firmware.federated_cli import run_worker

    return run_worker(args)
