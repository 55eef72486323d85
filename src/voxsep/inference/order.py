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

import collections
import itertools
import math
from dataclasses import dataclass

import numpy as np
import torch

from voxsep.core.audio import frame_energies, hop_pieces

__all__ = ["HOP_SECONDS", "WINDOW_SECONDS", "StreamingTalkerOrder", "TalkerTracks", "track_talkers", "cluster_voices"]

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
    from voxsep.inference.speaker import voice_vectors

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
            pieces.append(np.pad(piece, (0, window - piece.shape[-1])))
        for (k, b), vector in zip(part, voice_vectors(np.stack(pieces), sample_rate)):
            embeddings[k, b] = vector
    return embeddings


def cluster_voices(vectors: np.ndarray, weights: np.ndarray, n_voices: int, iterations: int = 30,
                   start: np.ndarray | None = None) -> np.ndarray:
    """Weighted spherical k-means: ``n_voices`` unit centroids ``(n_voices, dim)`` of unit
    ``vectors (n, dim)``, started from ``start`` (``(n_voices, dim)``: centroid ``j`` stays
    voice ``j`` unless the data move it) or else from the heaviest vector and then each
    vector farthest from the centroids so far (deterministic)."""
    if start is None:
        centroids = [vectors[int(np.argmax(weights))]]
        for _ in range(1, n_voices):
            nearest = np.max(np.stack([vectors @ c for c in centroids]), axis=0)
            centroids.append(vectors[int(np.argmin(nearest))])
        centres = np.stack(centroids)
    else:
        centres = np.asarray(start, dtype=vectors.dtype).copy()
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


def _mapping_table(n_src: int) -> np.ndarray:
    """Every mapping of outputs to voices, ``(n_src ** n_src, n_src)``: row ``m`` sends output
    ``k`` to voice ``table[m, k]`` (permutations and merges of several outputs into one voice)."""
    return np.array(list(itertools.product(range(n_src), repeat=n_src)))


def _identity_index(mappings: np.ndarray) -> int:
    return int(np.flatnonzero((mappings == np.arange(mappings.shape[1])).all(1))[0])


def _mapping_scores(share: np.ndarray, closeness: np.ndarray, mappings: np.ndarray) -> np.ndarray:
    """Score ``(n_blocks, n_maps)`` of every mapping in every block: the energy-weighted cosine
    similarity of the outputs to the voices they are sent to. ``share (n_blocks, n_src)``:
    each output's share of the block's energy (0 where inactive); ``closeness (n_blocks,
    n_src, n_voices)``: cosine similarity of each output's d-vector to each voice."""
    outputs = np.arange(mappings.shape[1])
    return np.einsum("bmk,bk->bm", closeness[:, outputs[None, :], mappings], share)


def _viterbi_step(total: np.ndarray, scores: np.ndarray, switch_cost: float) -> tuple[np.ndarray, np.ndarray]:
    """One block of the Viterbi recursion: ``(new totals, best previous state)`` per state, from
    the running ``total (n_states,)`` and the block's ``scores (n_states,)``, a change of state
    costing ``switch_cost``."""
    options = total[:, None] - switch_cost * (1.0 - np.eye(len(total)))
    return options.max(0) + scores, options.argmax(0)


def _viterbi(scores: np.ndarray, switch_cost: float) -> np.ndarray:
    """Best state per block for ``scores (n_blocks, n_states)`` with a cost per change."""
    n_blocks, n_states = scores.shape
    total = scores[0].copy()
    back = np.zeros((n_blocks, n_states), dtype=np.int64)
    for b in range(1, n_blocks):
        total, back[b] = _viterbi_step(total, scores[b], switch_cost)
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
    mappings = _mapping_table(n_src)
    scores = _mapping_scores(share.T, closeness.transpose(1, 0, 2), mappings)
    scores[:, _identity_index(mappings)] += 1e-6  # ties keep the model's order
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


class StreamingTalkerOrder:
    """One person per output in a stream: :func:`track_talkers`' rule decided from the past alone.

    Feed it the separated stream block by block (any block sizes) with the mixture samples
    the outputs were made from; it returns the same samples with the outputs mapped to voices
    and adds **no latency**: a decision taken at the end of a ``HOP_SECONDS`` hop applies from
    the next sample on (``CROSSFADE_SECONDS`` raised-cosine fade), so after a swap the wrong
    order lasts at most until the hop where the new words outweigh the ``SWITCH_COST``.

    **What decides, per hop** (the causal form of :func:`track_talkers`):

    1. An output is active in the hop when its energy is within ``ACTIVITY_DB`` of the
       mixture's (hops ``SILENCE_DB`` below the loudest hop so far are not judged); each
       active output gets the d-vector of its last ``WINDOW_SECONDS`` (the window ends with
       the hop: nothing after it is heard) and its share of the hop's energy.
    2. The stream is one talker, and the model's order stands, until two outputs have been
       active in the same hop with d-vectors less similar than ``SAME_VOICE_SIMILARITY`` in
       ``APART_HOPS`` hops (the model itself hearing two people at once: a lone voice split
       over two outputs gives the same d-vector twice) and the d-vectors of the last
       ``HISTORY_SECONDS`` of active hops cluster into voices (:func:`cluster_voices`) as far
       apart. Then voice ``k`` is named after the output that held it most so far, and every
       later clustering starts from the named voices, so names persist.
    3. The forward half of :func:`track_talkers`' Viterbi search over the *permutations* of
       outputs to voices: each keeps its best running score (the hop's energy-weighted cosine
       similarity of outputs to voices, minus ``SWITCH_COST`` per change), and the stream
       follows the best one. Unlike the whole-file search it never merges outputs into one
       voice: decided without hindsight, a merge chosen while one person talks alone outlasts
       the moment the other starts (with merges allowed, a window of the simulated swapping
       stream of ``tests/integration/test_long_recordings.py`` stayed swapped).

    Cost: one d-vector per active output per hop (about 6 ms per output on one core for a
    1 s window), and a few k-means iterations over at most ``HISTORY_SECONDS`` of vectors.

    Args:
        n_src: outputs of the stream (pass-through unless ``2 <= n_src <= MAX_OUTPUTS``).
        sample_rate: rate of the stream.

    Raises:
        VoiceEncoderUnavailable: the speaker encoder is not installed (checked at creation).
    """

    HISTORY_SECONDS = 120.0
    #: Hops where two outputs talk at once with different voices before the order is judged.
    APART_HOPS = 2

    def __init__(self, n_src: int, sample_rate: int) -> None:
        from voxsep.inference.speaker import load_voice_encoder

        self.n_src, self.sample_rate = int(n_src), int(sample_rate)
        self.enabled = 2 <= self.n_src <= MAX_OUTPUTS
        if self.enabled:
            load_voice_encoder()  # fail now, not in the middle of a stream
        self.hop = max(1, int(round(HOP_SECONDS * sample_rate)))
        self.window = max(self.hop, int(round(WINDOW_SECONDS * sample_rate)))
        self.fade = min(max(1, int(round(CROSSFADE_SECONDS * sample_rate))), self.hop // 2)
        table = _mapping_table(self.n_src)
        permutations = np.array([len(set(row)) == self.n_src for row in table])
        self.mappings = table[permutations] if self.enabled else np.zeros((1, self.n_src), dtype=np.int64)
        self._max_history = max(2, int(self.HISTORY_SECONDS / HOP_SECONDS) * self.n_src)
        self.reset()

    def reset(self) -> None:
        """Forget the stream (voices, order, history)."""
        self._recent = np.zeros((self.n_src, self.window), dtype=np.float32)  # last window of each output (mono)
        self._filled = 0  # samples of the current hop heard
        self._energy = np.zeros(self.n_src)  # of the current hop
        self._mix_energy = 0.0
        self._loudest = 0.0  # loudest hop of the mixture so far
        # (d-vector, share of the hop's energy, output) of each active output of the last hops
        self._history: collections.deque[tuple[np.ndarray, float, int]] = collections.deque(maxlen=self._max_history)
        self.voices: np.ndarray | None = None  # named voice centroids (n_src, 256), once two are told apart
        self._apart_hops = 0  # hops where outputs active together held different voices
        self._total = np.zeros(self.mappings.shape[0])  # running score of every mapping
        self.current = _identity_index(self.mappings) if self.enabled else 0
        self._previous = self.current  # the mapping being faded out
        self._faded = self.fade  # samples of the current fade done
        self.changes = 0  # changes of mapping so far

    @property
    def mapping(self) -> np.ndarray:
        """The mapping in force: output ``k`` goes to voice ``mapping[k]``."""
        return self.mappings[self.current]

    def process(self, outputs: torch.Tensor, mixture: torch.Tensor) -> torch.Tensor:
        """Map the next samples: ``outputs (n_src, [channels,] n)``, ``mixture ([channels,] n)``
        (the input the outputs were made from, aligned with them) -> a new tensor like ``outputs``."""
        if not self.enabled:
            return outputs.clone()
        if outputs.shape[0] != self.n_src or outputs.shape[1:] != mixture.shape:
            raise ValueError(f"outputs {tuple(outputs.shape)} and mixture {tuple(mixture.shape)} do not fit a "
                             f"stream of {self.n_src} outputs: expected (n_src, [channels,] n) and ([channels,] n)")
        out = torch.empty_like(outputs)
        for piece in hop_pieces(outputs.shape[-1], self.hop, self._filled):
            out[..., piece] = self._map(outputs[..., piece])
            self._listen(outputs[..., piece], mixture[..., piece])
            if self._filled == self.hop:
                self._decide()
        return out

    def _map(self, piece: torch.Tensor) -> torch.Tensor:
        mapped = _mapped(piece, self.mapping)
        if self._faded >= self.fade:
            return mapped
        n = piece.shape[-1]
        ramp_length = min(n, self.fade - self._faded)
        ramp = 0.5 - 0.5 * torch.cos(math.pi * (torch.arange(self._faded, self._faded + ramp_length,
                                                             dtype=piece.dtype) + 0.5) / self.fade)
        before = _mapped(piece[..., :ramp_length], self.mappings[self._previous])
        mapped[..., :ramp_length] = before * (1 - ramp) + mapped[..., :ramp_length] * ramp
        self._faded += ramp_length
        return mapped

    def _listen(self, piece: torch.Tensor, mixture: torch.Tensor) -> None:
        channels = piece.reshape(self.n_src, -1, piece.shape[-1]).double()
        self._energy += channels.pow(2).sum((1, 2)).numpy()
        self._mix_energy += float(mixture.double().pow(2).sum())
        mono = (channels[:, 0] if channels.shape[1] == 1 else channels.mean(1)).float().numpy()
        n = mono.shape[-1]
        self._recent = np.concatenate([self._recent[:, n:], mono[:, -self.window:]], axis=1)[:, -self.window:]
        self._filled += n

    def _decide(self) -> None:
        from voxsep.inference.speaker import voice_vectors

        energy, mix_energy = self._energy, self._mix_energy
        self._energy, self._mix_energy, self._filled = np.zeros(self.n_src), 0.0, 0
        self._loudest = max(self._loudest, mix_energy)
        usable = mix_energy > max(self._loudest * 10.0 ** (SILENCE_DB / 10.0), 1e-20)
        active = (energy >= mix_energy * 10.0 ** (ACTIVITY_DB / 10.0)) & usable
        if not active.any():
            return
        share = np.where(active, energy / max(float(energy.sum()), 1e-30), 0.0)
        vectors = np.zeros((self.n_src, 256), dtype=np.float32)
        vectors[active] = voice_vectors(self._recent[active], self.sample_rate)
        together = np.flatnonzero(active)
        if self.voices is None and len(together) > 1:
            pairs = vectors[together] @ vectors[together].T
            self._apart_hops += bool(pairs[np.triu_indices(len(together), 1)].min() < SAME_VOICE_SIMILARITY)
        self._history.extend((vectors[k], float(share[k]), int(k)) for k in together)
        if not self._update_voices():
            return
        closeness = vectors @ self.voices.T  # (n_src, n_voices)
        scores = _mapping_scores(share[None], closeness[None], self.mappings)[0]
        total, _ = _viterbi_step(self._total, scores, SWITCH_COST)
        total[self.current] += 1e-6  # ties keep the order in force
        self._total = total - total.max()
        best = int(np.argmax(self._total))
        if best != self.current:
            self._previous, self.current, self._faded = self.current, best, 0
            self.changes += 1

    def _update_voices(self) -> bool:
        """Re-cluster the history; ``False`` while it holds one voice only."""
        if len(self._history) < 2 or (self.voices is None and self._apart_hops < self.APART_HOPS):
            return False
        vectors = np.stack([vector for vector, _, _ in self._history])
        weights = np.asarray([weight for _, weight, _ in self._history])
        owners = np.asarray([owner for _, _, owner in self._history])
        if self.voices is not None:
            self.voices = cluster_voices(vectors, weights, self.n_src, iterations=5, start=self.voices)
            return True
        centres = cluster_voices(vectors, weights, self.n_src)
        similarity = max(float(centres[i] @ centres[j]) for i, j in itertools.combinations(range(self.n_src), 2))
        if similarity >= SAME_VOICE_SIMILARITY:
            return False
        # name voice k after the output that held it most so far (the model's order stays where it was right)
        fit = np.zeros((self.n_src, self.n_src))
        np.add.at(fit, owners, (vectors @ centres.T) * weights[:, None])
        names = max(itertools.permutations(range(self.n_src)),
                    key=lambda perm: sum(fit[k, perm[k]] for k in range(self.n_src)))
        self.voices = centres[list(names)]
        return True
