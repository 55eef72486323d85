"""Reading and measuring the clips of the offline corpus's recorded voices.

:func:`_load_prompt` decodes any clip a voice source lists (wav and Ogg files, the asterisk
GSM prompts and G.722 twins, Drascula's raw ``.ALS`` lines, the MP3 resources inside FOTAQ's
``queen.1c``) at a given rate; :func:`measure_clip` gives one clip's numbers for the speaker
tables (seconds of speech, median F0) as the utterances are made from it, and
:func:`voiced_f0s` keeps the voiced ones of such measurements."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from voxsep_corpus.voices import queen
from voxsep_corpus.voices.common import median_f0, remove_rumble, trim_silence
from voxsep_corpus.voices.drascula import DRASCULA_RATE, read_drascula_line


def _load_prompt(path: Path, sample_rate: int) -> np.ndarray:
    """A prompt or clip at ``sample_rate``, mono; 16 kHz+ builds use the wideband G.722 file when there is one."""
    from voxsep.core.audio import read_audio, resample

    if path.parent.name == queen.FOTAQ_DATA.name:
        return queen._read_fotaq(path, sample_rate)
    g722_path = path.with_suffix(".g722")
    if sample_rate > 8000 and g722_path.exists():
        import G722

        decoded = np.asarray(G722.G722(16000, 64000).decode(g722_path.read_bytes()), dtype=np.float32) / 32768.0
        return resample(decoded, 16000, sample_rate)
    if path.suffix == ".gsm":
        # Headerless GSM 6.10 at 8 kHz: libsndfile decodes it but cannot seek in it, which read_audio does.
        import soundfile as sf

        audio, rate = sf.read(str(path), dtype="float32", always_2d=True)
        return resample(np.ascontiguousarray(audio.mean(axis=1)), rate, sample_rate)
    if path.suffix == ".ALS":
        return resample(read_drascula_line(path), DRASCULA_RATE, sample_rate)
    audio, _ = read_audio(path, sample_rate=sample_rate, channels=1)
    return audio[0]


def measure_clip(path: Path) -> tuple[float, float]:
    """``(seconds of speech, median F0)`` of one clip as the utterances are made from it:
    8 kHz, ``remove_rumble`` + ``trim_silence`` at -30 dB."""
    signal = trim_silence(remove_rumble(_load_prompt(path, 8000), 8000), 8000, threshold_db=-30.0)
    return signal.size / 8000, median_f0(signal, 8000)


def _measure_sample(paths: Sequence[Path], sample: int | None) -> list[tuple[float, float]]:
    """:func:`measure_clip` of every path, or of ``sample`` of them evenly spread (a quick check)."""
    if sample is not None and len(paths) > sample:
        paths = [paths[i] for i in np.linspace(0, len(paths) - 1, sample).round().astype(int)]
    return [measure_clip(path) for path in paths]


def voiced_f0s(clips: Sequence[tuple[float, float]]) -> np.ndarray:
    """The median F0s of the voiced clips among ``[(seconds, median F0), ...]`` measurements
    (:func:`measure_clip`; an unvoiced clip's F0 is NaN and is left out)."""
    f0s = np.array([f for _, f in clips], dtype=float)
    return f0s[~np.isnan(f0s)]
