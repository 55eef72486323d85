"""``voxsep prepare wsj0mix``: build wsj0-2mix / wsj0-3mix from WSJ0 and the standard mixing lists.

Follows the reference MATLAB scripts (``create_wav_2speakers.m`` /
``create_wav_3speakers.m``): for every line ``path1 snr1 path2 snr2 [path3 snr3]`` of
``mix_<n>_spk_{tr,cv,tt}.txt`` each utterance is resampled to the output rate,
normalised to 0 dB active speech level (ITU-T P.56, :mod:`voxsep_corpus.levels`),
weighted by ``10 ** (snr / 20)``, cut to the shortest (``min``) or zero-padded to the
longest (``max``), summed, and the mixture and sources are scaled together so the
largest absolute sample is 0.9. Output names are the original ones,
``<utt1>_<snr1>_<utt2>_<snr2>[_<utt3>_<snr3>].wav`` with MATLAB ``num2str`` formatting
of the numbers as written in the list.

Differences from the MATLAB scripts, documented: resampling uses soxr (VHQ) instead
of MATLAB ``resample``; the level uses the P.56 reference algorithm instead of
voicebox ``activlev`` (a few hundredths of a dB apart on speech; both only scale a
mixture and its sources together, so SNRs between sources are the list's exactly).

Layout: ``OUT/wav{8k,16k}/{min,max}/{tr,cv,tt}/{mix,s1,s2[,s3]}/*.wav`` (as published)
plus ``OUT/wav8k/min/{tr,cv,tt}.csv`` LibriMix-format manifests.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any


SPLITS = ("tr", "cv", "tt")


def matlab_num2str(text: str) -> str:
    """Format a number from a mixing list as MATLAB ``num2str`` does (``%.5g`` for |x| < 10^5).

    >>> matlab_num2str("0.26058"), matlab_num2str("-1.9857"), matlab_num2str("2.0000")
    ('0.26058', '-1.9857', '2')
    """
    value = float(text)
    formatted = f"{value:.5g}" if value != int(value) or abs(value) >= 1e5 else str(int(value))
    return "0" if formatted == "-0" else formatted


def resolve_wsj_path(root: Path, entry: str) -> Path:
    """Find the wav file of a mixing-list entry under the WSJ0 root.

    Tries ``root/entry``, the same with a ``.wav`` suffix, and both without the
    leading ``wsj0/`` folder (users point at either the folder holding ``wsj0/`` or
    ``wsj0/`` itself).

    Raises:
        FileNotFoundError: none exists; the message lists what was tried.
    """
    relative = Path(entry)
    options = [relative]
    if len(relative.parts) > 1:
        options.append(Path(*relative.parts[1:]))
    tried = []
    for option in options:
        for candidate in (root / option, (root / option).with_suffix(".wav"), (root / option).with_suffix(".WAV")):
            tried.append(candidate)
            if candidate.exists():
                return candidate
    raise FileNotFoundError(f"WSJ0 file for list entry {entry!r} not found; tried {', '.join(map(str, tried[:4]))}; "
                            f"convert WSJ0 to wav keeping its folder layout and pass the folder holding wsj0/")


def parse_mixing_list(path: Path, n_src: int) -> list[tuple[list[str], list[str]]]:
    """Read ``path1 snr1 path2 snr2 [...]`` lines.

    Returns:
        ``[(paths [n_src], snr strings [n_src]), ...]`` (snrs kept as written, for names).

    Raises:
        FileNotFoundError: the list does not exist.
        ValueError: a line does not have ``2 * n_src`` fields or an snr is not a number
            (the message names the file and line).
    """
    if not path.exists():
        raise FileNotFoundError(f"mixing list {path} not found; expected mix_{n_src}_spk_{{tr,cv,tt}}.txt there")
    entries = []
    for number, line in enumerate(path.read_text().splitlines(), start=1):
        fields = line.split()
        if not fields:
            continue
        if len(fields) != 2 * n_src:
            raise ValueError(f"{path}:{number}: expected {2 * n_src} fields (path snr) x {n_src}, got {len(fields)}: "
                             f"{line.strip()!r}")
        try:
            [float(x) for x in fields[1::2]]
        except ValueError as error:
            raise ValueError(f"{path}:{number}: snr is not a number in {line.strip()!r}") from error
        entries.append((fields[0::2], fields[1::2]))
    return entries


def mixture_name(paths: list[str], snrs: list[str]) -> str:
    """``<utt1>_<snr1>_<utt2>_<snr2>[...]`` as the reference scripts name outputs (no extension)."""
    return "_".join(f"{Path(p).stem}_{matlab_num2str(s)}" for p, s in zip(paths, snrs))


def _mix_chunk(task: dict[str, Any]) -> list[dict[str, Any]]:
    """Write one chunk of mixtures for every (rate, mode) asked; skip complete ones."""
    from voxsep.core.audio import audio_info, read_audio, write_audio
    from voxsep_corpus.levels import mix_at_levels

    root = Path(task["wsj0_root"])
    rows = []
    for paths, snrs in task["entries"]:
        name = mixture_name(paths, snrs)
        files = [resolve_wsj_path(root, p) for p in paths]
        cache: dict[int, list] = {}
        for rate in task["sample_rates"]:
            for mode in task["modes"]:
                folder = Path(task["output"]) / f"wav{rate // 1000}k" / mode / task["split"]
                mix_path = folder / "mix" / f"{name}.wav"
                source_paths = [folder / f"s{i + 1}" / f"{name}.wav" for i in range(len(paths))]
                if not (mix_path.exists() and all(p.exists() for p in source_paths)):
                    if rate not in cache:
                        cache[rate] = [read_audio(f, sample_rate=rate, channels=1)[0][0] for f in files]
                    mixture, sources = mix_at_levels(cache[rate], [float(s) for s in snrs], rate, mode=mode)
                    for path, source in zip(source_paths, sources):
                        write_audio(path, source, rate, overwrite=True)
                    write_audio(mix_path, mixture, rate, overwrite=True)  # last: marks it complete
                rows.append({"rate": rate, "mode": mode, "mixture_ID": name, "mixture_path": mix_path,
                             "source_paths": source_paths, "length": audio_info(mix_path).frames})
    return rows


def build_wsj0mix(wsj0_root: Path, lists_dir: Path, output: Path, n_src: int = 2,
                  sample_rates: tuple[int, ...] = (8000,), modes: tuple[str, ...] = ("min",),
                  splits: tuple[str, ...] = SPLITS, jobs: int = 1, overwrite: bool = False) -> dict[str, int]:
    """Build (or resume) wsj0-<n>mix.

    Args:
        wsj0_root: folder holding ``wsj0/`` converted to wav (read only).
        lists_dir: folder with ``mix_<n>_spk_{tr,cv,tt}.txt``.
        output: output folder (must not be inside ``wsj0_root``).
        n_src: 2 or 3.
        sample_rates: output rates (8000 and/or 16000).
        modes: ``"min"`` and/or ``"max"``.
        splits: which of ``tr``, ``cv``, ``tt`` to build.
        jobs: worker processes.
        overwrite: replace a previous build with other settings.

    Returns:
        Mixtures written per ``"<rate>/<mode>/<split>"``.

    Raises:
        FileNotFoundError: a list or a WSJ0 file is missing (named in the message).
        ValueError: a malformed list line, bad options, output inside the corpus.
        FileExistsError: the output folder holds something else.
    """
    from voxsep_corpus.common import check_inside, mark_complete, prepare_output_dir, run_tasks, \
        write_mixture_manifest

    wsj0_root, lists_dir, output = Path(wsj0_root), Path(lists_dir), Path(output)
    if n_src not in (2, 3):
        raise ValueError(f"n_src must be 2 or 3, got {n_src}")
    if not wsj0_root.is_dir():
        raise FileNotFoundError(f"WSJ0 folder {wsj0_root} not found")
    bad = [m for m in modes if m not in ("min", "max")] + [str(r) for r in sample_rates if int(r) <= 0]
    if bad:
        raise ValueError(f"bad mode/sample rate {bad}; modes are min, max")
    check_inside(output, wsj0_root, "WSJ0 folder")
    entries = {split: parse_mixing_list(lists_dir / f"mix_{n_src}_spk_{split}.txt", n_src) for split in splits}
    for split, split_entries in entries.items():  # fail early, before writing anything
        for paths, _ in split_entries:
            for p in paths:
                resolve_wsj_path(wsj0_root, p)
    config = {"corpus": "wsj0mix", "n_src": n_src, "sample_rates": sorted(int(r) for r in sample_rates),
              "modes": sorted(modes), "splits": sorted(splits), "wsj0_root": str(wsj0_root.resolve()),
              "lists": {s: hashlib.sha1((lists_dir / f"mix_{n_src}_spk_{s}.txt").read_bytes()).hexdigest()
                        for s in splits}}
    prepare_output_dir(output, config, overwrite, owned=[f"wav{int(r) // 1000}k" for r in (8000, 16000)])
    counts: dict[str, int] = {}
    for split in splits:
        chunk = 25
        tasks = [{"entries": entries[split][i:i + chunk], "wsj0_root": str(wsj0_root), "output": str(output),
                  "split": split, "sample_rates": list(sample_rates), "modes": list(modes)}
                 for i in range(0, len(entries[split]), chunk)]
        rows = [row for part in run_tasks(_mix_chunk, tasks, jobs, f"wsj0-{n_src}mix {split}") for row in part]
        for rate in sample_rates:
            for mode in modes:
                selected = [r for r in rows if r["rate"] == rate and r["mode"] == mode]
                write_mixture_manifest(output / f"wav{rate // 1000}k" / mode / f"{split}.csv", selected, n_src=n_src)
                counts[f"wav{rate // 1000}k/{mode}/{split}"] = len(selected)
    mark_complete(output, config)
    return counts


