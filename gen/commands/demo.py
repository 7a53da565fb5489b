"""`spikemesh demo`: generate, verify and train on the simulated chip (see spikemesh.gen.demo)."""
from __future__ import annotations

import argparse


def register(sub) -> None:
    p = sub.add_parser("demo", help="the main job: FP units vs golden, then on-chip training of digits in simulation",
                       description=__doc__)
    p.add_argument("--samples", type=int, default=300, help="digits samples the simulated core trains on (1..1437)")
    p.add_argument("--rule", default="sltt", choices=("sltt", "bptt", "tbptt", "sltt_k"), help="training rule")
    p.add_argument("--fp-vectors", type=int, default=20_000, help="random vectors per FP16 unit (0 skips the units)")
    p.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
    from spikemesh.gen.demo import DemoConfig, main

    return main(DemoConfig(samples=args.samples, rule=args.rule, fp_vectors=args.fp_vectors))
