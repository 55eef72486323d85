"""The lowest layer: permutation search, pairwise SNR matrices, audio I/O and atomic file
writes -- what models, losses, metrics, data, training and inference all build on.
Nothing here imports from the rest of voxsep (see docs/architecture.md)."""
