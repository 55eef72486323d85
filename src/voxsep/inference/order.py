"""Talker order over a whole recording: which output is which person, from start to end.

**Why outputs swap.** A separation model trained with permutation-invariant training may
emit its talkers in any order, and keeps an order only as far as it hears: a Conv-TasNet
of the bundled size sees about half a second around each sample. A model trained on a
variable number of talkers (one-talker examples, ``si_snr_var``) is the worst case: where
one person talks alone it puts that voice in either output, or splits it between both
(measured on the bundled model: in one-talker stretches of a long conversation the weaker
output sits only 14 dB below the mixture at the median). After every pause the next words
may land in the other output -- inside a chunk as well as between chunks, so correlation
on the chunk overlap can neither see nor undo it.

**What decides (:func:`track_talkers`).** The order is decided by who is talking, as
continuous speech separation stitches its windows with speaker embeddings (Yoshioka et
al., 2018, "Recognizing overlapped speech in meetings: a multichannel separation approach
using neural networks"; Chen et al., 2020, "Continuous speech separation: dataset and
analysis"):

1. The file is cut into ``HOP_SECONDS`` blocks. An output is *active* in a block when its
   energy is within ``ACTIVITY_DB`` of the mixture's; each active output gets the
   d-vector (:mod:`voxsep.inference.speaker`) of a ``WINDOW_SECONDS`` window centred on
   the block, and its share of the block's energy.
2. The d-vectors of the whole file are clustered into one voice per output (weighted
   spherical k-means from the farthest-apart start); voice ``k`` is the one output ``k``
   holds most, so the model's order stays wherever it was right. Voices closer than
   ``SAME_VOICE_SIMILARITY`` mean one talker: the order is left as the model gave it.
3. A Viterbi search over the blocks picks, per block, a *mapping* of outputs to voices:
   a permutation where the outputs hold different people, or several outputs to one voice
   where the model split one person over them (the person then gets the sum, which the
   output level rule makes the mixture itself). A block's score is the energy-weighted
   cosine similarity of its outputs to their voices; every change of mapping costs
   ``SWITCH_COST``, so the model's own order stands unless the voices clearly disagree.

Changes of mapping are applied at block edges with a ``CROSSFADE_SECONDS`` raised-cosine
cross-fade. Files with more than ``MAX_OUTPUTS`` outputs are left as they are (the search
visits ``n_src ** n_src`` mappings per block).
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass

import numpy as np
import torch

from voxsep.core.audio import frame_energies

__all__ = ["HOP_SECONDS", "WINDOW_SECONDS", "TalkerTracks", "track_talkers", "cluster_voices"]

HOP_SECONDS = 0.25
WINDOW_SECONDS = 1.0
#: An output is active in a block when its energy is at most this far below the mixture's.
ACTIVITY_DB = -20.0
#: Blocks where the mixture is this far below its loudest block are silence (not judged).
SILENCE_DB = -50.0
#: Cost of a change of mapping, in units of cosine similarity (one block's full score is <= 1).
SWITCH_COST = 0.1
#: Voices whose d-vector centroids are this similar are one person.
SAME_VOICE_SIMILARITY = 0.95
MAX_OUTPUTS = 4
CROSSFADE_SECONDS = 0.02
_EMBED_BATCH = 128


@dataclass
class TalkerTracks:
    """What :func:`track_talkers` decided.

    Attributes:
        mappings: ``(n_blocks, n_src)``: output ``k`` goes to voice ``mappings[b, k]`` in block ``b``.
        hop: block length in samples.
        voice_similarity: cosine similarity of the voice centroids (max over pairs; NaN if
            not clustered).
        changes: blocks where the mapping changes.
    """

    mappings: np.ndarray
    hop: int
    voice_similarity: float
    changes: list[int]


def _window_embeddings(estimates: torch.Tensor, wanted: np.ndarray, hop: int, sample_rate: int) -> np.ndarray:
    """d-vectors ``(n_src, n_blocks, 256)`` of the windows centred on the ``wanted`` blocks
    (zeros elsewhere)."""
    from voxsep.core.audio import resample
    from voxsep.inference.speaker import EMBED_RATE, load_voice_encoder

    encoder = load_voice_encoder()
    channels = estimates.reshape(estimates.shape[0], -1, estimates.shape[-1])
    mono = channels[:, 0] if channels.shape[1] == 1 else channels.mean(1)  # a view for one channel: no copy
    length = mono.shape[-1]
    window = int(round(WINDOW_SECONDS * sample_rate))
    embeddings = np.zeros((*wanted.shape, 256), dtype=np.float32)
    jobs = list(zip(*np.nonzero(wanted)))
    for first in range(0, len(jobs), _EMBED_BATCH):
        part = jobs[first: first + _EMBED_BATCH]
        pieces = []
        for k, b in part:
            start = min(max(0, int((b + 0.5) * hop) - window // 2), max(0, length - window))
            piece = mono[k, start: start + window].numpy()
            piece = np.pad(piece, (0, window - piece.shape[-1]))
            pieces.append(resample(piece, sample_rate, EMBED_RATE) if sample_rate != EMBED_RATE else piece)
        vectors = encoder.embed(torch.from_numpy(np.stack(pieces))).numpy()
        for (k, b), vector in zip(part, vectors):
            embeddings[k, b] = vector
    return embeddings


def cluster_voices(vectors: np.ndarray, weights: np.ndarray, n_voices: int, iterations: int = 30) -> np.ndarray:
    """Weighted spherical k-means: ``n_voices`` unit centroids ``(n_voices, dim)`` of unit
    ``vectors (n, dim)``, started from the heaviest vector and then each vector farthest
    from the centroids so far (deterministic)."""
    centroids = [vectors[int(np.argmax(weights))]]
    for _ in range(1, n_voices):
        nearest = np.max(np.stack([vectors @ c for c in centroids]), axis=0)
        centroids.append(vectors[int(np.argmin(nearest))])
    centres = np.stack(centroids)
    for _ in range(iterations):
        labels = np.argmax(vectors @ centres.T, axis=1)
        updated = centres.copy()
        for j in range(n_voices):
            members = labels == j
            if members.any():
                total = (vectors[members] * weights[members, None]).sum(0)
                updated[j] = total / max(np.linalg.norm(total), 1e-12)
        if np.allclose(updated, centres):
            break
        centres = updated
    return centres


def _viterbi(scores: np.ndarray, switch_cost: float) -> np.ndarray:
    """Best state per block for ``scores (n_blocks, n_states)`` with a cost per change."""
    n_blocks, n_states = scores.shape
    total = scores[0].copy()
    back = np.zeros((n_blocks, n_states), dtype=np.int64)
    change = switch_cost * (1.0 - np.eye(n_states))
    for b in range(1, n_blocks):
        options = total[:, None] - change
        back[b] = options.argmax(0)
        total = options.max(0) + scores[b]
    path = np.zeros(n_blocks, dtype=np.int64)
    path[-1] = int(total.argmax())
    for b in range(n_blocks - 1, 0, -1):
        path[b - 1] = back[b, path[b]]
    return path


def track_talkers(estimates: torch.Tensor, mixture: torch.Tensor, sample_rate: int) -> tuple[torch.Tensor, TalkerTracks]:
    """One person per output over the whole file (module docstring).

    Args:
        estimates: ``(n_src, [channels,] time)``, the separated file.
        mixture: ``([channels,] time)``, the input at the same rate.
        sample_rate: their rate.

    Returns:
        ``(estimates, decision)``: the estimates with each output holding one voice
        (reordered in place: the input tensor is modified and returned), and the decision.
    """
    n_src, length = estimates.shape[0], estimates.shape[-1]
    hop = max(1, int(round(HOP_SECONDS * sample_rate)))
    n_blocks = math.ceil(length / hop)
    identity = np.tile(np.arange(n_src), (n_blocks, 1))
    unchanged = TalkerTracks(identity, hop, math.nan, [])
    if not 2 <= n_src <= MAX_OUTPUTS or n_blocks < 2:
        return estimates, unchanged
    energy = frame_energies(estimates, hop)
    mix_energy = frame_energies(mixture[None], hop)[0]
    usable = mix_energy > max(float(mix_energy.max()) * 10.0 ** (SILENCE_DB / 10.0), 1e-20)
    active = (energy >= mix_energy * 10.0 ** (ACTIVITY_DB / 10.0)) & usable
    if active.sum() < 2:
        return estimates, unchanged
    share = np.where(active, energy / np.maximum(energy.sum(0, keepdims=True), 1e-30), 0.0)
    vectors = _window_embeddings(estimates, active, hop, sample_rate)
    centres = cluster_voices(vectors[active], share[active], n_src)
    similarity = float(max(centres[i] @ centres[j] for i, j in itertools.combinations(range(n_src), 2)))
    if similarity >= SAME_VOICE_SIMILARITY:
        return estimates, TalkerTracks(identity, hop, similarity, [])
    closeness = np.einsum("kbd,vd->kbv", vectors, centres)  # (n_src, n_blocks, n_voices)
    # Name the voices after the outputs that hold them most (the model's own order stays the
    # file's order wherever it was right): the voice permutation that best fits output k -> voice k.
    fit = np.einsum("kb,kbv->kv", share, closeness)
    names = max(itertools.permutations(range(n_src)), key=lambda perm: sum(fit[k, perm[k]] for k in range(n_src)))
    centres, closeness = centres[list(names)], closeness[..., list(names)]
    mappings = np.array(list(itertools.product(range(n_src), repeat=n_src)))  # (n_maps, n_src): output -> voice
    scores = np.zeros((n_blocks, len(mappings)))
    for m, mapping in enumerate(mappings):
        scores[:, m] = sum(share[k] * closeness[k, :, mapping[k]] for k in range(n_src))
    identity_index = int(np.flatnonzero((mappings == np.arange(n_src)).all(1))[0])
    scores[:, identity_index] += 1e-6  # ties keep the model's order
    path = _viterbi(scores, SWITCH_COST)
    chosen = mappings[path]
    changes = [b for b in range(1, n_blocks) if path[b] != path[b - 1]]
    _apply(estimates, chosen, hop)
    return estimates, TalkerTracks(chosen, hop, similarity, changes)


def _mapped(block: torch.Tensor, mapping: np.ndarray) -> torch.Tensor:
    """Outputs of ``block (n_src, [channels,] t)`` summed into voices by ``mapping``."""
    out = torch.zeros_like(block)
    for k, voice in enumerate(mapping):
        out[int(voice)] += block[k]
    return out


def _apply(estimates: torch.Tensor, mappings: np.ndarray, hop: int) -> None:
    """Map ``estimates`` to voices block by block, in place, cross-fading at changes
    (only the fade zones and one block at a time are copied, never the whole file)."""
    length = estimates.shape[-1]
    fade = min(max(1, int(round(CROSSFADE_SECONDS * hop / HOP_SECONDS))), hop // 2)
    zones = []
    for b in range(1, mappings.shape[0]):
        if (mappings[b] != mappings[b - 1]).any():
            start, stop = max(0, b * hop - fade), min(length, b * hop + fade)
            zones.append((start, stop, mappings[b - 1], mappings[b], estimates[..., start:stop].clone()))
    identity = np.arange(estimates.shape[0])
    for b, mapping in enumerate(mappings):
        if not (mapping == identity).all():
            a, z = b * hop, min((b + 1) * hop, length)
            estimates[..., a:z] = _mapped(estimates[..., a:z].clone(), mapping)
    for start, stop, before, after, original in zones:
        ramp = 0.5 - 0.5 * torch.cos(math.pi * (torch.arange(stop - start, dtype=estimates.dtype) + 0.5) / (stop - start))
        estimates[..., start:stop] = _mapped(original, before) * (1 - ramp) + _mapped(original, after) * ramp
