"""`spikemesh demo`: generate, verify and train on the simulated board (see spikemesh.gen.demo)."""
from __future__ import annotations

import argparse

from spikemesh.gen.args import int_range


def register(sub) -> None:
    from spikemesh.gen.demo import DemoConfig

    d = DemoConfig()
    p = sub.add_parser("demo", help="the main job: FP units vs golden, then the simulated board trains the whole "
                       "digits training split over its host link (bit-exact with golden; PyTorch alongside)",
                       description=__doc__)
    p.add_argument("--epochs", type=int_range(1, 50), default=d.epochs, help="epochs")
    p.add_argument("--samples", type=int_range(0, 1437), default=d.samples,
                   help="train on the first N digits of the training split (0: all 1437)")
    p.add_argument("--hidden", type=int_range(1, 256), default=d.hidden, help="hidden layer width (64-H-10)")
    p.add_argument("--lanes", type=int, choices=(1, 2, 4, 8), default=d.lanes, help="the core's MAC lanes")
    p.add_argument("--rule", default=d.rule, choices=("sltt", "bptt", "tbptt", "sltt_k", "ottt_a"),
                   help="training rule")
    p.add_argument("--lr-exp", type=int_range(-8, 0), default=d.lr_exp, help="learning rate 2^N")
    p.add_argument("--fp-vectors", type=int_range(0), default=d.fp_vectors,
                   help="random vectors per FP16 unit (0 skips the units)")
    p.add_argument("--no-torch", action="store_true", help="skip the PyTorch float32 reference")
    p.add_argument("--out", default=d.out, help="folder for the learning-curve PNG and history.json")
    p.add_argument("--tune", action="store_true", help="instead: the recipe search on validation data carved "
                   "from the training split (golden FP16, 3 split seeds; the test split is not used)")
    p.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
    from spikemesh.gen.demo import DemoConfig, main, tune

    if args.tune:
        return tune()
    return main(DemoConfig(epochs=args.epochs, samples=args.samples, hidden=args.hidden, lanes=args.lanes,
                           rule=args.rule, lr_exp=args.lr_exp, fp_vectors=args.fp_vectors, torch=not args.no_torch,
                           out=args.out))
