"""``voxsep prepare offline``: a speech-separation corpus built from Debian packages only.

Speakers (see ``SPEAKERS``):

* **real** — the professional voices of the asterisk prompt packages (8 kHz wav; the
  English prompts also as 16 kHz G.722, decoded with the ``G722`` package for 16 kHz
  builds). The ``en`` and ``es`` folders are the same person and count as one speaker.
  An utterance is ~4.5–7 s of consecutive prompts of one speaker with short pauses.
* **derived** — each real voice sped down (x0.8: lower pitch and formants) and up
  (x1.18) by resampling; a derived speaker always stays in its origin's split and is
  never mixed with its origin.
* **synthetic** — espeak-ng voice variants, flite (kal16, awb, rms, slt) and festival
  (kal, ked, slt HTS) speaking generated English sentences. flite ``kal16`` and festival
  ``kal`` are one speaker's recordings, as are flite ``slt`` and festival ``slt``; each
  such pair is one *group* and is kept in one split and out of one mixture.

Splits are fixed by speaker group and disjoint; the test split holds a real female
voice (Russian prompts) and synthetic male and female voices. Mixtures follow
wsj0-2mix: each utterance normalised to 0 dB ITU-T P.56 active level, weighted by
``10 ** (g / 20)`` with ``g`` uniform in [-2.5, 2.5] dB (a relative gain of up to
±5 dB between two talkers), cut to the shortest (``min``), scaled so the largest peak
is 0.9 (see :func:`voxsep.data.prepare.levels.mix_at_levels`).

Layout (``OUT/wav8k`` or ``OUT/wav16k``)::

    README.md  speakers.csv  voxsep_prepare.json
    wav8k/speech/<speaker>/<utterance_id>.wav
    wav8k/utterances_{train,valid,test}.csv       utterance_id,speaker,path,length,sample_rate
    wav8k/{2speakers,3speakers}/{train,valid,test}/{mix,s1,s2[,s3]}/<name>.wav
    wav8k/{2speakers,3speakers}/{train,valid,test}.csv     LibriMix-format manifests
    wav8k/{2speakers,3speakers}/mix_{2,3}_spk_{split}.txt  wsj0-mix style mixing lists
"""

from __future__ import annotations

import argparse
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import numpy as np

SUMMARY = "build a 2-/3-speaker corpus from real (asterisk) and synthetic (espeak-ng, flite, festival) voices"

EPILOG = """examples:
  voxsep prepare offline data/offline                         # default 8 kHz corpus (~10 min on 2 cores)
  voxsep prepare offline data/offline16k --sample-rate 16000 --jobs 2
  voxsep prepare offline /tmp/tiny --tiny                     # a few mixtures, for tests
  voxsep prepare offline data/offline --n-train-mixtures 20000 --overwrite

An interrupted build resumes when run again with the same options.
Needs the Debian packages listed by `voxsep prepare offline --list-packages`.
"""

ASTERISK_ROOT = Path("/usr/share/asterisk/sounds")
FESTIVAL_VOICES = Path("/usr/share/festival/voices")
SPLITS = ("train", "valid", "test")
FORMAT_VERSION = 2  # bump when the generated audio changes, so old partial builds are not resumed
DEFAULTS = {"utterances_per_speaker": 120, "n_train_mixtures": 5000, "n_valid_mixtures": 500,
            "n_test_mixtures": 500}
TINY = {"utterances_per_speaker": 3, "n_train_mixtures": 12, "n_valid_mixtures": 4, "n_test_mixtures": 4}
UTTERANCE_SECONDS = (4.5, 7.0)  # planned from untrimmed prompts; min-mode mixtures of ~4-6 s
DERIVED_FACTORS = (0.8, 1.18)
GAIN_DB = 2.5
# Prompts that are not speech (tones, beeps, silence, animal noises).
_NOT_SPEECH = ("beep", "tone", "silence", "monkeys", "weasels")


@dataclass(frozen=True)
class Speaker:
    """One talker of the offline corpus.

    Attributes:
        name: speaker id (folder name, utterance-id prefix).
        sex: ``"F"`` or ``"M"`` (for derived speakers: the origin's).
        kind: ``"real"`` (recorded speech, including speed-shifted copies) or ``"synthetic"``.
        split: ``"train"``, ``"valid"`` or ``"test"``.
        group: speakers of one group are one person (or derived from one) and share a split.
        engine: ``"asterisk"``, ``"derived"``, ``"espeak"``, ``"flite"`` or ``"festival"``.
        voice: asterisk folders (comma-separated), origin speaker, or the TTS voice name.
        description: human-readable origin.
        pitch: espeak-ng pitch; rate: espeak-ng words per minute; factor: speed factor.
    """

    name: str
    sex: str
    kind: str
    split: str
    group: str
    engine: str
    voice: str
    description: str
    pitch: int = 50
    rate: int = 160
    factor: float = 1.0


_REAL = [
    ("allison", "F", "train", "en_US_f_Allison,es_MX_f_Allison",
     "Allison, asterisk English and Spanish prompts (one speaker)"),
    ("menardi", "F", "train", "it_IT_f_Menardi", "Menardi, asterisk Italian prompt set"),
    ("carlo", "M", "train", "it_IT_m_Carlo", "Carlo, asterisk Italian core prompts"),
    ("june", "F", "valid", "fr_CA_f_June", "June, asterisk French (Canada) prompts"),
    ("ivr_ru", "F", "test", "ru_RU_f_IvrvoiceRU", "IvrvoiceRU, asterisk Russian prompts"),
]
_ESPEAK = [  # (voice, sex, split, pitch, rate)
    ("en+m1", "M", "train", 40, 155), ("en-us+m3", "M", "train", 35, 165), ("en-gb-scotland+m2", "M", "train", 45, 150),
    ("en+m5", "M", "train", 30, 160), ("en+f1", "F", "train", 60, 160), ("en-us+f2", "F", "train", 70, 150),
    ("en+f3", "F", "train", 55, 170), ("en+m7", "M", "valid", 42, 150), ("en-us+f4", "F", "valid", 65, 160),
    ("en-us+m4", "M", "test", 38, 158), ("en+f5", "F", "test", 62, 155), ("en+m6", "M", "train", 48, 145),
]
_FLITE = [("kal16", "M", "train", "kal"), ("slt", "F", "train", "slt"), ("rms", "M", "valid", "rms"),
          ("awb", "M", "test", "awb")]
_FESTIVAL = [("kal_diphone", "M", "train", "kal", "festvox-kallpc16k"),
             ("ked_diphone", "M", "train", "ked", "festvox-kdlpc16k"),
             ("cmu_us_slt_arctic_hts", "F", "train", "slt", "festvox-us-slt-hts")]


def _speaker_table() -> list[Speaker]:
    speakers = []
    for name, sex, split, folders, description in _REAL:
        speakers.append(Speaker(name, sex, "real", split, name, "asterisk", folders, description))
        for factor in DERIVED_FACTORS:
            change = "lowered" if factor < 1 else "raised"
            speakers.append(Speaker(f"{name}_x{factor:g}".replace(".", "p"), sex, "real", split, name, "derived", name,
                                    f"{name} resampled x{factor:g} (pitch and formants {change} "
                                    f"{abs(1 - factor) * 100:.0f}%); derived, same split as {name}",
                                    factor=factor))
    for voice, sex, split, pitch, rate in _ESPEAK:
        name = "espeak_" + voice.replace("+", "_").replace("-", "_")
        speakers.append(Speaker(name, sex, "synthetic", split, name, "espeak", voice,
                                f"espeak-ng voice {voice}, pitch {pitch}, {rate} wpm", pitch=pitch, rate=rate))
    for voice, sex, split, group in _FLITE:
        speakers.append(Speaker(f"flite_{voice}", sex, "synthetic", split, group, "flite", voice,
                                f"flite voice {voice} (CMU)"))
    for voice, sex, split, group, package in _FESTIVAL:
        speakers.append(Speaker(f"festival_{group}", sex, "synthetic", split, group, "festival", voice,
                                f"festival voice {voice} ({package})"))
    return speakers


SPEAKERS: list[Speaker] = _speaker_table()


# --------------------------------------------------------------------------- packages
def required_packages(sample_rate: int) -> dict[str, Path]:
    """Debian package -> a path it installs, for everything the build reads."""
    needs = {
        "asterisk-core-sounds-en-wav": ASTERISK_ROOT / "en_US_f_Allison" / "hello.wav",
        "asterisk-core-sounds-es-wav": ASTERISK_ROOT / "es_MX_f_Allison",
        "asterisk-core-sounds-fr-wav": ASTERISK_ROOT / "fr_CA_f_June",
        "asterisk-core-sounds-it-wav": ASTERISK_ROOT / "it_IT_m_Carlo",
        "asterisk-core-sounds-ru-wav": ASTERISK_ROOT / "ru_RU_f_IvrvoiceRU",
        "asterisk-prompt-it-menardi-wav": ASTERISK_ROOT / "it_IT_f_Menardi",
        "espeak-ng": Path("/usr/bin/espeak-ng"),
        "flite": Path("/usr/bin/flite"),
        "festival": Path("/usr/bin/festival"),
        "festvox-kallpc16k": FESTIVAL_VOICES / "english" / "kal_diphone",
        "festvox-kdlpc16k": FESTIVAL_VOICES / "english" / "ked_diphone",
        "festvox-us-slt-hts": FESTIVAL_VOICES / "us" / "cmu_us_slt_arctic_hts",
    }
    if sample_rate > 8000:
        needs["asterisk-core-sounds-en-g722"] = ASTERISK_ROOT / "en_US_f_Allison" / "hello.g722"
    return needs


def check_packages(sample_rate: int) -> None:
    """Raise :class:`MissingPackageError` with the exact ``apt-get install`` line if anything is missing."""
    from voxsep.data.prepare.common import MissingPackageError, apt_install_line

    missing = [package for package, path in required_packages(sample_rate).items() if not path.exists()]
    if missing:
        raise MissingPackageError(f"the offline corpus needs Debian package(s) that are not installed: "
                                  f"{', '.join(sorted(missing))}. Install them with:\n  {apt_install_line(missing)}")
    if sample_rate > 8000:
        try:
            import G722  # noqa: F401
        except ImportError as error:
            raise MissingPackageError("16 kHz builds decode the G.722 prompts with the PyPI package G722: "
                                      "pip install G722") from error


# --------------------------------------------------------------------------- audio helpers
def trim_silence(signal: np.ndarray, sample_rate: int, threshold_db: float = -40.0, pad: float = 0.05) -> np.ndarray:
    """Cut leading/trailing parts quieter than ``threshold_db`` below the peak (10 ms frames), keeping ``pad`` s."""
    frame = max(1, sample_rate // 100)
    n = signal.size // frame
    if n == 0:
        return signal
    energy = (signal[: n * frame].reshape(n, frame).astype(np.float64) ** 2).mean(axis=1)
    active = np.nonzero(energy >= energy.max() * 10 ** (threshold_db / 10))[0]
    if active.size == 0:
        return signal
    keep = int(pad * sample_rate)
    start = max(0, active[0] * frame - keep)
    stop = min(signal.size, (active[-1] + 1) * frame + keep)
    return signal[start:stop]


_WAV_HEADER_BYTES = 64  # a RIFF/WAVE header with no samples


def _asterisk_prompts(folders: str, sample_rate: int) -> list[Path]:
    prompts = []
    for folder in folders.split(","):
        for path in sorted((ASTERISK_ROOT / folder).rglob("*.wav")):
            relative = path.relative_to(ASTERISK_ROOT / folder).as_posix()
            # Debian ships a few header-only prompts (e.g. ru_RU_f_IvrvoiceRU/is.wav): skip them.
            if not any(word in relative for word in _NOT_SPEECH) and path.stat().st_size > _WAV_HEADER_BYTES:
                prompts.append(path)
    return prompts


def _load_prompt(path: Path, sample_rate: int) -> np.ndarray:
    """A prompt at ``sample_rate``; 16 kHz+ builds use the wideband G.722 file when there is one."""
    from voxsep.data.audio import read_audio, resample

    g722_path = path.with_suffix(".g722")
    if sample_rate > 8000 and g722_path.exists():
        import G722

        decoded = np.asarray(G722.G722(16000, 64000).decode(g722_path.read_bytes()), dtype=np.float32) / 32768.0
        return resample(decoded, 16000, sample_rate)
    audio, _ = read_audio(path, sample_rate=sample_rate, channels=1)
    return audio[0]


def _vary_channel_and_level(signal: np.ndarray, rng: np.random.Generator, sample_rate: int) -> np.ndarray:
    """Random channel colouration and level, so talkers do not all sound like one studio.

    The colouration is a first-order FIR ``y[n] = x[n] + a x[n-1]``, ``a`` uniform in
    [-0.3, 0.3]: a spectral tilt of up to ±5.4 dB between DC and Nyquist. The level is a
    random active level in [-28, -20] dBFS, with the peak kept below 0.95.
    """
    from scipy.signal import lfilter

    from voxsep.data.prepare.levels import normalise_active_level

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


def _make_speaker(task: dict[str, Any]) -> list[tuple[str, str, str, int, int]]:
    """Build (or find) the utterances of one speaker; returns utterance-list rows (paths as str)."""
    from voxsep.data.audio import audio_info, resample, write_audio
    from voxsep.data.prepare.tts import make_sentence_text, synthesize

    speaker: Speaker = task["speaker"]
    index, seed, sample_rate, count = task["index"], task["seed"], task["sample_rate"], task["count"]
    speech_dir = Path(task["speech_dir"])
    targets = [_utterance_path(speech_dir, speaker.name, k) for k in range(count)]
    todo = [k for k, (_, path) in enumerate(targets) if not path.exists()]

    if todo and speaker.engine in ("asterisk", "derived"):
        origin = speaker if speaker.engine == "asterisk" else next(s for s in SPEAKERS if s.name == speaker.voice)
        prompts = _asterisk_prompts(origin.voice, sample_rate)
        order = _speaker_rng(seed, index, 2).permutation(len(prompts))
        factor = speaker.factor
        # Plan every utterance from header lengths (cheap), so utterance k is the same
        # whichever utterances already exist.
        plan: list[list[Path]] = []
        current: list[Path] = []
        seconds = 0.0
        target = _speaker_rng(seed, index, 3, 0).uniform(*UTTERANCE_SECONDS)
        for p in order:
            duration = audio_info(prompts[p]).duration / factor + 0.25
            if duration > UTTERANCE_SECONDS[1] + 0.5:
                continue  # longer than an utterance on its own (menus, long announcements)
            if current and seconds + duration > UTTERANCE_SECONDS[1] + 0.5:
                if seconds < UTTERANCE_SECONDS[0]:
                    continue  # would overshoot, and the utterance is still short: try the next prompt
                plan.append(current)  # long enough: close it and start the next with this prompt
                current, seconds = [], 0.0
                target = _speaker_rng(seed, index, 3, len(plan)).uniform(*UTTERANCE_SECONDS)
                if len(plan) == count:
                    break
            current.append(prompts[p])
            seconds += duration
            if seconds >= target:
                plan.append(current)
                current, seconds = [], 0.0
                target = _speaker_rng(seed, index, 3, len(plan)).uniform(*UTTERANCE_SECONDS)
                if len(plan) == count:
                    break
        for k in todo:
            if k >= len(plan):
                break  # this voice has no more prompts; fewer utterances for it
            rng = _speaker_rng(seed, index, 4, k)
            pieces = []
            for path in plan[k]:
                prompt = trim_silence(_load_prompt(path, sample_rate), sample_rate)
                pieces.append(prompt)
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
        if n_src == 2:
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
    from voxsep.data.audio import audio_info, read_audio, write_audio
    from voxsep.data.prepare.levels import mix_at_levels

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


# --------------------------------------------------------------------------- README
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
        "* Real recorded speech: the professional voices of the asterisk prompt packages",
        "  (one speaker per language folder; `en` and `es` are one person and count as one",
        "  speaker). These are mostly female; Carlo (Italian) is male. Utterances are ~4.5-7 s",
        "  of consecutive prompts. The prompts are 8 kHz telephone-band recordings; in a",
        "  16 kHz build only the English prompts are wideband (decoded from G.722), the others",
        "  are upsampled 8 kHz audio.",
        "* Derived voices: each real voice resampled x0.8 and x1.18 (pitch and formants",
        "  shifted). They are labelled `kind=real` with their origin in the description, stay",
        "  in their origin's split and are never mixed with their origin.",
        "* Synthetic voices: espeak-ng variants, flite (kal16, awb, rms, slt) and festival",
        "  (kal, ked, slt HTS) speaking generated English sentences. The male voices are",
        "  mostly synthetic, so a model trained here meets real male talkers poorly.",
        "* Every utterance has a random level (active level -28 to -20 dBFS) and a random",
        "  channel colouration (first-order spectral tilt of up to +-5 dB).",
        "* No noise recordings of any kind.",
        "",
        "Splits are speaker-disjoint (see `speakers.csv`). Mixtures follow wsj0-2mix: each",
        "utterance normalised to 0 dB ITU-T P.56 active level, gains uniform in [-2.5, 2.5] dB",
        "per talker (relative gain up to 5 dB), `min` mode, peak scaled to 0.9.",
        "",
        "## Layout",
        "",
        f"* `speakers.csv` - speaker,sex,kind,split,description",
        f"* `{rate_dir}/speech/<speaker>/*.wav` and `{rate_dir}/utterances_<split>.csv`",
        f"  (utterance_id,speaker,path,length,sample_rate; for dynamic mixing)",
        f"* `{rate_dir}/<n>speakers/<split>/{{mix,s1,s2[,s3]}}/` (wsj0-mix layout),",
        f"  `{rate_dir}/<n>speakers/<split>.csv` (LibriMix-format manifests) and",
        f"  `{rate_dir}/<n>speakers/mix_<n>_spk_<split>.txt` (mixing lists)",
        "",
        "## This build",
        "",
        f"* settings: `{ {k: v for k, v in config.items() if k != 'format'} }`",
    ]
    for key, value in stats.items():
        lines.append(f"* {key}: {value}")
    lines += [
        "",
        "## Licences",
        "",
        "* asterisk core sounds: Creative Commons Attribution-ShareAlike (CC BY-SA 3.0),",
        "  (c) Digium, Inc. and the voice talents; derived files keep that licence.",
        "* Italian prompts (menardi, speakers derived from it): CC BY-SA 3.0 Italy, (c) 2006-2011",
        "  Marco Menardi and Paola Dal Zot; attribution required: the voice files were made by",
        "  them, http://www.voip.ammdomus.it (English text of the prompts (c) Digium).",
        "* espeak-ng: GPL-3.0-or-later (its output is not restricted by the GPL).",
        "* flite and its CMU voices (kal16, awb, rms, slt): CMU/BSD-style free licence.",
        "* festival and festvox voices (kallpc16k, kdlpc16k, us-slt-hts): free, BSD-like licences",
        "  (Edinburgh/CMU; see /usr/share/doc/<package>/copyright).",
        "* Redistribution of this corpus must respect CC BY-SA for the real voices.",
        "",
    ]
    return "\n".join(lines)


# --------------------------------------------------------------------------- CLI
def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of ``voxsep prepare offline``."""
    parser.add_argument("output", type=Path, nargs="?",
                        help="output folder (created; refused if it holds something else)")
    parser.add_argument("--sample-rate", type=int, choices=(8000, 16000), default=8000)
    parser.add_argument("--n-train-mixtures", type=int, default=None,
                        help=f"mixtures per training set (default {DEFAULTS['n_train_mixtures']})")
    parser.add_argument("--n-valid-mixtures", type=int, default=None,
                        help=f"(default {DEFAULTS['n_valid_mixtures']})")
    parser.add_argument("--n-test-mixtures", type=int, default=None, help=f"(default {DEFAULTS['n_test_mixtures']})")
    parser.add_argument("--n-src", type=int, nargs="+", choices=(2, 3), default=[2, 3],
                        help="which mixture sets to build (default: 2 3)")
    parser.add_argument("--utterances-per-speaker", type=int, default=None,
                        help=f"(default {DEFAULTS['utterances_per_speaker']})")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--jobs", type=int, default=2, help="worker processes (default 2)")
    parser.add_argument("--tiny", action="store_true",
                        help="a few utterances and mixtures (for tests); explicit counts still win")
    parser.add_argument("--overwrite", action="store_true", help="replace a previous build with other settings")
    parser.add_argument("--list-packages", action="store_true", help="print the Debian packages needed and exit")


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
    from voxsep.data.prepare.common import (mark_complete, prepare_output_dir, relpath, run_tasks, write_csv_atomic,
                                            write_mixture_manifest, write_text_atomic, write_utterance_list)

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
    prepare_output_dir(output, config, overwrite, owned=[rate_dir.name, "README.md", "speakers.csv"])
    speech_dir = rate_dir / "speech"

    tasks = [{"speaker": s, "index": i, "seed": seed, "sample_rate": sample_rate,
              "count": counts["utterances_per_speaker"], "speech_dir": str(speech_dir)}
             for i, s in enumerate(SPEAKERS)]
    # Slow speakers first (festival starts slowly, real voices decode many prompts).
    order = sorted(range(len(tasks)), key=lambda i: SPEAKERS[i].engine not in ("festival", "asterisk", "derived"))
    results = run_tasks(_make_speaker, [tasks[i] for i in order], jobs, "speakers")
    rows_by_speaker = {SPEAKERS[i].name: rows for i, rows in zip(order, results)}

    write_csv_atomic(output / "speakers.csv", ["speaker", "sex", "kind", "split", "description"],
                     [(s.name, s.sex, s.kind, s.split, s.description) for s in SPEAKERS])
    groups = {s.name: s.group for s in SPEAKERS}
    stats: dict[str, Any] = {}
    total_samples = 0
    for split in SPLITS:
        rows = [row for s in SPEAKERS if s.split == split for row in rows_by_speaker[s.name]]
        write_utterance_list(rate_dir / f"utterances_{split}.csv",
                             [(u, s, Path(p), n, sr) for u, s, p, n, sr in rows])
        total_samples += sum(r[3] for r in rows)
        stats[f"{split} utterances"] = f"{len(rows)} from {len({r[1] for r in rows})} speakers"

    split_counts = {"train": counts["n_train_mixtures"], "valid": counts["n_valid_mixtures"],
                    "test": counts["n_test_mixtures"]}
    for n in n_src:
        set_dir = rate_dir / f"{n}speakers"
        for split_index, split in enumerate(SPLITS):
            utterances = {s.name: [(u, Path(p)) for u, _, p, _, _ in rows_by_speaker[s.name]]
                          for s in SPEAKERS if s.split == split}
            rng = np.random.default_rng([seed, 7, n, split_index])
            plans = plan_mixtures(utterances, groups, n, split_counts[split], rng)
            lines = [" ".join(f"{relpath(path, rate_dir)} {_gain_name(g)}" for (_, path), g in zip(picked, gains))
                     for picked, gains in plans]
            write_text_atomic(set_dir / f"mix_{n}_spk_{split}.txt", "".join(line + "\n" for line in lines))
            chunk = 50
            mix_tasks = [{"plans": plans[i:i + chunk], "sample_rate": sample_rate, "folder": str(set_dir / split),
                          "n_src": n} for i in range(0, len(plans), chunk)]
            mixtures = [row for part in run_tasks(_make_mixtures, mix_tasks, jobs, f"{n}spk {split}")
                        for row in part]
            write_mixture_manifest(set_dir / f"{split}.csv", mixtures, n_src=n)
            hours = sum(r["length"] for r in mixtures) / sample_rate / 3600
            stats[f"{n}-speaker {split} mixtures"] = f"{len(mixtures)} ({hours:.2f} h)"
    stats["speech"] = f"{total_samples / sample_rate / 3600:.2f} h of utterances"
    stats["build time"] = f"{time.perf_counter() - started:.0f} s with {jobs} job(s)"
    write_text_atomic(output / "README.md", _readme(config, SPEAKERS, stats))
    mark_complete(output, config)
    return stats


def run(args: argparse.Namespace) -> int:
    """Entry point of ``voxsep prepare offline``."""
    from voxsep.data.prepare.common import MissingPackageError, apt_install_line

    if args.list_packages:
        print(apt_install_line(required_packages(args.sample_rate)))
        return 0
    if args.output is None:
        print("error: give the output folder, e.g. voxsep prepare offline data/offline")
        return 2
    try:
        stats = build_offline(args.output, sample_rate=args.sample_rate, n_train_mixtures=args.n_train_mixtures,
                              n_valid_mixtures=args.n_valid_mixtures, n_test_mixtures=args.n_test_mixtures,
                              utterances_per_speaker=args.utterances_per_speaker, n_src=args.n_src, seed=args.seed,
                              jobs=args.jobs, tiny=args.tiny, overwrite=args.overwrite)
    except (MissingPackageError, FileExistsError) as error:
        print(f"error: {error}")
        return 2
    print(f"offline corpus ready in {args.output}")
    for key, value in stats.items():
        print(f"  {key}: {value}")
    return 0

