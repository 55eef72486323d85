"""Evaluate a separation model on a test set: per-utterance metrics and a summary.

For every mixture of a manifest (LibriMix CSV, wsj0-mix/WHAM! folder or ``.scp``) the
model's estimates are scored against the reference sources with ``voxsep.metrics``:

* ``si_snr``, ``si_snri`` — scale-invariant SNR and its improvement over the mixture
  (Le Roux et al., "SDR — half-baked or well done?", ICASSP 2019);
* ``sdr``, ``sdri`` — BSS-eval v3 SDR (Vincent et al. 2006) and its improvement;
* ``snri`` — plain SNR improvement (meaningful because the estimates come out at the
  mixture's level, see below);
* ``pesq``, ``stoi`` — when the ``eval`` extra is installed (``pip install
  'voxsep[eval]'``); computed on the estimates matched to each reference;
* for two-ear (binaural) estimates ``(n_src, 2, time)`` also ``delta_itd_us`` (ΔITD in
  µs, GCC-PHAT with sub-sample interpolation), ``delta_itd_int_us`` (ΔITD from the
  integer-lag peak, the SpeechBrain Binaural-WSJ0Mix recipe's variant, so numbers
  compare with published ones) and ``delta_ild_db`` (ΔILD in dB) — Han, Luo &
  Mesgarani, ICASSP 2020, §4 — from :func:`voxsep.metrics.spatial.binaural_scores`
  (talkers matched by best SNR over both ears).

Each value is the mean over the sources of one mixture, after best-permutation
matching. Multichannel (binaural) estimates are scored with their channels joined.

Separation uses ``voxsep.inference.separate.separate_mixture`` — the chunked inference
of ``voxsep separate`` — so long utterances never run out of memory. Utterances of the
same length that fit in one chunk are separated together in a batch (``batch_size``) by
``voxsep.inference.separate.separate_batch``, the batched form of the same rules, which
gives the same result.

**Counting** (``n_src="auto"``, the default of ``voxsep evaluate`` for models trained on a
variable number of talkers): the test set may mix counts from 1 to the model's outputs
(several manifests can be given), every estimate goes through
:func:`voxsep.inference.separate.count_talkers` (the rule of ``voxsep separate --n-src
auto``), and each row gets ``n_true`` / ``n_est``. The summary reports
``count_accuracy`` (the share of mixtures with ``n_est == n_true``), the confusion
``counts`` (``{true: {estimated: mixtures}}``) and ``miscounted`` (their ids); the
separation metrics are computed -- and averaged -- only over the correctly counted
mixtures, scoring the kept outputs against the true sources, and are also summarised
per true count (``summary_by_count``). A one-talker mixture *is* its talker, so its rows
have no improvement metrics (SI-SNRi, SDRi, SNRi): its SI-SNR says how intact the
model leaves a lone voice.

Outputs: ``results.csv`` (one row per mixture), ``results.json`` (summary: mean,
median, std, count per metric, plus the model and data), and with ``save_audio=N`` the
estimates of the first N mixtures under ``results_audio/``.
"""

from __future__ import annotations

import csv
import io
import json
import math
import os
import sys
import time
from pathlib import Path
from typing import Any, Iterable

import numpy as np
import torch

from voxsep.core.files import write_text_atomic

BINAURAL_COLUMNS = ("delta_itd_us", "delta_itd_int_us", "delta_ild_db")
SCORE_COLUMNS = ("si_snr", "si_snri", "sdr", "sdri", "snri", "pesq", "stoi", *BINAURAL_COLUMNS)
#: Metrics relative to the mixture, left out for one-talker mixtures (mixture == talker).
IMPROVEMENT_COLUMNS = ("si_snri", "sdri", "snri")


def score_utterance(
    reference: np.ndarray | torch.Tensor,
    estimate: np.ndarray | torch.Tensor,
    mixture: np.ndarray | torch.Tensor,
    sample_rate: int,
    quality: bool = True,
    sdr: bool = True,
) -> dict[str, float]:
    """Metrics of one separated mixture, each averaged over sources.

    Args:
        reference: ``(n_src, [channels,] time)`` true sources.
        estimate: ``(n_src, [channels,] time)`` estimates in any order.
        mixture: ``([channels,] time)``.
        sample_rate: rate of all three (PESQ needs 8 or 16 kHz).
        quality: also compute PESQ and STOI (skipped when ``voxsep[eval]`` is missing).
        sdr: also compute BSS-eval SDR/SDRi (the slowest metric).

    Returns:
        ``{"si_snr", "si_snri", "sdr", "sdri", "snri"[, "pesq", "stoi"]}`` in dB (PESQ in
        MOS, STOI in 0..1), plus ``"delta_itd_us", "delta_itd_int_us", "delta_ild_db"``
        when the signals are two-ear images (``channels == 2``). ``sdr``/``sdri`` are NaN
        when BSS-eval is undefined (a silent reference), which the summary leaves out.
    """
    from voxsep import metrics

    ref = np.asarray(reference, dtype=np.float64)
    est = np.asarray(estimate, dtype=np.float64)
    mix = np.asarray(mixture, dtype=np.float64)
    if ref.shape != est.shape or ref.shape[1:] != mix.shape:
        raise ValueError(
            f"reference {ref.shape}, estimate {est.shape} and mixture {mix.shape} do not fit: "
            "expected (n_src, [channels,] time) twice and ([channels,] time)"
        )
    n_src = ref.shape[0]
    binaural = {}
    if ref.ndim == 3 and ref.shape[1] == 2:  # two-ear images: interaural cue errors
        from voxsep.metrics.spatial import binaural_scores

        scores = binaural_scores(ref, est, mix, sample_rate)
        binaural = {name: float(np.mean(scores[name])) for name in BINAURAL_COLUMNS}
    ref, est, mix = ref.reshape(n_src, -1), est.reshape(n_src, -1), mix.reshape(-1)
    si, perm = metrics.si_snr(ref, est, return_perm=True)
    row = {
        "si_snr": float(np.mean(si)),
        "si_snri": float(np.mean(metrics.si_snr_improvement(ref, est, mix))),
        "snri": float(np.mean(metrics.snr_improvement(ref, est, mix))),
    }
    if sdr:
        try:
            row["sdr"] = float(np.mean(metrics.sdr(ref, est)))
            row["sdri"] = float(np.mean(metrics.sdr_improvement(ref, est, mix)))
        except ValueError:  # silent reference or estimate: BSS-eval SDR is undefined
            row["sdr"] = row["sdri"] = math.nan
    if quality:
        row.update(_quality(ref, est[np.asarray(perm)], sample_rate, n_channels=1))
    row.update(binaural)
    return row


def _quality(ref: np.ndarray, aligned: np.ndarray, sample_rate: int, n_channels: int) -> dict[str, float]:
    """PESQ and STOI per source (aligned estimates); {} when the eval extra is missing."""
    try:
        from voxsep.metrics import quality
    except ImportError:
        return {}
    out: dict[str, float] = {}
    for name, fn in (("pesq", quality.pesq), ("stoi", quality.stoi)):
        try:
            out[name] = float(np.mean(fn(ref, aligned, sample_rate)))
        except ImportError:
            continue
        except ValueError:  # e.g. PESQ found no utterance, or a rate PESQ does not take
            out[name] = math.nan
    return out


def summarize(rows: Iterable[dict[str, Any]], columns: Iterable[str] = SCORE_COLUMNS) -> dict[str, dict[str, float]]:
    """Mean, median, std (population) and count of each metric column, NaNs left out."""
    rows = list(rows)
    summary: dict[str, dict[str, float]] = {}
    for column in columns:
        values = np.array([r[column] for r in rows if column in r and r[column] is not None], dtype=np.float64)
        values = values[np.isfinite(values)]
        if values.size == 0:
            continue
        summary[column] = {
            "mean": float(values.mean()),
            "median": float(np.median(values)),
            "std": float(values.std()),
            "count": int(values.size),
        }
    return summary


def format_summary(summary: dict[str, dict[str, float]]) -> str:
    """The summary as a fixed-width table."""
    width = max([8, *(len(name) for name in summary)])
    lines = [f"{'metric':{width}s} {'mean':>9s} {'median':>9s} {'std':>8s} {'count':>6s}"]
    for name, s in summary.items():
        lines.append(f"{name:{width}s} {s['mean']:9.3f} {s['median']:9.3f} {s['std']:8.3f} {s['count']:6d}")
    return "\n".join(lines)


def evaluate(
    model: torch.nn.Module,
    data: str | os.PathLike,
    out: str | os.PathLike,
    *,
    save_audio: int = 0,
    batch_size: int = 1,
    device: str | torch.device | None = None,
    overwrite: bool = False,
    quality: bool = True,
    sdr: bool = True,
    chunk_seconds: float | None = None,
    limit: int = 0,
    model_path: str | None = None,
    log: Any = None,
    n_src: str | None = None,
) -> dict[str, Any]:
    """Separate every mixture of ``data`` with ``model`` and score it.

    Args:
        model: a voxsep model (``checkpoint.load``).
        data: a manifest CSV, wsj0-mix/WHAM! folder or ``.scp`` list, or a list of them
            (read as one set; with ``n_src="auto"`` they may hold different counts); files
            at another rate than the model's are resampled.
        out: the per-utterance CSV; the summary goes to the same name with ``.json`` and
            audio to ``<stem>_audio/``.
        save_audio: write the estimates of the first N mixtures (float WAV, aligned to the
            reference order, named ``<mixture_id>_s<k>.wav`` inside ``<stem>_audio/``, the ID made
            a safe file name by :func:`safe_audio_names`; the JSON summary maps IDs to names).
        batch_size: mixtures of equal length separated together.
        device: ``cpu``, ``cuda``... (default: CUDA when available).
        overwrite: replace existing results.
        quality: compute PESQ/STOI when the ``eval`` extra is installed.
        sdr: compute BSS-eval SDR/SDRi.
        chunk_seconds: chunk length of the chunked inference (default and overlap:
            ``voxsep.inference.separate.resolve_chunking``, as ``Separator``).
        limit: evaluate only the first N mixtures (0: all).
        model_path: recorded in the JSON summary.
        log: a ``print``-like function for progress (default: stderr lines).
        n_src: ``"auto"`` to count the talkers of every mixture and report count accuracy
            (module docstring); ``None`` or ``"all"`` scores every output against
            manifests with the model's number of sources.

    Returns:
        The summary dict written to the JSON file (``summary``, ``count``, ...).

    Raises:
        FileExistsError: results exist and ``overwrite`` is false.
        SameFileError (a ``ValueError``): an output would replace the test data, one of
            its audio files or the model checkpoint.
        OSError: the output folder cannot be written (found before anything is scored).
    """
    from voxsep.core.audio import write_audio
    from voxsep.core.errors import advised
    from voxsep.core.files import check_distinct, check_writable_dir
    from voxsep.data.datasets import MixtureDataset
    from voxsep.inference.separate import chunk_samples, separate_batch, separate_mixture

    out = Path(out)
    summary_path = out.with_suffix(".json")
    audio_dir = out.with_name(f"{out.stem}_audio")
    data_list = [data] if isinstance(data, (str, os.PathLike)) else list(data)
    inputs = [*(("the test data", d) for d in data_list), *([("the model checkpoint", model_path)] if model_path else [])]
    check_distinct([out, summary_path], inputs, "give another output path")
    if not overwrite:
        for path in (out, summary_path):
            if path.exists():
                raise advised(FileExistsError, f"{path} exists", "overwrite", True, "to replace the results")
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    if n_src not in (None, "all", "auto"):
        raise ValueError(f"n_src must be 'auto' or 'all', got {n_src!r}")
    counting = n_src == "auto"
    if log is None:
        log = lambda message: print(message, file=sys.stderr, flush=True)  # noqa: E731
    device = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
    model = model.to(device).eval()
    sample_rate, outputs = int(model.sample_rate), int(model.n_src)
    counts = (1, outputs) if counting and outputs > 1 else outputs  # counting: 1..outputs talkers, padded
    dataset = MixtureDataset(data_list[0] if len(data_list) == 1 else data_list, counts, sample_rate, segment=None,
                             train=False, resample=True)
    count = min(limit, len(dataset)) if limit else len(dataset)
    check_distinct([out, summary_path], [("an audio file of the test data", p) for r in dataset.records
                                         for p in r.paths], "give another output path")
    check_writable_dir(out.parent)  # before the scoring, not after it
    audio_names = safe_audio_names([r.mixture_id for r in dataset.records[: min(save_audio, count)]])
    if save_audio:
        check_distinct([audio_dir / f"{name}_s{k + 1}.wav" for name in audio_names.values() for k in range(outputs)],
                       [*inputs, *(("an audio file of the test data", p) for r in dataset.records for p in r.paths)],
                       "give another output path (the audio goes to its <stem>_audio folder)")
        check_writable_dir(audio_dir)
    if counting:
        from voxsep.inference.separate import count_talkers
    chunk, overlap = chunk_samples(sample_rate, chunk_seconds)  # the rule of Separator and voxsep separate

    rows: list[dict[str, Any]] = []
    start_time = time.perf_counter()
    last_report = start_time
    index = 0
    pending = None  # an item read ahead that did not fit the previous batch
    while index < count:
        # gather a batch of consecutive equal-length mixtures that fit one chunk
        batch = [(index, *(pending or dataset[index]))]
        pending = None
        length = batch[0][1].shape[-1]
        while length <= chunk and len(batch) < batch_size and index + len(batch) < count:
            item = dataset[index + len(batch)]
            if item[0].shape[-1] != length:
                pending = item
                break
            batch.append((index + len(batch), *item))
        if len(batch) > 1:
            estimates = list(separate_batch(model, torch.stack([b[1] for b in batch]), device))
        else:
            estimates = [separate_mixture(model, batch[0][1], chunk_size=chunk, overlap=overlap, device=device)]
        for (i, mixture, sources), estimate in zip(batch, estimates):
            record = dataset.records[i]
            row: dict[str, Any] = {"mixture_id": record.mixture_id}
            if counting:
                kept = count_talkers(estimate, mixture, sample_rate).kept
                row.update(n_true=record.n_src, n_est=len(kept))
                sources, estimate = sources[: record.n_src], estimate[kept]
            if not counting or row["n_est"] == row["n_true"]:
                row.update(score_utterance(sources.numpy(), estimate.numpy(), mixture.numpy(), sample_rate, quality,
                                           sdr))
                if record.n_src == 1:  # the mixture is the talker: an improvement over it means nothing
                    for name in IMPROVEMENT_COLUMNS:
                        row.pop(name, None)
            rows.append(row)
            if i < save_audio and "si_snr" in row:
                _save_estimates(write_audio, audio_dir, audio_names[record.mixture_id], sources, estimate, sample_rate,
                                overwrite)
        index += len(batch)
        now = time.perf_counter()
        if now - last_report > 10 or index == count:
            scored = [r["si_snri"] for r in rows if "si_snri" in r]
            done = f"mean SI-SNRi so far {np.mean(scored):.2f} dB" if scored else "no SI-SNRi yet"
            if counting:
                right = sum(r["n_est"] == r["n_true"] for r in rows)
                done = f"count accuracy {right / len(rows):.1%}, {done}"
            log(f"evaluated {index}/{count} mixtures, {done} ({now - start_time:.0f} s)")
            last_report = now

    metrics = [c for c in SCORE_COLUMNS if any(c in r for r in rows)]
    columns = ["mixture_id"] + (["n_true", "n_est"] if counting else []) + metrics
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=columns, extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: (f"{v:.4f}" if isinstance(v, float) else v) for k, v in row.items()})
    write_text_atomic(out, buffer.getvalue())
    result = {
        "model": model_path,
        "model_name": getattr(model, "model_name", ""),
        "data": str(data_list[0]) if len(data_list) == 1 else [str(d) for d in data_list],
        "sample_rate": sample_rate,
        "n_src": outputs,
        "count": len(rows),
        "seconds": round(time.perf_counter() - start_time, 2),
        "summary": summarize(rows, metrics),
    }
    if audio_names:
        result["audio_files"] = {mixture_id: f"{audio_dir.name}/{name}_s<k>.wav" for mixture_id, name in audio_names.items()}
    if counting:
        result.update(count_summary(rows))
        result["summary_by_count"] = {str(n): summarize([r for r in rows if r["n_true"] == n], metrics)
                                      for n in sorted({r["n_true"] for r in rows})}
    write_text_atomic(summary_path, json.dumps(result, indent=2) + "\n")
    return result


def count_summary(rows: Iterable[dict[str, Any]]) -> dict[str, Any]:
    """``count_accuracy``, ``counts`` (``{true: {estimated: mixtures}}``), ``miscounted`` (ids)
    and ``scored`` (mixtures whose metrics were computed: the correctly counted ones)."""
    rows = list(rows)
    confusion: dict[str, dict[str, int]] = {}
    for r in rows:
        cell = confusion.setdefault(str(r["n_true"]), {})
        cell[str(r["n_est"])] = cell.get(str(r["n_est"]), 0) + 1
    miscounted = [r["mixture_id"] for r in rows if r["n_est"] != r["n_true"]]
    return {
        "count_accuracy": (len(rows) - len(miscounted)) / len(rows) if rows else math.nan,
        "counts": {k: dict(sorted(v.items())) for k, v in sorted(confusion.items())},
        "miscounted": miscounted,
        "scored": len(rows) - len(miscounted),
    }


def format_counts(result: dict[str, Any], max_listed: int = 20) -> str:
    """Count accuracy, the confusion and the miscounted mixtures as text lines."""
    lines = [f"count accuracy {result['count_accuracy']:.1%} ({result['scored']} of {result['count']} mixtures; "
             "the metrics below are over these)"]
    for true, estimated in result["counts"].items():
        parts = ", ".join(f"{n} -> {k}" for k, n in estimated.items())
        lines.append(f"  {true} talker(s): estimated {parts}")
    missed = result["miscounted"]
    if missed:
        shown = ", ".join(missed[:max_listed]) + (f", ... ({len(missed) - max_listed} more)" if len(missed) > max_listed else "")
        lines.append(f"miscounted ({len(missed)}): {shown}")
    return "\n".join(lines)


def safe_audio_names(mixture_ids: Iterable[str], max_bytes: int = 200) -> dict[str, str]:
    """``{mixture_id: file-name stem}`` for the saved estimates, always a plain name inside
    the audio folder, whatever the manifest says: path separators and control characters
    become ``_``, leading dots and spaces are dropped (no ``..``, no hidden file), long IDs
    are cut to ``max_bytes`` (UTF-8), and IDs that end up alike get ``-2``, ``-3``... (compared
    case-insensitively, for file systems that ignore case)."""
    names: dict[str, str] = {}
    used: set[str] = set()
    for mixture_id in mixture_ids:
        if mixture_id in names:
            continue
        stem = "".join("_" if ch in "/\\:" or ord(ch) < 32 or ord(ch) == 127 else ch for ch in str(mixture_id))
        stem = stem.lstrip(". ").rstrip(". ") or "mixture"
        stem = stem.encode("utf-8")[:max_bytes].decode("utf-8", "ignore")
        name, n = stem, 1
        while name.casefold() in used:
            n += 1
            name = f"{stem}-{n}"
        used.add(name.casefold())
        names[mixture_id] = name
    return names


def _save_estimates(write_audio: Any, folder: Path, mixture_id: str, sources: torch.Tensor, estimate: torch.Tensor,
                    sample_rate: int, overwrite: bool) -> None:
    """Write the estimates in reference order (best SI-SNR permutation)."""
    from voxsep import metrics

    n_src = sources.shape[0]
    _, perm = metrics.si_snr(sources.reshape(n_src, -1).double(), estimate.reshape(n_src, -1).double(), return_perm=True)
    folder.mkdir(parents=True, exist_ok=True)
    for k, j in enumerate(perm.tolist()):
        write_audio(folder / f"{mixture_id}_s{k + 1}.wav", estimate[j].numpy(), sample_rate, overwrite=overwrite, subtype="FLOAT")
