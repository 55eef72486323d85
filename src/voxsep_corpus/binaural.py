"""``voxsep prepare binaural``: Binaural-WSJ0Mix-style two-ear mixture sets, and a reader.

Han, Luo & Mesgarani, "Real-time binaural speech separation with preserved spatial
cues", ICASSP 2020, built Binaural-WSJ0Mix by placing each wsj0-2mix / wsj0-3mix talker
at a random direction of a CIPIC HRIR set and mixing the two-ear images
(github.com/huangzj421/BinauralWSJ0Mix). This preparer does the same from any
single-channel material voxsep can read:

* a speaker-labelled corpus (``--corpus`` = the offline corpus of ``voxsep prepare
  offline``, or ``--utterances SPLIT=CSV`` utterance lists): talkers of different
  speakers, levels drawn and mixed as wsj0-mix does (:func:`voxsep_corpus.levels.mix_at_levels`);
* an existing single-channel mixture set (``--from-manifest SPLIT=PATH``: a wsj0-2mix
  folder ``.../wav8k/min/tt`` or a LibriMix CSV): its sources, at their levels, are
  spatialised and remixed under the same mixture names.

Each talker is rendered at a distinct random direction (at least ``--min-separation``
degrees apart) with HRIRs from a SOFA file (``--hrtf``, default the MIT KEMAR set of
Debian's libmysofa1) or a CIPIC-style wav folder (``--hrtf-wav-path``). When the HRIR set
holds several listeners (CIPIC), they are split between train/valid/test so that the
test set is listener-independent, as in Binaural-WSJ0Mix. ``--rt60`` adds shoebox-room
reverberation (image sources through the HRIRs).

Output layout (that of Binaural-WSJ0Mix, stereo wavs, channel 0 = left ear)::

    OUT/2speakers/wav8k/min/{tr,cv,tt}/{mix,s1,s2}/<name>.wav
    OUT/2speakers/wav8k/min/{tr,cv,tt}.csv               LibriMix-format manifests
    OUT/2speakers/wav8k/min/{tr,cv,tt}_directions.csv    azimuth/elevation per talker
    OUT/3speakers/...                                     (with s3/)
    OUT/README.md

Targets ``s<i>`` are each talker's two-ear image; ``mix`` is their sum. Any split folder
or manifest loads with :class:`voxsep.data.datasets.MixtureDataset` as multichannel
data; :func:`load_binaural_wsj0mix` finds and checks a split in a published
Binaural-WSJ0Mix tree.
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path
from typing import Any, Sequence

import numpy as np


SPLITS = {"train": "tr", "valid": "cv", "test": "tt"}
SPLIT_ALIASES = {"train": "tr", "tr": "tr", "valid": "cv", "cv": "cv", "test": "tt", "tt": "tt"}
DEFAULT_COUNTS = {"train": 2000, "valid": 300, "test": 300}
FORMAT_VERSION = 1
MAX_AMPLITUDE = 0.9

__all__ = [
    "build_binaural",
    "find_binaural_wsj0mix",
    "load_binaural_wsj0mix",
]


# --------------------------------------------------------------------------- reader
def find_binaural_wsj0mix(root: str | os.PathLike, n_src: int = 2, sample_rate: int = 8000, mode: str = "min",
                          split: str = "tt") -> Path:
    """The split folder (holding ``mix/ s1/ s2/ [s3/]``) of a Binaural-WSJ0Mix tree.

    ``root`` may be the split folder itself, or any folder above it in the published
    layout ``[<n>speakers/]wav{8k,16k}/{min,max}/{tr,cv,tt}`` (also the layout written
    by ``voxsep prepare binaural``).

    Raises:
        FileNotFoundError: no such split under ``root``; the message lists what was tried.
    """
    root = Path(root)
    code = SPLIT_ALIASES.get(split)
    if code is None:
        raise ValueError(f"unknown split {split!r}; use one of {', '.join(SPLIT_ALIASES)}")
    rate_dir = f"wav{sample_rate // 1000}k"
    candidates = [root, root / code, root / mode / code, root / rate_dir / mode / code,
                  root / f"{n_src}speakers" / rate_dir / mode / code]
    for candidate in candidates:
        if (candidate / "mix").is_dir() and (candidate / "s1").is_dir():
            return candidate
    raise FileNotFoundError(
        f"no Binaural-WSJ0Mix split '{code}' ({n_src} speakers, {rate_dir}, {mode}) under {root}; looked for a "
        f"folder with mix/ and s1/ in: {', '.join(str(c) for c in candidates)}"
    )


def load_binaural_wsj0mix(root: str | os.PathLike, n_src: int = 2, sample_rate: int = 8000, mode: str = "min",
                          split: str = "tt") -> list:
    """Records of one split of a Binaural-WSJ0Mix tree, checked to be two-ear audio.

    Returns:
        ``list[MixtureRecord]`` (see :mod:`voxsep.data.manifest`), loadable with
        ``MixtureDataset(records, n_src, sample_rate)``, which yields mixtures
        ``(2, time)`` and sources ``(n_src, 2, time)``.

    Raises:
        FileNotFoundError: the split is missing.
        ValueError: wrong number of sources, or a file that is not stereo at ``sample_rate``.
    """
    from voxsep.core.audio import audio_info
    from voxsep.data.manifest import load_manifest

    folder = find_binaural_wsj0mix(root, n_src, sample_rate, mode, split)
    records = load_manifest(folder)
    if not records:
        raise ValueError(f"Binaural-WSJ0Mix split {folder} holds no mixtures")
    first = records[0]
    if first.n_src != n_src:
        raise ValueError(f"{folder} has {first.n_src} source folders but n_src={n_src}")
    for path in first.paths:
        info = audio_info(path)
        if info.channels != 2 or info.sample_rate != sample_rate:
            raise ValueError(f"{path} has {info.channels} channel(s) at {info.sample_rate} Hz; a Binaural-WSJ0Mix "
                             f"file is two-ear (stereo) at {sample_rate} Hz")
    return records


# --------------------------------------------------------------------------- building
def _speaker_groups(speakers: Sequence[str]) -> dict[str, str]:
    """Speakers that must not be mixed together share a group (offline corpus: same person)."""
    groups = {s: s for s in speakers}
    try:
        from voxsep_corpus.voices.speakers import SPEAKERS

        known = {s.name: s.group for s in SPEAKERS}
        groups.update({s: known[s] for s in speakers if s in known})
    except (ImportError, AttributeError):
        pass
    return groups


def _split_hrirs(hrirs: Any, split: str) -> Any:
    """Disjoint listeners per split when the set has >= 3 (CIPIC); else the whole set."""
    from voxsep.data.spatial import HRIRSet

    subjects = sorted(set(hrirs.subjects))
    if len(subjects) < 3:
        return hrirs
    n = len(subjects)
    n_test = max(1, round(n * 0.2))
    n_valid = max(1, round(n * 0.2))
    chosen = {"test": subjects[:n_test], "valid": subjects[n_test:n_test + n_valid],
              "train": subjects[n_test + n_valid:]}[split]
    keep = np.isin(hrirs.subjects, chosen)
    return HRIRSet(hrirs.irs[keep], hrirs.azimuths[keep], hrirs.elevations[keep], hrirs.sample_rate,
                   hrirs.source, hrirs.subjects[keep])


def _make_binaural(task: dict[str, Any]) -> list[dict[str, Any]]:
    """Write one chunk of binaural mixtures (skipping complete ones); returns manifest rows."""
    from voxsep.core.audio import audio_info, read_audio, write_audio
    from voxsep_corpus.levels import mix_at_levels

    rate, folder, n_src = task["sample_rate"], Path(task["folder"]), task["n_src"]
    spatializer = task["spatializer"]
    rows = []
    for plan in task["plans"]:
        name = plan["name"]
        mix_path = folder / "mix" / f"{name}.wav"
        source_paths = [folder / f"s{i + 1}" / f"{name}.wav" for i in range(n_src)]
        rng = np.random.default_rng(plan["seed"])
        indices = spatializer.sample_directions(n_src, rng)  # drawn even when resuming: same directions
        directions = [(float(spatializer.hrirs.azimuths[i]), float(spatializer.hrirs.elevations[i])) for i in indices]
        if not (mix_path.exists() and all(p.exists() for p in source_paths)):
            signals = [read_audio(path, sample_rate=rate, channels=1)[0][0] for path in plan["paths"]]
            if plan["gains"] is not None:
                _, dry = mix_at_levels(signals, plan["gains"], rate, mode=task["mode"])
            else:  # an existing mixture set: keep its levels
                length = min(len(s) for s in signals) if task["mode"] == "min" else max(len(s) for s in signals)
                dry = np.stack([np.pad(s[:length], (0, max(0, length - len(s)))) for s in signals])
            images = spatializer.render_directions(dry, indices, rng)
            mixture = images.sum(0)
            peak = max(float(np.abs(mixture).max()), float(np.abs(images).max()), 1e-9)
            scale = min(1.0, MAX_AMPLITUDE / peak)
            for path, image in zip(source_paths, images):
                write_audio(path, image * scale, rate, overwrite=True)
            write_audio(mix_path, mixture * scale, rate, overwrite=True)  # last: marks the mixture complete
        rows.append({"mixture_ID": name, "mixture_path": mix_path, "source_paths": source_paths,
                     "length": audio_info(mix_path).frames, "directions": directions})
    return rows


def _plans_from_pool(csv_path: Path, n_src: int, count: int, rng: np.random.Generator,
                     seed_key: list[int]) -> list[dict[str, Any]]:
    from voxsep.data.datasets import load_speaker_pool
    from voxsep_corpus.offline import mixture_name, plan_mixtures

    pool = load_speaker_pool(csv_path)
    utterances = {s: [(p.stem, p) for p in paths] for s, paths in pool.items()}
    drawn = plan_mixtures(utterances, _speaker_groups(list(pool)), n_src, count, rng)
    if len(drawn) < count:
        raise ValueError(f"{csv_path}: could only draw {len(drawn)} distinct {n_src}-speaker mixtures of the "
                         f"{count} asked; ask for fewer or use a larger utterance list")
    return [{"name": mixture_name(picked, gains), "paths": [p for _, p in picked], "gains": gains,
             "seed": [*seed_key, i]} for i, (picked, gains) in enumerate(drawn)]


def _plans_from_manifest(path: Path, n_src: int, seed_key: list[int]) -> list[dict[str, Any]]:
    from voxsep.data.manifest import load_manifest

    records = load_manifest(path)
    for record in records:
        if record.n_src != n_src:
            raise ValueError(f"{path}: mixture {record.mixture_id!r} has {record.n_src} sources, not {n_src}")
    return [{"name": r.mixture_id, "paths": list(r.source_paths), "gains": None, "seed": [*seed_key, i]}
            for i, r in enumerate(records)]


def build_binaural(
    output: str | os.PathLike,
    corpus: str | os.PathLike | None = None,
    utterances: dict[str, str | os.PathLike] | None = None,
    manifests: dict[str, str | os.PathLike] | None = None,
    hrtf: str | os.PathLike | None = None,
    sample_rate: int = 8000,
    n_src: Sequence[int] = (2, 3),
    counts: dict[str, int] | None = None,
    mode: str = "min",
    min_separation: float = 10.0,
    azimuth_range: tuple[float, float] = (-90.0, 90.0),
    elevation_range: tuple[float, float] = (-45.0, 45.0),
    rt60: tuple[float, float] | None = None,
    seed: int = 0,
    jobs: int = 1,
    overwrite: bool = False,
) -> dict[str, Any]:
    """Build (or resume) binaural mixture sets; see the module docstring.

    Args:
        output: output folder.
        corpus: offline corpus root (uses ``wav{8k,16k}/utterances_{train,valid,test}.csv``).
        utterances: ``{split: utterance list CSV}`` (overrides ``corpus`` per split).
        manifests: ``{split: wsj0-mix folder or LibriMix CSV}`` to spatialise instead.
        hrtf: SOFA file or CIPIC-style wav folder (default: MIT KEMAR SOFA).
        sample_rate: output rate.
        n_src: speaker counts to build (2 and/or 3).
        counts: ``{split: mixtures}`` when mixing from utterance lists.
        mode: ``"min"`` (cut to the shortest talker) or ``"max"`` (pad to the longest).
        min_separation: minimum angle between talkers, degrees.
        azimuth_range, elevation_range: allowed directions (SOFA convention, +90 = left).
        rt60: ``None`` (anechoic) or a ``(low, high)`` reverberation time range, seconds.
        seed: random seed; the same seed and settings give identical files.
        jobs: worker processes.
        overwrite: replace a previous build with other settings.

    Returns:
        Statistics of the build.

    Raises:
        ValueError: no input given, or inputs that cannot make the requested sets.
        FileNotFoundError: a missing corpus, list, manifest or HRIR source.
        FileExistsError: the output folder holds something else (see ``overwrite``).
    """
    from voxsep_corpus.common import (check_inside, mark_complete, prepare_output_dir, run_tasks,
                                            write_csv_atomic, write_mixture_manifest)
    from voxsep.core.files import write_text_atomic
    from voxsep.data.spatial import KEMAR_SOFA, BinauralSpatializer, load_hrirs

    started = time.perf_counter()
    output = Path(output)
    if mode not in ("min", "max"):
        raise ValueError(f"mode must be 'min' or 'max', got {mode!r}")
    rate_dir = f"wav{sample_rate // 1000}k"
    sources: dict[str, tuple[str, Path]] = {}
    if corpus is not None:
        for split in SPLITS:
            path = Path(corpus) / rate_dir / f"utterances_{split}.csv"
            if not path.is_file():
                raise FileNotFoundError(f"{path} not found: the corpus must be a folder made by 'voxsep prepare "
                                        f"offline' at {sample_rate} Hz (or give utterance lists per split)")
            sources[split] = ("pool", path)
    for split, path in (utterances or {}).items():
        sources[_split_name(split)] = ("pool", Path(path))
    for split, path in (manifests or {}).items():
        sources[_split_name(split)] = ("manifest", Path(path))
    if not sources:
        raise ValueError("nothing to spatialise: give a corpus, utterance lists or manifests per split")
    for kind, path in sources.values():
        if not path.exists():
            raise FileNotFoundError(f"{'utterance list' if kind == 'pool' else 'manifest'} {path} does not exist")
        check_inside(output, path if path.is_dir() else path.parent, "source corpus")
    hrtf_path = Path(hrtf) if hrtf is not None else KEMAR_SOFA
    counts = {**DEFAULT_COUNTS, **(counts or {})}
    n_src = sorted(set(int(n) for n in n_src))
    config = {
        "format": FORMAT_VERSION, "sample_rate": sample_rate, "n_src": n_src, "mode": mode, "seed": seed,
        "hrtf": str(hrtf_path.resolve()), "min_separation": min_separation, "azimuth_range": list(azimuth_range),
        "elevation_range": list(elevation_range), "rt60": list(rt60) if rt60 else None,
        "sources": {s: [k, str(p.resolve())] for s, (k, p) in sorted(sources.items())},
        "counts": {s: counts[s] for s in sorted(sources) if sources[s][0] == "pool"},
    }
    hrirs = load_hrirs(hrtf_path)
    prepare_output_dir(output, config, overwrite, owned=[f"{n}speakers" for n in (2, 3)] + ["README.md"])
    stats: dict[str, Any] = {"hrirs": f"{hrtf_path} ({len(hrirs)} directions, {len(set(hrirs.subjects))} listener(s))"}
    for n in n_src:
        set_dir = output / f"{n}speakers" / rate_dir / mode
        for split_index, split in enumerate(SPLITS):
            if split not in sources:
                continue
            kind, path = sources[split]
            seed_key = [seed, n, split_index]
            if kind == "pool":
                plans = _plans_from_pool(path, n, counts[split], np.random.default_rng([*seed_key, 1]), seed_key)
            else:
                plans = _plans_from_manifest(path, n, seed_key)
            spatializer = BinauralSpatializer(_split_hrirs(hrirs, split), sample_rate, min_separation=min_separation,
                                              azimuth_range=azimuth_range, elevation_range=elevation_range, rt60=rt60)
            code = SPLITS[split]
            chunk = 25
            tasks = [{"plans": plans[i:i + chunk], "sample_rate": sample_rate, "folder": str(set_dir / code),
                      "n_src": n, "mode": mode, "spatializer": spatializer} for i in range(0, len(plans), chunk)]
            rows = [row for part in run_tasks(_make_binaural, tasks, jobs, f"{n}spk {split}") for row in part]
            write_mixture_manifest(set_dir / f"{code}.csv", rows, n_src=n)
            write_csv_atomic(set_dir / f"{code}_directions.csv",
                             ["mixture_ID"] + [f"{k}_{i + 1}" for i in range(n) for k in ("azimuth", "elevation")],
                             [[r["mixture_ID"]] + [round(v, 3) for d in r["directions"] for v in d] for r in rows])
            hours = sum(r["length"] for r in rows) / sample_rate / 3600
            stats[f"{n}-speaker {split} ({code})"] = f"{len(rows)} mixtures ({hours:.2f} h)"
    stats["build time"] = f"{time.perf_counter() - started:.0f} s with {jobs} job(s)"
    write_text_atomic(output / "README.md", _readme(config, stats))
    mark_complete(output, config)
    return stats


def _split_name(split: str) -> str:
    code = SPLIT_ALIASES.get(split)
    if code is None:
        raise ValueError(f"unknown split {split!r}; use train, valid or test")
    return {v: k for k, v in SPLITS.items()}[code]


def _readme(config: dict[str, Any], stats: dict[str, Any]) -> str:
    rate_dir = f"wav{config['sample_rate'] // 1000}k"
    lines = [
        "# voxsep binaural mixture sets (Binaural-WSJ0Mix layout)",
        "",
        "Each talker is rendered at a distinct random direction with head-related impulse responses and the",
        "two-ear images are summed (Han, Luo & Mesgarani, ICASSP 2020). Stereo wavs, channel 0 = left ear.",
        "",
        f"* layout: `<n>speakers/{rate_dir}/{config['mode']}/{{tr,cv,tt}}/{{mix,s1,s2[,s3]}}/*.wav`;",
        f"  manifests `<n>speakers/{rate_dir}/{config['mode']}/{{tr,cv,tt}}.csv`, directions in `*_directions.csv`",
        "  (azimuth counter-clockwise, +90 = left; elevation up).",
        f"* HRIRs: {config['hrtf']}; minimum talker separation {config['min_separation']} degrees;",
        f"  azimuths {config['azimuth_range']}, elevations {config['elevation_range']};",
        f"  room reverberation: {'RT60 %s s' % config['rt60'] if config['rt60'] else 'none (anechoic)'}.",
        f"* seed {config['seed']}; rebuild with the same settings to resume or reproduce.",
        "",
        "## Contents",
        "",
    ]
    lines += [f"* {key}: {value}" for key, value in stats.items()]
    lines += ["", "Train: `voxsep train recipes/binaural/parallel.yaml exp/binaural_parallel` "
              "(set data.train/valid/test to the tr/cv/tt folders).", ""]
    return "\n".join(lines)


# --------------------------------------------------------------------------- CLI
def _split_assignment(text: str) -> tuple[str, Path]:
    if "=" not in text:
        raise argparse.ArgumentTypeError(f"expected SPLIT=PATH (split: train, valid or test), got {text!r}")
    split, path = text.split("=", 1)
    try:
        return _split_name(split.strip()), Path(path)
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from error


