"""``voxsep prepare offline``: a speech-separation corpus built from Debian packages only.


* **real** — recorded human voices, one *group* per person:

  - the professional voices of the asterisk prompt packages (8 kHz wav; the English
    prompts also as 16 kHz G.722, decoded with the ``G722`` package for 16 kHz builds;
    ``asterisk-prompt-es-co`` (July Jiménez) and ``asterisk-prompt-fr-armelle`` (Armelle
    Desjardins) as headerless 8 kHz GSM 6.10, read by libsndfile). The ``en`` and ``es``
    Allison folders are the same person and count as one speaker;
  - the acted dialogue of the game Fish Fillets NG (``fillets-ng-data-cs``/``-nl``, Ogg
    Vorbis), speaker of each line from the game's Lua scripts (``fillets-ng-data``):
    the two fish of the Czech and of the Dutch dubbing (four actors) and three Czech
    minor characters. Which minor characters were dropped, and why, is in
    ``_FILLETS_EXCLUDED``; the kept minor characters share the group of the Czech main
    actor of their sex (the cast is not credited, so they may be the same person);
  - the letters and syllables of KLettres (``klettres-data``), one native speaker per
    language folder, clips concatenated into utterances (``_KLETTRES``);
  - the spoken words of KTuberling (``ktuberling-data``), one KDE volunteer per language
    folder (Catalan: a female and a male voice, told apart by the game's sound theme),
    clips concatenated like KLettres ones (``_KTUBERLING``);
  - the spoken stamp descriptions of Tux Paint (``tuxpaint-stamps-default``), one adult
    volunteer per language, clips concatenated likewise (``_TUXPAINT``); a language whose
    voice has the language and sex of a held-out voice is left out;
  - the acted lines of the game Drascula (``drascula``, ``drascula-spanish``): the
    characters of the English and of the Spanish dubbing, one voice per character and
    dub (``_DRASCULA``), from the file-name prefix of the raw 8-bit 11025 Hz ``.ALS``
    lines (mostly men);
  - the spoken lines of the game Flight of the Amazon Queen (``flight-of-the-amazon-queen``,
    MP3 inside the game's ``queen.1c``): one voice per credited actor (the lead, Joe, and
    10 others, each the characters the game's credits give that actor), speaker of each
    line from its resource name (``_FOTAQ``);
  - the tile names and calls of the game Kajongg (``kajongg``), English and German folders
    of four voices each, an English and a German folder that may be one person (same sex,
    median F0 within 1.5 semitones) joined into one voice, clips concatenated like KLettres
    ones (``_KAJONGG``); English men are left out (held-out klettres_en).

  The KTuberling, Tux Paint, Drascula, FOTAQ and Kajongg voices are training-only and *pool-only*: in
  ``utterances_train.csv`` (dynamic mixing) but in no precomputed mixture set, so the
  fixed mixture sets are those of a build made before them.

  An utterance is ~4.5–7 s of consecutive prompts/lines/clips of one speaker with short
  pauses. Sex: from the asterisk folder names, else from the median F0 measured with
  :func:`median_f0` (< 165 Hz: male), listed in the tables.
* **derived** (``kind=real``, ``engine=derived``) — some real training voices (and the
  original asterisk ones) sped down (x0.8: lower pitch and formants) and up (x1.18) by
  resampling; a derived speaker shares its origin's group and split.
* **synthetic** — espeak-ng voice variants, flite (kal16, awb, rms, slt) and festival
  (kal, ked, slt HTS) speaking generated English sentences. flite ``kal16`` and festival
  ``kal`` are one speaker's recordings, as are flite ``slt`` and festival ``slt``; each
  such pair is one group.

Splits are fixed by speaker group and disjoint (no person in two splits). The test
split holds 8 real human voices (4 female, 4 male: Dutch fish actors, asterisk Russian
and French prompt voices, KLettres Ukrainian, Hungarian, Lithuanian and English), the
asterisk Russian voice's derived copies and synthetic male and female voices; valid
holds 4 real voices; training gets the other 19 real voices (real voices, with their
derived copies, are 31 of the 44 training speakers of the mixture sets) and, in the
dynamic-mixing pool only (``utterances_train.csv``), 7 KTuberling, 8 Tux Paint, 14 Drascula,
11 FOTAQ and 3 Kajongg voices.
``test_real.csv`` and ``valid_real.csv`` mix only two held-out *human* voices (no derived
or synthetic speaker) of different groups: the real-voice benchmark of the bundled model.
``1speaker/{valid,test}_real.csv`` hold one held-out human utterance each (the mixture
is its only source, at the same level rule; each utterance at most once), to score
talker counting on one-talker recordings. Run on a complete build made before these
sets existed, ``build_offline`` adds only them (nothing else is rewritten); run on a
complete build made before the KTuberling, Tux Paint, Drascula, FOTAQ or Kajongg voices existed,
it makes their utterances, appends them to ``speakers.csv`` and ``utterances_train.csv``
and rewrites the README (every other file is left alone).

Mixtures follow wsj0-2mix: each utterance normalised to 0 dB ITU-T P.56 active level,
weighted by ``10 ** (g / 20)`` with ``g`` uniform in [-2.5, 2.5] dB (a relative gain of
up to ±5 dB between two talkers), cut to the shortest (``min``), scaled so the largest
peak is 0.9 (see :func:`voxsep_corpus.levels.mix_at_levels`).

Layout (``OUT/wav8k`` or ``OUT/wav16k``)::

    README.md  speakers.csv  voxsep_prepare.json
    wav8k/speech/<speaker>/<utterance_id>.wav
    wav8k/utterances_{train,valid,test}.csv       utterance_id,speaker,path,length,sample_rate
    wav8k/{2speakers,3speakers}/{train,valid,test}/{mix,s1,s2[,s3]}/<name>.wav
    wav8k/{2speakers,3speakers}/{train,valid,test}.csv     LibriMix-format manifests
    wav8k/{2speakers,3speakers}/mix_{2,3}_spk_{split}.txt  wsj0-mix style mixing lists
    wav8k/2speakers/{valid,test}_real/{mix,s1,s2}/<name>.wav   two held-out human voices
    wav8k/2speakers/{valid,test}_real.csv, mix_2_spk_{valid,test}_real.txt
    wav8k/1speaker/{valid,test}_real/{mix,s1}/<name>.wav       one held-out human voice
    wav8k/1speaker/{valid,test}_real.csv, mix_1_spk_{valid,test}_real.txt
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from voxsep.core.errors import advised
from voxsep_corpus import rooms
from voxsep_corpus.voices.clips import _load_prompt
from voxsep_corpus.voices.common import MALE_F0_HZ, Speaker, remove_rumble, trim_silence
from voxsep_corpus.voices.klettres import KLETTRES_PASSES
from voxsep_corpus.voices.registry import SOURCES, in_readme_order, recorded_sources, source_of
from voxsep_corpus.voices.speakers import SPEAKERS, speaker_clips

# What a voice source needs (its table, clips, packages, README lines) is its declaration
# in voxsep_corpus.voices (registry.SOURCES); this module is the build.
__all__ = [
    "DEFAULTS", "FORMAT_VERSION", "GAIN_DB", "REAL_SETS", "SPEAKERS", "SPLITS", "TINY", "UTTERANCE_SECONDS",
    "build_offline", "check_packages", "mixture_name", "plan_mixtures", "required_packages",
]

SPLITS = ("train", "valid", "test")
FORMAT_VERSION = 3  # bump when the generated audio changes, so old partial builds are not resumed
DEFAULTS = {"utterances_per_speaker": 120, "n_train_mixtures": 5000, "n_valid_mixtures": 500,
            "n_test_mixtures": 500}
TINY = {"utterances_per_speaker": 3, "n_train_mixtures": 12, "n_valid_mixtures": 4, "n_test_mixtures": 4}
UTTERANCE_SECONDS = (4.5, 7.0)  # planned from untrimmed prompts; min-mode mixtures of ~4-6 s
GAIN_DB = 2.5


# --------------------------------------------------------------------------- packages
def required_packages(sample_rate: int) -> dict[str, Path]:
    """Debian package -> a path it installs, for everything the build reads."""
    needs: dict[str, Path] = {}
    for source in SOURCES:
        needs.update(source.packages(sample_rate))
    needs.update({package: folder for package, folder, _ in rooms.NOISE_SOURCES.values()})
    return needs


def check_packages(sample_rate: int) -> None:
    """Raise :class:`MissingPackageError` with the exact ``apt-get install`` line if anything is missing."""
    from voxsep_corpus.common import MissingPackageError, apt_install_line

    # The GSM prompt packages install straight into sounds/es and sounds/fr; there a symlink
    # is the asterisk-core-sounds-{es,fr} alternative (Allison, June): not the voice wanted.
    missing = [package for package, path in required_packages(sample_rate).items()
               if not path.exists() or (path.suffix == ".gsm" and path.parent.is_symlink())]
    if missing:
        raise MissingPackageError(f"the offline corpus needs Debian package(s) that are not installed: "
                                  f"{', '.join(sorted(missing))}. Install them with:\n  {apt_install_line(missing)}")
    if sample_rate > 8000:
        try:
            import G722  # noqa: F401
        except ImportError as error:
            raise MissingPackageError("16 kHz builds decode the G.722 prompts with the PyPI package G722: "
                                      "pip install G722") from error



def _vary_channel_and_level(signal: np.ndarray, rng: np.random.Generator, sample_rate: int) -> np.ndarray:
    """Random channel colouration and level, so talkers do not all sound like one studio.

    The colouration is a first-order FIR ``y[n] = x[n] + a x[n-1]``, ``a`` uniform in
    [-0.3, 0.3]: a spectral tilt of up to ±5.4 dB between DC and Nyquist. The level is a
    random active level in [-28, -20] dBFS, with the peak kept below 0.95.
    """
    from scipy.signal import lfilter

    from voxsep_corpus.levels import normalise_active_level

    coloured = lfilter([1.0, rng.uniform(-0.3, 0.3)], [1.0], np.asarray(signal, dtype=np.float64))
    out = normalise_active_level(coloured, sample_rate) * 10 ** (rng.uniform(-28.0, -20.0) / 20)
    peak = np.abs(out).max()
    if peak > 0.95:
        out *= 0.95 / peak
    return out.astype(np.float32)


# --------------------------------------------------------------------------- utterances
def _speaker_rng(seed: int, speaker_index: int, *more: int) -> np.random.Generator:
    return np.random.default_rng([seed, 1000 + speaker_index, *more])


def _utterance_path(speech_dir: Path, speaker: str, index: int) -> tuple[str, Path]:
    utterance_id = f"{speaker}-{index:04d}"
    return utterance_id, speech_dir / speaker / f"{utterance_id}.wav"


def _plan_utterances(n_clips: int, duration: Callable[[int], float], count: int, seed: int, index: int,
                     passes: int = 1) -> list[list[int]]:
    """Group clips (indices) into ``count`` utterances of ~``UTTERANCE_SECONDS`` (fewer if the clips run out).

    Clips are visited in random order (``passes`` successive permutations; a clip is not
    repeated within an utterance). ``duration(i)`` is clip ``i``'s length plus its pause.
    The plan of utterance k does not depend on ``count``, so a resumed build (same
    settings) plans every utterance as the first run did.
    """
    order = [int(p) for k in range(passes)
             for p in _speaker_rng(seed, index, 2, *([k] if k else [])).permutation(n_clips)]
    plan: list[list[int]] = []
    current: list[int] = []
    seconds = 0.0
    target = _speaker_rng(seed, index, 3, 0).uniform(*UTTERANCE_SECONDS)
    for p in order:
        if len(plan) == count:
            break
        if p in current:
            continue
        length = duration(p)
        if length > UTTERANCE_SECONDS[1] + 0.5:
            continue  # longer than an utterance on its own (menus, long announcements)
        if current and seconds + length > UTTERANCE_SECONDS[1] + 0.5:
            if seconds < UTTERANCE_SECONDS[0]:
                continue  # would overshoot, and the utterance is still short: try the next clip
            plan.append(current)  # long enough: close it and start the next with this clip
            current, seconds = [], 0.0
            target = _speaker_rng(seed, index, 3, len(plan)).uniform(*UTTERANCE_SECONDS)
            if len(plan) == count:
                break
        current.append(p)
        seconds += length
        if seconds >= target:
            plan.append(current)
            current, seconds = [], 0.0
            target = _speaker_rng(seed, index, 3, len(plan)).uniform(*UTTERANCE_SECONDS)
    return plan


def _make_speaker(task: dict[str, Any]) -> list[tuple[str, str, str, int, int]]:
    """Build (or find) the utterances of one speaker; returns utterance-list rows (paths as str)."""
    from voxsep.core.audio import audio_info, resample, write_audio
    from voxsep_corpus.tts import make_sentence_text, synthesize

    speaker: Speaker = task["speaker"]
    index, seed, sample_rate = task["index"], task["seed"], task["sample_rate"]
    count = task["count"] * speaker.scale
    speech_dir = Path(task["speech_dir"])
    targets = [_utterance_path(speech_dir, speaker.name, k) for k in range(count)]
    todo = [k for k, (_, path) in enumerate(targets) if not path.exists()]

    origin = speaker if speaker.engine != "derived" else next(s for s in SPEAKERS if s.name == speaker.voice)
    source = source_of(origin.engine)
    if todo and source.recorded:
        clips = speaker_clips(origin)
        factor = speaker.factor
        keep = source.short_clips  # short clips, reused: keep decoded
        decoded: dict[int, np.ndarray] = {}
        lengths: dict[int, int] = {}

        def load(i: int) -> np.ndarray:
            if i in decoded:
                return decoded[i]
            # KLettres (KTuberling, Tux Paint, Kajongg) clips: a noise floor ~40 dB below the word (hiss,
            # hum) -> trim at -30 dB.
            signal = trim_silence(remove_rumble(_load_prompt(clips[i], sample_rate), sample_rate), sample_rate,
                                  threshold_db=-30.0 if keep else -40.0)
            lengths[i] = signal.size
            if keep:
                decoded[i] = signal
            return signal

        def seconds(i: int) -> float:
            if i not in lengths:
                load(i)
            return lengths[i] / sample_rate / factor + 0.25  # + the mean pause

        if source.plan_from_headers:
            # Prompts are mostly speech: plan from header lengths (cheap).
            plan = _plan_utterances(len(clips), lambda i: audio_info(clips[i]).duration / factor + 0.25, count,
                                    seed, index)
        else:
            # Game lines (the Dutch ones ~20% silence) and letter clips (mostly silence): plan
            # from trimmed lengths, decoded lazily as far as the plan goes. KLettres clips are
            # reused in up to KLETTRES_PASSES utterances.
            plan = _plan_utterances(len(clips), seconds, count, seed, index, passes=KLETTRES_PASSES if keep else 1)
        for k in todo:
            if k >= len(plan):
                break  # this voice has no more clips; fewer utterances for it
            rng = _speaker_rng(seed, index, 4, k)
            pieces = []
            for i in plan[k]:
                pieces.append(load(i))
                pieces.append(np.zeros(int(rng.uniform(0.1, 0.4) * sample_rate), dtype=np.float32))
            signal = np.concatenate(pieces[:-1])
            if factor != 1.0:
                # Speed change by resampling: played back at the original rate, a signal
                # resampled to rate/factor is 1/factor longer with pitch and formants x factor.
                signal = resample(signal, sample_rate, int(round(sample_rate / factor)))
            write_audio(targets[k][1], _vary_channel_and_level(signal, rng, sample_rate), sample_rate, overwrite=True)
    elif todo:
        texts, stretches = [], []
        for k in todo:
            rng = _speaker_rng(seed, index, 5, k)
            texts.append(make_sentence_text(rng))
            stretches.append(float(rng.uniform(0.9, 1.1)))
        voices = synthesize(speaker.engine, speaker.voice, texts, stretches, pitch=speaker.pitch, rate=speaker.rate)
        for k, (signal, rate) in zip(todo, voices):
            rng = _speaker_rng(seed, index, 6, k)
            signal = trim_silence(resample(signal, rate, sample_rate), sample_rate)
            write_audio(targets[k][1], _vary_channel_and_level(signal, rng, sample_rate), sample_rate, overwrite=True)
    rows = []
    for utterance_id, path in targets:
        if path.exists():
            rows.append((utterance_id, speaker.name, str(path), audio_info(path).frames, sample_rate))
    return rows


# --------------------------------------------------------------------------- mixtures
def _gain_name(gain: float) -> str:
    text = f"{gain:.4f}".rstrip("0").rstrip(".")
    return "0" if text in ("-0", "") else text


def plan_mixtures(utterances: dict[str, list[tuple[str, Path]]], groups: dict[str, str], n_src: int,
                  count: int, rng: np.random.Generator) -> list[tuple[list[tuple[str, Path]], list[float]]]:
    """Draw ``count`` mixtures of ``n_src`` speakers from different groups.

    Args:
        utterances: speaker -> list of ``(utterance_id, path)``.
        groups: speaker -> group (speakers of a group are never mixed together).
        n_src: talkers per mixture.
        count: number of mixtures.
        rng: random generator.

    Returns:
        ``[(utterances [(id, path)] * n_src, gains_db [n_src]), ...]``; names are unique.

    Raises:
        ValueError: fewer than ``n_src`` speaker groups have utterances.
    """
    speakers = sorted(s for s, u in utterances.items() if u)
    if len({groups[s] for s in speakers}) < n_src:
        raise ValueError(f"need speakers from at least {n_src} groups to make {n_src}-speaker mixtures, "
                         f"have {speakers}")
    plans, names = [], set()
    attempts = 0
    while len(plans) < count and attempts < 20 * count + 100:
        attempts += 1
        chosen: list[str] = []
        for s in rng.permutation(speakers):
            if groups[s] not in {groups[c] for c in chosen}:
                chosen.append(str(s))
            if len(chosen) == n_src:
                break
        picked = [utterances[s][rng.integers(len(utterances[s]))] for s in chosen]
        if n_src == 1:
            gains = [0.0]  # one talker: the peak scaling sets the level
        elif n_src == 2:
            g = float(np.round(rng.uniform(-GAIN_DB, GAIN_DB), 4))
            gains = [g, -g]
        else:
            gains = [float(np.round(rng.uniform(-GAIN_DB, GAIN_DB), 4)) for _ in range(n_src)]
        name = "_".join(f"{u}_{_gain_name(g)}" for (u, _), g in zip(picked, gains))
        if name not in names:
            names.add(name)
            plans.append((picked, gains))
    return plans


def mixture_name(picked: Sequence[tuple[str, Path]], gains: Sequence[float]) -> str:
    """wsj0-mix style name ``<utt1>_<gain1>_<utt2>_<gain2>[...]`` (no extension)."""
    return "_".join(f"{u}_{_gain_name(g)}" for (u, _), g in zip(picked, gains))


def _make_mixtures(task: dict[str, Any]) -> list[dict[str, Any]]:
    """Write one chunk of mixtures (skipping complete ones); returns manifest rows."""
    from voxsep.core.audio import audio_info, read_audio, write_audio
    from voxsep_corpus.levels import mix_at_levels

    sample_rate, folder, n_src = task["sample_rate"], Path(task["folder"]), task["n_src"]
    rows = []
    for picked, gains in task["plans"]:
        name = mixture_name(picked, gains)
        mix_path = folder / "mix" / f"{name}.wav"
        source_paths = [folder / f"s{i + 1}" / f"{name}.wav" for i in range(n_src)]
        if not (mix_path.exists() and all(p.exists() for p in source_paths)):
            signals = [read_audio(path, sample_rate=sample_rate, channels=1)[0][0] for _, path in picked]
            mixture, sources = mix_at_levels(signals, gains, sample_rate, mode="min")
            for path, source in zip(source_paths, sources):
                write_audio(path, source, sample_rate, overwrite=True)
            write_audio(mix_path, mixture, sample_rate, overwrite=True)  # last: marks the mixture complete
        rows.append({"mixture_ID": name, "mixture_path": mix_path, "source_paths": source_paths,
                     "length": audio_info(mix_path).frames})
    return rows


REAL_SETS = ("valid", "test")  # splits with real-voice evaluation sets (<split>_real.csv)


def _heldout_humans(split: str) -> list[Speaker]:
    """The recorded human voices of a held-out split (no derived copy, no TTS)."""
    return [s for s in SPEAKERS if s.split == split and s.human]


def _one_speaker_manifest(rate_dir: Path, split: str) -> Path:
    return rate_dir / "1speaker" / f"{split}_real.csv"


def _mixture_set(rate_dir: Path, set_dir: Path, name: str, n: int,
                 rows_by_speaker: dict[str, list[tuple[str, str, str, int, int]]], speakers: Sequence[Speaker],
                 count: int, rng: np.random.Generator, sample_rate: int, jobs: int, stats: dict[str, Any]) -> None:
    """Plan, write (skipping finished mixtures) and list one mixture set ``set_dir/<name>``:
    ``set_dir/<name>/{mix,s1..}/``, ``set_dir/<name>.csv`` and ``set_dir/mix_<n>_spk_<name>.txt``."""
    from voxsep.core.files import write_text_atomic
    from voxsep_corpus.common import relpath, run_tasks, write_mixture_manifest

    groups = {s.name: s.group for s in SPEAKERS}
    utterances = {s.name: [(u, Path(p)) for u, _, p, _, _ in rows_by_speaker.get(s.name, [])] for s in speakers}
    plans = plan_mixtures(utterances, groups, n, count, rng)
    lines = [" ".join(f"{relpath(path, rate_dir)} {_gain_name(g)}" for (_, path), g in zip(picked, gains))
             for picked, gains in plans]
    write_text_atomic(set_dir / f"mix_{n}_spk_{name}.txt", "".join(line + "\n" for line in lines))
    chunk = 50
    mix_tasks = [{"plans": plans[i:i + chunk], "sample_rate": sample_rate, "folder": str(set_dir / name),
                  "n_src": n} for i in range(0, len(plans), chunk)]
    mixtures = [row for part in run_tasks(_make_mixtures, mix_tasks, jobs, f"{n}spk {name}") for row in part]
    write_mixture_manifest(set_dir / f"{name}.csv", mixtures, n_src=n)
    hours = sum(r["length"] for r in mixtures) / sample_rate / 3600
    stats[f"{n}-speaker {name} mixtures"] = f"{len(mixtures)} ({hours:.2f} h)"


def _one_speaker_sets(rate_dir: Path, rows_by_speaker: dict[str, list[tuple[str, str, str, int, int]]],
                      split_counts: dict[str, int], seed: int, sample_rate: int, jobs: int,
                      stats: dict[str, Any]) -> None:
    """``1speaker/{valid,test}_real``: one held-out human utterance per "mixture" (the
    mixture is its only source), made by the mixing rule of the other sets (0 dB active
    level, peak 0.9); each utterance at most once. For counting talkers."""
    for split in REAL_SETS:
        _mixture_set(rate_dir, rate_dir / "1speaker", f"{split}_real", 1, rows_by_speaker, _heldout_humans(split),
                     split_counts[split], np.random.default_rng([seed, 8, 1, SPLITS.index(split)]), sample_rate, jobs, stats)


def _room_sets(rate_dir: Path, seed: int, sample_rate: int, jobs: int) -> dict[str, str]:
    """The recorded noise lists and ``2speakers/{valid,test}_room`` (:mod:`.rooms`)."""
    stats = rooms.prepare_noise(rate_dir, sample_rate)
    for split in rooms.ROOM_SETS:
        stats.update(rooms.build_room_set(rate_dir, split, seed, sample_rate, jobs))
    return stats


def _split_rows(rows_by_speaker: dict[str, list[tuple[str, str, str, int, int]]], split: str
                ) -> list[tuple[str, str, Path, int, int]]:
    """The utterance-list rows of a split, in speaker-table order."""
    return [(u, s, Path(p), n, sr) for speaker in SPEAKERS if speaker.split == split
            for u, s, p, n, sr in rows_by_speaker.get(speaker.name, [])]


def _utterance_stats(rows_by_speaker: dict[str, list[tuple[str, str, str, int, int]]], sample_rate: int
                     ) -> dict[str, str]:
    """``<split> utterances`` lines and the total ``speech`` of the README."""
    stats, total = {}, 0
    human = {s.name for s in SPEAKERS if s.human}
    for split in SPLITS:
        rows = _split_rows(rows_by_speaker, split)
        total += sum(r[3] for r in rows)
        human_hours = sum(r[3] for r in rows if r[1] in human) / sample_rate / 3600
        stats[f"{split} utterances"] = (f"{len(rows)} from {len({r[1] for r in rows})} speakers "
                                        f"({human_hours:.2f} h of real human speech)")
    stats["speech"] = f"{total / sample_rate / 3600:.2f} h of utterances"
    return stats


def _listed_speakers(output: Path) -> list[str]:
    import csv

    with open(Path(output) / "speakers.csv", newline="") as handle:
        return [row["speaker"] for row in csv.DictReader(handle)]


def _missing_pool_voices(output: Path) -> list[Speaker]:
    """Pool-only speakers that a complete build's ``speakers.csv`` does not list yet."""
    listed = set(_listed_speakers(output))
    return [s for s in SPEAKERS if s.pool_only and s.name not in listed]


def _readme_stats(text: str) -> dict[str, str]:
    """The ``* key: value`` lines of a README's "This build" section (settings left out)."""
    section = text.split("## This build", 1)[-1].split("## Licences", 1)[0]
    stats = {}
    for line in section.splitlines():
        if line.startswith("* ") and ": " in line and not line.startswith("* settings:"):
            key, value = line[2:].split(": ", 1)
            stats[key] = value
    return stats


def _add_pool_voices(output: Path, rate_dir: Path, config: dict[str, Any], utterances_per_speaker: int, jobs: int,
                     started: float) -> dict[str, Any]:
    """Extend a complete build with the pool-only voices it lacks (KTuberling, Tux Paint, Drascula, FOTAQ,
    Kajongg).

    Their utterances are made (resumable: finished files are kept), their rows are added
    to ``utterances_<split>.csv`` and ``speakers.csv`` (earlier rows unchanged: the files
    are those a fresh build writes) and the README is rewritten. Mixture sets, other
    utterances and the stored settings are not touched. ``speakers.csv`` is written last:
    an interrupted extension is taken up again by the next run.
    """
    from voxsep.core.files import write_text_atomic
    from voxsep_corpus.common import run_tasks, write_csv_atomic, write_utterance_list

    listed = _listed_speakers(output)
    if listed != [s.name for s in SPEAKERS[:len(listed)]]:
        raise advised(FileExistsError, f"{output}/speakers.csv is not a prefix of this version's speaker table",
                      "overwrite", True, "to rebuild")
    new = _missing_pool_voices(output)
    sample_rate, seed = config["sample_rate"], config["seed"]
    tasks = [{"speaker": s, "index": SPEAKERS.index(s), "seed": seed, "sample_rate": sample_rate,
              "count": utterances_per_speaker, "speech_dir": str(rate_dir / "speech")} for s in new]
    results = run_tasks(_make_speaker, tasks, jobs, "new voices")
    rows_by_speaker = _utterance_rows(rate_dir, SPLITS)
    for speaker, rows in zip(new, results):
        rows_by_speaker[speaker.name] = rows
    for split in sorted({s.split for s in new}, key=SPLITS.index):
        write_utterance_list(rate_dir / f"utterances_{split}.csv", _split_rows(rows_by_speaker, split))
    stats = _readme_stats((output / "README.md").read_text()) if (output / "README.md").exists() else {}
    build_time = stats.pop("build time", None)  # kept last, after the recomputed speech line
    added = {"voices added": ", ".join(f"{s.name} ({len(rows)} utterances)" for s, rows in zip(new, results))}
    stats.update(_utterance_stats(rows_by_speaker, sample_rate))
    stats["speakers"] = "; ".join(_speaker_counts(SPEAKERS))
    stats["speech"] = stats.pop("speech")
    if build_time is not None:
        stats["build time"] = build_time
    key = "pool-only voices added to this build"
    done = (f"{', '.join(s.name for s in new)} in "
            f"{time.perf_counter() - started:.0f} s with {jobs} job(s)")
    stats[key] = f"{stats[key]}; then {done}" if stats.get(key) else done  # earlier extensions kept
    write_text_atomic(output / "README.md", _readme(config, SPEAKERS, stats))
    write_csv_atomic(output / "speakers.csv", ["speaker", "sex", "kind", "split", "group", "engine", "description"],
                     [(s.name, s.sex, s.kind, s.split, s.group, s.engine, s.description) for s in SPEAKERS])
    added.update({k: stats[k] for k in ("train utterances", "speech")})
    added["build time"] = f"{time.perf_counter() - started:.0f} s with {jobs} job(s) (pool-only voices added)"
    return added


def _utterance_rows(rate_dir: Path, splits: Sequence[str]) -> dict[str, list[tuple[str, str, str, int, int]]]:
    """Speaker -> utterance-list rows (absolute paths) read back from ``utterances_<split>.csv``."""
    import csv

    rows: dict[str, list[tuple[str, str, str, int, int]]] = {}
    for split in splits:
        with open(rate_dir / f"utterances_{split}.csv", newline="") as handle:
            for row in csv.DictReader(handle):
                rows.setdefault(row["speaker"], []).append(
                    (row["utterance_id"], row["speaker"], str(rate_dir / row["path"]), int(row["length"]),
                     int(row["sample_rate"])))
    return rows


# --------------------------------------------------------------------------- README
_LICENCES = [
    ("lincity-ng-data", "LinCity-NG sound effects (city, industry, traffic): GPL-2+ (dual-licensed CC BY-SA 2.0 "
     "upstream; Debian uses the GPL)."),
    ("colobot-common-sounds", "Colobot sound effects (machines, robots): GPL-3+."),
]
_LICENCES += [licence for source in in_readme_order() for licence in source.licences]


def _speaker_counts(speakers: Sequence[Speaker]) -> list[str]:
    """Per split: speakers by kind (human / derived / synthetic) and sex."""
    lines = []
    for split in SPLITS:
        parts = []
        for label, keep in (("real human", lambda s: s.human), ("derived", lambda s: s.engine == "derived"),
                            ("synthetic", lambda s: s.kind == "synthetic")):
            chosen = [s for s in speakers if s.split == split and keep(s)]
            sexes = {sex: sum(s.sex == sex for s in chosen) for sex in ("F", "M")}
            parts.append(f"{len(chosen)} {label} ({sexes['F']} F, {sexes['M']} M)")
        lines.append(f"{split}: " + ", ".join(parts))
    return lines


def _readme(config: dict[str, Any], speakers: list[Speaker], stats: dict[str, Any]) -> str:
    rate_dir = f"wav{config['sample_rate'] // 1000}k"
    lines = [
        "# voxsep offline speech-separation corpus",
        "",
        "Built by `voxsep prepare offline` from audio in Debian packages only (no download).",
        "It is meant for demos, tests and smoke-training on machines without the standard",
        "corpora. It is **not** a benchmark: numbers measured on it are not comparable with",
        "wsj0-2mix or LibriMix results.",
        "",
        "## What it contains",
        "",
        "* Real recorded speech (`kind=real`, one `group` per person):",
        *[line for source in recorded_sources() for line in source.readme_contents],
        "  * utterances are ~4.5-7 s of consecutive prompts/lines/clips of one speaker with",
        "    0.1-0.4 s pauses.",
        "* Derived voices: some real voices resampled x0.8 and x1.18 (pitch and formants",
        "  shifted). They are labelled `kind=real`, `engine=derived`, share their origin's",
        "  group and split, and are never used in `*_real.csv`.",
        *[line for source in SOURCES if not source.recorded for line in source.readme_contents],
        "* Every utterance has a random level (active level -28 to -20 dBFS) and a random",
        "  channel colouration (first-order spectral tilt of up to +-5 dB).",
        "* No noise recordings of any kind (some game and KLettres clips have a little",
        "  background hiss of their own).",
        "",
        "Splits are speaker-disjoint by group (see `speakers.csv`). Mixtures follow",
        "wsj0-2mix: each utterance normalised to 0 dB ITU-T P.56 active level, gains",
        "uniform in [-2.5, 2.5] dB per talker (relative gain up to 5 dB), `min` mode, peak",
        "scaled to 0.9. `2speakers/test_real.csv` and `valid_real.csv` are made the same way",
        "from two held-out *human* voices of different groups only (no derived or synthetic",
        "voice): judge a model on real speech with `test_real.csv`.",
        "`1speaker/test_real.csv` and `valid_real.csv` hold one held-out human utterance",
        "each (mixture = its only source, peak 0.9): for talker counting on one-talker",
        "recordings.",
        "",
        "## Speakers",
        "",
        *[f"* {line}" for line in _speaker_counts(speakers)],
        "",
        "Real human voices (sex: asterisk folder name, else median F0 < "
        f"{MALE_F0_HZ:.0f} Hz = male; F0 measured by YIN on 8 kHz audio):",
        "",
        "| speaker | sex | F0 (Hz) | split | group | package | description |",
        "|---|---|---|---|---|---|---|",
    ]
    for s in speakers:
        if s.human:
            lines.append(f"| {s.name} | {s.sex} | {s.f0:.0f} | {s.split} | {s.group} | {s.package} | "
                         f"{s.description} |")
    lines += [
        "",
        "Labelling decisions:",
        "",
        *[line for source in SOURCES for line in source.readme_decisions],
        "",
        "## Layout",
        "",
        "* `speakers.csv` - speaker,sex,kind,split,group,engine,description",
        f"* `{rate_dir}/speech/<speaker>/*.wav` and `{rate_dir}/utterances_<split>.csv`",
        "  (utterance_id,speaker,path,length,sample_rate; for dynamic mixing)",
        f"* `{rate_dir}/<n>speakers/<split>/{{mix,s1,s2[,s3]}}/` (wsj0-mix layout),",
        f"  `{rate_dir}/<n>speakers/<split>.csv` (LibriMix-format manifests) and",
        f"  `{rate_dir}/<n>speakers/mix_<n>_spk_<split>.txt` (mixing lists)",
        f"* `{rate_dir}/2speakers/{{valid,test}}_real/`, `{{valid,test}}_real.csv` and",
        "  `mix_2_spk_{valid,test}_real.txt`: two held-out human voices per mixture",
        f"* `{rate_dir}/1speaker/{{valid,test}}_real/`, `{{valid,test}}_real.csv` and",
        "  `mix_1_spk_{valid,test}_real.txt`: one held-out human voice per mixture",
        f"* `{rate_dir}/2speakers/{{valid,test}}_room/` and `{{valid,test}}_room.csv`: the real-voice",
        "  mixtures in simulated rooms (RT60 0.1-0.8 s, talkers 0.5-3 m from one microphone) with",
        "  babble of 1-3 other held-out voices and Colobot noise 0-15 dB below the louder talker;",
        "  the targets are the reverberant talkers",
        f"* `{rate_dir}/noise/{{lincity,colobot}}/*.wav`, `noise_train.csv` (LinCity-NG, for training)",
        "  and `noise_heldout.csv` (Colobot, only in the room sets)",
        "",
        "## This build",
        "",
        f"* settings: `{ {k: v for k, v in config.items() if k != 'format'} }`",
    ]
    for key, value in stats.items():
        lines.append(f"* {key}: {value}")
    lines += ["", "## Licences", ""]
    lines += [f"* `{package}` - {text}" for package, text in _LICENCES]
    lines += ["* Redistribution of this corpus must respect CC BY-SA and the GPL for the real voices.", ""]
    return "\n".join(lines)


def build_offline(output: Path, sample_rate: int = 8000, n_train_mixtures: int | None = None,
                  n_valid_mixtures: int | None = None, n_test_mixtures: int | None = None,
                  utterances_per_speaker: int | None = None, n_src: Sequence[int] = (2, 3), seed: int = 0,
                  jobs: int = 1, tiny: bool = False, overwrite: bool = False) -> dict[str, Any]:
    """Build (or resume) the offline corpus; see the module docstring for what it holds.

    Args:
        output: the corpus folder.
        sample_rate: 8000 or 16000.
        n_train_mixtures, n_valid_mixtures, n_test_mixtures: mixtures per split and
            per speaker count (``None``: the defaults, or the tiny preset's).
        utterances_per_speaker: utterances generated per speaker.
        n_src: which mixture sets to build (2 and/or 3 speakers).
        seed: random seed; the same seed and settings give identical files.
        jobs: worker processes.
        tiny: use the tiny preset for counts not given.
        overwrite: replace a previous build with other settings.

    Returns:
        Statistics of the build (hours, counts, seconds taken).

    Raises:
        MissingPackageError: a Debian package is missing (message has the apt-get line).
        FileExistsError: the output folder holds something else (see ``--overwrite``).
    """
    from voxsep_corpus.common import (is_complete, mark_complete, prepare_output_dir, run_tasks,
                                            write_csv_atomic, write_utterance_list)
    from voxsep.core.files import write_text_atomic

    started = time.perf_counter()
    if sample_rate not in (8000, 16000):
        raise ValueError(f"sample_rate must be 8000 or 16000, got {sample_rate}")
    preset = TINY if tiny else DEFAULTS
    given = {"n_train_mixtures": n_train_mixtures, "n_valid_mixtures": n_valid_mixtures,
             "n_test_mixtures": n_test_mixtures, "utterances_per_speaker": utterances_per_speaker}
    counts = {k: int(v if v is not None else preset[k]) for k, v in given.items()}
    for key, value in counts.items():
        if value < (1 if key == "utterances_per_speaker" else 0):
            raise ValueError(f"{key.replace('_', '-')} must be positive, got {value}")
    n_src = sorted(set(int(n) for n in n_src))
    config = {"format": FORMAT_VERSION, "sample_rate": sample_rate, "seed": seed, "n_src": n_src, **counts}
    check_packages(sample_rate)
    output = Path(output)
    rate_dir = output / f"wav{sample_rate // 1000}k"
    resumed = prepare_output_dir(output, config, overwrite, owned=[rate_dir.name, "README.md", "speakers.csv"])
    split_counts = {"train": counts["n_train_mixtures"], "valid": counts["n_valid_mixtures"],
                    "test": counts["n_test_mixtures"]}
    if resumed and is_complete(output):
        # A complete build made before the one-talker sets or the pool-only voices existed:
        # add what is missing and touch nothing else (its files may be in use by a training run).
        added: dict[str, Any] = {}
        if not all(_one_speaker_manifest(rate_dir, s).exists() for s in REAL_SETS):
            _one_speaker_sets(rate_dir, _utterance_rows(rate_dir, REAL_SETS), split_counts, seed, sample_rate, jobs,
                              added)
            added["build time"] = f"{time.perf_counter() - started:.0f} s with {jobs} job(s) (one-talker sets added)"
        if _missing_pool_voices(output):
            added.update(_add_pool_voices(output, rate_dir, config, counts["utterances_per_speaker"], jobs, started))
        if 2 in n_src and not all(rooms.room_manifest(rate_dir, s).exists() for s in rooms.ROOM_SETS):
            added.update(_room_sets(rate_dir, seed, sample_rate, jobs))
            added["build time"] = f"{time.perf_counter() - started:.0f} s with {jobs} job(s) (room sets added)"
        if added:
            return added
    speech_dir = rate_dir / "speech"

    tasks = [{"speaker": s, "index": i, "seed": seed, "sample_rate": sample_rate,
              "count": counts["utterances_per_speaker"], "speech_dir": str(speech_dir)}
             for i, s in enumerate(SPEAKERS)]
    # Slow speakers first (festival starts slowly, real voices decode many clips).
    order = sorted(range(len(tasks)), key=lambda i: (SPEAKERS[i].kind != "real" and SPEAKERS[i].engine != "festival",
                                                      -SPEAKERS[i].scale))
    results = run_tasks(_make_speaker, [tasks[i] for i in order], jobs, "speakers")
    rows_by_speaker = {SPEAKERS[i].name: rows for i, rows in zip(order, results)}

    write_csv_atomic(output / "speakers.csv", ["speaker", "sex", "kind", "split", "group", "engine", "description"],
                     [(s.name, s.sex, s.kind, s.split, s.group, s.engine, s.description) for s in SPEAKERS])
    stats: dict[str, Any] = {}
    for split in SPLITS:
        write_utterance_list(rate_dir / f"utterances_{split}.csv", _split_rows(rows_by_speaker, split))
    stats.update(_utterance_stats(rows_by_speaker, sample_rate))

    for n in n_src:
        for split_index, split in enumerate(SPLITS):
            _mixture_set(rate_dir, rate_dir / f"{n}speakers", split, n, rows_by_speaker,
                         [s for s in SPEAKERS if s.split == split and not s.pool_only], split_counts[split],
                         np.random.default_rng([seed, 7, n, split_index]), sample_rate, jobs, stats)
    if 2 in n_src:
        # The real-voice sets: two held-out human voices (no derived copy, no TTS) of different groups.
        for split in REAL_SETS:
            _mixture_set(rate_dir, rate_dir / "2speakers", f"{split}_real", 2, rows_by_speaker,
                         _heldout_humans(split), split_counts[split],
                         np.random.default_rng([seed, 8, 2, SPLITS.index(split)]), sample_rate, jobs,
                         stats)
    _one_speaker_sets(rate_dir, rows_by_speaker, split_counts, seed, sample_rate, jobs, stats)
    if 2 in n_src:
        stats.update(_room_sets(rate_dir, seed, sample_rate, jobs))
    stats["speakers"] = "; ".join(_speaker_counts(SPEAKERS))
    stats["speech"] = stats.pop("speech")  # after the mixture sets, as it always was
    stats["build time"] = f"{time.perf_counter() - started:.0f} s with {jobs} job(s)"
    write_text_atomic(output / "README.md", _readme(config, SPEAKERS, stats))
    mark_complete(output, config)
    return stats


