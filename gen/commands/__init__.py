"""One module per group of `spikemesh` subcommands; each defines register(subparsers)."""
