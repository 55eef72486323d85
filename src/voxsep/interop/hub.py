"""Downloads of published models from the Hugging Face hub (``huggingface_hub``).

``download(repo_id, revision=None, offline=None) -> snapshot folder`` fetches the files of
a model repository that voxsep reads (weights and their configuration: ``*.safetensors``,
``*.bin``, ``*.pth``, ``*.pt``, ``*.ckpt``, ``*.json``, ``*.yaml``, ``last_best_checkpoint*``)
into the local hub cache (the ``models--org--name`` layout ``huggingface-cli download``
writes), with ``huggingface_hub``'s progress bars, and returns the snapshot folder.

* **Nothing half-written.** The download goes to a staging folder beside the cache
  (``<cache>/.voxsep-download-*``); only when every file has arrived are the complete
  files moved into the cache (renames on the same file system) and the staging folder
  removed. A failed or interrupted download leaves the cache as it was.
* **Offline.** With ``offline=True`` or ``HF_HUB_OFFLINE=1`` nothing touches the network:
  the model is taken from the cache, or the error says how to fetch it elsewhere.
* **Pinned revisions.** ``revision`` is a branch, tag or commit; the snapshot folder is
  named by the commit, which ``import_model`` records with every file's sha256.
* ``HF_ENDPOINT`` (read at each call) points at another hub, e.g. a mirror or a test server.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

from voxsep.interop.common import HUB_ID, UnsafeCacheEntry, hub_cache_dirs, snapshot_of_repo_folder

MODEL_FILES = ["*.safetensors", "*.bin", "*.pth", "*.pt", "*.ckpt", "*.json", "*.yaml", "last_best_checkpoint*"]
TRUE_VALUES = {"1", "true", "yes", "on"}


class HubDownloadError(ConnectionError):
    """A download from the hub failed (the message says what and what to do); an ``OSError``."""


def offline_requested(offline: bool | None = None) -> bool:
    """``offline`` if given, else whether ``HF_HUB_OFFLINE`` is set to a true value."""
    if offline is not None:
        return offline
    return os.environ.get("HF_HUB_OFFLINE", "").strip().lower() in TRUE_VALUES


def repo_folder_name(repo_id: str) -> str:
    return "models--" + repo_id.replace("/", "--")


def cached_snapshot(repo_id: str, revision: str | None = None) -> Path | None:
    """The cached snapshot folder of ``repo_id`` at ``revision`` (a commit, or a branch/tag
    with a ref in the cache; default ``main``), or ``None``."""
    for cache in hub_cache_dirs():
        folder = cache / repo_folder_name(repo_id)
        if not folder.is_dir():
            continue
        if revision is None:
            try:
                return snapshot_of_repo_folder(folder)
            except UnsafeCacheEntry:
                raise  # a ref leading out of the cache is refused, not downloaded over
            except Exception:  # noqa: BLE001 - an unusable cache entry counts as absent
                continue
        if _plain_name(revision) and _snapshot_dir(folder, revision):
            return folder / "snapshots" / revision
        ref = folder / "refs" / revision
        if _plain_name(revision) and ref.is_file() and not ref.is_symlink():
            commit = ref.read_text().strip()
            if _plain_name(commit) and _snapshot_dir(folder, commit):
                return folder / "snapshots" / commit
    return None


def _plain_name(name: str) -> bool:
    """A revision or ref value usable as one folder name (no path separators, no ``..``)."""
    return bool(name) and "/" not in name and "\\" not in name and name not in (".", "..")


def _snapshot_dir(folder: Path, commit: str) -> bool:
    """``snapshots/<commit>`` is a real folder inside the cache entry (not a link leading out)."""
    snapshot = folder / "snapshots" / commit
    return snapshot.is_dir() and not snapshot.is_symlink()


def not_cached_message(repo_id: str, revision: str | None, why: str) -> str:
    looked = ", ".join(str(c) for c in hub_cache_dirs())
    pin = f" --revision {revision}" if revision else ""
    return (f"{repo_id!r}{' at ' + revision if revision else ''} is not in the local Hugging Face cache "
            f"(looked in {looked}) and {why}. On a machine with internet run:  huggingface-cli download "
            f"{repo_id}{pin}  then copy its cache folder {repo_folder_name(repo_id)} into one of those folders "
            "(or give the folder's path)")


def _merge_into_cache(staged_repo: Path, target_repo: Path) -> None:
    """Move the complete files of a staged ``models--org--name`` folder into the cache:
    blobs first, then snapshot links, then refs (each a rename), so that a reader never
    sees a link to a missing blob or a ref to a missing snapshot."""
    for part in ("blobs", "snapshots", "refs"):
        source_root = staged_repo / part
        if not source_root.is_dir():
            continue
        for source in sorted(source_root.rglob("*"), key=lambda p: len(p.parts)):
            if source.is_dir() and not source.is_symlink():
                continue
            if source.name.endswith(".incomplete") or source.name.endswith(".lock"):
                continue
            destination = target_repo / source.relative_to(staged_repo)
            destination.parent.mkdir(parents=True, exist_ok=True)
            if part == "refs" or not (destination.exists() or destination.is_symlink()):
                os.replace(source, destination)


def download(repo_id: str, revision: str | None = None, offline: bool | None = None,
             progress: bool = True) -> Path:
    """The local snapshot folder of hub model ``repo_id`` (module docstring), downloading
    what the cache lacks unless offline.

    Raises:
        ValueError: ``repo_id`` is not of the form ``org/name``.
        FileNotFoundError: offline and not cached (the message has the download command).
        HubDownloadError: the download failed (no such repository or revision, network
            error, interrupted transfer); the cache is left as it was.
    """
    if not HUB_ID.match(repo_id):
        raise ValueError(f"{repo_id!r} is not a hub model id of the form org/name")
    cached = cached_snapshot(repo_id, revision)
    is_commit = revision is not None and len(revision) == 40 and all(c in "0123456789abcdef" for c in revision)
    if offline_requested(offline):
        if cached is not None:
            return cached
        raise FileNotFoundError(not_cached_message(repo_id, revision, "downloads are off (offline mode)"))
    if cached is not None and (is_commit or revision is None and _has_main_ref(repo_id)):
        return cached
    from huggingface_hub import snapshot_download
    from huggingface_hub.utils import disable_progress_bars, enable_progress_bars

    cache = hub_cache_dirs()[0]
    cache.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".voxsep-download-", dir=cache))
    endpoint = os.environ.get("HF_ENDPOINT") or None
    try:
        if not progress:
            disable_progress_bars()
        try:
            staged = Path(snapshot_download(repo_id, revision=revision, cache_dir=staging, endpoint=endpoint,
                                            allow_patterns=MODEL_FILES, max_workers=1))
        finally:
            if not progress:
                enable_progress_bars()
        if not any(p.is_file() for p in staged.iterdir()):
            raise HubDownloadError(f"{repo_id}: the repository has no model files ({', '.join(MODEL_FILES)})")
        commit = staged.name
        _merge_into_cache(staging / repo_folder_name(repo_id), cache / repo_folder_name(repo_id))
    except HubDownloadError:
        raise
    except Exception as error:  # noqa: BLE001 - every failure gets the same cleanup and a clear message
        first = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise HubDownloadError(
            f"could not download {repo_id}{' at ' + revision if revision else ''} from "
            f"{endpoint or 'https://huggingface.co'}: {type(error).__name__}: {first[:300]}. Nothing was added to "
            f"the cache ({cache}); check the name, the revision and the connection, then try again"
        ) from error
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return cache / repo_folder_name(repo_id) / "snapshots" / commit


def _has_main_ref(repo_id: str) -> bool:
    return any((cache / repo_folder_name(repo_id) / "refs" / "main").is_file() for cache in hub_cache_dirs())
