"""The offline corpus in rooms: recorded noise and the held-out room sets.

Two parts of ``voxsep prepare offline``:

* **Noise** (:func:`prepare_noise`): recorded non-speech sound from two games, resampled
  to the corpus rate, files of at least one second, listed as utterance lists (speaker
  column = source):

  - ``noise_train.csv``: the city sounds of LinCity-NG (``lincity-ng-data``, GPL-2+:
    industry, traffic, building sites, farms, fire; 44.1 kHz wav) -- for training;
  - ``noise_heldout.csv``: the machine and robot sounds of Colobot
    (``colobot-common-sounds``, GPL-3+; 22.05 kHz wav) -- never used in training, the
    noise of the room sets.

* **Room sets** (:func:`build_room_set`): ``2speakers/{valid,test}_room.csv``, the
  mixtures of ``{valid,test}_real.csv`` (same utterances, same relative levels) put in a
  simulated shoebox room (pyroomacoustics image-source method, one microphone, RT60
  0.1-0.8 s, talkers 0.5-3 m from the microphone) with background babble of one to three
  other held-out voices of the same split (in the same room; continuous speech made of
  consecutive utterances) and a Colobot noise, the background 0-15 dB below the louder
  talker. **Targets are the reverberant talkers** (each talker as the microphone hears
  it, reverberation included): separation, not dereverberation. Each mixture is drawn
  from its own generator (``seed``, split, index), so a set is deterministic and an
  interrupted build resumes by skipping complete mixtures.
"""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["NOISE_SOURCES", "ROOM_SETS", "prepare_noise", "build_room_set", "noise_list", "room_manifest"]

#: name -> (Debian package, folder of wav files, utterance list written).
NOISE_SOURCES = {
    "lincity": ("lincity-ng-data", Path("/usr/share/games/lincity-ng/sounds"), "noise_train.csv"),
    "colobot": ("colobot-common-sounds", Path("/usr/share/games/colobot/sounds"), "noise_heldout.csv"),
}
ROOM_SETS = ("valid", "test")
MIN_NOISE_SECONDS = 1.0
RT60 = (0.1, 0.8)
SOURCE_DISTANCE = (0.5, 3.0)
SNR_DB = (0.0, 15.0)
BABBLE = (1, 3)


def noise_list(rate_dir: Path, name: str) -> Path:
    """The utterance list of noise source ``name`` in a corpus rate folder."""
    return Path(rate_dir) / NOISE_SOURCES[name][2]


def room_manifest(rate_dir: Path, split: str) -> Path:
    """``<rate_dir>/2speakers/<split>_room.csv``."""
    return Path(rate_dir) / "2speakers" / f"{split}_room.csv"


def prepare_noise(rate_dir: Path, sample_rate: int) -> dict[str, str]:
    """Write the noise files and lists (skipping files already written); returns statistics."""
    from voxsep.core.audio import audio_info, read_audio, write_audio
    from voxsep_corpus.common import write_utterance_list

    stats = {}
    for name, (_package, folder, _list_name) in NOISE_SOURCES.items():
        rows = []
        for path in sorted(folder.glob("*.wav")):
            out = Path(rate_dir) / "noise" / name / f"{path.stem}.wav"
            if not out.exists():
                audio, _ = read_audio(path, sample_rate=sample_rate, channels=1)
                signal = audio[0].astype(np.float64)
                if signal.shape[-1] < MIN_NOISE_SECONDS * sample_rate or np.abs(signal).max() < 1e-4:
                    continue
                write_audio(out, 0.9 * signal / np.abs(signal).max(), sample_rate, overwrite=True)
            rows.append((f"{name}_{path.stem}", name, out, audio_info(out).frames, sample_rate))
        write_utterance_list(noise_list(rate_dir, name), rows)
        seconds = sum(r[3] for r in rows) / sample_rate
        stats[f"noise {name}"] = f"{len(rows)} files ({seconds / 60:.1f} min)"
    return stats


def _read_rows(path: Path) -> list[dict[str, str]]:
    with open(path, newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def _speaker_of_utterances(rate_dir: Path, split: str) -> dict[str, str]:
    """Utterance path (relative to ``rate_dir``) -> speaker, for one split."""
    listed = Path(rate_dir) / f"utterances_{split}.csv"
    return {(listed.parent / row["path"]).resolve().relative_to(Path(rate_dir).resolve()).as_posix(): row["speaker"]
            for row in _read_rows(listed)}


def _continuous_speech(paths: list[Path], length: int, rng: np.random.Generator, sample_rate: int) -> np.ndarray:
    """``length`` samples of one talker: consecutive random utterances with 0.1-0.5 s pauses,
    starting at a random point."""
    from voxsep.core.audio import read_audio

    pieces, total = [], 0
    while total < 2 * length:
        audio = read_audio(paths[int(rng.integers(len(paths)))], sample_rate=sample_rate, channels=1)[0][0]
        pause = np.zeros(int(rng.uniform(0.1, 0.5) * sample_rate))
        pieces += [audio.astype(np.float64), pause]
        total += audio.shape[-1] + pause.shape[-1]
    speech = np.concatenate(pieces)
    start = int(rng.integers(speech.shape[-1] - length + 1))
    return speech[start: start + length]


def _room_mixture(task: dict[str, Any]) -> dict[str, Any]:
    """Write one room mixture (unless complete) and return its manifest row."""
    from voxsep.core.audio import active_rms, audio_info, read_audio, write_audio
    from voxsep.data.background import scale_background
    from voxsep.data.reverb import RoomReverb

    sample_rate, folder, name = task["sample_rate"], Path(task["folder"]), task["name"]
    mix_path = folder / "mix" / f"{name}.wav"
    source_paths = [folder / f"s{i + 1}" / f"{name}.wav" for i in range(len(task["sources"]))]
    if not (mix_path.exists() and all(p.exists() for p in source_paths)):
        rng = np.random.default_rng(task["seed"])
        dry = np.stack([read_audio(p, sample_rate=sample_rate, channels=1)[0][0] for p in task["sources"]])
        length = dry.shape[-1]
        n_babble = min(int(rng.integers(BABBLE[0], BABBLE[1] + 1)), len(task["babble_pool"]))
        babblers = [task["babble_pool"][int(i)] for i in rng.choice(len(task["babble_pool"]), n_babble, replace=False)]
        level = max(active_rms(d, sample_rate) for d in dry)
        babble = np.stack([_continuous_speech(paths, length, rng, sample_rate) for paths in babblers]) \
            if babblers else np.zeros((0, length))
        for i in range(babble.shape[0]):
            babble[i] *= level * 10.0 ** (rng.uniform(-5, 5) / 20.0) / max(active_rms(babble[i], sample_rate), 1e-8)
        reverb = RoomReverb(sample_rate, rt60=RT60, source_distance=SOURCE_DISTANCE, keep_level=True)
        images = reverb(np.concatenate([dry, babble]), rng)  # (n_talkers + n_babble, 1, time)
        talkers, babble_images = images[: dry.shape[0]], images[dry.shape[0]:]
        noise_file = task["noise_files"][int(rng.integers(len(task["noise_files"])))]
        noise = read_audio(noise_file, sample_rate=sample_rate, channels=1)[0][0].astype(np.float64)
        noise = np.tile(noise, length // noise.shape[-1] + 2)
        start = int(rng.integers(noise.shape[-1] - length + 1))
        background = scale_background(talkers, babble_images, noise[None, start: start + length], sample_rate,
                                      float(rng.uniform(-10.0, 5.0)), float(rng.uniform(*SNR_DB)))
        mixture = talkers.sum(axis=0) + background
        peak = max(float(np.abs(mixture).max()), float(np.abs(talkers).max()))
        scale = 0.9 / peak if peak > 0 else 1.0
        for path, talker in zip(source_paths, talkers):
            write_audio(path, talker[0] * scale, sample_rate, overwrite=True)
        write_audio(mix_path, mixture[0] * scale, sample_rate, overwrite=True)  # last: marks it complete
    return {"mixture_ID": name, "mixture_path": mix_path, "source_paths": source_paths,
            "length": audio_info(mix_path).frames}


def build_room_set(rate_dir: Path, split: str, seed: int, sample_rate: int, jobs: int = 1) -> dict[str, str]:
    """Write ``2speakers/<split>_room`` from ``2speakers/<split>_real`` (see the module docstring).

    Needs the noise lists of :func:`prepare_noise`. Returns statistics.
    """
    from voxsep_corpus.common import run_tasks, write_mixture_manifest

    rate_dir = Path(rate_dir)
    set_dir = rate_dir / "2speakers"
    real_rows = _read_rows(set_dir / f"{split}_real.csv")
    plan_lines = (set_dir / f"mix_2_spk_{split}_real.txt").read_text(encoding="utf-8").splitlines()
    if len(plan_lines) != len(real_rows):
        raise ValueError(f"{set_dir / f'{split}_real.csv'} and its mixing list disagree ({len(real_rows)} rows, "
                         f"{len(plan_lines)} lines); rebuild the corpus")
    speakers = _speaker_of_utterances(rate_dir, split)
    utterances: dict[str, list[Path]] = {}
    for relative, speaker in speakers.items():
        utterances.setdefault(speaker, []).append(rate_dir / relative)
    heldout = set(speakers[line.split()[0]] for line in plan_lines) | set(speakers[line.split()[2]] for line in plan_lines)
    noise_base = noise_list(rate_dir, "colobot").parent
    noise_files = [str(noise_base / row["path"]) for row in _read_rows(noise_list(rate_dir, "colobot"))]
    tasks = []
    for index, (row, line) in enumerate(zip(real_rows, plan_lines)):
        fields = line.split()
        talkers = {speakers[fields[0]], speakers[fields[2]]}
        tasks.append({
            "name": row["mixture_ID"], "sample_rate": sample_rate, "folder": str(set_dir / f"{split}_room"),
            "sources": [str(set_dir / row[f"source_{i}_path"]) for i in (1, 2)],
            "babble_pool": [[str(p) for p in utterances[s]] for s in sorted(heldout - talkers)],
            "noise_files": noise_files, "seed": [seed, 12, ROOM_SETS.index(split), index],
        })
    rows = run_tasks(_room_mixture, tasks, jobs, f"2spk {split}_room")
    write_mixture_manifest(room_manifest(rate_dir, split), rows, n_src=2)
    hours = sum(r["length"] for r in rows) / sample_rate / 3600
    return {f"2-speaker {split}_room mixtures": f"{len(rows)} ({hours:.2f} h)"}

