"""Audio I/O on real speech (asterisk prompts, 8 kHz): reading, writing, resampling, errors."""

from __future__ import annotations

import contextlib
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

from voxsep.core.audio import (
    AudioError,
    AudioFileNotFoundError,
    active_rms,
    audio_info,
    read_audio,
    resample,
    write_audio,
)

SPEECH = Path("/usr/share/asterisk/sounds/en/hello-world.wav")
SPEECH_FR = Path("/usr/share/asterisk/sounds/fr_CA_f_June/added.wav")

pytestmark = pytest.mark.skipif(not SPEECH.exists(), reason="asterisk-core-sounds-en-wav is not installed")


def test_read_real_speech() -> None:
    audio, rate = read_audio(SPEECH)
    info = audio_info(SPEECH)
    assert rate == 8000 == info.sample_rate
    assert audio.dtype == np.float32 and audio.shape == (1, info.frames) and info.channels == 1
    assert 0.01 < np.abs(audio).max() <= 1.0
    assert info.duration == pytest.approx(info.frames / 8000)


def test_read_window_matches_full_read() -> None:
    full, _ = read_audio(SPEECH)
    part, _ = read_audio(SPEECH, start=1000, frames=2000)
    np.testing.assert_array_equal(part, full[:, 1000:3000])


def test_resample_on_read_and_round_trip(snr_db) -> None:
    audio, _ = read_audio(SPEECH)
    up, rate = read_audio(SPEECH, sample_rate=16000)
    assert rate == 16000 and up.shape == (1, 2 * audio.shape[1]) and up.dtype == np.float32
    back = resample(up, 16000, 8000)
    assert back.shape == audio.shape
    # Speech at 8 kHz has little energy at Nyquist: up/down sampling is near transparent.
    assert snr_db(audio[0, 200:-200], back[0, 200:-200]) > 30


def test_resample_any_leading_shape_and_torch() -> None:
    audio, _ = read_audio(SPEECH)
    batch = np.stack([audio[0], 0.5 * audio[0]])[None]  # (1, 2, time)
    out = resample(batch, 8000, 16000)
    assert out.shape == (1, 2, 2 * audio.shape[1])
    np.testing.assert_allclose(out[0, 1], 0.5 * out[0, 0], atol=1e-6)
    tensor = resample(torch.from_numpy(batch), 8000, 16000)
    assert isinstance(tensor, torch.Tensor)
    np.testing.assert_allclose(tensor.numpy(), out, atol=1e-6)
    assert resample(audio, 8000, 8000) is audio
    with pytest.raises(ValueError, match="outside the range"):
        resample(audio, 0, 8000)


def test_write_read_round_trip(tmp_path: Path) -> None:
    audio, _ = read_audio(SPEECH)
    mono = write_audio(tmp_path / "a.wav", audio[0], 8000)  # (time,) accepted
    back, rate = read_audio(mono)
    assert rate == 8000 and np.abs(back - audio).max() <= 1 / 32768
    stereo = np.stack([audio[0], -0.25 * audio[0]])
    write_audio(tmp_path / "b.flac", stereo, 8000, subtype="PCM_24")
    back, _ = read_audio(tmp_path / "b.flac")
    assert back.shape == (2, audio.shape[1]) and np.abs(back - stereo).max() < 1e-6
    write_audio(tmp_path / "c.wav", 1.5 * audio, 8000, subtype="FLOAT")  # > 1 kept in float
    write_audio(tmp_path / "d.ogg", audio, 8000, subtype="VORBIS")
    back, _ = read_audio(tmp_path / "d.ogg")
    assert back.shape[0] == 1 and abs(back.shape[1] - audio.shape[1]) < 100
    back, _ = read_audio(tmp_path / "c.wav")
    np.testing.assert_array_equal(back, 1.5 * audio)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.wav", "b.flac", "c.wav", "d.ogg"]  # no temp files


def test_downmix_and_channel_mismatch(tmp_path: Path) -> None:
    audio, _ = read_audio(SPEECH)
    path = write_audio(tmp_path / "stereo.wav", np.stack([audio[0], 0.5 * audio[0]]), 8000, subtype="FLOAT")
    mono, _ = read_audio(path, channels=1)
    np.testing.assert_allclose(mono[0], 0.75 * audio[0], atol=1e-7)
    assert read_audio(path, channels=2)[0].shape[0] == 2
    with pytest.raises(AudioError, match=r"stereo\.wav has 2 channel\(s\), expected 3"):
        read_audio(path, channels=3)
    with pytest.raises(AudioError, match=r"hello-world\.wav has 1 channel\(s\), expected 2"):
        read_audio(SPEECH, channels=2)


def test_missing_file(tmp_path: Path) -> None:
    missing = tmp_path / "nope.wav"
    for call in (lambda: read_audio(missing), lambda: audio_info(missing)):
        with pytest.raises(AudioFileNotFoundError, match="nope.wav") as info:
            call()
        assert isinstance(info.value, FileNotFoundError) and isinstance(info.value, ValueError)


def test_corrupt_file(tmp_path: Path) -> None:
    bad = tmp_path / "corrupt.wav"
    bad.write_bytes(b"RIFF\x00\x00\x00\x00WAVEjunkjunkjunk" * 10)
    with pytest.raises(AudioError, match="corrupt.wav"):
        read_audio(bad)
    with pytest.raises(AudioError, match="corrupt.wav"):
        audio_info(bad)
    with pytest.raises(AudioError, match="is a folder"):
        read_audio(tmp_path)


def test_empty_file(tmp_path: Path) -> None:
    empty = tmp_path / "empty.wav"
    sf.write(empty, np.zeros((0, 1), dtype=np.float32), 8000)
    with pytest.raises(AudioError, match=r"empty\.wav is empty \(0 samples\)"):
        read_audio(empty)


def test_nan_and_inf_samples(tmp_path: Path) -> None:
    audio, _ = read_audio(SPEECH)
    for name, value in (("nan.wav", np.nan), ("inf.wav", np.inf)):
        data = audio[0].copy()
        data[100] = value
        sf.write(tmp_path / name, data, 8000, subtype="FLOAT")
        with pytest.raises(AudioError, match=f"{name} contains 1 NaN or infinite"):
            read_audio(tmp_path / name)


def test_write_refuses_overwrite_and_bad_input(tmp_path: Path) -> None:
    audio, _ = read_audio(SPEECH)
    path = write_audio(tmp_path / "x.wav", audio, 8000)
    before = path.read_bytes()
    with pytest.raises(FileExistsError, match="x.wav already exists"):
        write_audio(path, 0.5 * audio, 8000)
    assert path.read_bytes() == before
    write_audio(path, 0.5 * audio, 8000, overwrite=True)
    assert path.read_bytes() != before
    with pytest.raises(ValueError, match="NaN"):
        write_audio(tmp_path / "n.wav", np.full(10, np.nan), 8000)
    with pytest.raises(ValueError, match="shape"):
        write_audio(tmp_path / "s.wav", np.zeros((1, 2, 10)), 8000)
    with pytest.raises(ValueError, match="empty"):
        write_audio(tmp_path / "e.wav", np.zeros((1, 0)), 8000)
    with pytest.raises(ValueError, match="subtype"):
        write_audio(tmp_path / "u.wav", audio, 8000, subtype="MP3")
    with pytest.raises(ValueError, match="extension"):
        write_audio(tmp_path / "u.xyz", audio, 8000)
    with pytest.raises(ValueError, match=r"cannot write .*v\.ogg as OGG with subtype PCM_16"):
        write_audio(tmp_path / "v.ogg", audio, 8000)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["x.wav"]


def test_failed_write_keeps_old_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    audio, _ = read_audio(SPEECH)
    path = write_audio(tmp_path / "keep.wav", audio, 8000)
    before = path.read_bytes()

    real_open = open

    def broken_open(file, mode="r", *args, **kwargs):  # the disk fills up after a few bytes
        handle = real_open(file, mode, *args, **kwargs)
        if "w" in mode and Path(file).parent == tmp_path:
            handle.write(b"partial")
            handle.close()
            raise OSError(28, "No space left on device")
        return handle

    monkeypatch.setattr("builtins.open", broken_open)
    with pytest.raises(OSError, match="(?i)no space left on device"):
        write_audio(path, 0.5 * audio, 8000, overwrite=True)
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["keep.wav"]


def test_clipping_warns_and_clips(tmp_path: Path) -> None:
    audio, _ = read_audio(SPEECH)
    loud = audio / np.abs(audio).max() * 2.0
    with pytest.warns(UserWarning, match=r"clipping .*loud\.wav: peak 2\.000"):
        write_audio(tmp_path / "loud.wav", loud, 8000)
    back, _ = read_audio(tmp_path / "loud.wav")
    assert np.abs(back).max() <= 1.0
    # Clipped, not wrapped around: the sign of every loud sample is kept.
    loud_samples = np.abs(loud) > 1.0
    assert np.all(np.sign(back[loud_samples]) == np.sign(loud[loud_samples]))


def test_active_rms_ignores_silence_and_scales() -> None:
    speech, _ = read_audio(SPEECH_FR if SPEECH_FR.exists() else SPEECH)
    level = active_rms(speech, 8000)
    padded = np.concatenate([np.zeros((1, 16000)), speech, np.zeros((1, 16000))], axis=1)
    assert active_rms(padded, 8000) == pytest.approx(level, rel=0.02)
    # Plain RMS drops with the added silence; the active level does not.
    assert np.sqrt(np.mean(padded**2)) < 0.7 * level
    assert active_rms(0.5 * speech, 8000) == pytest.approx(0.5 * level, rel=1e-6)
    assert active_rms(np.zeros(100), 8000) == 0.0


def test_long_audio_helpers_work_piece_by_piece_with_the_same_result(tmp_path):
    # resampling, frame energies and encoding go piece by piece (an hour of audio is never
    # copied whole); each gives what the whole-array computation gives
    import io

    import soundfile as sf
    import soxr

    from voxsep.core import audio as audio_module

    rng = np.random.default_rng(0)
    x = (rng.standard_normal((2, 3, 70001)) * 0.4).astype(np.float32)
    whole = soxr.resample(np.ascontiguousarray(x.reshape(6, -1).T), 8000, 16000, quality="VHQ").T.reshape(2, 3, -1)
    assert np.array_equal(audio_module.resample(x, 8000, 16000), whole)
    energies = audio_module.frame_energies(x, 2000, piece_samples=10**9)
    for piece in (4000, 1):  # float64 sums: equal up to summation order
        np.testing.assert_allclose(audio_module.frame_energies(x, 2000, piece_samples=piece), energies, rtol=1e-12)
    loud = x[0] * 4  # clipped when written as PCM
    for signal in (x[0], loud, x[0, 0]):
        expected = io.BytesIO()
        with pytest.warns(UserWarning, match="clipping") if signal is loud else contextlib.nullcontext():
            got = bytes(audio_module._encode(tmp_path / "a.wav", signal, 8000, "PCM_16"))
        sf.write(expected, np.clip(signal.T.astype(np.float64), -1, 1), 8000, subtype="PCM_16", format="WAV")
        assert got == expected.getvalue()


def test_the_kept_outputs_are_taken_in_place():
    from voxsep.inference.api import _take_rows

    rng = np.random.default_rng(1)
    for rows in ([0, 1, 2], [2, 0], [1], [2, 1, 0]):
        estimates = rng.standard_normal((3, 2, 1001)).astype(np.float32)
        expected = estimates[rows].copy()
        taken = _take_rows(estimates, rows, piece=64)
        assert np.array_equal(taken, expected) and np.shares_memory(taken, estimates)


def test_hop_pieces_cut_new_samples_at_the_hop_boundaries():
    from voxsep.core.audio import hop_pieces

    assert list(hop_pieces(7, 4, 2)) == [slice(0, 2), slice(2, 6), slice(6, 7)]
    assert list(hop_pieces(4, 4, 0)) == [slice(0, 4)]
    assert list(hop_pieces(0, 4, 1)) == []
