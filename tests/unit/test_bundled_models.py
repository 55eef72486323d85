"""The models shipped inside the package: each loads, has its card, stays small, and the
causal companion is what ``--stream``, ``Separator(stream_block_ms=...)`` and live mode use
when no model is named."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from voxsep import pretrained
from voxsep.core.audio import read_audio, write_audio


@pytest.mark.parametrize("name", pretrained.list_pretrained())
def test_each_bundled_model_loads_with_its_card_and_stays_small(name):
    path = pretrained.pretrained_path(name)
    assert path.stat().st_size < 25e6, "a bundled file must stay under 25 MB"
    card = pretrained.model_card(name).read_text()
    assert f"# {name}" in card and "## Scores" in card

    from voxsep.inference.api import Separator

    separator = Separator.from_pretrained(name)
    assert separator.sample_rate == 8000 and separator.n_src == 2 and separator.counts_talkers


def test_the_streaming_default_is_the_causal_companion_and_it_streams_like_its_offline_forward():
    from voxsep.inference.streaming import StreamingSeparator
    from voxsep.interop import load_any

    assert pretrained.default_model(streaming=False) == pretrained.DEFAULT_MODEL
    name = pretrained.default_model(streaming=True)
    assert name == pretrained.STREAMING_MODEL and name in pretrained.BUNDLED
    model, meta = load_any(pretrained.pretrained_path(name))
    assert meta["n_src_range"] == [1, 2]
    mixture, _ = read_audio(pretrained.EXAMPLE_MIXTURE, sample_rate=8000, channels=1)
    mixture = torch.from_numpy(mixture[:, :16000])
    stream = StreamingSeparator.from_pretrained(match_level=False)  # the model alone
    blocks = [stream.process(mixture[:, a:a + 80]) for a in range(0, mixture.shape[-1], 80)]
    streamed = torch.cat(blocks, -1)[..., stream.latency_samples:]
    with torch.inference_mode():
        offline = model(mixture)[0, :, : streamed.shape[-1]]
    error = (streamed - offline).abs().max() / offline.abs().max()
    assert error < 1e-4, f"the stream must equal the causal forward (relative error {error:.2e})"


def test_separator_with_stream_blocks_and_no_model_loads_the_causal_companion():
    from voxsep.inference.api import Separator

    for separator in (Separator.from_pretrained(stream_block_ms=10), Separator.load(None, stream_block_ms=10)):
        assert separator.streaming is not None
        assert pretrained.STREAMING_MODEL in separator.name


@pytest.mark.usefixtures("one_thread")  # --stream sets one thread; the fixture restores the count
def test_separate_stream_without_a_model_streams_the_bundled_causal_model(tmp_path, capsys):
    from voxsep.cli import main

    mixture, rate = read_audio(pretrained.EXAMPLE_MIXTURE)
    write_audio(tmp_path / "call.wav", mixture[:, : 2 * rate], rate)
    code = main(["separate", str(tmp_path / "call.wav"), "--out", str(tmp_path / "out"), "--stream"])
    assert code == 0, capsys.readouterr().err
    assert "streamed in" in capsys.readouterr().out
    written = sorted(p.name for p in (tmp_path / "out").iterdir())
    assert written and all(n.startswith("call_spk") for n in written)
    first, _ = read_audio(tmp_path / "out" / written[0])
    assert first.shape[-1] == 2 * rate and np.abs(first).max() > 0


def test_the_causal_companion_streams_both_talkers_at_the_mixtures_level():
    """Its raw outputs leave one talker about 50 dB below the mixture (SI-SNR training leaves
    levels free); the stream's level rule brings both to the offline path's level, and
    ``n_src="auto"`` on the stream counts both talkers of the example (a stream writes every
    output by default)."""
    from voxsep.inference.api import Separator
    from voxsep.inference.streaming import StreamingSeparator

    mixture, _ = read_audio(pretrained.EXAMPLE_MIXTURE, sample_rate=8000, channels=1)
    mix = torch.from_numpy(mixture[0])

    def levels_db(outputs: torch.Tensor) -> list[float]:
        return [float(10 * torch.log10(o.pow(2).sum() / mix.pow(2).sum())) for o in outputs]

    raw = StreamingSeparator.from_pretrained(match_level=False)
    levelled = StreamingSeparator.from_pretrained()
    blocks = range(0, mix.shape[-1], 80)
    raw_out = torch.cat([raw.process(mix[a:a + 80]) for a in blocks], -1)
    out = torch.cat([levelled.process(mix[a:a + 80]) for a in blocks], -1)
    assert min(levels_db(raw_out)) < -30, "the raw model must leave a quiet output for this test to mean anything"
    assert min(levels_db(out)) > -15, levels_db(out)
    separator = Separator.from_pretrained(stream_block_ms=10)
    assert separator.resolve_n_src(None) == "all"  # a stream writes every output; auto is asked for
    assert separator.separate(mixture[0], 8000, n_src="auto").shape[0] == 2


def test_track_talkers_is_an_option_of_stream(tmp_path, capsys):
    from voxsep.cli import main

    mixture, rate = read_audio(pretrained.EXAMPLE_MIXTURE)
    write_audio(tmp_path / "call.wav", mixture[:, :rate], rate)
    code = main(["separate", str(tmp_path / "call.wav"), "--out", str(tmp_path / "out"), "--track-talkers"])
    assert code != 0 and "--track-talkers is an option of --stream" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()
