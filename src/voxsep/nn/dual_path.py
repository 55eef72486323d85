"""Dual-path segmentation: split a long feature sequence into 50 %-overlapping chunks
and overlap-add them back.

Luo, Chen & Yoshioka, "Dual-path RNN: efficient long sequence modeling for time-domain
single-channel speech separation", ICASSP 2020, §2.1: the sequence ``(C, T)`` is cut
into S chunks of K frames with hop K/2 and stacked as a 3-D tensor ``(C, K, S)``; intra-
chunk layers run along K, inter-chunk layers along S. SepFormer (Subakan et al. 2021)
uses the same segmentation.

Implemented with pad/reshape/concatenate only (no unfold/fold), so it is fast and exports
to ONNX with a dynamic time axis. Every frame lies in exactly two chunks; overlap-add
averages the two.

``padding`` chooses how many zero half-chunks go around the sequence, which changes the
number of chunks S (and so what the inter-chunk layers and the global norms see):

* ``"voxsep"``: one half-chunk in front, ``S = ceil(T / hop) + 1``;
* ``"asteroid"``: a whole chunk on each side (Asteroid's ``DPRNN`` masker,
  ``unfold(padding=K)``), ``S = floor(T / hop) + 3``;
* ``"speechbrain"``: one half-chunk in front and the tail padded to a whole number of
  chunks (SpeechBrain's ``Dual_Path_Model._Segmentation``),
  ``S = 2 * floor((T + hop) / K) + 2``.

The last two exist so that weights imported from those toolkits (``voxsep.interop``)
give their outputs; both toolkits *sum* the two chunk copies where voxsep averages them,
a factor 2 the importers fold into the next layer's weights.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


CHUNK_PADDINGS = ("voxsep", "asteroid", "speechbrain")


def _layout(frames: int, hop: int, padding: str) -> tuple[int, int]:
    """``(front, n_blocks)``: half-chunk blocks of zeros in front, and blocks in all."""
    # Non-negative floor divisions only: ONNX integer Div truncates (dynamic time axis).
    if padding == "voxsep":
        return 1, (frames + hop - 1) // hop + 2  # one block in front, at least one behind
    if padding == "asteroid":
        return 2, frames // hop + 4
    if padding == "speechbrain":
        return 1, 2 * ((frames + hop) // (2 * hop)) + 3
    raise ValueError(f"unknown chunk padding {padding!r}; choose one of {CHUNK_PADDINGS}")


def _check_chunk_size(chunk_size: int) -> int:
    if chunk_size < 2 or chunk_size % 2:
        raise ValueError(f"chunk_size must be an even number >= 2 (hop = chunk_size / 2), got {chunk_size}")
    return chunk_size // 2


def segment(x: torch.Tensor, chunk_size: int, padding: str = "voxsep") -> torch.Tensor:
    """Cut ``x`` ``(batch, channels, frames)`` into chunks ``(batch, channels, K, S)``.

    Args:
        x: features, ``(B, C, T)``.
        chunk_size: K, an even number of frames; the hop is K/2.
        padding: ``"voxsep"`` (``S = ceil(T / (K/2)) + 1``), ``"asteroid"`` or
            ``"speechbrain"`` (module docstring).

    Returns:
        ``(B, C, K, S)``; pass ``T`` and the same ``padding`` to ``overlap_add`` to undo it.
    """
    hop = _check_chunk_size(chunk_size)
    batch, channels, frames = x.shape
    front, n_blocks = _layout(frames, hop, padding)
    x = F.pad(x, (front * hop, n_blocks * hop - frames - front * hop))
    blocks = x.reshape(batch, channels, n_blocks, hop)
    chunks = torch.cat([blocks[:, :, :-1], blocks[:, :, 1:]], dim=-1)  # (B, C, S, K)
    return chunks.transpose(2, 3)


def overlap_add(chunks: torch.Tensor, frames: int, padding: str = "voxsep") -> torch.Tensor:
    """Inverse of ``segment``: chunks ``(batch, channels, K, S)`` → ``(batch, channels, frames)``.

    Each frame is the mean of its two chunk copies, so
    ``overlap_add(segment(x, K, p), T, p) == x`` for every padding ``p``.
    """
    batch, channels, chunk_size, n_chunks = chunks.shape
    hop = _check_chunk_size(chunk_size)
    c = chunks.transpose(2, 3)  # (B, C, S, K)
    first_halves = F.pad(c[..., :hop], (0, 0, 0, 1))  # block s gets chunk s's first half
    second_halves = F.pad(c[..., hop:], (0, 0, 1, 0))  # block s+1 gets its second half
    blocks = (first_halves + second_halves).reshape(batch, channels, (n_chunks + 1) * hop)
    front = _layout(frames, hop, padding)[0]
    return blocks[..., front * hop : front * hop + frames] * 0.5


class ChunkedMasker(nn.Module):
    """The chunk bookkeeping of the dual-path maskers (DPRNN, SepFormer).

    :meth:`per_source`: features ``(B, C, T)`` → :func:`segment` → ``self.blocks`` on the
    chunks ``(B, C, K, S)`` (:meth:`run_blocks`) → ``self.to_sources`` (one map of C
    channels per source) → :func:`overlap_add` → ``(B * n_src, C, T)``. Subclasses build
    ``blocks`` and ``to_sources``.

    Args:
        n_src: number of sources.
        chunk_size: K, frames per chunk (even; hop K/2).
        chunk_padding: one of ``CHUNK_PADDINGS`` (module docstring).
    """

    def __init__(self, n_src: int, chunk_size: int, chunk_padding: str = "voxsep") -> None:
        super().__init__()
        if chunk_padding not in CHUNK_PADDINGS:
            raise ValueError(f"unknown chunk_padding {chunk_padding!r}; choose one of {CHUNK_PADDINGS}")
        self.n_src = n_src
        self.chunk_size = chunk_size
        self.chunk_padding = chunk_padding

    def run_blocks(self, chunks: torch.Tensor) -> torch.Tensor:
        """The dual-path blocks on chunks ``(B, C, K, S)`` → same shape."""
        return self.blocks(chunks)

    def per_source(self, x: torch.Tensor) -> torch.Tensor:
        """Features ``(B, C, T)`` → per-source features ``(B * n_src, C, T)``."""
        chunks = self.to_sources(self.run_blocks(segment(x, self.chunk_size, self.chunk_padding)))
        batch, _, chunk, n_chunks = chunks.shape  # (B, n_src * C, K, S)
        chunks = chunks.reshape(batch * self.n_src, -1, chunk, n_chunks)
        return overlap_add(chunks, x.shape[-1], self.chunk_padding)
