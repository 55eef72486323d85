"""Fault injection for separation (issue 16, items 3, 5, 8, 10, 14): inputs are never replaced,
a full disk leaves nothing half done, implausible rates, layouts and options are refused."""

from __future__ import annotations

import errno
import os
import time
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from voxsep import cli
from voxsep.inference.api import Separator

from faults import PassThrough, fill_disk


def run_cli(*args: str) -> int:
    return cli.main(["separate", *map(str, args)])


# ------------------------------------------------------------------ item 3: inputs of the same run
def test_force_never_replaces_another_input_of_the_same_run(tmp_path, mixture_audio, tiny_checkpoint, capsys):
    folder = tmp_path / "d"
    folder.mkdir()
    sf.write(folder / "a.wav", mixture_audio, 8000)
    sf.write(folder / "a_spk1.wav", mixture_audio[::-1].copy(), 8000)  # the user's own file
    own = (folder / "a_spk1.wav").read_bytes()
    code = run_cli(str(folder / "*.wav"), "--out", folder, "--force", "--model", tiny_checkpoint)
    err = capsys.readouterr().err
    assert (folder / "a_spk1.wav").read_bytes() == own, "an input of the run was overwritten"
    assert code == 1 and "a_spk1.wav" in err and "input" in err
    assert not (folder / "a_spk2.wav").exists(), "a.wav must be refused as a whole"
    # a_spk1.wav itself is an ordinary input and is separated.
    assert (folder / "a_spk1_spk1.wav").is_file() and (folder / "a_spk1_spk2.wav").is_file()


def test_separate_file_refuses_protected_outputs(tmp_path, mixture_file):
    from voxsep.core.files import SameFileError

    protected = mixture_file.parent / "talk_spk2.wav"
    protected.write_bytes(b"keep")
    with pytest.raises(SameFileError, match="talk_spk2.wav"):
        Separator(PassThrough(), fast=False).separate_file(mixture_file, mixture_file.parent, force=True,
                                                           protected=[protected])
    assert protected.read_bytes() == b"keep" and not (mixture_file.parent / "talk_spk1.wav").exists()


# ------------------------------------------------------------------ item 5: disk full
def _outputs(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


def test_disk_full_leaves_no_partial_outputs_and_says_so_injected(tmp_path, mixture_file, monkeypatch, capsys):
    out = tmp_path / "out"
    out.mkdir()
    frames = sf.info(mixture_file).frames
    fill_disk(monkeypatch, out, allowed_bytes=frames * 2 + 1000)  # room for one output, not two
    separator = Separator(PassThrough(), fast=False)
    with pytest.raises(OSError, match="(?i)no space left on device") as caught:
        separator.separate_file(mixture_file, out)
    assert caught.value.errno == errno.ENOSPC
    assert "System error" not in str(caught.value)
    assert _outputs(out) == [], "all outputs of one input appear together or not at all"
    monkeypatch.undo()
    assert [p.name for p in separator.separate_file(mixture_file, out)] == ["talk_spk1.wav", "talk_spk2.wav"]


def test_disk_full_cli_summary_and_rerun_tmpfs(small_disk, mixture_file, tiny_checkpoint, capsys):
    out = small_disk / "out"
    out.mkdir()
    frames = sf.info(mixture_file).frames
    stats = os.statvfs(small_disk)
    free = stats.f_bavail * stats.f_frsize
    filler = small_disk / "filler"
    filler.write_bytes(b"\0" * max(0, free - (frames * 2 + 8192)))  # room for one output, not two
    code = run_cli(mixture_file, "--out", out, "--model", tiny_checkpoint)
    err = capsys.readouterr().err
    assert code == 1
    assert "no space left on device" in err.lower() and "System error" not in err
    assert "0 of 1" in err
    assert _outputs(out) == []
    filler.unlink()
    assert run_cli(mixture_file, "--out", out, "--model", tiny_checkpoint) == 0, "the rerun must not be refused"
    assert _outputs(out) == ["talk_spk1.wav", "talk_spk2.wav"]


def test_one_atomic_group_write_removes_its_temporaries_on_failure(tmp_path):
    from voxsep.core.files import atomic_write_many

    targets = [tmp_path / "x1.bin", tmp_path / "x2.bin"]
    with pytest.raises(RuntimeError):
        with atomic_write_many(targets) as temps:
            temps[0].write_bytes(b"one")
            raise RuntimeError("the second write failed")
    assert list(tmp_path.iterdir()) == []
    with atomic_write_many(targets) as temps:
        for tmp, text in zip(temps, (b"one", b"two")):
            tmp.write_bytes(text)
    assert [p.read_bytes() for p in targets] == [b"one", b"two"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["x1.bin", "x2.bin"]


# ------------------------------------------------------------------ item 8: implausible sample rates
@pytest.mark.parametrize("rate", [1, 999, 384_001, 0, -8000])
def test_implausible_rates_are_refused_quickly(rate):
    from voxsep.core.audio import MAX_SAMPLE_RATE, MIN_SAMPLE_RATE

    separator = Separator(PassThrough(), fast=False)
    start = time.perf_counter()
    with pytest.raises(ValueError, match="sample_rate") as caught:
        separator.separate(np.zeros(800, dtype=np.float32), rate)
    assert f"{MIN_SAMPLE_RATE}" in str(caught.value) and f"{MAX_SAMPLE_RATE}" in str(caught.value)
    assert time.perf_counter() - start < 1.0


def test_a_file_whose_header_says_1_hz_is_refused(tmp_path):
    from voxsep.core.audio import AudioError, read_audio

    path = tmp_path / "one_hertz.wav"
    sf.write(path, np.zeros(2000, dtype=np.float32), 8000)
    data = bytearray(path.read_bytes())
    data[24:28] = (1).to_bytes(4, "little")  # sample rate field of the fmt chunk
    data[28:32] = (2).to_bytes(4, "little")  # byte rate
    path.write_bytes(bytes(data))
    assert sf.info(path).samplerate == 1
    start = time.perf_counter()
    with pytest.raises(AudioError, match="1 Hz"):
        read_audio(path)
    with pytest.raises(ValueError, match="one_hertz.wav"):
        Separator(PassThrough(), fast=False).separate_file(path, tmp_path / "out")
    assert time.perf_counter() - start < 2.0
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())


def test_extreme_but_valid_rates_resample_in_bounded_time():
    from voxsep.core.audio import resample

    start = time.perf_counter()
    out = resample(np.zeros(1000, dtype=np.float32), 1000, 384_000)
    assert out.shape == (384_000,)
    assert time.perf_counter() - start < 5.0


# ------------------------------------------------------------------ item 10: channels-last arrays
def test_channels_last_arrays_are_understood(mixture_audio):
    separator = Separator(PassThrough(), fast=False)
    stereo = np.stack([mixture_audio, 0.5 * mixture_audio])  # (2, T)
    with pytest.warns(UserWarning, match="downmixed"):
        expected = separator.separate(stereo, 8000)
    with pytest.warns(UserWarning, match="downmixed"):
        channels_last = separator.separate(stereo.T.copy(), 8000)  # (T, 2), as soundfile.read returns
    assert channels_last.shape == (2, mixture_audio.shape[0])
    np.testing.assert_allclose(channels_last, expected, atol=1e-6)
    mono_column = separator.separate(mixture_audio[:, None], 8000)  # (T, 1)
    assert mono_column.shape == (2, mixture_audio.shape[0])


@pytest.mark.parametrize("shape", [(4, 4), (3, 2), (50, 40)])
def test_ambiguous_layouts_are_refused(shape):
    with pytest.raises(ValueError, match="audio"):
        Separator(PassThrough(), fast=False).separate(np.zeros(shape, dtype=np.float32), 8000)


# ------------------------------------------------------------------ item 14: reporting and options
def test_separating_a_folder_into_itself(tmp_path, mixture_audio, tiny_checkpoint, capsys):
    folder = tmp_path / "d"
    folder.mkdir()
    sf.write(folder / "a.wav", mixture_audio, 8000)
    sf.write(folder / "b.wav", mixture_audio[::-1].copy(), 8000)
    assert run_cli(folder, "--out", folder, "--model", tiny_checkpoint) == 0, capsys.readouterr().err
    assert _outputs(folder) == ["a.wav", "a_spk1.wav", "a_spk2.wav", "b.wav", "b_spk1.wav", "b_spk2.wav"]
    # Running it again finds its own outputs and leaves them alone.
    assert run_cli(folder, "--out", folder, "--model", tiny_checkpoint, "--force") == 0
    assert len(_outputs(folder)) == 6


def test_long_file_names(tmp_path, mixture_audio, capsys):
    name = "x" * 240 + ".wav"
    sf.write(tmp_path / name, mixture_audio, 8000)
    written = Separator(PassThrough(), fast=False).separate_file(tmp_path / name, tmp_path / "out")
    assert [p.name for p in written] == ["x" * 240 + "_spk1.wav", "x" * 240 + "_spk2.wav"]
    too_long = "y" * 248 + ".wav"  # its outputs would need 257 bytes
    sf.write(tmp_path / too_long, mixture_audio, 8000)
    with pytest.raises(ValueError, match="too long"):
        Separator(PassThrough(), fast=False).separate_file(tmp_path / too_long, tmp_path / "out")


@pytest.mark.parametrize("value", ["0", "nan", "inf", "0.001", "-1"])
def test_bad_chunk_seconds_fail_before_anything_is_created(tmp_path, mixture_file, tiny_checkpoint, value, capsys):
    out = tmp_path / "never_created"
    assert run_cli(mixture_file, "--out", out, "--chunk-seconds", value, "--model", tiny_checkpoint) == 2
    assert "chunk" in capsys.readouterr().err
    assert not out.exists(), "a run that fails on its options must not create the output folder"


def test_bad_model_fails_before_the_output_folder_is_created(tmp_path, mixture_file, capsys):
    out = tmp_path / "never_created"
    assert run_cli(mixture_file, "--out", out, "--model", tmp_path / "missing.pt") == 2
    assert not out.exists()


@pytest.mark.parametrize(
    "audio, rate, message",
    [
        (np.zeros(800, dtype=np.float32), None, "sample_rate"),
        (np.zeros(800, dtype=np.float32), "8000", "sample_rate"),
        (np.zeros(800, dtype=np.float32), 8000.5, "sample_rate"),
        ("talk.wav", 8000, "audio.*separate_file"),
        (None, 8000, "audio"),
    ],
)
def test_bad_arguments_are_named(audio, rate, message):
    with pytest.raises((TypeError, ValueError), match=message):
        Separator(PassThrough(), fast=False).separate(audio, rate)


def test_the_same_file_by_two_spellings_is_separated_once(tmp_path, mixture_file, tiny_checkpoint, capsys, monkeypatch):
    monkeypatch.chdir(mixture_file.parent.parent)
    other_spelling = f"in/../in/{mixture_file.name}"
    assert run_cli(mixture_file, other_spelling, "--out", tmp_path / "out", "--model", tiny_checkpoint) == 0
    err = capsys.readouterr().err
    assert "same names" not in err
    assert _outputs(tmp_path / "out") == ["talk_spk1.wav", "talk_spk2.wav"]


# ------------------------------------------------------------------ item 5: SIGKILL between the outputs
KILLED_WRITER = """
import builtins, sys, time
sys.path.insert(0, {faults_dir!r})
from faults import PassThrough
from voxsep.inference.api import Separator

real_open, opened = builtins.open, []

def open_then_hang(file, mode="r", *args, **kwargs):
    handle = real_open(file, mode, *args, **kwargs)
    if "w" in mode and str(file).endswith(".tmp"):
        opened.append(file)
        if len(opened) == 2:  # the first output is complete, the second is being written
            print("second output started", flush=True)
            time.sleep(120)
    return handle

builtins.open = open_then_hang
Separator(PassThrough(), fast=False).separate_file({mixture!r}, {out!r})
"""


def test_sigkill_between_two_outputs_leaves_no_output(tmp_path, mixture_file):
    import signal
    import subprocess
    import sys

    out = tmp_path / "out"
    script = KILLED_WRITER.format(faults_dir=str(Path(__file__).parent), mixture=str(mixture_file), out=str(out))
    process = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    try:
        assert process.stdout.readline().strip() == "second output started"
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=30)
    finally:
        process.kill()
    assert not (out / "talk_spk1.wav").exists() and not (out / "talk_spk2.wav").exists()
    assert all(p.name.startswith(".") for p in out.iterdir()), "only hidden temporaries may remain"
    written = Separator(PassThrough(), fast=False).separate_file(mixture_file, out)  # not refused
    assert [p.name for p in written] == ["talk_spk1.wav", "talk_spk2.wav"]
