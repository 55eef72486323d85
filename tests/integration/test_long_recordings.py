"""Long conversations: one person per output from start to end.

Real speech of two held-out voices of the offline corpus (the Russian asterisk prompt
voice, a woman, and the big fish of the Dutch Fish Fillets dubbing, a man), each talking
in utterances with random pauses of 0.1-2.5 s (:func:`voxsep.data.conversation.make_conversation`),
so that each is sometimes alone and both are sometimes silent. Swaps are counted by the
window rule of :mod:`voxsep.metrics.order`.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from voxsep.core.audio import read_audio
from voxsep.data.conversation import make_conversation
from voxsep.metrics.order import talker_order_swaps

RATE = 8000
RUSSIAN = Path("/usr/share/asterisk/sounds/ru_RU_f_IvrvoiceRU")
FILLETS = Path("/usr/share/games/fillets-ng")

pytestmark = pytest.mark.skipif(not (RUSSIAN.is_dir() and (FILLETS / "script").is_dir()),
                                reason="the asterisk Russian prompts and fillets-ng-data(-nl) are not installed "
                                       "(make apt)")


def _utterances(paths: list[Path], count: int = 60) -> list[np.ndarray]:
    """Utterances of 2-7 s made of consecutive clips (as the offline corpus makes them)."""
    from voxsep_corpus.voices.common import trim_silence

    out, current = [], []
    for path in paths:
        clip = trim_silence(read_audio(path, sample_rate=RATE, channels=1)[0][0], RATE)
        current.append(clip)
        if sum(len(c) for c in current) >= 2 * RATE:
            out.append(np.concatenate([np.concatenate([c, np.zeros(int(0.15 * RATE))]) for c in current]))
            current = []
        if len(out) == count:
            break
    return out


@pytest.fixture(scope="module")
def conversation() -> np.ndarray:
    from voxsep_corpus.voices.fillets import fillets_lines

    woman = _utterances(sorted(RUSSIAN.glob("*.wav")))
    man_paths = [FILLETS / "sound" / level / "nl" / f"{stem}.ogg"
                 for (level, stem), who in sorted(fillets_lines("nl").items()) if who == "big"]
    man = _utterances([p for p in man_paths if p.is_file()])
    return make_conversation([woman, man], 150.0, RATE, np.random.default_rng(3))


def test_conversation_has_solo_overlap_and_silence(conversation: np.ndarray) -> None:
    active = np.abs(conversation) > 1e-4
    frames = active[:, : active.shape[1] // 400 * 400].reshape(2, -1, 400).any(-1)
    both, alone, none = (frames.all(0)).mean(), (frames.sum(0) == 1).mean(), (~frames.any(0)).mean()
    assert both > 0.2 and alone > 0.2 and none > 0.02, (both, alone, none)


def test_bundled_model_keeps_one_person_per_output(conversation: np.ndarray) -> None:
    """Through the path of ``voxsep separate`` (Separator, default chunking, n_src auto)."""
    from voxsep.inference.api import Separator

    separator = Separator.from_pretrained()
    estimates = separator.separate(conversation.sum(0).astype(np.float32), RATE)
    assert estimates.shape[0] == 2, "both talkers must be found"
    report = talker_order_swaps(conversation, estimates, RATE)
    assert report.clear >= 15, f"too few clear windows to judge: {report.clear} of {len(report.windows)}"
    assert report.swaps == 0, f"swapped windows at {report.swapped_windows()} s"


class _SwappingModel(torch.nn.Module):
    """A model that separates perfectly but, like a counting model, changes its output order
    after every pause and splits a lone talker over both outputs: the true sources of the
    chunk, with the order flipped in every 0.25 s block that follows a block where fewer
    than two talkers speak (with probability 1/2), and 30 % of a lone talker in the other
    output."""

    n_src, sample_rate, in_channels = 2, RATE, 1

    def __init__(self, sources: np.ndarray) -> None:
        from voxsep.inference.separate import DEFAULT_CHUNK_SECONDS, DEFAULT_OVERLAP_SECONDS, chunk_bounds

        super().__init__()
        self.sources = torch.from_numpy(sources).float()
        self.bounds = chunk_bounds(sources.shape[-1], int(DEFAULT_CHUNK_SECONDS * RATE),
                                   int(DEFAULT_OVERLAP_SECONDS * RATE))
        self.rng = np.random.default_rng(0)
        self.calls = 0

    def forward(self, chunk: torch.Tensor) -> torch.Tensor:
        start, end = self.bounds[self.calls]  # chunks arrive in order
        self.calls += 1
        return _swapping(self.sources[:, start:end], self.rng).unsqueeze(0)


def _swapping(truth: torch.Tensor, rng: np.random.Generator) -> torch.Tensor:
    """``truth (2, time)`` as a counting model gives it: the order flipped (with probability
    1/2) in every 0.25 s block that follows a block where fewer than two talkers speak, and
    30 % of a lone talker in the other output."""
    out, block, flipped = truth.clone(), RATE // 4, False
    for a in range(0, truth.shape[-1], block):
        piece = truth[:, a:a + block]
        speaking = (piece.pow(2).sum(-1) > 1e-6).sum()
        if speaking < 2 and rng.random() < 0.5:
            flipped = not flipped
        order = [1, 0] if flipped else [0, 1]
        out[:, a:a + block] = piece[order]
        if speaking == 1:
            lone = int(out[:, a:a + block].pow(2).sum(-1).argmax())
            out[1 - lone, a:a + block] += 0.3 * out[lone, a:a + block]
            out[lone, a:a + block] *= 0.7
    return out


def test_order_is_restored_when_the_model_swaps_inside_chunks(conversation: np.ndarray) -> None:
    from voxsep.inference.separate import separate_mixture

    sources = conversation[:, : 60 * RATE]
    mixture = torch.from_numpy(sources.sum(0)).float()
    untracked = separate_mixture(_SwappingModel(sources), mixture, track=False).numpy()
    before = talker_order_swaps(sources, untracked, RATE)
    assert before.swaps >= 3, "the model must swap for the test to mean anything"
    tracked = separate_mixture(_SwappingModel(sources), mixture, track=True).numpy()
    after = talker_order_swaps(sources, tracked, RATE)
    assert after.clear >= before.clear and after.swaps == 0, (before.swaps, after.swaps, after.swapped_windows())


def _swaps_after_first_second(report) -> list[float]:
    return [w for w in report.swapped_windows() if w >= 1.0]


def _assert_streamed_order_restored(conversation: np.ndarray, outputs: torch.Tensor, block: int = RATE // 100) -> None:
    """``outputs (2, time)`` swap (at least 3 windows after the first second); fed to the causal
    tracker in ``block``-sample blocks with the mixture, they swap in none."""
    from voxsep.inference.order import StreamingTalkerOrder

    mixture = torch.from_numpy(conversation.sum(0)).float()
    before = talker_order_swaps(conversation, outputs.numpy(), RATE)
    assert len(_swaps_after_first_second(before)) >= 3, "the stream must swap for the test to mean anything"
    tracker = StreamingTalkerOrder(2, RATE)
    tracked = torch.cat([tracker.process(outputs[:, a:a + block], mixture[a:a + block])
                         for a in range(0, outputs.shape[-1], block)], dim=-1)
    after = talker_order_swaps(conversation, tracked.numpy(), RATE)
    assert after.clear >= 15 and not _swaps_after_first_second(after), (before.swaps, after.swapped_windows())


def test_stream_order_is_restored_when_the_model_swaps(conversation: np.ndarray) -> None:
    """The causal tracker, fed a swapping stream in 10 ms blocks: one person per output
    after the first second, with no look-ahead (each block is returned when it arrives)."""
    _assert_streamed_order_restored(conversation, _swapping(torch.from_numpy(conversation).float(),
                                                           np.random.default_rng(0)))


def test_stream_of_one_talker_keeps_its_order(conversation: np.ndarray) -> None:
    """A lone talker split over both outputs (as a counting model leaves it) is one voice:
    the tracker never changes the order."""
    from voxsep.inference.order import StreamingTalkerOrder

    voice = torch.from_numpy(conversation[0, : 40 * RATE]).float()
    split = torch.stack([0.8 * voice, 0.2 * voice])
    tracker = StreamingTalkerOrder(2, RATE)
    out = torch.cat([tracker.process(split[:, a:a + 333], voice[a:a + 333]) for a in range(0, voice.shape[-1], 333)], -1)
    assert tracker.changes == 0 and torch.equal(out, split)


def test_stream_tracker_fixes_the_bundled_models_own_swaps(conversation: np.ndarray) -> None:
    """Real model output as the stream: the bundled model in 3 s chunks without tracking (its
    order changes between and inside chunks), fed to the causal tracker in 10 ms blocks."""
    from voxsep.inference.api import Separator
    from voxsep.inference.separate import separate_mixture

    mixture = torch.from_numpy(conversation.sum(0)).float()
    model = Separator.from_pretrained().model
    _assert_streamed_order_restored(conversation, separate_mixture(model, mixture, chunk_size=3 * RATE,
                                                                   overlap=RATE // 2, track=False))


def test_bundled_causal_model_streamed_keeps_one_person_per_output(conversation: np.ndarray) -> None:
    """The path of ``voxsep separate --stream`` with no model: the bundled causal companion in
    10 ms blocks (``StreamingSeparator`` with the output level rule): no swap after the first
    second."""
    from voxsep.inference.api import Separator

    separator = Separator.from_pretrained(stream_block_ms=10)
    estimates = separator.separate(conversation.sum(0).astype(np.float32), RATE, n_src="all")
    report = talker_order_swaps(conversation, estimates, RATE)
    assert report.clear >= 15, f"too few clear windows to judge: {report.clear} of {len(report.windows)}"
    assert not _swaps_after_first_second(report), f"swapped windows at {report.swapped_windows()} s"
