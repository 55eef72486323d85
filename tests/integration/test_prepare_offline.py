"""``voxsep prepare offline`` on the tiny session corpus (tests/conftest.py): layout, splits,
mixing rule, the real-voice test/valid sets, resume after interruption, refusal to
overwrite, missing Debian packages; and the speaker table itself (splits by group,
held-out real voices, Fish Fillets line labels) without building anything."""

from __future__ import annotations

import csv
import hashlib
import shutil
from pathlib import Path

import numpy as np
import pytest

from voxsep.core.audio import read_audio
from voxsep.data.manifest import load_manifest
from voxsep_corpus import offline
from voxsep_corpus.common import MissingPackageError
from voxsep_corpus.levels import mix_at_levels
from voxsep_corpus.voices.asterisk import ASTERISK_ROOT
from voxsep_corpus.voices.clips import _load_prompt
from voxsep_corpus.voices.common import MALE_F0_HZ, median_f0, remove_rumble
from voxsep_corpus.voices.fillets import (
    FILLETS_ROOT,
    fillets_lines,
    parse_fillets_dialogs,
)
from voxsep_corpus.voices.klettres import KLETTRES_ROOT
from voxsep_corpus.voices.speakers import SPEAKERS, speaker_clips

QUANTUM = 1.0 / 32768  # PCM_16 step


def _rows(path: Path) -> list[dict[str, str]]:
    with open(path, newline="") as handle:
        return list(csv.DictReader(handle))


def _drop_voices(build: Path, names: set[str]) -> None:
    """Make ``build`` look like a build made before the voices ``names`` existed: their
    utterance folders and ``speakers.csv`` rows removed (``utterances_train.csv`` rows begin
    with the utterance id and stay; the extension rewrites that list speaker by speaker)."""
    for name in names:
        shutil.rmtree(build / "wav8k" / "speech" / name)
    for table in (build / "speakers.csv", build / "wav8k" / "utterances_train.csv"):
        lines = table.read_text().splitlines(keepends=True)
        table.write_text("".join(line for line in lines if line.split(",")[0] not in names))


def _digest(root: Path) -> dict[str, str]:
    return {p.relative_to(root).as_posix(): hashlib.sha1(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file() and p.name != "README.md"}


def test_layout_and_speaker_disjoint_splits(offline_corpus, speech_pool, mix2_manifests):
    speakers = {r["speaker"]: r for r in _rows(offline_corpus / "speakers.csv")}
    assert list(_rows(offline_corpus / "speakers.csv")[0]) == ["speaker", "sex", "kind", "split", "group", "engine",
                                                               "description"]
    split_of = {}
    for split in ("train", "valid", "test"):
        rows = _rows(offline_corpus / "wav8k" / f"utterances_{split}.csv")
        assert list(rows[0]) == ["utterance_id", "speaker", "path", "length", "sample_rate"]
        for row in rows:
            assert speakers[row["speaker"]]["split"] == split
            assert (offline_corpus / "wav8k" / row["path"]).is_file()
            assert int(row["sample_rate"]) == 8000
            split_of[row["utterance_id"]] = split
    # Every speaker group (a person and the voices derived from it) sits in one split.
    groups: dict[str, set[str]] = {}
    for s in SPEAKERS:
        groups.setdefault(s.group, set()).add(speakers[s.name]["split"])
    assert all(len(splits) == 1 for splits in groups.values()), groups
    # The test split holds real female and male voices and synthetic male voices.
    test = [r for r in speakers.values() if r["split"] == "test"]
    assert any(r["kind"] == "real" and r["engine"] != "derived" and r["sex"] == "F" for r in test)
    assert any(r["kind"] == "real" and r["engine"] != "derived" and r["sex"] == "M" for r in test)
    assert any(r["kind"] == "synthetic" and r["sex"] == "M" for r in test)
    assert set(speech_pool) == {s for s, r in speakers.items() if r["split"] == "train"}
    # Mixtures only use utterances of their split, from different speaker groups.
    group_of = {s.name: s.group for s in SPEAKERS}
    for n_src in (2, 3):
        for split in ("train", "valid", "test"):
            records = load_manifest(offline_corpus / "wav8k" / f"{n_src}speakers" / f"{split}.csv")
            assert len(records) == offline.TINY[f"n_{split}_mixtures"]
            lines = (offline_corpus / "wav8k" / f"{n_src}speakers" / f"mix_{n_src}_spk_{split}.txt").read_text()
            for line in lines.splitlines():
                utterances = [Path(p).stem for p in line.split()[0::2]]
                assert len(utterances) == n_src
                assert {split_of[u] for u in utterances} == {split}
                assert len({group_of[u.rsplit("-", 1)[0]] for u in utterances}) == n_src
    assert mix2_manifests["test"].is_file() and len(load_manifest(mix2_manifests["test"])) == 4
    readme = (offline_corpus / "README.md").read_text()
    for phrase in ("real", "synthetic", "No noise", "CC BY-SA", "GPL", "demos"):
        assert phrase in readme


@pytest.mark.parametrize("n_src,name", [(2, "test"), (3, "test"), (2, "test_real"), (1, "test_real")])
def test_mixtures_follow_the_mixing_list(offline_corpus, n_src, name):
    set_dir = offline_corpus / "wav8k" / ("1speaker" if n_src == 1 else f"{n_src}speakers")
    lines = (set_dir / f"mix_{n_src}_spk_{name}.txt").read_text().splitlines()
    records = {r.mixture_id: r for r in load_manifest(set_dir / f"{name}.csv")}
    assert len(lines) == len(records) > 0
    for line in lines:
        fields = line.split()
        paths, gains = fields[0::2], [float(g) for g in fields[1::2]]
        name = "_".join(f"{Path(p).stem}_{g}" for p, g in zip(paths, fields[1::2]))
        record = records[name]
        mixture = read_audio(record.mixture_path)[0][0]
        sources = np.stack([read_audio(p)[0][0] for p in record.source_paths])
        assert sources.shape == (n_src, mixture.size) == (n_src, record.length)
        # The sources sum to the mixture (up to PCM_16 rounding of each file).
        assert np.abs(sources.sum(axis=0) - mixture).max() <= (n_src + 1) * QUANTUM
        assert max(np.abs(mixture).max(), np.abs(sources).max()) == pytest.approx(0.9, abs=2 * QUANTUM)
        # Remixing the utterances with the list's gains reproduces the files.
        utterances = [read_audio(set_dir.parent / p)[0][0] for p in paths]
        expected_mix, expected_sources = mix_at_levels(utterances, gains, 8000, mode="min")
        assert np.abs(expected_sources - sources).max() <= QUANTUM
        assert np.abs(expected_mix - mixture).max() <= QUANTUM
        if n_src == 2:
            assert gains[0] == -gains[1] and abs(gains[0]) <= offline.GAIN_DB
        if n_src == 1:  # the mixture is the talker's utterance, at peak 0.9
            assert gains == [0.0] and np.abs(mixture - sources[0]).max() <= QUANTUM


def test_resume_after_interruption_gives_identical_files(offline_corpus, tmp_path, monkeypatch):
    copy = tmp_path / "corpus"
    shutil.copytree(offline_corpus, copy)
    before = _digest(copy)
    # Simulate a run killed midway: files of the last steps missing, a stale temp file left.
    speech = sorted((copy / "wav8k" / "speech").rglob("*.wav"))
    for path in speech[::7]:
        path.unlink()
    mixes = sorted((copy / "wav8k" / "2speakers" / "train" / "mix").glob("*.wav"))
    for path in mixes[:3]:
        path.unlink()
    (copy / "wav8k" / "2speakers" / "train" / "s1" / mixes[4].name).unlink()
    (copy / "wav8k" / "2speakers" / "train.csv").unlink()
    (copy / "wav8k" / "2speakers" / "train" / "mix" / ".stale.wav.tmp").write_bytes(b"partial")
    # First resume is interrupted again, inside the mixing step.
    real_mix = offline._make_mixtures

    def interrupted(task):
        raise KeyboardInterrupt

    monkeypatch.setattr(offline, "_make_mixtures", interrupted)
    with pytest.raises(KeyboardInterrupt):
        offline.build_offline(copy, tiny=True, jobs=1)
    monkeypatch.setattr(offline, "_make_mixtures", real_mix)
    offline.build_offline(copy, tiny=True, jobs=1)
    (copy / "wav8k" / "2speakers" / "train" / "mix" / ".stale.wav.tmp").unlink()
    assert _digest(copy) == before


def test_refuses_other_settings_and_foreign_folders(offline_corpus, tmp_path, capsys):
    copy = tmp_path / "corpus"
    shutil.copytree(offline_corpus, copy)
    with pytest.raises(FileExistsError, match="seed.*overwrite=True"):
        offline.build_offline(copy, tiny=True, seed=1)
    foreign = tmp_path / "foreign"
    foreign.mkdir()
    (foreign / "notes.txt").write_text("mine")
    with pytest.raises(FileExistsError, match="not written by voxsep"):
        offline.build_offline(foreign, tiny=True, overwrite=True)
    assert (foreign / "notes.txt").read_text() == "mine"
    from voxsep.cli import main

    assert main(["prepare", "offline", str(copy), "--tiny", "--seed", "3"]) == 2
    assert "voxsep prepare: error:" in (err := capsys.readouterr().err) and "--overwrite" in err


def test_missing_debian_package_prints_apt_line(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr("voxsep_corpus.voices.asterisk.ASTERISK_ROOT", tmp_path / "no-asterisk")
    with pytest.raises(MissingPackageError) as info:
        offline.check_packages(8000)
    message = str(info.value)
    assert "apt-get install -y asterisk-core-sounds-en-wav asterisk-core-sounds-es-wav asterisk-core-sounds-fr-wav " \
           "asterisk-core-sounds-it-wav asterisk-core-sounds-ru-wav asterisk-prompt-es-co asterisk-prompt-fr-armelle " \
           "asterisk-prompt-it-menardi-wav\n" in message + "\n"
    assert "espeak-ng" not in message.split("Install")[0]  # only the missing ones are named
    from voxsep.cli import main

    assert main(["prepare", "offline", str(tmp_path / "out"), "--tiny"]) == 2
    assert "apt-get install -y asterisk-core-sounds-en-wav" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()  # nothing written


def test_help_has_examples(capsys):
    from voxsep.cli import main

    with pytest.raises(SystemExit):
        main(["prepare", "offline", "--help"])
    out = capsys.readouterr().out
    assert "examples:" in out and "--tiny" in out and "--jobs" in out


def test_16k_uses_wideband_g722_prompts():
    def high_band_share(signal: np.ndarray) -> float:
        spectrum = np.abs(np.fft.rfft(signal)) ** 2
        frequencies = np.fft.rfftfreq(signal.size, 1 / 16000)
        return spectrum[frequencies > 4500].sum() / spectrum.sum()

    english = _load_prompt(ASTERISK_ROOT / "en_US_f_Allison" / "privacy-prompt.wav", 16000)
    french = _load_prompt(ASTERISK_ROOT / "fr_CA_f_June" / "privacy-prompt.wav", 16000)
    assert english.size == pytest.approx(2 * read_audio(ASTERISK_ROOT / "en_US_f_Allison"
                                                        / "privacy-prompt.wav")[0].shape[-1], abs=2)
    assert high_band_share(english) > 1e-4 > high_band_share(french) * 10  # G.722 is wideband, the 8 kHz wav not


def test_missing_game_and_klettres_packages_are_named(tmp_path, monkeypatch):
    monkeypatch.setattr("voxsep_corpus.voices.fillets.FILLETS_ROOT", tmp_path / "no-fillets")
    monkeypatch.setattr("voxsep_corpus.voices.klettres.KLETTRES_ROOT", tmp_path / "no-klettres")
    monkeypatch.setattr("voxsep_corpus.voices.ktuberling.KTUBERLING_ROOT", tmp_path / "no-ktuberling")
    monkeypatch.setattr("voxsep_corpus.voices.tuxpaint.TUXPAINT_ROOT", tmp_path / "no-tuxpaint")
    monkeypatch.setattr("voxsep_corpus.voices.drascula.DRASCULA_ROOT", tmp_path / "no-drascula")
    monkeypatch.setattr("voxsep_corpus.voices.queen.FOTAQ_DATA", tmp_path / "no-fotaq" / "queen.1c")
    monkeypatch.setattr("voxsep_corpus.voices.kajongg.KAJONGG_ROOT", tmp_path / "no-kajongg")
    with pytest.raises(MissingPackageError) as info:
        offline.check_packages(8000)
    assert ("apt-get install -y drascula drascula-spanish fillets-ng-data fillets-ng-data-cs fillets-ng-data-nl "
            "flight-of-the-amazon-queen kajongg klettres-data ktuberling-data tuxpaint-stamps-default"
            in str(info.value))


# --------------------------------------------------------------------------- the speaker table
def test_speaker_table_splits_by_group_and_holds_out_real_voices():
    speakers = SPEAKERS
    by_name = {s.name: s for s in speakers}
    assert len(by_name) == len(speakers)
    split_of_group: dict[str, set[str]] = {}
    for s in speakers:
        split_of_group.setdefault(s.group, set()).add(s.split)
        assert s.split in offline.SPLITS and s.sex in ("F", "M") and s.kind in ("real", "synthetic")
        if s.kind == "real":
            assert s.package, s.name
        if s.engine == "derived":  # a copy stays with its origin and is not a human voice
            origin = by_name[s.voice]
            assert origin.human and (s.group, s.split, s.sex) == (origin.group, origin.split, origin.sex)
            assert not s.human
    assert all(len(splits) == 1 for splits in split_of_group.values()), split_of_group
    # At least 8 held-out human voices (one group each), at least 3 of each sex.
    test = [s for s in speakers if s.split == "test" and s.human]
    assert len({s.group for s in test}) == len(test) >= 8
    assert sum(s.sex == "M" for s in test) >= 3 and sum(s.sex == "F" for s in test) >= 3
    valid = [s for s in speakers if s.split == "valid" and s.human]
    assert len({s.group for s in valid}) >= 3 and {s.sex for s in valid} == {"F", "M"}
    # Training: most real human voices, and real voices are most of the training speakers.
    train = [s for s in speakers if s.split == "train"]
    humans = [s for s in speakers if s.human]
    assert sum(s.human for s in train) > len(humans) / 2
    assert sum(s.kind == "real" for s in train) > 2 * sum(s.kind == "synthetic" for s in train)
    assert {"fillets", "klettres", "asterisk"} <= {s.engine for s in train if s.human}
    # Sex of the voices labelled by pitch agrees with the measured median F0.
    for s in humans:
        if s.engine in ("fillets", "klettres", "tuxpaint"):
            assert (s.f0 < MALE_F0_HZ) == (s.sex == "M"), s


def test_parse_fillets_dialogs():
    script = '''
-- Init
dialogId("let-m-divna", "font_small", "What kind of strange ship is that?")
dialogStr("Co je to za divnou loď?")

dialogId("let-v-vrak0", "font_big", "This is the wreck of the civilian airplane LC-10 Lemura.")
    dialogId( "vit-hs-vitejteA" ,  "font_statue", "Welcome, \\"friends\\"...")
dialogId("bar-x-gr0", "", "")
-- dialogId("commented-out", "font_parrot", "Hello")
local x = dialogId("not-at-line-start", "font_big")
'''
    assert parse_fillets_dialogs(script) == {
        "let-m-divna": "small", "let-v-vrak0": "big", "vit-hs-vitejteA": "statue", "bar-x-gr0": ""}


def test_fillets_speakers_use_labelled_lines_only():
    from voxsep.core.audio import audio_info

    fillets = [s for s in SPEAKERS if s.engine == "fillets"]
    assert {s.voice for s in fillets} >= {"cs:small", "cs:big", "nl:small", "nl:big"}
    seen: set[Path] = set()
    for s in fillets:
        clips = speaker_clips(s)
        assert clips and not seen & set(clips), s.name  # no line is given to two speakers
        seen |= set(clips)
        language = s.voice.split(":")[0]
        characters = set(s.voice.split(":")[1].split("@")[0].split("+"))
        lines = fillets_lines(language, FILLETS_ROOT)
        for clip in clips:
            assert clip.parent.name == language and lines[(clip.parent.parent.name, clip.stem)] in characters
        infos = [audio_info(c) for c in clips]
        assert all(info.frames > 0 for info in infos)  # fillets-ng-data-nl has two empty files
        seconds = sum(info.duration for info in infos)
        assert seconds >= (30 * 60 if s.scale > 1 else 30), (s.name, seconds)
    # Processed voices (robot dog, parrot) are not used.
    excluded = {p for p in (FILLETS_ROOT / "sound").glob("*/cs/*.ogg")
                if fillets_lines("cs", FILLETS_ROOT).get((p.parent.parent.name, p.stem))
                in ("robodog", "parrot")}
    assert excluded and not excluded & seen


def test_gsm_prompts_decode_and_median_f0_tells_the_sexes_apart():
    from voxsep.core.audio import audio_info

    path = ASTERISK_ROOT / "fr" / "agent-pass.gsm"
    audio = _load_prompt(path, 8000)
    assert audio.size == audio_info(path).frames and 0.05 < np.abs(audio).max() <= 1.0
    assert _load_prompt(path, 16000).size == 2 * audio.size
    t = np.arange(8000) / 8000
    tone = sum(np.sin(2 * np.pi * 120 * k * t) / k for k in range(1, 6))
    assert median_f0(tone, 8000) == pytest.approx(120, rel=0.02)
    assert np.isnan(median_f0(np.zeros(8000), 8000))
    female = [remove_rumble(_load_prompt(p, 8000), 8000)
              for p in sorted((KLETTRES_ROOT / "uk" / "alpha").glob("*.ogg"))[:6]]
    male = [remove_rumble(_load_prompt(p, 8000), 8000)
            for p in sorted((KLETTRES_ROOT / "hu" / "alpha").glob("*.ogg"))[:6]]
    assert median_f0(np.concatenate(male), 8000) < MALE_F0_HZ < \
        median_f0(np.concatenate(female), 8000)


def test_real_sets_mix_two_heldout_human_voices(offline_corpus):
    speakers = {r["speaker"]: r for r in _rows(offline_corpus / "speakers.csv")}
    set_dir = offline_corpus / "wav8k" / "2speakers"
    for split in ("valid", "test"):
        records = load_manifest(set_dir / f"{split}_real.csv")
        assert len(records) == offline.TINY[f"n_{split}_mixtures"]
        groups = set()
        for line in (set_dir / f"mix_2_spk_{split}_real.txt").read_text().splitlines():
            talkers = [speakers[Path(p).stem.rsplit("-", 1)[0]] for p in line.split()[0::2]]
            assert len(talkers) == 2 and talkers[0]["group"] != talkers[1]["group"]
            for talker in talkers:
                assert talker["split"] == split and talker["kind"] == "real" and talker["engine"] != "derived"
            groups |= {t["group"] for t in talkers}
        assert len(groups) >= 2
        for record in records:
            assert record.mixture_path.is_file() and all(p.is_file() for p in record.source_paths)


def test_one_speaker_sets_hold_each_heldout_human_utterance_once(offline_corpus):
    speakers = {r["speaker"]: r for r in _rows(offline_corpus / "speakers.csv")}
    set_dir = offline_corpus / "wav8k" / "1speaker"
    for split in ("valid", "test"):
        records = load_manifest(set_dir / f"{split}_real.csv")
        assert len(records) == offline.TINY[f"n_{split}_mixtures"]
        assert all(r.n_src == 1 and r.mixture_path.is_file() and r.source_paths[0].is_file() for r in records)
        lines = (set_dir / f"mix_1_spk_{split}_real.txt").read_text().splitlines()
        utterances = [line.split()[0] for line in lines]
        assert len(set(utterances)) == len(utterances) == len(records)
        for path in utterances:
            talker = speakers[Path(path).stem.rsplit("-", 1)[0]]
            assert talker["split"] == split and talker["kind"] == "real" and talker["engine"] != "derived"


def test_complete_build_without_one_speaker_sets_gets_only_them(offline_corpus, tmp_path):
    """A build finished before the 1speaker sets existed (e.g. one a training run is
    reading): running the builder again adds them and leaves every other file alone."""
    copy = tmp_path / "corpus"
    shutil.copytree(offline_corpus, copy)
    before = _digest(copy)
    shutil.rmtree(copy / "wav8k" / "1speaker")
    others = {p: (p.stat().st_ino, p.stat().st_mtime_ns) for p in copy.rglob("*") if p.is_file()}
    stats = offline.build_offline(copy, tiny=True, jobs=1)
    assert "1-speaker test_real mixtures" in stats and "speech" not in stats
    assert _digest(copy) == before  # the same sets as a fresh build's
    assert {p: (p.stat().st_ino, p.stat().st_mtime_ns) for p in others} == others  # nothing else rewritten
    assert (copy / "README.md").read_text() == (offline_corpus / "README.md").read_text()


def test_complete_build_without_pool_voices_gets_only_them(offline_corpus, tmp_path):
    """A build finished before the pool-only voices (KTuberling, Tux Paint, Drascula, FOTAQ, Kajongg) existed:
    running the builder
    again makes their utterances and appends their speakers.csv/utterances_train.csv rows;
    the result equals a fresh build and no mixture set changes (none holds these voices)."""
    pool = {s.name for s in SPEAKERS if s.pool_only}
    assert pool
    copy = tmp_path / "corpus"
    shutil.copytree(offline_corpus, copy)
    before = _digest(copy)
    for mix in (copy / "wav8k").glob("*speaker*/*.csv"):
        assert not any(name.split("-")[0] in pool for row in _rows(mix) for name in [Path(row["mixture_path"]).stem])
    _drop_voices(copy, pool)
    kept = {p: (p.stat().st_ino, p.stat().st_mtime_ns) for p in copy.rglob("*") if p.is_file()
            and p.name not in ("speakers.csv", "utterances_train.csv", "README.md")}
    stats = offline.build_offline(copy, tiny=True, jobs=1)
    assert "voices added" in stats
    assert _digest(copy) == before  # the files of a fresh build
    assert {p: (p.stat().st_ino, p.stat().st_mtime_ns) for p in kept} == kept  # nothing else rewritten
    readme = (copy / "README.md").read_text()
    assert "ktuberling_gl" in readme and "tuxpaint_ro" in readme and "tuxpaint-stamps-default" in readme
    assert "pool-only voices added to this build: ktuberling_de" in readme
    # Only the voices after the KTuberling ones missing (a build extended with those): they
    # are added, and the README keeps the record of the earlier extension.
    first_tux = next(i for i, s in enumerate(SPEAKERS) if s.engine == "tuxpaint")
    tux = {s.name for s in SPEAKERS[first_tux:]}
    assert {"tuxpaint", "drascula", "fotaq", "kajongg"} == {s.engine for s in SPEAKERS[first_tux:]}
    assert tux < pool
    _drop_voices(copy, tux)
    stats = offline.build_offline(copy, tiny=True, jobs=1)
    assert stats["voices added"].startswith("tuxpaint_") and "drascula_es_hacker" in stats["voices added"]
    assert "ktuberling" not in stats["voices added"]
    assert _digest(copy) == before
    readme = (copy / "README.md").read_text()
    assert "pool-only voices added to this build: ktuberling_de" in readme and "; then tuxpaint_ro" in readme
    # Only the Kajongg voices missing (a build extended up to the FOTAQ voices, as this session's was).
    kajongg = {s.name for s in SPEAKERS if s.engine == "kajongg"}
    _drop_voices(copy, kajongg)
    stats = offline.build_offline(copy, tiny=True, jobs=1)
    assert stats["voices added"].startswith("kajongg_en_de_female1 (3 utterances)") and "fotaq" not in \
        stats["voices added"]
    assert _digest(copy) == before
    readme = (copy / "README.md").read_text()
    assert "; then kajongg_en_de_female1, kajongg_en_de_female2, kajongg_de_male2 in" in readme
    assert "`kajongg` - Kajongg voices" in readme and "en/male1+de/male1" in readme


def test_room_sets_are_the_real_mixtures_in_rooms_with_heldout_babble_and_noise(offline_corpus, tmp_path):
    """The room twin of each real-voice set: same mixtures (IDs, lengths), reverberant
    targets, a background 0-15 dB below the louder talker; deterministic on rebuild."""
    import numpy as np

    from voxsep.core.audio import active_rms, read_audio
    from voxsep_corpus import rooms

    rate_dir = offline_corpus / "wav8k"
    for split in ("valid", "test"):
        real = load_manifest(rate_dir / "2speakers" / f"{split}_real.csv")
        room = load_manifest(rooms.room_manifest(rate_dir, split))
        assert [r.mixture_id for r in room] == [r.mixture_id for r in real]
        for dry, wet in zip(real, room):
            mixture = read_audio(wet.mixture_path)[0][0]
            sources = np.stack([read_audio(p)[0][0] for p in wet.source_paths])
            clean = np.stack([read_audio(p)[0][0] for p in dry.source_paths])
            assert mixture.shape[-1] == clean.shape[-1] == wet.length
            background = mixture - sources.sum(0)
            snr = 20 * np.log10(max(active_rms(s, 8000) for s in sources) / active_rms(background, 8000))
            assert -0.5 <= snr <= 15.5, snr
            # reverberant: a target is not a scaled copy of its dry source
            for image, source in zip(sources, clean):
                assert abs(np.dot(image, source)) / (np.linalg.norm(image) * np.linalg.norm(source)) < 0.99
    rows = _rows(rooms.noise_list(rate_dir, "colobot"))
    assert rows and all(r["speaker"] == "colobot" for r in rows)
    assert all(r["speaker"] == "lincity" for r in _rows(rooms.noise_list(rate_dir, "lincity")))
    # a rebuild of one set writes the same files
    copy = tmp_path / "wav8k"
    shutil.copytree(rate_dir, copy)
    shutil.rmtree(copy / "2speakers" / "test_room")
    rooms.build_room_set(copy, "test", 0, 8000)
    first = load_manifest(rooms.room_manifest(rate_dir, "test"))[0]
    again = load_manifest(rooms.room_manifest(copy, "test"))[0]
    assert first.mixture_path.read_bytes() == again.mixture_path.read_bytes()
