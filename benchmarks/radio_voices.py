"""Radio voices: a second, independent held-out check of a two-talker model on the speech
samples of the Debian package ``codec2-examples`` (LGPL-2.1, ``apt-get install -y
codec2-examples``).

Our users measure the bundled model on read speech and radio/telephone-channel
recordings at 8 kHz, mostly male talkers. The Codec 2 test files are such speech: radio
amateurs over HF radio (VE9QRP, VK5QI, VK5DGR, G3PLX, ...) and read test sentences,
8 kHz, none of them in the offline corpus. ``RECORDINGS`` lists the distinct recordings
kept (one per recording, one speaker label per person as far as can be told without
listening) and ``DROPPED`` the files left out, with the reasons.

What it does:

1. cuts each speaker's speech (rumble removed, silence trimmed) into segments of
   3-5 s, each cut at the quietest 10 ms frame 3-5 s after the previous cut;
2. draws ``--n`` two-talker mixtures of two *different* speakers (seeded): a speaker
   pair uniformly, then a not yet used pair of their segments. The level rule of the
   offline corpus (wsj0-2mix): each segment normalised to 0 dB active level (ITU-T
   P.56), weighted by ``10 ** (g / 20)`` (first talker) and ``10 ** (-g / 20)``
   (second) with ``g`` uniform in [-2.5, 2.5] dB, cut to the shorter, scaled so the
   largest peak of mixture and sources is 0.9;
3. writes ``OUT/{mix,s1,s2}/<id>.wav`` and the LibriMix-format manifest
   ``OUT/radio_voices.csv`` (plus informational speaker/sex columns), runs
   ``voxsep evaluate --model MODEL OUT/radio_voices.csv --out OUT/scores_<label>.csv --n-src all``
   (1 thread; the label defaults to the model's folder and file name) and prints a
   markdown table: mean / median / worst SI-SNRi and SDRi over all mixtures and by the
   sexes of the two talkers (F+F, F+M, M+M);
4. writes ``OUT/radio_one_talker.csv``: every source of the mixtures alone (400 one-talker
   recordings for ``--n 200``), so that talker counting can be scored on these voices:
   ``voxsep evaluate --model MODEL OUT/radio_one_talker.csv OUT/radio_voices.csv --n-src auto
   --no-quality --no-sdr --out OUT/count_<label>.csv``.

Usage::

    .venv/bin/python benchmarks/radio_voices.py --model src/voxsep/pretrained/convtasnet_offline8k.pt \\
        --out exp/radio

The mixtures of an existing OUT are reused (another model is scored on the same ones);
``--overwrite`` rebuilds them and rescores.
"""

from __future__ import annotations

import argparse
import csv
import os
import shutil
import statistics
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np

CODEC2 = Path("/usr/share/codec2")
SAMPLE_RATE = 8000
SEGMENT_SECONDS = (3.0, 5.0)
GAIN_DB = 2.5
PEAK = 0.9
MANIFEST = "radio_voices.csv"
ONE_TALKER = "radio_one_talker.csv"


@dataclass(frozen=True)
class Recording:
    """One kept stretch of speech of one speaker (``start``/``stop`` in s, ``None``: the file's end)."""

    file: str  # relative to CODEC2; .raw = headerless 16-bit little-endian mono 8 kHz
    start: float
    stop: float | None
    speaker: str
    sex: str
    seconds: float  # after rumble removal and silence trimming (trim_silence at -40 dB)
    f0: float  # median F0 (Hz), voxsep_corpus.voices.common.median_f0 on this stretch
    what: str


# How this table was decided (listen-free, codec2-examples 1.0.5-1):
# * duplicates by normalised cross-correlation of a 0.5 s chunk of each file with every
#   other file (r = 1.00: the same recording): wav/X.wav = raw/X.raw for big_dog, cross
#   (the wav is mu-law), f2400, forig, hts1a, hts2a, m2400, mmt1, morig, ve9qrp, vk5qi;
#   raw/ve9qrp_10s = the first 10 s of ve9qrp; hts1a / hts2a = the first 3 s of hts1 /
#   hts2, and raw/hts.raw (24 s) = hts1 (0-6 s) + hts2 (6-12 s) + 12 s found nowhere else;
#   wav/all.wav = hts1a, hts2a, morig, forig, ve9qrp_10s, cq_ref, kristoff, vk5qi in that
#   order (sample-exact) and then 10 s found nowhere else, which the package's own
#   script/separate_all.sh names vk5dgr (a call sign, not the vk5qi speaker).
# * speaker = file stem (call signs and names differ), except hts.raw: its four 6 s
#   sentences alternate a man (F0 95, 93 Hz) and a woman (178, 216 Hz), so the two male
#   sentences are one speaker and the two female ones another (conservatively: they
#   might be four people, but then at worst two different people are never mixed).
# * sex from the median F0 (< 165 Hz: male), as in the offline corpus.
RECORDINGS = [
    Recording("raw/ve9qrp.raw", 0.0, None, "ve9qrp", "M", 111.8, 93.0,
              "VE9QRP, radio amateur over HF radio (= wav/ve9qrp.wav; raw/ve9qrp_10s = its first 10 s)"),
    Recording("raw/vk5qi.raw", 0.0, None, "vk5qi", "M", 13.5, 111.1,
              "VK5QI, radio amateur (= wav/vk5qi.wav, all.wav 33.6-47.1 s)"),
    Recording("wav/all.wav", 47.114, None, "vk5dgr", "M", 9.7, 74.4,
              "VK5DGR, radio amateur: the last 10 s of all.wav (only there)"),
    Recording("raw/cq_ref.raw", 0.0, None, "cq_ref", "M", 9.0, 97.6,
              "a CQ call over radio (caller not named; = all.wav 19.6-28.6 s)"),
    Recording("raw/g3plx.raw", 0.0, None, "g3plx", "M", 5.6, 127.0, "G3PLX, radio amateur"),
    Recording("raw/kristoff.raw", 0.0, None, "kristoff", "M", 5.0, 87.0, "Kristoff, read speech (= all.wav 28.6-33.6 s)"),
    Recording("raw/mmt1.raw", 0.0, None, "mmt1", "M", 4.0, 105.3, "male talker, read speech (= wav/mmt1.wav)"),
    Recording("raw/hts.raw", 0.0, 6.0, "hts_m", "M", 5.1, 95.0, "hts1.raw: test sentences, man (hts1a = its first 3 s)"),
    Recording("raw/hts.raw", 12.0, 18.0, "hts_m", "M", 5.7, 93.0, "hts.raw 12-18 s: test sentences, man"),
    Recording("raw/hts.raw", 6.0, 12.0, "hts_f", "F", 5.6, 178.0, "hts2.raw: test sentences, woman (hts2a = its first 3 s)"),
    Recording("raw/hts.raw", 18.0, 24.0, "hts_f", "F", 5.5, 216.0, "hts.raw 18-24 s: test sentences, woman"),
]

#: file -> why it is not used (besides the duplicates named in RECORDINGS)
DROPPED = {
    "raw/forig.raw": "1.6 s of a woman (F0 178 Hz): shorter than a 3 s segment",
    "raw/morig.raw": "2.0 s of a man (F0 111 Hz): shorter than a 3 s segment",
    "raw/f2400.raw": "forig decoded from a 2400 bit/s codec (r = 0.64 with forig, 70 ms delay)",
    "raw/m2400.raw": "morig decoded from a 2400 bit/s codec (r = 0.69 with morig, 40 ms delay)",
    "raw/big_dog.raw": "2.2 s of speech once trimmed (man, F0 81 Hz): shorter than a 3 s segment",
    "raw/cross.raw": "2.0 s of speech once trimmed (man, F0 104 Hz): shorter than a 3 s segment",
    "wav/wia_16kHz.wav": "0.7 s of speech (woman, F0 193 Hz)",
    "raw/speech_orig_16k.wav": "several talkers: male and female turns of 2-3 s alternate (no one-talker 3 s stretch)",
    "wav/david4.wav": "a modem signal (constant envelope, 300-3000 Hz, no voiced frame), not speech",
    "wav/vk2tpm_004.wav": "a modem signal (constant envelope, 300-3000 Hz, no voiced frame), not speech",
    "raw/700d_end_over.raw": "FreeDV 700D modem signal", "raw/test_datac1_006.raw": "data modem signal",
    "raw/testframes_700d.raw": "modem test frames", "raw/sine1k_2Hz_spread.raw": "a 1 kHz tone",
    "raw/sine1k_2ms_delay_2Hz_spread.raw": "a 1 kHz tone", "octave/in8*.raw": "octave test signals",
}


def read_recording(recording: Recording, root: Path = CODEC2) -> np.ndarray:
    """The stretch of speech of ``recording``, mono float at 8 kHz."""
    path = root / recording.file
    if path.suffix == ".raw":
        signal = np.fromfile(path, dtype="<i2").astype(np.float32) / 32768.0
    else:
        from voxsep.core.audio import read_audio

        signal = read_audio(path, SAMPLE_RATE, channels=1)[0][0]
    stop = None if recording.stop is None else round(recording.stop * SAMPLE_RATE)
    return signal[round(recording.start * SAMPLE_RATE):stop]



def speaker_segments(recordings: list[Recording], root: Path = CODEC2) -> dict[str, list[np.ndarray]]:
    """``speaker -> segments`` of every recording (rumble removed, silence trimmed).

    Raises:
        ValueError: the table disagrees with the audio (a stretch shorter than one segment,
            or a sex that its median F0 contradicts: < 165 Hz is a man, as in the offline corpus).
    """
    from voxsep_corpus.segments import cut_segments
    from voxsep_corpus.voices.common import remove_rumble, trim_silence

    segments: dict[str, list[np.ndarray]] = {}
    for recording in recordings:
        if (recording.sex == "M") != (recording.f0 < 165):
            raise ValueError(f"{recording}: sex {recording.sex} but median F0 {recording.f0} Hz")
        signal = read_recording(recording, root)
        if signal.size < SEGMENT_SECONDS[0] * SAMPLE_RATE:
            raise ValueError(f"{recording}: {signal.size / SAMPLE_RATE:.1f} s, shorter than one segment")
        speech = trim_silence(remove_rumble(signal, SAMPLE_RATE), SAMPLE_RATE)
        segments.setdefault(recording.speaker, []).extend(cut_segments(speech, SAMPLE_RATE, SEGMENT_SECONDS))
    return segments




def build(out: Path, n: int, seed: int) -> Path:
    """Write the mixtures and the manifest under ``out``; returns the manifest."""
    from voxsep.core.audio import write_audio
    from voxsep_corpus.levels import mix_at_levels
    from voxsep_corpus.segments import draw_pairs

    segments = speaker_segments(RECORDINGS)
    sexes = {r.speaker: r.sex for r in RECORDINGS}
    rows = []
    for (a, i), (b, j), g in draw_pairs({s: len(v) for s, v in segments.items()}, n, seed, GAIN_DB):
        name = f"{a}-{i:04d}_{g:.4f}_{b}-{j:04d}_{-g:.4f}"
        # the offline corpus's rule: 0 dB active level each, +g / -g dB, cut to the shorter,
        # largest peak of mixture and sources at PEAK
        mixture, (s1, s2) = mix_at_levels([segments[a][i], segments[b][j]], [g, -g], SAMPLE_RATE, "min", PEAK)
        for folder, audio in (("s1", s1), ("s2", s2), ("mix", mixture)):
            write_audio(out / folder / f"{name}.wav", audio, SAMPLE_RATE)
        rows.append({"mixture_ID": name, "mixture_path": f"mix/{name}.wav", "source_1_path": f"s1/{name}.wav",
                     "source_2_path": f"s2/{name}.wav", "length": mixture.size,
                     "speaker_1": a, "speaker_2": b, "sex_1": sexes[a], "sex_2": sexes[b]})
    manifest = out / MANIFEST
    with open(manifest, "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    with open(out / "speakers.csv", "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["speaker", "sex", "segments", "seconds"])
        for speaker, parts in sorted(segments.items()):
            writer.writerow([speaker, sexes[speaker], len(parts), f"{sum(p.size for p in parts) / SAMPLE_RATE:.1f}"])
    return manifest


def write_one_talker(manifest: Path) -> Path:
    """``radio_one_talker.csv`` beside ``manifest``: each source of every mixture as a one-talker
    recording (mixture = source; the manifest format of ``1speaker/*.csv``)."""
    out = manifest.parent / ONE_TALKER
    with open(out, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["mixture_ID", "mixture_path", "source_1_path", "length"])
        for row in read_csv(manifest):
            for k in ("1", "2"):
                path = row[f"source_{k}_path"]
                writer.writerow([f"{row['mixture_ID']}_s{k}", path, path, row["length"]])
    return out


def evaluate(model: Path, manifest: Path, scores: Path, quality: bool) -> None:
    command = [sys.executable, "-m", "voxsep.cli", "evaluate", "--model", str(model), str(manifest),
               "--out", str(scores), "--n-src", "all", "--device", "cpu", "--overwrite"]
    subprocess.run(command + ([] if quality else ["--no-quality"]), check=True,
                   env={**os.environ, "OMP_NUM_THREADS": "1"})


def pair_type(row: dict[str, str]) -> str:
    return "+".join(sorted((row["sex_1"], row["sex_2"])))


def table(scores: list[dict[str, str]], manifest: list[dict[str, str]]) -> str:
    """Markdown: mean / median / worst SI-SNRi and SDRi, all mixtures and by sex pair."""
    types = {row["mixture_ID"]: pair_type(row) for row in manifest}
    speakers = {row[k] for row in manifest for k in ("speaker_1", "speaker_2")}
    groups = {"all": scores}
    for label in ("F+F", "F+M", "M+M"):
        groups[label] = [row for row in scores if types[row["mixture_id"]] == label]
    lines = [f"{len(speakers)} speakers, {len(scores)} mixtures", "",
             "| talkers | mixtures | SI-SNRi mean | median | worst | SDRi mean | median | worst |",
             "|---|---:|---:|---:|---:|---:|---:|---:|"]
    for label, rows in groups.items():
        cells = []
        for metric in ("si_snri", "sdri"):
            values = [float(r[metric]) for r in rows if r.get(metric) not in (None, "", "nan")]
            cells += [f"{statistics.fmean(values):.2f}", f"{statistics.median(values):.2f}",
                      f"{min(values):.2f}"] if values else ["-"] * 3
        lines.append(f"| {label} | {len(rows)} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def read_csv(path: Path) -> list[dict[str, str]]:
    with open(path, newline="") as handle:
        return list(csv.DictReader(handle))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", type=Path, required=True, help="a voxsep checkpoint")
    parser.add_argument("--out", type=Path, default=Path("exp/radio"), help="output folder (default exp/radio)")
    parser.add_argument("--n", type=int, default=200, help="number of two-talker mixtures (default 200)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--no-quality", action="store_true", help="skip PESQ/STOI in voxsep evaluate")
    parser.add_argument("--label", help="name of the scores file, scores_<label>.csv (default: the model's "
                        "folder and file name)")
    parser.add_argument("--overwrite", action="store_true", help="rebuild the mixtures of an existing output folder")
    args = parser.parse_args()
    if not (CODEC2 / "raw").is_dir():
        parser.error(f"{CODEC2} not found: apt-get install -y codec2-examples")
    manifest = args.out / MANIFEST
    if args.out.exists() and args.overwrite:
        for name in ("mix", "s1", "s2"):
            shutil.rmtree(args.out / name, ignore_errors=True)
        for path in [args.out / MANIFEST, args.out / ONE_TALKER, args.out / "speakers.csv", *args.out.glob("scores*")]:
            path.unlink(missing_ok=True)
    if not manifest.is_file():
        if args.out.exists() and any(args.out.iterdir()):
            parser.error(f"{args.out} holds files but no {MANIFEST}; give --overwrite to rebuild it")
        manifest = build(args.out, args.n, args.seed)
    write_one_talker(manifest)
    label = args.label or f"{args.model.resolve().parent.name}_{args.model.stem}"
    scores = args.out / f"scores_{label}.csv"
    evaluate(args.model, manifest, scores, quality=not args.no_quality)
    print(table(read_csv(scores), read_csv(manifest)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
