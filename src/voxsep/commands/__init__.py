"""One module per ``voxsep`` subcommand; each exposes ``register(subparsers)``."""
