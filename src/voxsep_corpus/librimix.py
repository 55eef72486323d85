"""``voxsep prepare librimix``: Libri2Mix / Libri3Mix-style sets from LibriSpeech (+ WHAM! noise).

Follows the LibriMix recipe (Cosentino et al., 2020, arXiv:2005.11262):

* utterances shorter than 3 s are left out; each utterance is used at most once per
  subset, in groups of ``n_src`` utterances of different speakers (random, seeded);
* each source gets a random loudness target uniform in [-33, -25] LUFS, the noise
  (channel 0 of a WHAM! file, from ``tr`` for training subsets, ``cv`` for dev, ``tt``
  for test) one in [-38, -30] LUFS, measured with ITU-R BS.1770 integrated loudness
  (``pyloudnorm``, the meter LibriMix uses) at the 16 kHz source rate;
* clipping guard: if the ``max``-length mixture of the gained sources and noise peaks
  above 0.9, every gain is multiplied by ``0.9 / peak``;
* gains are applied at 16 kHz, then sources are resampled (soxr) to the output rate and
  cut to the shortest (``min``) or zero-padded to the longest (``max``); a noise shorter
  than the mixture is extended with 0.5 s Hann cross-fades, a longer one is cut.

Outputs, as LibriMix: ``OUT/wav{8k,16k}/{min,max}/<subset>/{s1,s2[,s3],mix_clean[,noise,
mix_both,mix_single]}/<mixture_ID>.wav``, manifests
``OUT/wav8k/min/metadata/mixture_<subset>_mix_<type>.csv``, the gains in
``OUT/metadata/libri<n>mix_<subset>.csv`` and speaker-labelled utterance lists
``OUT/metadata/utterances_<subset>.csv`` (for dynamic mixing). Subsets are named as
LibriMix names them (``train-clean-100`` -> ``train-100``, ``dev-clean`` -> ``dev`` ...).
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import numpy as np


SUBSET_NAMES = {"train-clean-100": "train-100", "train-clean-360": "train-360", "train-other-500": "train-500",
                "dev-clean": "dev", "test-clean": "test", "dev-other": "dev-other", "test-other": "test-other"}
NOISE_SPLIT = {"train": "tr", "dev": "cv", "test": "tt"}
SPEECH_LOUDNESS = (-33.0, -25.0)
NOISE_LOUDNESS = (-38.0, -30.0)
MAX_AMPLITUDE = 0.9
MIN_SECONDS = 3.0
SOURCE_RATE = 16000


def _meter(sample_rate: int):
    try:
        import pyloudnorm
    except ImportError as error:
        raise ImportError("LibriMix loudness normalisation needs pyloudnorm: pip install pyloudnorm") from error
    return pyloudnorm.Meter(sample_rate)


def integrated_loudness(signal: np.ndarray, sample_rate: int) -> float:
    """ITU-R BS.1770-4 integrated loudness in LUFS (pyloudnorm); ``-inf`` for silence."""
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # pyloudnorm warns on short or clipped signals
        return float(_meter(sample_rate).integrated_loudness(np.asarray(signal, dtype=np.float64)))


def extend_noise(noise: np.ndarray, length: int, sample_rate: int, fade: float = 0.5) -> np.ndarray:
    """Repeat ``noise`` with Hann cross-fades of ``fade`` seconds until it is ``length`` long.

    Raises:
        ValueError: the noise is shorter than the cross-fade.
    """
    if noise.size >= length:
        return noise[:length]
    n_fade = int(fade * sample_rate)
    if noise.size <= 2 * n_fade:
        raise ValueError(f"noise of {noise.size} samples is too short to extend with {fade} s cross-fades")
    ramp = np.hanning(2 * n_fade + 1)[:n_fade]
    out = noise.astype(np.float64)
    while out.size < length:
        overlap = out[-n_fade:] * ramp[::-1] + noise[:n_fade] * ramp
        out = np.concatenate([out[:-n_fade], overlap, noise[n_fade:]])
    return out[:length]


# --------------------------------------------------------------------------- corpus scan
def read_speakers_txt(path: Path) -> dict[str, str]:
    """Speaker id -> sex (``F``/``M``) from LibriSpeech's SPEAKERS.TXT (``;`` comments, ``|`` fields)."""
    sexes: dict[str, str] = {}
    if not path.exists():
        return sexes
    for line in path.read_text(errors="replace").splitlines():
        if line.startswith(";") or "|" not in line:
            continue
        fields = [f.strip() for f in line.split("|")]
        if len(fields) >= 2 and fields[1] in ("F", "M"):
            sexes[fields[0]] = fields[1]
    return sexes


def scan_subset(folder: Path, min_seconds: float = MIN_SECONDS) -> list[tuple[str, str, Path, int]]:
    """``(utterance_id, speaker, path, length)`` of every flac at least ``min_seconds`` long, sorted.

    Raises:
        ValueError: the folder holds no ``<speaker>/<chapter>/*.flac`` files.
    """
    from voxsep.core.audio import audio_info

    utterances = []
    for path in sorted(folder.glob("*/*/*.flac")):
        info = audio_info(path)
        if info.frames >= min_seconds * info.sample_rate:
            utterances.append((path.stem, path.parent.parent.name, path, info.frames))
    if not utterances:
        raise ValueError(f"no LibriSpeech utterances (<speaker>/<chapter>/*.flac of at least {min_seconds} s) "
                         f"in {folder}")
    return utterances


def group_utterances(utterances: list[tuple[str, str, Path, int]], n_src: int,
                     rng: np.random.Generator) -> list[list[int]]:
    """Group utterance indices ``n_src`` at a time, speakers distinct within a group, each used once."""
    order = list(rng.permutation(len(utterances)))
    groups, pending = [], []
    for index in order:
        pending.append(int(index))
        # Greedily take the earliest pending utterances of distinct speakers.
        chosen, speakers = [], set()
        for candidate in pending:
            if utterances[candidate][1] not in speakers:
                chosen.append(candidate)
                speakers.add(utterances[candidate][1])
            if len(chosen) == n_src:
                break
        if len(chosen) == n_src:
            groups.append(chosen)
            pending = [p for p in pending if p not in chosen]
    return groups


# --------------------------------------------------------------------------- gains and writing
def compute_gains(sources: list[np.ndarray], noise: np.ndarray | None, rng: np.random.Generator,
                  sample_rate: int = SOURCE_RATE) -> tuple[list[float], float | None]:
    """LibriMix gains: loudness targets, then the clipping guard on the ``max`` mixture.

    Args:
        sources: the utterances at ``sample_rate``.
        noise: the noise fitted to the longest source, or ``None``.
        rng: draws the loudness targets.

    Returns:
        ``(source_gains, noise_gain)`` linear gains.
    """
    gains = []
    for source in sources:
        loudness = integrated_loudness(source, sample_rate)
        target = rng.uniform(*SPEECH_LOUDNESS)
        gains.append(10 ** ((target - loudness) / 20) if np.isfinite(loudness) else 1.0)
    noise_gain = None
    if noise is not None:
        loudness = integrated_loudness(noise, sample_rate)
        target = rng.uniform(*NOISE_LOUDNESS)
        noise_gain = 10 ** ((target - loudness) / 20) if np.isfinite(loudness) else 1.0
    length = max(s.size for s in sources)
    mixture = np.zeros(length)
    for source, gain in zip(sources, gains):
        mixture[: source.size] += gain * source
    if noise is not None:
        mixture += noise_gain * noise[:length]
    peak = float(np.abs(mixture).max())
    if peak > MAX_AMPLITUDE:
        weight = MAX_AMPLITUDE / peak
        gains = [g * weight for g in gains]
        noise_gain = None if noise_gain is None else noise_gain * weight
    return [float(g) for g in gains], (None if noise_gain is None else float(noise_gain))


def _write_chunk(task: dict[str, Any]) -> list[dict[str, Any]]:
    """Compute the gains of one chunk of mixtures and write the files missing for every rate/mode."""
    from voxsep.core.audio import audio_info, read_audio, resample, write_audio

    output = Path(task["output"])
    rows = []
    for mix in task["mixtures"]:
        mixture_id = mix["mixture_ID"]
        n = len(mix["source_paths"])
        loaded = [read_audio(p, sample_rate=SOURCE_RATE, channels=1)[0][0] for p in mix["source_paths"]]
        if mix["noise_path"] is not None:
            noise = read_audio(mix["noise_path"], sample_rate=SOURCE_RATE)[0][0]  # channel 0, as LibriMix
            loaded.append(extend_noise(noise, max(s.size for s in loaded), SOURCE_RATE))
        rng = np.random.default_rng(mix["seed"])
        gains, noise_gain = compute_gains(loaded[:n], loaded[n] if len(loaded) > n else None, rng)
        all_gains = gains + ([noise_gain] if noise_gain is not None else [])
        for rate in task["sample_rates"]:
            for mode in task["modes"]:
                folder = output / f"wav{rate // 1000}k" / mode / task["subset"]
                source_paths = [folder / f"s{i + 1}" / f"{mixture_id}.wav" for i in range(n)]
                paths = {"mix_clean": folder / "mix_clean" / f"{mixture_id}.wav"}
                if mix["noise_path"] is not None:
                    paths.update({"noise": folder / "noise" / f"{mixture_id}.wav",
                                  "mix_both": folder / "mix_both" / f"{mixture_id}.wav",
                                  "mix_single": folder / "mix_single" / f"{mixture_id}.wav"})
                if not all(p.exists() for p in [*source_paths, *paths.values()]):
                    signals = [resample(g * s.astype(np.float64), SOURCE_RATE, rate) for g, s in zip(all_gains, loaded)]
                    speech = signals[:n]
                    length = min(s.size for s in speech) if mode == "min" else max(s.size for s in speech)
                    fitted = np.zeros((len(signals), length))
                    for i, s in enumerate(signals):
                        fitted[i, : min(length, s.size)] = s[:length]
                    for path, source in zip(source_paths, fitted[:n]):
                        write_audio(path, source, rate, overwrite=True)
                    if mix["noise_path"] is not None:
                        write_audio(paths["noise"], fitted[n], rate, overwrite=True)
                        write_audio(paths["mix_single"], fitted[0] + fitted[n], rate, overwrite=True)
                        write_audio(paths["mix_both"], fitted.sum(axis=0), rate, overwrite=True)
                    write_audio(paths["mix_clean"], fitted[:n].sum(axis=0), rate, overwrite=True)  # last
                rows.append({"rate": rate, "mode": mode, "mixture_ID": mixture_id, "source_paths": source_paths,
                             "paths": paths, "length": audio_info(paths["mix_clean"]).frames,
                             "gains": gains, "noise_gain": noise_gain})
    return rows


def build_librimix(librispeech: Path, output: Path, n_src: int = 2, wham_noise: Path | None = None,
                   subsets: tuple[str, ...] | None = None, sample_rates: tuple[int, ...] = (8000,),
                   modes: tuple[str, ...] = ("min",), seed: int = 0, jobs: int = 1, overwrite: bool = False,
                   min_seconds: float = MIN_SECONDS) -> dict[str, int]:
    """Build (or resume) Libri<n>Mix-style sets.

    Args:
        librispeech: the LibriSpeech root (subset folders inside; read only).
        output: output folder (must not be inside the corpus).
        n_src: 2 or 3 talkers.
        wham_noise: optional WHAM! noise root (``tr/ cv/ tt/`` folders of wav files).
        subsets: LibriSpeech subset folder names; ``None`` = every known subset present.
        sample_rates: output rates (8000 and/or 16000).
        modes: ``"min"`` and/or ``"max"``.
        seed: random seed (pairing, loudness targets, noise choice).
        jobs: worker processes.
        overwrite: replace a previous build with other settings.
        min_seconds: shortest utterance used.

    Returns:
        Number of mixtures per LibriMix subset name.

    Raises:
        FileNotFoundError: missing LibriSpeech / subset / noise folder.
        ValueError: bad options, no usable utterances or noise, output inside a corpus.
        FileExistsError: the output folder holds something else.
        ImportError: pyloudnorm is not installed.
    """
    from voxsep_corpus.common import (check_inside, mark_complete, prepare_output_dir, relpath, run_tasks,
                                            write_csv_atomic, write_mixture_manifest, write_utterance_list)

    librispeech, output = Path(librispeech), Path(output)
    _meter(SOURCE_RATE)  # fail early if pyloudnorm is missing
    if n_src not in (2, 3):
        raise ValueError(f"n_src must be 2 or 3, got {n_src}")
    if any(m not in ("min", "max") for m in modes):
        raise ValueError(f"modes must be min and/or max, got {list(modes)}")
    if not librispeech.is_dir():
        raise FileNotFoundError(f"LibriSpeech folder {librispeech} not found")
    if subsets is None:
        subsets = tuple(name for name in SUBSET_NAMES if (librispeech / name).is_dir())
        if not subsets:
            raise FileNotFoundError(f"no LibriSpeech subset folder ({', '.join(SUBSET_NAMES)}) in {librispeech}")
    for name in subsets:
        if not (librispeech / name).is_dir():
            raise FileNotFoundError(f"LibriSpeech subset folder {librispeech / name} not found")
    check_inside(output, librispeech, "LibriSpeech folder")
    if wham_noise is not None:
        wham_noise = Path(wham_noise)
        if not wham_noise.is_dir():
            raise FileNotFoundError(f"WHAM! noise folder {wham_noise} not found")
        check_inside(output, wham_noise, "WHAM! noise folder")
    sexes = read_speakers_txt(librispeech / "SPEAKERS.TXT")
    scanned = {name: scan_subset(librispeech / name, min_seconds) for name in subsets}
    fingerprint = hashlib.sha1(json.dumps({k: [(u, n) for u, _, _, n in v] for k, v in scanned.items()}).encode())
    config = {"corpus": "librimix", "n_src": n_src, "sample_rates": sorted(int(r) for r in sample_rates),
              "modes": sorted(modes), "subsets": sorted(subsets), "seed": seed, "min_seconds": min_seconds,
              "librispeech": str(librispeech.resolve()), "utterances": fingerprint.hexdigest(),
              "wham_noise": None if wham_noise is None else str(wham_noise.resolve())}
    prepare_output_dir(output, config, overwrite, owned=["wav8k", "wav16k", "metadata"])

    counts: dict[str, int] = {}
    speaker_rows = []
    for subset_index, name in enumerate(subsets):
        short = SUBSET_NAMES.get(name, name)
        utterances = scanned[name]
        rng = np.random.default_rng([seed, n_src, subset_index])
        groups = group_utterances(utterances, n_src, rng)
        noises: list[Path] = []
        if wham_noise is not None:
            noise_dir = wham_noise / NOISE_SPLIT[short.split("-")[0]]
            noises = sorted(noise_dir.glob("*.wav"))
            if not noises:
                raise ValueError(f"no WHAM! noise wav files in {noise_dir}")
        mixtures = []
        for k, group in enumerate(groups):
            noise_path = noises[int(rng.integers(len(noises)))] if noises else None
            mixtures.append({"mixture_ID": "_".join(utterances[i][0] for i in group),
                             "source_paths": [str(utterances[i][2]) for i in group], "seed": [seed, n_src, subset_index, k],
                             "noise_path": None if noise_path is None else str(noise_path)})
        chunk = 25
        tasks = [{"mixtures": mixtures[i:i + chunk], "output": str(output), "subset": short,
                  "sample_rates": list(sample_rates), "modes": list(modes)} for i in range(0, len(mixtures), chunk)]
        rows = [r for part in run_tasks(_write_chunk, tasks, jobs, f"Libri{n_src}Mix {short}") for r in part]
        by_id = {r["mixture_ID"]: r for r in rows}  # every rate/mode row of a mixture holds its gains
        for m in mixtures:
            m["gains"], m["noise_gain"] = by_id[m["mixture_ID"]]["gains"], by_id[m["mixture_ID"]]["noise_gain"]
        header = ["mixture_ID"] + [c for i in range(n_src) for c in (f"source_{i + 1}_path", f"source_{i + 1}_gain")]
        header += ["noise_path", "noise_gain"] if wham_noise is not None else []
        table = []
        for m in mixtures:
            line = [m["mixture_ID"]]
            for p, g in zip(m["source_paths"], m["gains"]):
                line += [relpath(Path(p), librispeech), f"{g:.8g}"]
            if wham_noise is not None:
                line += [relpath(Path(m["noise_path"]), wham_noise), f"{m['noise_gain']:.8g}"]
            table.append(line)
        write_csv_atomic(output / "metadata" / f"libri{n_src}mix_{short}.csv", header, table)
        write_utterance_list(output / "metadata" / f"utterances_{short}.csv",
                             [(u, s, p, n, SOURCE_RATE) for u, s, p, n in utterances])
        speaker_rows += sorted({(s, sexes.get(s, ""), short) for _, s, _, _ in utterances})
        for rate in sample_rates:
            for mode in modes:
                selected = [r for r in rows if r["rate"] == rate and r["mode"] == mode]
                meta = output / f"wav{rate // 1000}k" / mode / "metadata"
                types = ["mix_clean"] + (["mix_both", "mix_single"] if wham_noise is not None else [])
                for kind in types:
                    manifest_rows = [{"mixture_ID": r["mixture_ID"], "mixture_path": r["paths"][kind],
                                      "source_paths": r["source_paths"][:1] if kind == "mix_single" else r["source_paths"],
                                      "noise_path": r["paths"].get("noise"), "length": r["length"]} for r in selected]
                    write_mixture_manifest(meta / f"mixture_{short}_{kind}.csv", manifest_rows,
                                           n_src=1 if kind == "mix_single" else n_src, noise=kind != "mix_clean")
        counts[short] = len(mixtures)
    write_csv_atomic(output / "metadata" / "speakers.csv", ["speaker", "sex", "subset"], speaker_rows)
    mark_complete(output, config)
    return counts


