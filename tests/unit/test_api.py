"""Separator API, file separation, bad inputs, the CLI and the demo script."""

from __future__ import annotations

import math

import numpy as np
import pytest
import soundfile as sf
import torch

from voxsep import checkpoint, cli, models, pretrained
from voxsep.core.audio import read_audio, resample
from voxsep.inference.api import Separator, peak_normalise

SOUNDS = "/usr/share/asterisk/sounds"
TINY = dict(n_filters=16, kernel_size=8, bottleneck=8, hidden=16, skip=8, n_blocks=2, n_repeats=1)


def speech(language: str, name: str) -> np.ndarray:
    return read_audio(f"{SOUNDS}/{language}/{name}.wav", channels=1)[0][0]


class PassThrough(torch.nn.Module):
    """Test-only 8 kHz model: source 1 is the input, source 2 silence."""

    n_src, sample_rate, in_channels = 2, 8000, 1

    def forward(self, mixture: torch.Tensor) -> torch.Tensor:
        return torch.stack([mixture, torch.zeros_like(mixture)], dim=1)


class Cancelling(torch.nn.Module):
    """Test-only model whose estimates sum to the mixture but each peak far above 1."""

    n_src, sample_rate, in_channels = 2, 8000, 1

    def forward(self, mixture: torch.Tensor) -> torch.Tensor:
        tone = 3 * torch.sin(torch.arange(mixture.shape[-1]) * 0.05)
        return torch.stack([mixture + tone, -tone.expand_as(mixture)], dim=1)


@pytest.fixture(scope="module")
def mixture_file(tmp_path_factory):
    a, b = speech("en", "agent-alreadyon"), speech("fr_CA_f_June", "agent-alreadyon")
    length = min(len(a), len(b))
    path = tmp_path_factory.mktemp("audio") / "talk.wav"
    sf.write(path, (a[:length] + b[:length]) * 0.5, 8000)
    return path


@pytest.fixture(scope="module")
def tiny_checkpoint(tmp_path_factory):
    torch.manual_seed(0)
    model = models.build("conv_tasnet", n_src=2, **TINY)
    return checkpoint.save(tmp_path_factory.mktemp("ckpt") / "tiny.pt", model, sample_rate=8000)


def test_resampling_round_trip_keeps_the_length_and_the_signal():
    voice = speech("en", "agent-incorrect")  # 8 kHz speech, band-limited to 4 kHz
    wide = resample(voice, 8000, 16000)
    estimates = Separator(PassThrough(), fast=False).separate(wide, 16000)
    assert estimates.shape == (2, wide.shape[0]) and estimates.dtype == np.float32
    error = estimates[0] - wide
    assert 10 * math.log10(np.sum(wide**2) / np.sum(error**2)) > 30
    at_model_rate = Separator(PassThrough(), fast=False).separate(torch.from_numpy(wide), 16000, keep_model_rate=True)
    assert isinstance(at_model_rate, torch.Tensor) and at_model_rate.shape == (2, voice.shape[0])


def test_a_separator_is_callable_like_separate():
    voice = speech("en", "agent-incorrect")[:8000]
    separator = Separator(PassThrough(), fast=False)
    np.testing.assert_array_equal(separator(voice, 8000), separator.separate(voice, 8000))
    assert separator(voice, 16000, keep_model_rate=True).shape[-1] == 4000


def test_stereo_input_to_a_mono_model_is_downmixed_with_a_warning():
    voice = speech("en", "agent-incorrect")
    with pytest.warns(UserWarning, match="downmixed to mono"):
        estimates = Separator(PassThrough(), fast=False).separate(np.stack([voice, 0.5 * voice]), 8000)
    np.testing.assert_allclose(estimates[0], 0.75 * voice, atol=1e-5)


def test_separate_file_writes_outputs_and_never_overwrites_without_force(tmp_path, mixture_file, tiny_checkpoint):
    separator = Separator.from_checkpoint(tiny_checkpoint)
    written = separator.separate_file(mixture_file, tmp_path / "out")
    assert [p.name for p in written] == ["talk_spk1.wav", "talk_spk2.wav"]
    info = sf.info(written[0])
    assert info.samplerate == 8000 and info.frames == sf.info(mixture_file).frames
    before = [p.read_bytes() for p in written]
    with pytest.raises(FileExistsError, match="force=True"):
        separator.separate_file(mixture_file, tmp_path / "out")
    assert [p.read_bytes() for p in written] == before
    assert separator.separate_file(mixture_file, tmp_path / "out", force=True) == written


def test_loud_estimates_are_scaled_down_together_not_clipped(tmp_path, mixture_file):
    with pytest.warns(UserWarning, match="scaled down together"):
        written = Separator(Cancelling(), fast=False).separate_file(mixture_file, tmp_path)
    outputs = np.stack([sf.read(p)[0] for p in written])
    assert np.abs(outputs).max() <= 1.0 and np.abs(outputs).max() > 0.99
    # One common gain: the outputs still sum to a scaled copy of the mixture.
    mixture = sf.read(mixture_file)[0]
    total = outputs.sum(0)
    gain = np.dot(total, mixture) / np.dot(mixture, mixture)
    assert 0.05 < gain < 0.5
    assert 10 * np.log10(np.sum((gain * mixture) ** 2) / np.sum((total - gain * mixture) ** 2)) > 25
    assert peak_normalise(np.full((2, 4), 0.5))[1] == 1.0


def make_bad_inputs(folder):
    folder.mkdir()
    (folder / "corrupt.wav").write_bytes(b"RIFF\x00\x00\x00\x00WAVEjunkjunk")
    sf.write(folder / "empty.wav", np.zeros(0, dtype=np.float32), 8000)
    nan = np.zeros(800, dtype=np.float32)
    nan[100] = np.nan
    sf.write(folder / "nan.wav", nan, 8000, subtype="FLOAT")
    return {
        "missing": (folder / "missing.wav", FileNotFoundError, "missing.wav"),
        "corrupt": (folder / "corrupt.wav", ValueError, "corrupt.wav"),
        "empty": (folder / "empty.wav", ValueError, "empty"),
        "nan": (folder / "nan.wav", ValueError, "NaN"),
    }


def test_every_bad_input_gets_a_clear_error_and_leaves_existing_files_untouched(tmp_path, mixture_file):
    out = tmp_path / "out"
    out.mkdir()
    separator = Separator(PassThrough(), fast=False)
    existing = {}
    for case, (path, error, message) in make_bad_inputs(tmp_path / "in").items():
        for target in (out / f"{path.stem}_spk1.wav", out / f"{path.stem}_spk2.wav"):
            target.write_bytes(b"previous result " + case.encode())
            existing[target] = target.read_bytes()
        with pytest.raises(error, match=message):
            separator.separate_file(path, out, force=True)
    assert {p: p.read_bytes() for p in existing} == existing
    blocker = tmp_path / "not_a_folder"
    blocker.write_text("a file where the output folder should be")
    with pytest.raises(OSError, match="not_a_folder"):
        separator.separate_file(mixture_file, blocker / "out")
    assert blocker.read_text() == "a file where the output folder should be"


def test_from_pretrained_names_the_missing_file(monkeypatch):
    monkeypatch.setitem(pretrained.BUNDLED, "not_shipped", ("not_shipped.pt", "test entry"))
    with pytest.raises(FileNotFoundError, match="not_shipped.pt"):
        Separator.from_pretrained("not_shipped")
    with pytest.raises(ValueError, match="bundled models"):
        Separator.from_pretrained("no_such_model")


def test_cli_goes_on_after_a_failure_and_reports_it(tmp_path, mixture_file, tiny_checkpoint, capsys):
    bad = make_bad_inputs(tmp_path / "in")
    empty_folder = tmp_path / "no_audio"
    empty_folder.mkdir()
    (empty_folder / "notes.txt").write_text("no audio here")
    out = tmp_path / "out"
    code = cli.main(["separate", str(bad["corrupt"][0]), str(mixture_file), str(empty_folder),
                     "--out", str(out), "--model", str(tiny_checkpoint)])
    captured = capsys.readouterr()
    assert code == 1
    assert "corrupt.wav" in captured.err and "no audio files" in captured.err
    assert sorted(p.name for p in out.iterdir()) == ["talk_spk1.wav", "talk_spk2.wav"]
    assert cli.main(["separate", str(mixture_file), "--out", str(out), "--model", str(tiny_checkpoint)]) == 1
    assert "--force" in capsys.readouterr().err
    assert cli.main(["separate", str(mixture_file), "--out", str(out), "--model", str(tiny_checkpoint), "--force"]) == 0


def test_demo_separates_and_scores_the_example(tmp_path, tiny_checkpoint, capsys):
    from voxsep.pretrained import demo

    a, b = speech("en", "agent-loggedoff"), speech("ru", "agent-loggedoff")
    length = min(len(a), len(b))
    for name, audio in (("mix", a[:length] + b[:length]), ("s1", a[:length]), ("s2", b[:length])):
        sf.write(tmp_path / f"example_{name}.wav", audio * 0.5, 8000)
    code = demo.main(["--model", str(tiny_checkpoint), "--mixture", str(tmp_path / "example_mix.wav"),
                      "--references", str(tmp_path / "example_s1.wav"), str(tmp_path / "example_s2.wav"),
                      "--out", str(tmp_path / "demo_out")])
    printed = capsys.readouterr().out
    assert code == 0
    assert "example_mix_spk1.wav" in printed and "mean SI-SNRi" in printed
    assert (tmp_path / "demo_out" / "example_mix_spk2.wav").is_file()


def test_demo_scores_a_counted_talker_against_its_own_reference():
    from voxsep.pretrained.demo import _best_matching_subsets

    a, b = speech("en", "agent-loggedoff"), speech("ru", "agent-loggedoff")
    length = min(len(a), len(b))
    references = np.stack([a[:length], b[:length]])
    assert _best_matching_subsets(references, references[1:] * 0.3) == ([1], [0])  # one output found: talker 2
    assert _best_matching_subsets(references[:1], references[::-1]) == ([0], [1])  # more outputs than references


def test_binaural_model_keeps_its_channels(tmp_path):
    torch.manual_seed(0)
    model = models.build("binaural_parallel", n_filters=16, bottleneck=8, hidden=16, n_blocks=2, n_repeats=1,
                         feature_channels=8)
    separator = Separator(model)
    voice = speech("en", "agent-incorrect")[:6000]
    stereo = np.stack([voice, 0.6 * np.roll(voice, 3)])
    estimates = separator.separate(resample(stereo, 8000, 16000), 16000)
    assert estimates.shape == (2, 2, 12000)
    path = tmp_path / "binaural.wav"
    sf.write(path, stereo.T, 8000)
    written = separator.separate_file(path, tmp_path / "out")
    assert sf.info(written[0]).channels == 2
    with pytest.raises(ValueError, match="2-channel"):
        separator.separate(voice, 8000)


def test_cli_exit_codes_for_missing_inputs_unwritable_output_and_clashing_names(
    tmp_path, mixture_file, tiny_checkpoint, capsys
):
    model = ["--model", str(tiny_checkpoint)]
    out = tmp_path / "out"
    # A missing file and an empty glob are reported; the good file is still separated.
    code = cli.main(["separate", str(tmp_path / "gone.wav"), str(tmp_path / "*.flac"), str(mixture_file),
                     "--out", str(out), *model])
    err = capsys.readouterr().err
    assert code == 1 and "gone.wav: no such file" in err and "matches no files" in err
    assert sorted(p.name for p in out.iterdir()) == ["talk_spk1.wav", "talk_spk2.wav"]
    # Nothing usable at all: exit code 2, nothing written.
    assert cli.main(["separate", str(tmp_path / "gone.wav"), "--out", str(tmp_path / "out2"), *model]) == 2
    assert "nothing to separate" in capsys.readouterr().err and not (tmp_path / "out2").exists()
    # An output folder that cannot be created: exit code 2, the message names it, nothing lost.
    blocker = tmp_path / "blocker"
    blocker.write_text("keep me")
    assert cli.main(["separate", str(mixture_file), "--out", str(blocker / "sub"), *model]) == 2
    assert "blocker" in capsys.readouterr().err and blocker.read_text() == "keep me"
    # Two inputs with the same stem would write the same output names: the second is refused,
    # even with --force, so the first one's outputs are not replaced in the same run.
    for folder in ("a", "b"):
        (tmp_path / folder).mkdir()
        (tmp_path / folder / "talk.wav").write_bytes(mixture_file.read_bytes())
    (tmp_path / "b" / "talk.wav").write_bytes(b"RIFF garbage that must not be read")
    clash_out = tmp_path / "clash"
    code = cli.main(["separate", str(tmp_path / "a"), str(tmp_path / "b"), "--out", str(clash_out), "--force", *model])
    err = capsys.readouterr().err
    assert code == 1 and "same names" in err and str(tmp_path / "b" / "talk.wav") in err
    assert sorted(p.name for p in clash_out.iterdir()) == ["talk_spk1.wav", "talk_spk2.wav"]


def test_cli_does_not_separate_its_own_outputs_inside_an_input_folder(tmp_path, mixture_file, tiny_checkpoint):
    folder = tmp_path / "recordings"
    folder.mkdir()
    (folder / "talk.wav").write_bytes(mixture_file.read_bytes())
    for _ in range(2):  # the second run must not find recordings/separated/talk_spk1.wav
        args = ["separate", str(folder), "--out", str(folder / "separated"), "--model", str(tiny_checkpoint), "--force"]
        assert cli.main(args) == 0
    assert sorted(p.name for p in (folder / "separated").iterdir()) == ["talk_spk1.wav", "talk_spk2.wav"]


# --------------------------------------------------------------------------- n_src="auto"


class Doubled(torch.nn.Module):
    """Test-only fixed-count model: both outputs are (nearly) the same signal."""

    n_src, sample_rate, in_channels = 2, 8000, 1

    def forward(self, mixture: torch.Tensor) -> torch.Tensor:
        t = torch.arange(mixture.shape[-1])
        return torch.stack([mixture + 1e-3 * torch.sin(t * 0.3), mixture + 1e-3 * torch.sin(t * 0.7)], dim=1)


def test_auto_on_fixed_count_models_drops_silent_or_duplicate_outputs_and_says_so(mixture_file):
    audio, rate = read_audio(mixture_file)
    for model, reason in ((PassThrough(), "silent"), (Doubled(), "near-duplicate of output 1")):
        separator = Separator(model, fast=False)
        assert separator.resolve_n_src(None) == "all" and separator.separate(audio, rate).shape[0] == 2
        with pytest.warns(UserWarning, match=f"trained on exactly 2 talkers.*output 2: {reason}"):
            kept = separator.separate(audio, rate, n_src="auto")
        assert kept.shape == (1, audio.shape[-1])
        assert np.corrcoef(kept[0], audio[0])[0, 1] > 0.99
    separator = Separator(PassThrough(), fast=False)
    assert separator.separate(audio, rate, n_src=1).shape[0] == 1
    for bad in (0, 3, "some", 1.5, True):
        with pytest.raises(ValueError, match="'auto', 'all' or a number of outputs from 1 to 2"):
            separator.separate(audio, rate, n_src=bad)


def test_variable_count_checkpoint_counts_by_default_and_separate_file_writes_one_file_per_talker(
        tmp_path, mixture_file):
    torch.manual_seed(0)
    model = models.build("conv_tasnet", n_src=2, **TINY)
    path = checkpoint.save(tmp_path / "var.pt", model, sample_rate=8000, n_src_range=[1, 2])
    separator = Separator.from_checkpoint(path)
    assert separator.n_src_range == (1, 2) and separator.counts_talkers and separator.resolve_n_src(None) == "auto"
    assert not Separator.from_checkpoint(checkpoint.save(tmp_path / "fixed.pt", model, sample_rate=8000)).counts_talkers
    passthrough = Separator(PassThrough(), fast=False, n_src_range=(1, 2))
    out = tmp_path / "out"
    (out).mkdir()
    (out / "talk_spk2.wav").write_bytes(b"an earlier run's output")
    with pytest.raises(FileExistsError):  # every name the model could write is checked
        passthrough.separate_file(mixture_file, out)
    written = passthrough.separate_file(mixture_file, out, force=True)
    assert [p.name for p in written] == ["talk_spk1.wav"]
    assert sorted(p.name for p in out.iterdir()) == ["talk_spk1.wav"], "a stale output claims a second talker"
    assert passthrough.last_count.count == 1 and list(passthrough.last_count.dropped) == [1]


def test_cli_n_src_option(tmp_path, mixture_file, tiny_checkpoint, capsys):
    out = tmp_path / "out"
    assert cli.main(["separate", str(mixture_file), "--out", str(out), "--model", str(tiny_checkpoint),
                     "--n-src", "1"]) == 0
    assert sorted(p.name for p in out.iterdir()) == ["talk_spk1.wav"]
    capsys.readouterr()
    assert cli.main(["separate", str(mixture_file), "--out", str(tmp_path / "other"), "--model",
                     str(tiny_checkpoint), "--n-src", "3"]) == 2
    assert "number of outputs from 1 to 2" in capsys.readouterr().err
    assert not (tmp_path / "other").exists()


def test_non_finite_audio_is_refused_by_one_rule_naming_the_source():
    voice = speech("en", "agent-incorrect").copy()
    voice[[10, 20]] = [np.nan, np.inf]
    with pytest.raises(ValueError, match=r"call\.wav: the audio contains 2 NaN or infinite sample\(s\)"):
        Separator(PassThrough(), fast=False).separate(voice, 8000, source="call.wav")
    from voxsep.inference.separate import separate_mixture

    with pytest.raises(ValueError, match=r"the mixture contains 2 NaN or infinite sample\(s\)"):
        separate_mixture(PassThrough(), torch.from_numpy(voice))
