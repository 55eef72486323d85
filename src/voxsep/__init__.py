"""voxsep: speech separation — data, models, training, evaluation, inference, export."""

__version__ = "0.1.0"
