"""Mixture manifests: which mixture file goes with which source (and noise) files.

Three on-disk forms load into the same list of :class:`MixtureRecord`:

* a **LibriMix metadata CSV** (Cosentino et al., 2020, "LibriMix: An Open-Source
  Dataset for Generalizable Speech Separation")::

      mixture_ID,mixture_path,source_1_path,source_2_path[,source_3_path][,noise_path],length

  Paths may be absolute (as in the published metadata) or relative to the CSV's folder.
  ``length`` is in samples at the set's sample rate. Source columns are
  ``source_1_path`` ... ``source_N_path`` with no gap; any other column that looks like a
  source or noise path (``src2``, ``source2``, ``s2``, ``noise``, a name ending in
  ``path``/``wav``/``file``/``audio``, or values that are audio file names) is an error
  naming it, so a misnamed source is never silently dropped. Other (informational)
  columns are ignored; :func:`ignored_columns` lists them.
* a **wsj0-mix folder** (Hershey et al., 2016, "Deep clustering"), e.g. ``wav8k/min/tt``
  with ``mix/ s1/ s2/ [s3/]`` holding files of the same names. A WHAM!-style folder
  (``mix_clean/ mix_both/ s1/ s2/ noise/``) loads too: the mixture folder is chosen with
  ``mix_folder`` and ``noise/`` files become ``noise_path``.
* a **ClearerVoice-Studio ``.scp`` list**: one mixture per line, whitespace-separated
  ``mix_path s1_path s2_path [s3_path]`` (absolute, or relative to the list's folder);
  blank lines and lines starting with ``#`` are ignored.

It also reads **utterance lists** (speaker-labelled pools for dynamic mixing), CSVs with
the header ``utterance_id,speaker,path,length,sample_rate`` (:func:`load_speaker_pool`,
re-exported by :mod:`voxsep.data.datasets`), and **speaker tables** (``speaker,sex,...``
CSVs: :func:`load_speaker_sexes`) for same-sex mixing.

Errors name the manifest and the line (or file) at fault.
"""

from __future__ import annotations

import csv
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Sequence

from voxsep.core.errors import advised
from voxsep.core.audio import AUDIO_EXTENSIONS
from voxsep.core.files import atomic_write

__all__ = ["MixtureRecord", "load_manifest", "write_manifest", "load_speaker_pool", "load_speaker_sexes",
           "ignored_columns", "AUDIO_EXTENSIONS"]

_SOURCE_COLUMN = re.compile(r"^source_(\d+)_path$")
_KNOWN_COLUMNS = re.compile(r"^(mixture_id|mixture_path|source_\d+_path|noise_path|length)$")
# Names a source or noise path column might be given by mistake: src2, source2, s2, noise, s2_wav, ...
# (speaker_1 and the like are informational unless their values are audio files)
_PATH_LIKE_COLUMN = re.compile(r"^(s|src|source|noise|mix|mixture)[ _-]?\d*$|(path|wav|file|audio)$")


@dataclass(frozen=True)
class MixtureRecord:
    """One mixture and its reference sources.

    Attributes:
        mixture_id: a name unique within the manifest.
        mixture_path: the mixture audio file.
        source_paths: one file per source, in speaker order (s1, s2, ...).
        noise_path: the noise file (WHAM!-style sets), if any.
        length: number of samples at the set's rate, if the manifest says so.
    """

    mixture_id: str
    mixture_path: Path
    source_paths: tuple[Path, ...] = field(default_factory=tuple)
    noise_path: Path | None = None
    length: int | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "mixture_path", Path(self.mixture_path))
        object.__setattr__(self, "source_paths", tuple(Path(p) for p in self.source_paths))
        if self.noise_path is not None:
            object.__setattr__(self, "noise_path", Path(self.noise_path))
        if self.length is not None:
            object.__setattr__(self, "length", int(self.length))

    @property
    def n_src(self) -> int:
        """Number of sources."""
        return len(self.source_paths)

    @property
    def paths(self) -> list[Path]:
        """Every file the record refers to: mixture, sources, then noise if any."""
        return [self.mixture_path, *self.source_paths] + ([self.noise_path] if self.noise_path else [])


def _resolve(base: Path, value: str) -> Path:
    path = Path(os.path.expanduser(value.strip()))
    return path if path.is_absolute() else base / path


def load_manifest(
    path: str | os.PathLike, mix_folder: str | None = None, problems: list[str] | None = None
) -> list[MixtureRecord]:
    """Load a LibriMix CSV, a wsj0-mix folder or a ``.scp`` list (see module docstring).

    Args:
        path: the CSV / ``.scp`` file, or the wsj0-mix folder (the one holding ``mix/``).
        mix_folder: for folders, the mixture sub-folder (default: ``mix``, or for WHAM!
            folders ``mix_both`` then ``mix_clean``).
        problems: for folders, a list to collect file problems in instead of raising at
            the first (``voxsep prepare check``): a mixture whose source file is missing
            keeps a record naming the missing path (for the caller to report), and source
            files without a mixture are appended as messages.

    Returns:
        The records, in file order (CSV/scp) or sorted by file name (folders).

    Raises:
        FileNotFoundError: ``path`` does not exist.
        ValueError: malformed manifest; the message names the file and line.
    """
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"manifest not found: {path}; give a LibriMix CSV, a .scp list or a wsj0-mix folder")
    if path.is_dir():
        return _load_folder(path, mix_folder, problems)
    if path.suffix.lower() == ".scp":
        return _load_scp(path)
    return _load_csv(path)


def _load_csv(path: Path) -> list[MixtureRecord]:
    # Read as "utf-8-sig" (here and in the other readers): a byte-order mark, as Excel's
    # "CSV UTF-8" writes one, is not part of the first column's name.
    base = path.parent
    with open(path, newline="", encoding="utf-8-sig") as handle:
        reader = csv.DictReader(handle)
        if reader.fieldnames is None:
            raise ValueError(f"manifest {path} is empty; expected a LibriMix CSV with a header line")
        columns = [c.strip() for c in reader.fieldnames]
        reader.fieldnames = columns
        lower = {c.lower(): c for c in columns}
        id_col, mix_col = lower.get("mixture_id"), lower.get("mixture_path")
        sources = sorted((int(m.group(1)), c) for c in columns if (m := _SOURCE_COLUMN.match(c.lower())))
        if id_col is None or mix_col is None or len(sources) < 1:
            raise ValueError(
                f"manifest {path} line 1: header {columns} is not LibriMix metadata; expected "
                "mixture_ID,mixture_path,source_1_path,source_2_path[,source_3_path][,noise_path],length"
            )
        if [i for i, _ in sources] != list(range(1, len(sources) + 1)):
            raise ValueError(f"manifest {path} line 1: source columns must be source_1_path..source_N_path, "
                             f"got {[c for _, c in sources]}")
        extra = [c for c in columns if not _KNOWN_COLUMNS.match(c.lower())]
        for column in extra:
            if _PATH_LIKE_COLUMN.search(column.lower()):
                raise ValueError(_unread_path_column(path, column, len(sources), "its name"))
        noise_col, length_col = lower.get("noise_path"), lower.get("length")
        records, seen = [], set()
        for line_no, row in enumerate(reader, start=2):
            where = f"manifest {path} line {line_no}"
            if None in row or any(v is None for v in row.values()):
                raise ValueError(f"{where}: expected {len(columns)} comma-separated fields")
            if line_no == 2:
                for column in extra:
                    if row[column].strip().lower().endswith(AUDIO_EXTENSIONS):
                        raise ValueError(_unread_path_column(path, column, len(sources), "its values"))
            mixture_id = row[id_col].strip()
            if not mixture_id or not row[mix_col].strip():
                raise ValueError(f"{where}: empty mixture_ID or mixture_path")
            if mixture_id in seen:
                raise ValueError(f"{where}: duplicate mixture_ID {mixture_id!r}")
            seen.add(mixture_id)
            source_values = [row[c].strip() for _, c in sources]
            if not all(source_values):
                raise ValueError(f"{where}: empty source path")
            length = None
            if length_col and row[length_col].strip():
                try:
                    length = int(float(row[length_col]))
                except ValueError as error:
                    raise ValueError(f"{where}: length {row[length_col]!r} is not a number of samples") from error
                if length <= 0:
                    raise ValueError(f"{where}: length must be positive, got {length}")
            noise = row[noise_col].strip() if noise_col else ""
            records.append(MixtureRecord(
                mixture_id=mixture_id,
                mixture_path=_resolve(base, row[mix_col]),
                source_paths=tuple(_resolve(base, v) for v in source_values),
                noise_path=_resolve(base, noise) if noise else None,
                length=length,
            ))
    if not records:
        raise ValueError(f"manifest {path} has a header but no mixtures")
    return records


def _unread_path_column(path: Path, column: str, n_sources: int, why: str) -> str:
    return (
        f"manifest {path} line 1: column {column!r} looks like a source or noise path ({why}), but voxsep reads "
        f"only mixture_path, source_1_path..source_N_path (no gap) and noise_path, so it would be ignored; "
        f"rename it (e.g. source_{n_sources + 1}_path or noise_path) or remove it"
    )


def ignored_columns(path: str | os.PathLike) -> list[str]:
    """The columns of a LibriMix-style CSV that voxsep does not read (informational ones);
    ``[]`` for folders and ``.scp`` lists."""
    path = Path(path)
    if path.is_dir() or path.suffix.lower() == ".scp":
        return []
    with open(path, newline="", encoding="utf-8-sig") as handle:
        header = next(csv.reader(handle), [])
    return [c.strip() for c in header if not _KNOWN_COLUMNS.match(c.strip().lower())]


def _load_scp(path: Path) -> list[MixtureRecord]:
    base = path.parent
    records, seen, n_fields = [], set(), None
    with open(path, encoding="utf-8-sig") as handle:
        for line_no, line in enumerate(handle, start=1):
            text = line.strip()
            if not text or text.startswith("#"):
                continue
            fields = text.split()
            where = f"list {path} line {line_no}"
            if len(fields) < 3:
                raise ValueError(f"{where}: expected 'mix_path s1_path s2_path [s3_path]', got {len(fields)} field(s)")
            if n_fields is not None and len(fields) != n_fields:
                raise ValueError(f"{where}: {len(fields)} fields but earlier lines have {n_fields}")
            n_fields = len(fields)
            mixture_path = _resolve(base, fields[0])
            mixture_id = mixture_path.stem
            if mixture_id in seen:
                mixture_id = f"{mixture_id}_{line_no}"
            seen.add(mixture_id)
            records.append(MixtureRecord(mixture_id, mixture_path, tuple(_resolve(base, f) for f in fields[1:])))
    if not records:
        raise ValueError(f"list {path} has no mixtures")
    return records


def _load_folder(path: Path, mix_folder: str | None, problems: list[str] | None = None) -> list[MixtureRecord]:
    candidates = [mix_folder] if mix_folder else ["mix", "mix_both", "mix_clean"]
    mix_dir = next((path / name for name in candidates if (path / name).is_dir()), None)
    if mix_dir is None:
        splits = [d.name for d in sorted(path.iterdir()) if d.is_dir() and (d / "mix").is_dir()]
        hint = f"; it holds the sets {splits}: pick one, e.g. {path / splits[0]}" if splits else ""
        raise ValueError(f"{path} is not a wsj0-mix folder: no {' or '.join(c + '/' for c in candidates)} "
                         f"sub-folder{hint}")
    source_dirs = []
    while (path / f"s{len(source_dirs) + 1}").is_dir():
        source_dirs.append(path / f"s{len(source_dirs) + 1}")
    if len(source_dirs) < 1:
        raise ValueError(f"wsj0-mix folder {path} has {mix_dir.name}/ but no s1/ s2/ source folders")
    noise_dir = path / "noise" if (path / "noise").is_dir() else None
    names = sorted(p.name for p in mix_dir.iterdir() if p.suffix.lower() in AUDIO_EXTENSIONS)
    if not names:
        raise ValueError(f"wsj0-mix folder {mix_dir} holds no audio files")
    records = []
    for name in names:
        for folder in source_dirs + ([noise_dir] if noise_dir else []):
            if not (folder / name).exists() and problems is None:
                raise ValueError(f"wsj0-mix folder {path}: {mix_dir.name}/{name} has no matching {folder / name}")
        records.append(MixtureRecord(
            mixture_id=Path(name).stem,
            mixture_path=mix_dir / name,
            source_paths=tuple(folder / name for folder in source_dirs),
            noise_path=noise_dir / name if noise_dir else None,
        ))
    extra = {p.name for d in source_dirs for p in d.iterdir() if p.suffix.lower() in AUDIO_EXTENSIONS} - set(names)
    if extra and problems is not None:
        problems.extend(f"{d / name}: a source file without a mixture in {mix_dir.name}/"
                        for d in source_dirs for name in sorted(extra) if (d / name).exists())
    elif extra:
        raise ValueError(f"wsj0-mix folder {path}: {len(extra)} source file(s) without a mixture in "
                         f"{mix_dir.name}/, e.g. {sorted(extra)[0]}")
    return records


def _relative(path: Path, base: Path) -> str:
    try:
        return Path(os.path.relpath(Path(path).resolve(), base.resolve())).as_posix()
    except ValueError:  # another drive (Windows): no relative path exists
        return str(Path(path).resolve())


def write_manifest(
    path: str | os.PathLike,
    records: Sequence[MixtureRecord] | Iterable[MixtureRecord],
    overwrite: bool = False,
    relative: bool = True,
) -> Path:
    """Write records as a LibriMix-format CSV, atomically.

    Args:
        path: the CSV to write.
        records: records with the same number of sources.
        overwrite: replace an existing file.
        relative: write paths relative to the CSV's folder (so the set can be moved as
            a whole); ``False`` writes absolute paths.

    Returns:
        The written path.

    Raises:
        FileExistsError: ``path`` exists and ``overwrite`` is false.
        ValueError: no records, or records with different numbers of sources.
    """
    path = Path(path)
    records = list(records)
    if not records:
        raise ValueError(f"no records to write to {path}")
    n_src = records[0].n_src
    for record in records:
        if record.n_src != n_src:
            raise ValueError(f"cannot write {path}: record {record.mixture_id!r} has {record.n_src} sources, "
                             f"{records[0].mixture_id!r} has {n_src}")
    if path.exists() and not overwrite:
        raise advised(FileExistsError, f"{path} already exists", "overwrite", True, "to replace it")
    base = path.parent
    has_noise = any(r.noise_path is not None for r in records)

    def fmt(p: Path) -> str:
        return _relative(p, base) if relative else str(Path(p).resolve())

    header = ["mixture_ID", "mixture_path"] + [f"source_{i + 1}_path" for i in range(n_src)]
    header += (["noise_path"] if has_noise else []) + ["length"]
    with atomic_write(path, overwrite=overwrite) as tmp:
        with open(tmp, "w", newline="", encoding="utf-8") as handle:
            writer = csv.writer(handle)
            writer.writerow(header)
            for r in records:
                row = [r.mixture_id, fmt(r.mixture_path)] + [fmt(p) for p in r.source_paths]
                if has_noise:
                    row.append(fmt(r.noise_path) if r.noise_path else "")
                row.append("" if r.length is None else str(r.length))
                writer.writerow(row)
    return path


_POOL_COLUMNS = ("utterance_id", "speaker", "path", "length", "sample_rate")


def load_speaker_pool(csv_path: str | os.PathLike) -> dict[str, list[Path]]:
    """Read an utterance list into ``{speaker: [utterance paths]}``.

    The CSV has the header ``utterance_id,speaker,path,length,sample_rate`` with paths
    relative to the CSV's folder (or absolute). Speakers and their utterances keep
    file order.

    Raises:
        FileNotFoundError: the CSV does not exist.
        ValueError: wrong header or an empty field; the message names the line.
    """
    csv_path = Path(csv_path)
    if not csv_path.is_file():
        raise FileNotFoundError(f"utterance list not found: {csv_path}")
    pool: dict[str, list[Path]] = {}
    with open(csv_path, newline="", encoding="utf-8-sig") as handle:
        reader = csv.DictReader(handle)
        if reader.fieldnames is None or not {"speaker", "path"} <= {c.strip() for c in reader.fieldnames}:
            raise ValueError(f"utterance list {csv_path} line 1: header {reader.fieldnames} should be "
                             f"{','.join(_POOL_COLUMNS)}")
        reader.fieldnames = [c.strip() for c in reader.fieldnames]
        for line_no, row in enumerate(reader, start=2):
            speaker, path = (row.get("speaker") or "").strip(), (row.get("path") or "").strip()
            if not speaker or not path:
                raise ValueError(f"utterance list {csv_path} line {line_no}: empty speaker or path")
            full = Path(path) if Path(path).is_absolute() else csv_path.parent / path
            pool.setdefault(speaker, []).append(full)
    if not pool:
        raise ValueError(f"utterance list {csv_path} has no utterances")
    return pool


def load_speaker_sexes(csv_path: str | os.PathLike) -> dict[str, str]:
    """Read a speaker table into ``{speaker: "F" | "M"}``.

    Any CSV with ``speaker`` and ``sex`` columns (other columns are ignored): the
    ``speakers.csv`` of ``voxsep prepare offline`` or of ``voxsep prepare librimix``
    (LibriSpeech's ``SPEAKERS.TXT`` sexes). Sexes are read case-insensitively as ``F``/``M``
    (``female``/``male`` too).

    Raises:
        FileNotFoundError: the CSV does not exist.
        ValueError: a missing column, an empty speaker, a sex that is not F or M, or a
            speaker listed twice with different sexes; the message names the line.
    """
    csv_path = Path(csv_path)
    if not csv_path.is_file():
        raise FileNotFoundError(f"speaker table not found: {csv_path}")
    words = {"f": "F", "female": "F", "m": "M", "male": "M"}
    sexes: dict[str, str] = {}
    with open(csv_path, newline="", encoding="utf-8-sig") as handle:
        reader = csv.DictReader(handle)
        if reader.fieldnames is None or not {"speaker", "sex"} <= {c.strip() for c in reader.fieldnames}:
            raise ValueError(f"speaker table {csv_path} line 1: header {reader.fieldnames} needs the columns "
                             "speaker and sex")
        reader.fieldnames = [c.strip() for c in reader.fieldnames]
        for line_no, row in enumerate(reader, start=2):
            speaker, sex = (row.get("speaker") or "").strip(), (row.get("sex") or "").strip().lower()
            if not speaker or sex not in words:
                raise ValueError(f"speaker table {csv_path} line {line_no}: speaker {speaker!r} with sex "
                                 f"{row.get('sex')!r}; every row needs a speaker and a sex F or M")
            if sexes.setdefault(speaker, words[sex]) != words[sex]:
                raise ValueError(f"speaker table {csv_path} line {line_no}: {speaker} is listed again with "
                                 "another sex")
    return sexes
