"""Shared building blocks. One copy of each: models import from here."""

from voxsep.nn.filterbank import Decoder, Encoder
from voxsep.nn.norms import ChannelLayerNorm, CumulativeLayerNorm, GlobalLayerNorm, make_norm

__all__ = [
    "Encoder",
    "Decoder",
    "GlobalLayerNorm",
    "CumulativeLayerNorm",
    "ChannelLayerNorm",
    "make_norm",
]
