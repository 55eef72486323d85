"""Shared test fixtures: a tiny offline corpus of real and synthetic speech (docs/architecture.md §4),
and an ONNX round-trip check for models exported on one length only.

The corpus is built once per test session with ``voxsep prepare offline --tiny``
(about 10–30 s on 2 cores): 8 kHz, 3 utterances per speaker, 2- and 3-speaker
mixture sets with 12 train / 4 valid / 4 test mixtures each, speaker-disjoint splits.
"""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def offline_corpus(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Path of a tiny offline corpus at 8 kHz in the layout of ``voxsep prepare offline``.

    ``corpus/wav8k/{2speakers,3speakers}/{train,valid,test}.csv`` are LibriMix-format
    manifests, ``corpus/wav8k/utterances_{split}.csv`` speaker-labelled utterance lists,
    ``corpus/speakers.csv`` the speakers and their splits.
    """
    from voxsep_corpus.offline import build_offline

    root = tmp_path_factory.mktemp("offline") / "corpus"
    build_offline(root, sample_rate=8000, tiny=True, jobs=2, seed=0)
    return root


def _read_pool(csv_path: Path) -> dict[str, list[Path]]:
    from voxsep.data.datasets import load_speaker_pool

    return load_speaker_pool(csv_path)


@pytest.fixture(scope="session")
def speech_pool(offline_corpus: Path) -> dict[str, list[Path]]:
    """Training speakers' utterances of the tiny corpus: ``{speaker: [wav paths]}`` (8 kHz)."""
    return _read_pool(offline_corpus / "wav8k" / "utterances_train.csv")


@pytest.fixture(scope="session")
def mix2_manifests(offline_corpus: Path) -> dict[str, Path]:
    """The tiny corpus' 2-speaker LibriMix-format manifests ``{"train", "valid", "test"}``."""
    return {split: offline_corpus / "wav8k" / "2speakers" / f"{split}.csv" for split in ("train", "valid", "test")}


# --------------------------------------------------------------------------- standard-corpus layouts
# Tiny copies of the published corpus layouts, made from the offline audio, for the
# preparers' tests (LibriSpeech, WSJ0 + mixing lists, WHAM! noise).
def _speech_by_split(corpus: Path, split: str) -> dict[str, list[Path]]:
    return _read_pool(corpus / "wav8k" / f"utterances_{split}.csv")


def _to_16k(path: Path):
    from voxsep.core.audio import read_audio

    return read_audio(path, sample_rate=16000, channels=1)[0][0]


@pytest.fixture(scope="session")
def tiny_librispeech(offline_corpus: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A LibriSpeech-layout tree: ``{train-clean-100,dev-clean,test-clean}/<spk>/<chap>/<spk>-<chap>-<utt>.flac``
    (16 kHz, 3 speakers x 2 utterances each) and ``SPEAKERS.TXT``."""
    from voxsep.core.audio import write_audio

    root = tmp_path_factory.mktemp("librispeech") / "LibriSpeech"
    lines = [";ID  |SEX| SUBSET           |MINUTES| NAME"]
    speaker_id = 100
    for subset, split in (("train-clean-100", "train"), ("dev-clean", "valid"), ("test-clean", "test")):
        pool = _speech_by_split(offline_corpus, split)
        for name in sorted(pool)[:3]:
            speaker_id += 1
            chapter = 1000 + speaker_id
            for k, path in enumerate(pool[name][:2]):
                write_audio(root / subset / str(speaker_id) / str(chapter) / f"{speaker_id}-{chapter}-{k:04d}.flac",
                            _to_16k(path), 16000)
            lines.append(f"{speaker_id:<5}| {'F' if speaker_id % 2 else 'M'} | {subset:<16} | 1.00 | {name}")
    (root / "SPEAKERS.TXT").write_text("\n".join(lines) + "\n")
    return root


def _babble_noise(paths: list[Path], length: int, seed: int):
    """Two-channel 16 kHz babble of held-out talkers plus pink noise (no real noise ships offline)."""
    import numpy as np

    rng = np.random.default_rng(seed)
    noise = np.zeros((2, length))
    for path in paths:
        talker = np.resize(_to_16k(path), length)
        noise += np.roll(talker, int(rng.integers(length)))[None, :] * rng.uniform(0.3, 1.0, size=(2, 1))
    white = np.fft.rfft(rng.standard_normal((2, length)), axis=-1)
    pink = np.fft.irfft(white / np.sqrt(np.arange(1, white.shape[-1] + 1)), n=length, axis=-1)
    noise += pink / np.abs(pink).max() * 0.05
    return noise / np.abs(noise).max() * 0.5


@pytest.fixture(scope="session")
def tiny_wham_noise(offline_corpus: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A WHAM!-noise layout ``wham_noise/{tr,cv,tt}/noise<k>.wav`` (2 channels, 16 kHz, 12 s)."""
    from voxsep.core.audio import write_audio

    root = tmp_path_factory.mktemp("wham") / "wham_noise"
    babble = [p for paths in _speech_by_split(offline_corpus, "test").values() for p in paths][:3]
    for i, split in enumerate(("tr", "cv", "tt")):
        for k in range(2):
            write_audio(root / split / f"noise{k}.wav", _babble_noise(babble, 12 * 16000, 10 * i + k), 16000)
    return root


@pytest.fixture(scope="session")
def tiny_wsj0(offline_corpus: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """``(wsj0_root, lists_dir)``: a WSJ0 tree converted to wav, ``wsj0/si_tr_s/<spk>/<utt>.wav`` (16 kHz),
    and mixing lists ``mix_{2,3}_spk_{tr,cv,tt}.txt`` naming ``.wv1`` files as the official ones do."""
    import numpy as np
    from voxsep.core.audio import write_audio

    base = tmp_path_factory.mktemp("wsj0")
    root, lists = base / "wsj0_wav", base / "lists"
    lists.mkdir()
    rng = np.random.default_rng(5)
    for split, source_split, folder in (("tr", "train", "si_tr_s"), ("cv", "train", "si_tr_s"), ("tt", "test", "si_et_05")):
        pool = _speech_by_split(offline_corpus, source_split)
        entries = []
        for s, name in enumerate(sorted(pool)[:4]):
            speaker = f"{split[0]}{s:02d}"
            for k, path in enumerate(pool[name][:2]):
                utt = f"{speaker}c{k:02d}{split}"
                write_audio(root / "wsj0" / folder / speaker / f"{utt}.wav", _to_16k(path), 16000)
                entries.append((speaker, f"wsj0/{folder}/{speaker}/{utt}.wv1"))
        for n_src, count in ((2, 3), (3, 2)):
            lines = []
            for _ in range(count):
                speakers = rng.choice(sorted({s for s, _ in entries}), size=n_src, replace=False)
                picks = [[e for s, e in entries if s == spk][rng.integers(2)] for spk in speakers]
                snr = round(float(rng.uniform(0, 2.5)), 5)
                snrs = [snr, -snr] if n_src == 2 else [round(float(x), 5) for x in rng.uniform(-2.5, 2.5, n_src)]
                lines.append(" ".join(f"{p} {g}" for p, g in zip(picks, snrs)))
            (lists / f"mix_{n_src}_spk_{split}.txt").write_text("\n".join(lines) + "\n")
    return root, lists


@pytest.fixture
def check_onnx_for_other_lengths(tmp_path: Path):
    """A function ``check(model, name)``: export ``model`` to ONNX and compare onnxruntime
    with PyTorch on random batches of lengths the graph was not captured on."""
    pytest.importorskip("onnxruntime")
    pytest.importorskip("onnxscript")
    import numpy as np
    import torch

    from voxsep.inference.export import OnnxModel, export_onnx

    def check(model, name: str) -> None:
        onnx_model = OnnxModel(export_onnx(model, tmp_path / f"{name}.onnx"))
        assert onnx_model.n_src == 2 and onnx_model.sample_rate == 8000
        for length in (1, 7, 3001, 12345):
            x = np.random.default_rng(length).standard_normal((2, length)).astype(np.float32)
            with torch.no_grad():
                expected = model(torch.from_numpy(x)).numpy()
            np.testing.assert_allclose(onnx_model(x), expected, atol=1e-4 * max(1.0, np.abs(expected).max()),
                                       rtol=0)

    return check


# --------------------------------------------------------------------------- shared helpers
@pytest.fixture
def one_thread():
    """Run the test on one torch thread (tiny models are several times faster so on a busy
    CPU), then restore the previous count. Use with ``pytest.mark.usefixtures("one_thread")``."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="session")
def snr_db():
    """A function ``snr_db(reference, estimate) -> float``: the SNR in dB of ``estimate``
    against ``reference`` (numpy arrays or tensors, computed in float64), as
    :func:`voxsep.inference.fast.output_snr_db`."""
    import torch

    from voxsep.inference.fast import output_snr_db

    def snr(reference, estimate) -> float:
        return output_snr_db(torch.as_tensor(reference), torch.as_tensor(estimate))

    return snr


@pytest.fixture(scope="session")
def check_augmented_mixing(speech_pool):
    """A function ``check(index=3, **augmentation)``: dynamic mixing of two talkers with an
    augmentation (``DynamicMixDataset(..., channel=..., codec=..., voice=...)``) still gives
    ``mixture == sum(sources)``, the same example twice, and sources that differ from
    plain mixing's. Returns the augmented sources ``(n_src, time)``."""
    import numpy as np

    from voxsep.data.datasets import DynamicMixDataset

    def check(index: int = 3, **augmentation):
        augmented = [DynamicMixDataset(speech_pool, 2, 8000, 1.0, 8, seed=0, **augmentation) for _ in range(2)]
        mixture, sources = augmented[0][index]
        assert np.allclose(mixture.numpy(), sources.sum(0).numpy(), atol=1e-5)
        assert np.array_equal(augmented[1][index][1].numpy(), sources.numpy())
        plain = DynamicMixDataset(speech_pool, 2, 8000, 1.0, 8, seed=0)
        assert not np.allclose(sources.numpy(), plain[index][1].numpy(), atol=1e-3)
        return sources

    return check
