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
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def _check_chunk_size(chunk_size: int) -> int:
    if chunk_size < 2 or chunk_size % 2:
        raise ValueError(f"chunk_size must be an even number >= 2 (hop = chunk_size / 2), got {chunk_size}")
    return chunk_size // 2


def segment(x: torch.Tensor, chunk_size: int) -> torch.Tensor:
    """Cut ``x`` ``(batch, channels, frames)`` into chunks ``(batch, channels, K, S)``.

    Args:
        x: features, ``(B, C, T)``.
        chunk_size: K, an even number of frames; the hop is K/2.

    Returns:
        ``(B, C, K, S)`` with ``S = ceil(T / (K/2)) + 1``; pass ``T`` to ``overlap_add``
        to undo it.
    """
    hop = _check_chunk_size(chunk_size)
    batch, channels, frames = x.shape
    # ceil(frames / hop) written with a non-negative floor division: ONNX integer Div
    # truncates, so -(-a // b) exports wrongly when the time axis is dynamic.
    n_blocks = (frames + hop - 1) // hop + 2  # one block of padding in front, at least one behind
    x = F.pad(x, (hop, n_blocks * hop - frames - hop))
    blocks = x.reshape(batch, channels, n_blocks, hop)
    chunks = torch.cat([blocks[:, :, :-1], blocks[:, :, 1:]], dim=-1)  # (B, C, S, K)
    return chunks.transpose(2, 3)


def overlap_add(chunks: torch.Tensor, frames: int) -> torch.Tensor:
    """Inverse of ``segment``: chunks ``(batch, channels, K, S)`` → ``(batch, channels, frames)``.

    Each frame is the mean of its two chunk copies, so ``overlap_add(segment(x, K), T) == x``.
    """
    batch, channels, chunk_size, n_chunks = chunks.shape
    hop = _check_chunk_size(chunk_size)
    c = chunks.transpose(2, 3)  # (B, C, S, K)
    first_halves = F.pad(c[..., :hop], (0, 0, 0, 1))  # block s gets chunk s's first half
    second_halves = F.pad(c[..., hop:], (0, 0, 1, 0))  # block s+1 gets its second half
    blocks = (first_halves + second_halves).reshape(batch, channels, (n_chunks + 1) * hop)
    return blocks[..., hop : hop + frames] * 0.5
