"""``voxsep prepare wham``: add WHAM! noise to a wsj0-2mix build (Wichern et al., Interspeech 2019).

Inputs, in the published layouts:

* a wsj0-2mix build: ``WSJ0MIX/wav{8k,16k}/{min,max}/{tr,cv,tt}/{s1,s2}/<utterance_id>``
  (as written by the MATLAB scripts or ``voxsep prepare wsj0mix``);
* the WHAM! noise download: ``wham_noise/{tr,cv,tt}/<utterance_id>`` (noise segments,
  16 kHz, usually 2 channels) and ``wham_noise/metadata/mix_param_meta_{tr,cv,tt}.csv``
  with the columns ``utterance_id, noise_samples_beginning_16k, noise_samples_end_16k,
  target_speaker1_snr_db``.

For each row, as WHAM!'s ``create_wham_from_wsjmix.py`` does: the noise (channel 0)
is read and resampled to the output rate (soxr; WHAM! uses ``resample_poly``); in
``max`` mode the speech is placed in a zero signal of the noise's length starting at
``noise_samples_beginning_16k`` (halved at 8 kHz), in ``min`` mode the noise is cut to
the speech from that sample; both sources are scaled by ``g`` so that speaker 1's
BS.1770 integrated loudness is ``target_speaker1_snr_db`` above the noise's
(``pyloudnorm`` at the output rate); if any of s1, s2, noise, s1+s2, s1+noise,
s1+s2+noise peaks above 0.9, speech and noise are both scaled by ``0.9 / peak``.

Outputs: ``OUT/wav{8k,16k}/{min,max}/{tr,cv,tt}/{s1,s2,noise,mix_clean,mix_single,
mix_both}/<utterance_id>`` and LibriMix-format manifests
``OUT/wav8k/min/{tr,cv,tt}_{mix_both,mix_clean,mix_single}.csv``.
"""

from __future__ import annotations

import csv
import hashlib
from pathlib import Path
from typing import Any

import numpy as np


SPLITS = ("tr", "cv", "tt")
META_COLUMNS = ("utterance_id", "noise_samples_beginning_16k", "noise_samples_end_16k", "target_speaker1_snr_db")
MAX_AMPLITUDE = 0.9


def read_mix_params(path: Path) -> list[dict[str, Any]]:
    """Rows of a WHAM! ``mix_param_meta_<split>.csv``.

    Raises:
        FileNotFoundError: the file does not exist.
        ValueError: a column is missing or a value is not a number (names file and line).
    """
    if not path.exists():
        raise FileNotFoundError(f"WHAM! metadata {path} not found; pass the unzipped wham_noise folder")
    with open(path, newline="") as handle:
        reader = csv.DictReader(handle)
        missing = [c for c in META_COLUMNS if c not in (reader.fieldnames or [])]
        if missing:
            raise ValueError(f"{path} lacks column(s) {', '.join(missing)}; expected {', '.join(META_COLUMNS)}")
        rows = []
        for number, row in enumerate(reader, start=2):
            try:
                rows.append({"utterance_id": row["utterance_id"], "start_16k": int(float(row[META_COLUMNS[1]])),
                             "snr_db": float(row["target_speaker1_snr_db"])})
            except ValueError as error:
                raise ValueError(f"{path}:{number}: bad number in {row}") from error
    return rows


def mix_with_noise(s1: np.ndarray, s2: np.ndarray, noise: np.ndarray, start: int, snr_db: float, mode: str,
                   sample_rate: int) -> dict[str, np.ndarray]:
    """WHAM!'s mixing of one utterance (see the module docstring).

    Args:
        s1, s2: the wsj0-2mix sources ``(time,)`` at ``sample_rate``.
        noise: the noise ``(time,)`` at ``sample_rate``.
        start: where the speech starts within the noise, at ``sample_rate``.
        snr_db: wanted loudness of s1 over the noise (dB).
        mode: ``"min"`` (noise cut to the speech) or ``"max"`` (speech placed in the noise).

    Returns:
        ``{"s1", "s2", "noise", "mix_clean", "mix_single", "mix_both"}`` arrays of one length.

    Raises:
        ValueError: the noise is too short for the speech at ``start``.
    """
    from voxsep_corpus.librimix import integrated_loudness

    if start + s1.size > noise.size:
        raise ValueError(f"noise of {noise.size} samples cannot hold {s1.size} speech samples from {start}")
    if mode == "min":
        noise = noise[start:start + s1.size]
    else:
        placed = np.zeros((2, noise.size))
        placed[0, start:start + s1.size] = s1
        placed[1, start:start + s2.size] = s2
        s1, s2 = placed
    s1, s2, noise = (np.asarray(x, dtype=np.float64) for x in (s1, s2, noise))
    gain_db = snr_db + integrated_loudness(noise, sample_rate) - integrated_loudness(s1, sample_rate)
    g = 10 ** (gain_db / 20) if np.isfinite(gain_db) else 1.0
    s1, s2 = s1 * g, s2 * g
    out = {"s1": s1, "s2": s2, "noise": noise, "mix_clean": s1 + s2, "mix_single": s1 + noise,
           "mix_both": s1 + s2 + noise}
    peak = max(float(np.abs(x).max()) for x in out.values())
    if peak > MAX_AMPLITUDE:
        out = {k: v * (MAX_AMPLITUDE / peak) for k, v in out.items()}
    return out


def _chunk(task: dict[str, Any]) -> list[dict[str, Any]]:
    from voxsep.core.audio import audio_info, read_audio, write_audio

    wsjmix, noise_root, output = Path(task["wsj0mix"]), Path(task["wham_noise"]), Path(task["output"])
    split = task["split"]
    rows = []
    for param in task["params"]:
        uid = param["utterance_id"]
        name = uid if uid.endswith(".wav") else f"{uid}.wav"
        for rate in task["sample_rates"]:
            for mode in task["modes"]:
                folder = output / f"wav{rate // 1000}k" / mode / split
                paths = {k: folder / k / name for k in ("s1", "s2", "noise", "mix_clean", "mix_single", "mix_both")}
                if not all(p.exists() for p in paths.values()):
                    source_dir = wsjmix / f"wav{rate // 1000}k" / mode / split
                    s1 = read_audio(source_dir / "s1" / name, sample_rate=rate, channels=1)[0][0]
                    s2 = read_audio(source_dir / "s2" / name, sample_rate=rate, channels=1)[0][0]
                    noise = read_audio(noise_root / split / name, sample_rate=rate)[0][0]  # channel 0
                    start = param["start_16k"] * rate // 16000
                    signals = mix_with_noise(s1, s2, noise, start, param["snr_db"], mode, rate)
                    for key in ("s1", "s2", "noise", "mix_single", "mix_both", "mix_clean"):  # mix_clean last
                        write_audio(paths[key], signals[key], rate, overwrite=True)
                rows.append({"rate": rate, "mode": mode, "mixture_ID": Path(name).stem, "paths": paths,
                             "length": audio_info(paths["mix_clean"]).frames})
    return rows


def build_wham(wsj0mix: Path, wham_noise: Path, output: Path, sample_rates: tuple[int, ...] = (8000,),
               modes: tuple[str, ...] = ("min",), splits: tuple[str, ...] = SPLITS, jobs: int = 1,
               overwrite: bool = False) -> dict[str, int]:
    """Build (or resume) WHAM! from a wsj0-2mix build and the WHAM! noise folder.

    Returns:
        Mixtures written per ``"wav<k>k/<mode>/<split>"``.

    Raises:
        FileNotFoundError: a missing input folder, metadata file or audio file.
        ValueError: malformed metadata, noise too short, output inside an input.
        FileExistsError: the output folder holds something else.
    """
    from voxsep_corpus.common import check_inside, mark_complete, prepare_output_dir, run_tasks, \
        write_mixture_manifest
    from voxsep_corpus.librimix import _meter

    wsj0mix, wham_noise, output = Path(wsj0mix), Path(wham_noise), Path(output)
    _meter(8000)  # fail early without pyloudnorm
    for folder, what in ((wsj0mix, "wsj0-2mix build"), (wham_noise, "WHAM! noise folder")):
        if not folder.is_dir():
            raise FileNotFoundError(f"{what} {folder} not found")
        check_inside(output, folder, what)
    if any(m not in ("min", "max") for m in modes):
        raise ValueError(f"modes must be min and/or max, got {list(modes)}")
    params = {s: read_mix_params(wham_noise / "metadata" / f"mix_param_meta_{s}.csv") for s in splits}
    for split in splits:  # check inputs before writing anything
        for rate in sample_rates:
            for mode in modes:
                folder = wsj0mix / f"wav{rate // 1000}k" / mode / split
                if not (folder / "s1").is_dir():
                    raise FileNotFoundError(f"{folder}/s1 not found: build wsj0-2mix at {rate} Hz, {mode} mode first")
    config = {"corpus": "wham", "sample_rates": sorted(int(r) for r in sample_rates), "modes": sorted(modes),
              "splits": sorted(splits), "wsj0mix": str(wsj0mix.resolve()), "wham_noise": str(wham_noise.resolve()),
              "metadata": {s: hashlib.sha1((wham_noise / "metadata" / f"mix_param_meta_{s}.csv").read_bytes())
                           .hexdigest() for s in splits}}
    prepare_output_dir(output, config, overwrite, owned=["wav8k", "wav16k"])
    counts = {}
    for split in splits:
        chunk = 25
        tasks = [{"params": params[split][i:i + chunk], "split": split, "wsj0mix": str(wsj0mix),
                  "wham_noise": str(wham_noise), "output": str(output), "sample_rates": list(sample_rates),
                  "modes": list(modes)} for i in range(0, len(params[split]), chunk)]
        rows = [r for part in run_tasks(_chunk, tasks, jobs, f"WHAM! {split}") for r in part]
        for rate in sample_rates:
            for mode in modes:
                selected = [r for r in rows if r["rate"] == rate and r["mode"] == mode]
                base = output / f"wav{rate // 1000}k" / mode
                for kind in ("mix_both", "mix_clean", "mix_single"):
                    sources = ["s1"] if kind == "mix_single" else ["s1", "s2"]
                    manifest = [{"mixture_ID": r["mixture_ID"], "mixture_path": r["paths"][kind],
                                 "source_paths": [r["paths"][s] for s in sources], "noise_path": r["paths"]["noise"],
                                 "length": r["length"]} for r in selected]
                    write_mixture_manifest(base / f"{split}_{kind}.csv", manifest, n_src=len(sources),
                                           noise=kind != "mix_clean")
                counts[f"wav{rate // 1000}k/{mode}/{split}"] = len(selected)
    mark_complete(output, config)
    return counts


