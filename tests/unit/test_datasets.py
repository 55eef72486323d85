"""MixtureDataset and DynamicMixDataset on real speech (asterisk prompts, 8 kHz): shapes, crops,
determinism per (seed, epoch, index), gains and SNRs met, sums, DataLoader workers, reverb."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader

from voxsep.core.audio import active_rms, read_audio, write_audio
from voxsep.data.datasets import DynamicMixDataset, MixtureDataset, load_speaker_pool
from voxsep.data.manifest import MixtureRecord, load_manifest, load_speaker_sexes, write_manifest
from voxsep.data.reverb import RoomReverb

SOUNDS = Path("/usr/share/asterisk/sounds")
SPEAKERS = ["en", "fr_CA_f_June", "it", "ru"]
RATE = 8000

pytestmark = pytest.mark.skipif(not (SOUNDS / "en").is_dir(), reason="asterisk sound packages are not installed")


def prompts(speaker: str, count: int = 8) -> list[Path]:
    return sorted((SOUNDS / speaker).glob("*.wav"))[20: 20 + 4 * count: 4]


@pytest.fixture(scope="module")
def pool() -> dict[str, list[Path]]:
    return {speaker: prompts(speaker) for speaker in SPEAKERS}


def make_folder(root: Path, n_mix: int = 4, n_src: int = 2, noise: bool = False, channels: int = 1) -> Path:
    """wsj0-mix style folder in "max" mode (shorter sources zero-padded), mixture = sum."""
    for k in range(n_mix):
        sources = [0.5 * read_audio(prompts(SPEAKERS[i])[k])[0][0] for i in range(n_src)]
        length = max(len(s) for s in sources)
        sources = [np.pad(s, (0, length - len(s))) for s in sources]
        if channels > 1:
            sources = [np.stack([s * (1 - 0.3 * c) for c in range(channels)]) for s in sources]
        for i, s in enumerate(sources):
            write_audio(root / f"s{i + 1}" / f"m{k}.wav", s, RATE, subtype="FLOAT")
        mixture = np.sum(sources, axis=0)
        write_audio(root / ("mix_clean" if noise else "mix") / f"m{k}.wav", mixture, RATE, subtype="FLOAT")
        if noise:
            babble = 0.2 * read_audio(prompts("ru")[k + 1])[0][0]
            babble = np.resize(babble, length)  # repeat to the mixture's length
            write_audio(root / "noise" / f"m{k}.wav", babble, RATE, subtype="FLOAT")
    return root


def window_start(whole: np.ndarray, window: np.ndarray, atol: float = 0.0) -> int | None:
    """Where ``window`` occurs in ``whole`` (to ``atol``), or None."""
    k = int(np.argmax(np.abs(window)))  # anchor on the loudest sample of the window
    for start in np.flatnonzero(np.abs(whole - window[k]) <= atol) - k:
        if 0 <= start <= len(whole) - len(window) and np.allclose(whole[start: start + len(window)], window,
                                                                 atol=atol, rtol=0):
            return int(start)
    return None


# --- MixtureDataset -----------------------------------------------------------------------


def test_mixture_dataset_eval_whole_utterances(tmp_path: Path) -> None:
    root = make_folder(tmp_path / "tt")
    dataset = MixtureDataset(root, n_src=2, sample_rate=RATE, train=False)
    assert len(dataset) == 4
    for index, record in enumerate(dataset.records):
        mixture, sources = dataset[index]
        full = read_audio(record.mixture_path)[0][0]
        assert mixture.dtype == torch.float32 and mixture.shape == (len(full),) and sources.shape == (2, len(full))
        torch.testing.assert_close(sources.sum(0), mixture, atol=1e-6, rtol=0)


def test_mixture_dataset_crops_are_deterministic_windows(tmp_path: Path) -> None:
    root = make_folder(tmp_path / "tr")
    dataset = MixtureDataset(root, n_src=2, sample_rate=RATE, segment=0.5, seed=3)
    full = [read_audio(r.mixture_path)[0][0] for r in dataset.records]
    first = [dataset[i] for i in range(len(dataset))]
    for (mixture, sources), whole in zip(first, full):
        assert mixture.shape == (4000,) and sources.shape == (2, 4000)
        torch.testing.assert_close(sources.sum(0), mixture, atol=1e-6, rtol=0)
        assert window_start(whole, mixture.numpy()) is not None, "the crop is a window of the mixture file"
    again = MixtureDataset(root, n_src=2, sample_rate=RATE, segment=0.5, seed=3)
    assert all(torch.equal(a[0], b[0]) for a, b in zip(first, (again[i] for i in range(len(again)))))
    dataset.set_epoch(1)
    assert not all(torch.equal(a[0], dataset[i][0]) for i, a in enumerate(first))
    dataset.set_epoch(0)
    assert all(torch.equal(a[0], dataset[i][0]) for i, a in enumerate(first))


def test_mixture_dataset_eval_centre_crop(tmp_path: Path) -> None:
    root = make_folder(tmp_path / "cv")
    dataset = MixtureDataset(root, n_src=2, sample_rate=RATE, segment=0.5, train=False)
    first = [dataset[i] for i in range(len(dataset))]
    dataset.set_epoch(3)
    for index, (mixture, sources) in enumerate(first):
        whole = read_audio(dataset.records[index].mixture_path)[0][0]
        assert mixture.shape == (4000,) and sources.shape == (2, 4000)
        assert window_start(whole, mixture.numpy()) == (len(whole) - 4000) // 2
        assert torch.equal(dataset[index][0], mixture)  # the same crop every epoch


def test_mixture_dataset_short_pad_or_skip(tmp_path: Path) -> None:
    root = make_folder(tmp_path / "tr")
    lengths = sorted(len(read_audio(r.mixture_path)[0][0]) for r in load_manifest(root))
    segment = (lengths[1] + 10) / RATE  # longer than the two shortest mixtures
    padded = MixtureDataset(root, n_src=2, sample_rate=RATE, segment=segment, short="pad")
    shortest = min(range(4), key=lambda i: len(read_audio(padded.records[i].mixture_path)[0][0]))
    mixture, sources = padded[shortest]
    assert mixture.shape == (round(segment * RATE),) and sources.shape == (2, round(segment * RATE))
    assert torch.all(mixture[lengths[0]:] == 0) and torch.any(mixture[: lengths[0]] != 0)
    skipped = MixtureDataset(root, n_src=2, sample_rate=RATE, segment=segment, short="skip")
    assert len(skipped) == 2 and skipped.skipped == 2
    with pytest.raises(ValueError, match="every mixture is shorter than segment"):
        MixtureDataset(root, n_src=2, sample_rate=RATE, segment=60.0, short="skip")


def test_mixture_dataset_errors(tmp_path: Path) -> None:
    root = make_folder(tmp_path / "tt", n_mix=2)
    with pytest.raises(ValueError, match="mixture 'm0' has 2 sources but n_src=3"):
        MixtureDataset(root, n_src=3, sample_rate=RATE)
    with pytest.raises(ValueError, match="no noise_path but add_noise=True"):
        MixtureDataset(root, n_src=2, sample_rate=RATE, add_noise=True)
    with pytest.raises(ValueError, match="short must be"):
        MixtureDataset(root, n_src=2, sample_rate=RATE, short="trim")
    wrong_rate = MixtureDataset(root, n_src=2, sample_rate=16000, train=False)
    with pytest.raises(ValueError, match="m0.wav is at 8000 Hz but sample_rate=16000; pass resample=True"):
        wrong_rate[0]
    resampled = MixtureDataset(root, n_src=2, sample_rate=16000, train=False, resample=True)
    mixture, sources = resampled[0]
    assert mixture.shape[-1] == 2 * len(read_audio(root / "mix" / "m0.wav")[0][0]) and sources.shape[0] == 2
    # A source shorter than its mixture: the error names both and points at prepare check.
    s2 = root / "s2" / "m1.wav"
    write_audio(s2, read_audio(s2)[0][:, :1000], RATE, overwrite=True)
    with pytest.raises(ValueError, match=r"s2/m1.wav has shape \(1, 1000\).*voxsep prepare check"):
        MixtureDataset(root, n_src=2, sample_rate=RATE, train=False)[1]
    (root / "s1" / "m0.wav").unlink()
    records = [MixtureRecord("m0", root / "mix" / "m0.wav", [root / "s1" / "m0.wav", root / "s2" / "m0.wav"])]
    with pytest.raises(FileNotFoundError, match="s1/m0.wav"):
        MixtureDataset(records, n_src=2, sample_rate=RATE, train=False)[0]


def test_mixture_dataset_adds_wham_noise(tmp_path: Path) -> None:
    root = make_folder(tmp_path / "wham", noise=True)
    csv_path = write_manifest(tmp_path / "clean.csv", load_manifest(root, mix_folder="mix_clean"))
    clean = MixtureDataset(csv_path, n_src=2, sample_rate=RATE, train=False)
    noisy = MixtureDataset(csv_path, n_src=2, sample_rate=RATE, train=False, add_noise=True)
    for index, record in enumerate(noisy.records):
        mixture, sources = noisy[index]
        noise = torch.from_numpy(read_audio(record.noise_path)[0][0])
        torch.testing.assert_close(mixture, clean[index][0] + noise, atol=1e-6, rtol=0)
        torch.testing.assert_close(sources, clean[index][1])
    # Crops take the same window of the noise too.
    cropped = MixtureDataset(csv_path, n_src=2, sample_rate=RATE, segment=0.5, add_noise=True)
    mixture, sources = cropped[0]
    residual = (mixture - sources.sum(0)).numpy()
    whole_noise = read_audio(cropped.records[0].noise_path)[0][0]
    assert window_start(whole_noise, residual, atol=1e-6) is not None


def test_mixture_dataset_multichannel(tmp_path: Path) -> None:
    root = make_folder(tmp_path / "binaural", n_mix=2, channels=2)
    mixture, sources = MixtureDataset(root, n_src=2, sample_rate=RATE, segment=0.5)[0]
    assert mixture.shape == (2, 4000) and sources.shape == (2, 2, 4000)
    torch.testing.assert_close(sources.sum(0), mixture, atol=1e-6, rtol=0)


# --- DynamicMixDataset --------------------------------------------------------------------


def test_dynamic_mix_is_deterministic_and_changes_with_epoch(pool: dict[str, list[Path]]) -> None:
    kwargs = dict(n_src=2, sample_rate=RATE, segment=1.0, examples_per_epoch=6, seed=7)
    a, b = DynamicMixDataset(pool, **kwargs), DynamicMixDataset(pool, **kwargs)
    first = [a[i] for i in range(6)]
    for i in range(6):
        assert torch.equal(first[i][0], b[i][0]) and torch.equal(first[i][1], b[i][1])
    a.set_epoch(1)
    second = [a[i] for i in range(6)]
    assert all(not torch.equal(x[0], y[0]) for x, y in zip(first, second))
    a.set_epoch(0)
    assert all(torch.equal(x[0], a[i][0]) for i, x in enumerate(first))
    other_seed = DynamicMixDataset(pool, **{**kwargs, "seed": 8})
    assert not torch.equal(other_seed[0][0], first[0][0])


def test_dynamic_mix_sums_gains_and_speakers(pool: dict[str, list[Path]]) -> None:
    dataset = DynamicMixDataset(pool, n_src=3, sample_rate=RATE, segment=1.5, examples_per_epoch=12, seed=1)
    seen = set()
    for index in range(len(dataset)):
        plan = dataset.draw(index)
        assert len(set(plan["speakers"])) == 3
        assert all(u in pool[s] for s, u in zip(plan["speakers"], plan["utterances"]))
        seen.update(plan["speakers"])
        mixture, sources = dataset[index]
        assert mixture.shape == (12000,) and sources.shape == (3, 12000)
        torch.testing.assert_close(sources.sum(0), mixture, atol=1e-6, rtol=0)
        assert mixture.abs().max() <= 0.99 + 1e-6
        levels = [20 * np.log10(active_rms(s.numpy(), RATE)) for s in sources]
        assert plan["gains_db"][0] == 0.0
        for i in (1, 2):
            assert -5.0 <= plan["gains_db"][i] <= 5.0
            assert levels[i] - levels[0] == pytest.approx(plan["gains_db"][i], abs=0.05)
    assert seen == set(SPEAKERS)


def test_dynamic_mix_absolute_levels(pool: dict[str, list[Path]]) -> None:
    dataset = DynamicMixDataset(pool, n_src=2, sample_rate=RATE, segment=1.0, examples_per_epoch=5,
                                level_db=-35.0, gain_db=(-4.0, 4.0), gain_mode="absolute")
    for index in range(5):
        plan = dataset.draw(index)
        _, sources = dataset[index]
        for source, gain in zip(sources, plan["gains_db"]):
            assert -39.0 <= -35.0 + gain <= -31.0
            assert 20 * np.log10(active_rms(source.numpy(), RATE)) == pytest.approx(-35.0 + gain, abs=0.05)


def test_dynamic_mix_noise_at_requested_snr(pool: dict[str, list[Path]]) -> None:
    noises = prompts("ru", 3)
    speech_pool = {k: v for k, v in pool.items() if k != "ru"}
    dataset = DynamicMixDataset(speech_pool, n_src=2, sample_rate=RATE, segment=1.0, examples_per_epoch=6,
                                noise_pool=noises, snr_db=(0.0, 6.0))
    for index in range(6):
        plan = dataset.draw(index)
        mixture, sources = dataset[index]
        noise = (mixture - sources.sum(0)).numpy()
        louder = max(active_rms(s.numpy(), RATE) for s in sources)
        assert 0.0 <= plan["snr_db"] <= 6.0
        assert 20 * np.log10(louder / active_rms(noise, RATE)) == pytest.approx(plan["snr_db"], abs=0.05)
    with pytest.raises(FileNotFoundError, match="noise file not found"):
        DynamicMixDataset(speech_pool, 2, RATE, 1.0, 4, noise_pool=[Path("/no/such/noise.wav")])


def span(signal: np.ndarray) -> int:
    """Samples from the first to the last sample above -60 dB of the peak."""
    support = np.flatnonzero(np.abs(signal) > 1e-3 * np.abs(signal).max())
    return int(support[-1] - support[0] + 1)


def test_dynamic_mix_speed_perturbation(pool: dict[str, list[Path]]) -> None:
    # A short prompt placed in a long segment: its duration shrinks by the speed factor.
    short = {s: [min(files, key=lambda p: read_audio(p)[0].shape[1])] for s, files in pool.items()}
    plain = DynamicMixDataset(short, n_src=2, sample_rate=RATE, segment=5.0, examples_per_epoch=3)
    fast = DynamicMixDataset(short, n_src=2, sample_rate=RATE, segment=5.0, examples_per_epoch=3,
                             speed_perturb=(1.25, 1.25))
    for index in range(3):
        plan = fast.draw(index)
        _, sources = fast[index]
        for path, source in zip(plan["utterances"], sources):
            raw = read_audio(path)[0][0]
            assert abs(span(source.numpy()) - span(raw) / 1.25) < 0.02 * span(raw)
        assert not torch.equal(plain[index][1], sources)
    ranged = DynamicMixDataset(pool, n_src=2, sample_rate=RATE, segment=1.0, examples_per_epoch=3,
                               speed_perturb=(0.9, 1.1))
    assert all(0.9 <= f <= 1.1 for f in ranged.draw(0)["speeds"])
    torch.testing.assert_close(ranged[0][1].sum(0), ranged[0][0], atol=1e-6, rtol=0)
    assert torch.equal(ranged[1][0], ranged[1][0])


def test_dynamic_mix_with_dataloader_workers(pool: dict[str, list[Path]]) -> None:
    dataset = DynamicMixDataset(pool, n_src=2, sample_rate=RATE, segment=0.5, examples_per_epoch=8,
                                speed_perturb=(0.95, 1.05), seed=5)
    dataset.set_epoch(2)
    expected = [dataset[i] for i in range(8)]
    loader = DataLoader(dataset, batch_size=4, num_workers=2, shuffle=False)
    batches = list(loader)
    assert [b[0].shape for b in batches] == [(4, 4000), (4, 4000)]
    assert [b[1].shape for b in batches] == [(4, 2, 4000), (4, 2, 4000)]
    got = torch.cat([b[0] for b in batches])
    assert torch.equal(got, torch.stack([e[0] for e in expected]))


def test_set_epoch_reaches_persistent_workers(pool: dict[str, list[Path]]) -> None:
    dataset = DynamicMixDataset(pool, n_src=2, sample_rate=RATE, segment=0.25, examples_per_epoch=4, seed=2)
    loader = DataLoader(dataset, batch_size=2, num_workers=2, persistent_workers=True)
    for epoch in (0, 1):
        dataset.set_epoch(epoch)
        got = torch.cat([mixture for mixture, _ in loader])
        assert torch.equal(got, torch.stack([dataset[i][0] for i in range(4)])), f"epoch {epoch}"
    assert not torch.equal(got, torch.stack([dataset.__class__(pool, 2, RATE, 0.25, 4, seed=2)[i][0]
                                             for i in range(4)]))


def test_dynamic_mix_room_reverb(pool: dict[str, list[Path]]) -> None:
    mono = DynamicMixDataset(pool, n_src=2, sample_rate=RATE, segment=1.0, examples_per_epoch=2,
                             spatializer=RoomReverb(RATE, rt60=(0.3, 0.4), max_order=20))
    dry = DynamicMixDataset(pool, n_src=2, sample_rate=RATE, segment=1.0, examples_per_epoch=2)
    mixture, sources = mono[0]
    assert mixture.shape == (8000,) and sources.shape == (2, 8000)
    torch.testing.assert_close(sources.sum(0), mixture, atol=1e-6, rtol=0)
    assert torch.equal(mono[0][0], mixture)
    # The reverberant image is not a scaled copy of the dry source.
    _, dry_sources = dry[0]
    for image, clean in zip(sources, dry_sources):
        corr = torch.dot(image, clean) / (image.norm() * clean.norm())
        assert corr < 0.95
    stereo = DynamicMixDataset(pool, n_src=3, sample_rate=RATE, segment=1.0, examples_per_epoch=1,
                               spatializer=RoomReverb(RATE, rt60=(0.2, 0.3), n_mics=2, max_order=10),
                               noise_pool=prompts("ru", 2))
    mixture, sources = stereo[0]
    assert mixture.shape == (2, 8000) and sources.shape == (3, 2, 8000)
    assert not torch.equal(sources[:, 0], sources[:, 1])


def test_room_reverb_geometry_and_rt60() -> None:
    import pyroomacoustics as pra

    reverb = RoomReverb(RATE, rt60=(0.6, 0.6), n_mics=2)
    geometry = reverb.sample_geometry(2, np.random.default_rng(0))
    room, mics, sources = geometry["room"], geometry["mics"], geometry["sources"]
    assert np.all(mics >= 0.5 - 1e-9) and np.all(mics[:2] <= room[:2, None] - 0.5)
    assert np.all(sources[:2] >= 0.5 - 1e-9) and np.all(sources[:2] <= room[:2, None] - 0.5)
    assert np.linalg.norm(mics[:, 0] - mics[:, 1]) == pytest.approx(0.05)
    long_rt60 = pra.experimental.measure_rt60(reverb.impulse_responses(geometry)[0][0], fs=RATE)
    short_rt60 = pra.experimental.measure_rt60(reverb.impulse_responses({**geometry, "rt60": 0.2})[0][0], fs=RATE)
    # The RT60 is nominal (Sabine, capped image order): measured values follow it loosely.
    assert 0.1 < short_rt60 < 0.4 < long_rt60 < 1.2
    with pytest.raises(ValueError, match="rt60"):
        RoomReverb(RATE, rt60=(0.5, 0.2))
    with pytest.raises(ValueError, match="dry sources"):
        reverb(np.zeros((2, 2, 100)), np.random.default_rng(0))


def test_room_reverb_bank_is_deterministic_per_process() -> None:
    import pickle

    dry = 0.1 * np.stack([read_audio(prompts(s)[0])[0][0][:4000] for s in ("en", "fr_CA_f_June")])
    reverb = RoomReverb(RATE, rt60=(0.2, 0.3), bank_size=2)
    first = [reverb(dry, np.random.default_rng(i)) for i in range(6)]
    assert len(reverb._bank) <= 2 and first[0].shape == (2, 1, 4000)
    fresh = pickle.loads(pickle.dumps(reverb))  # what a spawned DataLoader worker gets
    assert fresh._bank == {}
    assert all(np.array_equal(a, fresh(dry, np.random.default_rng(i))) for i, a in enumerate(first))
    assert len({a.tobytes() for a in first}) > 1  # rooms and positions vary between calls
    with pytest.raises(ValueError, match="bank_size"):
        RoomReverb(RATE, bank_size=0)


def test_dynamic_mix_bad_input(pool: dict[str, list[Path]], tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="1 speaker.*n_src=2 needs at least 2"):
        DynamicMixDataset({"en": pool["en"]}, n_src=2, sample_rate=RATE, segment=1.0, examples_per_epoch=2)
    with pytest.raises(ValueError, match="gain_db"):
        DynamicMixDataset(pool, n_src=2, sample_rate=RATE, segment=1.0, examples_per_epoch=2, gain_db=(5, -5))
    bad = DynamicMixDataset(pool, n_src=2, sample_rate=RATE, segment=1.0, examples_per_epoch=2,
                            spatializer=lambda sources, rng: sources)
    with pytest.raises(ValueError, match=r"spatializer returned shape \(2, 8000\)"):
        bad[0]
    with pytest.raises(IndexError):
        bad.draw(2)
    broken = {"a": [tmp_path / "gone.wav"], "b": [tmp_path / "gone.wav"]}
    with pytest.raises(FileNotFoundError, match="gone.wav"):
        DynamicMixDataset(broken, n_src=2, sample_rate=RATE, segment=1.0, examples_per_epoch=1)[0]


def test_speaker_pool_csv_and_cache(pool: dict[str, list[Path]], tmp_path: Path) -> None:
    rows = ["utterance_id,speaker,path,length,sample_rate"]
    (tmp_path / "speech").mkdir()
    for speaker, files in pool.items():
        for file in files[:3]:
            link = tmp_path / "speech" / f"{speaker}_{file.name}"
            link.symlink_to(file)
            rows.append(f"{link.stem},{speaker},speech/{link.name},{read_audio(file)[0].shape[1]},8000")
    listing = tmp_path / "utterances_train.csv"
    listing.write_text("\n".join(rows) + "\n")
    loaded = load_speaker_pool(listing)
    assert sorted(loaded) == sorted(SPEAKERS) and all(len(v) == 3 and v[0].is_file() for v in loaded.values())
    dataset = DynamicMixDataset(listing, n_src=2, sample_rate=16000, segment=0.5, examples_per_epoch=2)
    assert dataset[0][0].shape == (8000,)  # 8 kHz files resampled to 16 kHz
    path = loaded["en"][0]
    assert dataset._cache.get(path) is dataset._cache.get(path)
    tiny = DynamicMixDataset(listing, n_src=2, sample_rate=RATE, segment=0.5, examples_per_epoch=2, cache_mb=0.05)
    for files in loaded.values():
        for file in files:
            tiny._cache.get(file)
    assert tiny._cache._bytes <= 0.05 * 2**20 and len(tiny._cache._items) < 12
    (tmp_path / "bad.csv").write_text("utterance_id,speaker,path\nx,,a.wav\n")
    with pytest.raises(ValueError, match="bad.csv line 2: empty speaker or path"):
        load_speaker_pool(tmp_path / "bad.csv")
    (tmp_path / "header.csv").write_text("id,who,file\n")
    with pytest.raises(ValueError, match="header.csv line 1"):
        load_speaker_pool(tmp_path / "header.csv")
    with pytest.raises(FileNotFoundError):
        load_speaker_pool(tmp_path / "none.csv")


# --- variable number of talkers -----------------------------------------------------------


def test_dynamic_mix_variable_count_pads_silent_targets(pool: dict[str, list[Path]]) -> None:
    dataset = DynamicMixDataset(pool, (1, 3), RATE, segment=0.5, examples_per_epoch=30, seed=2)
    assert dataset.n_src == 3 and dataset.n_src_range == (1, 3)
    counts = set()
    for index in range(30):
        plan = dataset.draw(index)
        k = plan["n_active"]
        counts.add(k)
        assert len(plan["speakers"]) == len(set(plan["speakers"])) == k
        mixture, sources = dataset[index]
        assert sources.shape == (3, 4000) and mixture.shape == (4000,)
        assert bool((sources[k:] == 0).all()), "padded targets must be all zeros"
        assert all(float(sources[i].abs().max()) > 0 for i in range(k))
        torch.testing.assert_close(sources.sum(0), mixture, atol=1e-5, rtol=0)
    assert counts == {1, 2, 3}


def test_dynamic_mix_count_weights_set_the_share_of_each_count(pool: dict[str, list[Path]]) -> None:
    uniform = DynamicMixDataset(pool, (1, 2), RATE, segment=0.5, examples_per_epoch=400, seed=3)
    weighted = DynamicMixDataset(pool, (1, 2), RATE, segment=0.5, examples_per_epoch=400, seed=3,
                                 count_weights=(1, 4))
    ones = [sum(d.draw(i)["n_active"] == 1 for i in range(400)) / 400 for d in (uniform, weighted)]
    assert abs(ones[0] - 0.5) < 0.08 and abs(ones[1] - 0.2) < 0.06, ones
    only_two = DynamicMixDataset(pool, (1, 2), RATE, segment=0.5, examples_per_epoch=20, count_weights=(0, 1))
    assert all(only_two.draw(i)["n_active"] == 2 for i in range(20))
    with pytest.raises(ValueError, match="one non-negative weight per count 1..2"):
        DynamicMixDataset(pool, (1, 2), RATE, segment=0.5, examples_per_epoch=5, count_weights=(1, 1, 1))
    with pytest.raises(ValueError, match="count_weights needs a range"):
        DynamicMixDataset(pool, 2, RATE, segment=0.5, examples_per_epoch=5, count_weights=(1, 1))


def test_dynamic_mix_fixed_count_draws_as_before(pool: dict[str, list[Path]]) -> None:
    # a fixed count draws no count: the speakers are the generator's first draw, as always
    dataset = DynamicMixDataset(pool, 2, RATE, segment=0.5, examples_per_epoch=5, seed=4)
    for index in range(5):
        first = np.random.default_rng([4, 0, index]).choice(len(SPEAKERS), size=2, replace=False)
        assert dataset.draw(index)["speakers"] == [sorted(SPEAKERS)[i] for i in first]
        assert dataset.draw(index)["n_active"] == 2
    with pytest.raises(ValueError, match="n_src must be >= 2"):
        DynamicMixDataset(pool, 1, RATE, segment=0.5, examples_per_epoch=5)
    with pytest.raises(ValueError, match="1 <= low <= high"):
        DynamicMixDataset(pool, (2, 1), RATE, segment=0.5, examples_per_epoch=5)
    with pytest.raises(ValueError, match="needs at least 5 different speakers"):
        DynamicMixDataset(pool, (1, 5), RATE, segment=0.5, examples_per_epoch=5)


def write_speaker_table(path: Path, sexes: dict[str, str]) -> Path:
    lines = ["speaker,sex,kind,split"] + [f"{speaker},{sex},real,train" for speaker, sex in sexes.items()]
    path.write_text("\n".join(lines) + "\n")
    return path


def test_dynamic_mix_same_sex_sets_the_share_of_one_sex_mixtures(pool: dict[str, list[Path]], tmp_path: Path) -> None:
    table = write_speaker_table(tmp_path / "speakers.csv", {"en": "female", "fr_CA_f_June": "F", "it": "M", "ru": "m"})
    sexes = load_speaker_sexes(table)
    assert sexes == {"en": "F", "fr_CA_f_June": "F", "it": "M", "ru": "M"}
    for share in (0.0, 0.8, 1.0):
        dataset = DynamicMixDataset(pool, (1, 2), RATE, segment=0.5, examples_per_epoch=400, seed=5,
                                    same_sex=share, speaker_sexes=sexes)
        plans = [dataset.draw(i) for i in range(400)]
        pairs = [p["speakers"] for p in plans if p["n_active"] == 2]
        assert all(len(set(pair)) == 2 for pair in pairs)
        one_sex = sum(len({sexes[s] for s in pair}) == 1 for pair in pairs) / len(pairs)
        assert abs(one_sex - share) < 0.07, (share, one_sex)
        firsts = {pair[0] for pair in pairs}
        assert firsts == set(SPEAKERS), firsts  # every speaker still leads some mixtures
    # one talker: any speaker, the rule does not apply
    assert {p["speakers"][0] for p in plans if p["n_active"] == 1} == set(SPEAKERS)
    # a mixed three-talker draw: two sexes among the first two
    three = DynamicMixDataset(pool, 3, RATE, segment=0.5, examples_per_epoch=50, same_sex=0.0, speaker_sexes=sexes)
    assert all(len({sexes[s] for s in three.draw(i)["speakers"][:2]}) == 2 for i in range(50))
    example, targets = three[0]
    assert torch.allclose(example, targets.sum(0), atol=1e-5)


def test_dynamic_mix_same_sex_bad_input(pool: dict[str, list[Path]], tmp_path: Path) -> None:
    sexes = {"en": "F", "fr_CA_f_June": "F", "it": "M", "ru": "M"}
    with pytest.raises(ValueError, match="needs the sex of every pool speaker"):
        DynamicMixDataset(pool, 2, RATE, segment=0.5, examples_per_epoch=5, same_sex=0.5)
    with pytest.raises(ValueError, match="no sex .F or M. for 1 pool speaker.*ru"):
        DynamicMixDataset(pool, 2, RATE, segment=0.5, examples_per_epoch=5, same_sex=0.5,
                          speaker_sexes={k: v for k, v in sexes.items() if k != "ru"})
    with pytest.raises(ValueError, match=r"probability in \[0, 1\]"):
        DynamicMixDataset(pool, 2, RATE, segment=0.5, examples_per_epoch=5, same_sex=1.5, speaker_sexes=sexes)
    with pytest.raises(ValueError, match="needs 3 speakers of one sex; the pool has 2 F and 2 M"):
        DynamicMixDataset(pool, 3, RATE, segment=0.5, examples_per_epoch=5, same_sex=0.5, speaker_sexes=sexes)
    with pytest.raises(ValueError, match="needs speakers of both sexes; the pool has 4 F and 0 M"):
        DynamicMixDataset(pool, 2, RATE, segment=0.5, examples_per_epoch=5, same_sex=0.5,
                          speaker_sexes=dict.fromkeys(sexes, "F"))
    # same_sex=1 with one sex only is fine
    DynamicMixDataset(pool, 2, RATE, segment=0.5, examples_per_epoch=5, same_sex=1.0, speaker_sexes=dict.fromkeys(sexes, "F"))


def test_load_speaker_sexes_errors(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="speaker table not found"):
        load_speaker_sexes(tmp_path / "missing.csv")
    (tmp_path / "no_sex.csv").write_text("speaker,split\na,train\n")
    with pytest.raises(ValueError, match="line 1: .*needs the columns speaker and sex"):
        load_speaker_sexes(tmp_path / "no_sex.csv")
    (tmp_path / "bad.csv").write_text("speaker,sex\na,F\nb,x\n")
    with pytest.raises(ValueError, match="line 3: speaker 'b' with sex 'x'"):
        load_speaker_sexes(tmp_path / "bad.csv")
    (tmp_path / "twice.csv").write_text("speaker,sex\na,F\na,M\n")
    with pytest.raises(ValueError, match="line 3: a is listed again with another sex"):
        load_speaker_sexes(tmp_path / "twice.csv")


def test_same_sex_recipe_keys(pool: dict[str, list[Path]], tmp_path: Path) -> None:
    from voxsep.config import config_from_dict, validate_config
    from voxsep.data.build import build_datasets

    rows = ["utterance_id,speaker,path,length,sample_rate"] + [
        f"{speaker}-{i},{speaker},{path},0,8000" for speaker, paths in pool.items() for i, path in enumerate(paths)]
    (tmp_path / "pool.csv").write_text("\n".join(rows) + "\n")
    valid = make_folder(tmp_path / "valid")
    table = write_speaker_table(tmp_path / "speakers.csv", {"en": "F", "fr_CA_f_June": "F", "it": "M", "ru": "M"})
    data = {"kind": "dynamic", "pool": str(tmp_path / "pool.csv"), "valid": str(valid), "segment": 0.5,
            "same_sex": 0.7, "speaker_table": str(table)}
    train_set, _ = build_datasets(config_from_dict({"data": data}))
    assert train_set.same_sex == 0.7 and sorted(train_set._by_sex) == ["F", "M"]
    with pytest.raises(ValueError, match="'data.same_sex' needs dynamic mixing .* and data.speaker_table"):
        validate_config(config_from_dict({"data": {**data, "speaker_table": ""}}))
    with pytest.raises(ValueError, match=r"'data.same_sex' must be a probability in \[0, 1\]"):
        validate_config(config_from_dict({"data": {**data, "same_sex": -0.1}}))


def test_mixture_dataset_combines_manifests_of_different_counts(tmp_path: Path) -> None:
    two = make_folder(tmp_path / "two", n_mix=2, n_src=2)
    three = make_folder(tmp_path / "three", n_mix=3, n_src=3)
    dataset = MixtureDataset([two, three], (2, 3), RATE, train=False)
    assert len(dataset) == 5 and dataset.n_src == 3
    mixture, sources = dataset[0]
    assert sources.shape[0] == 3 and bool((sources[2] == 0).all())
    torch.testing.assert_close(sources.sum(0), mixture, atol=1e-5, rtol=0)
    mixture, sources = dataset[4]
    assert sources.shape[0] == 3 and all(float(s.abs().max()) > 0 for s in sources)
    cropped = MixtureDataset([two, three], (2, 3), RATE, segment=0.5, seed=1)
    assert cropped[1][1].shape == (3, 4000) and bool((cropped[1][1][2] == 0).all())
    with pytest.raises(ValueError, match="has 3 sources, outside n_src=\\[1, 2\\]"):
        MixtureDataset([two, three], (1, 2), RATE)
    with pytest.raises(ValueError, match="has 2 sources but n_src=3"):
        MixtureDataset([two, three], 3, RATE)
