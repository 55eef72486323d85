"""``python -m voxsep.train`` / ``torchrun --nproc_per_node=N -m voxsep.train``: same
arguments as ``voxsep train``."""

import sys

from voxsep.cli import main

if __name__ == "__main__":
    sys.exit(main(["train", *sys.argv[1:]]))
