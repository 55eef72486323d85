"""What a user can run: the bundled models, models in the local Hugging Face cache, and
the published models voxsep knows how to import (``pretrained_table``, shown by
``voxsep models --pretrained``).

``KNOWN`` lists published separation models voxsep converts (``import_model``), with
what their publishers state. A field the publisher does not state (or that was not
checked for this list) is ``None``, shown as "—": nothing here is guessed.
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from voxsep.interop.common import hub_cache_dirs


@dataclass(frozen=True)
class PublishedModel:
    """A published model voxsep imports. ``score``: the publisher's own figure, with its
    test set; ``parameters`` in millions."""

    hub_id: str
    architecture: str  # the voxsep model it becomes
    toolkit: str
    sample_rate: int
    n_src: int
    parameters: float | None
    training_data: str | None
    licence: str | None
    score: str | None
    note: str = ""


KNOWN: tuple[PublishedModel, ...] = (
    PublishedModel("JusperLee/TIGER-speech", "tiger", "look2hear (TIGER)", 16000, 2, 0.82,
                   "EchoSet (noisy, reverberant; inferred from its config, not stated in the files)", "Apache-2.0",
                   None, "parity with the authors' code >= 60 dB on real speech (tests/unit/test_tiger.py)"),
    PublishedModel("speechbrain/sepformer-wsj02mix", "sepformer", "SpeechBrain", 8000, 2, 26.0, "WSJ0-2mix",
                   "Apache-2.0", "22.4 dB SI-SNRi on the WSJ0-2mix test set (model card)"),
    # SpeechBrain's other SepFormers: the same network (parameters counted on the layout
    # with 2 / 3 talkers); read by the same importer, parity-tested at this size with 3
    # talkers and at 16 kHz (tests/unit/test_interop_reference.py). Scores not checked here.
    PublishedModel("speechbrain/sepformer-whamr", "sepformer", "SpeechBrain", 8000, 2, 25.68,
                   "WHAMR! (noisy, reverberant WSJ0-2mix)", "Apache-2.0", None),
    PublishedModel("speechbrain/sepformer-whamr16k", "sepformer", "SpeechBrain", 16000, 2, 25.68,
                   "WHAMR! at 16 kHz (noisy, reverberant)", "Apache-2.0", None),
    PublishedModel("speechbrain/sepformer-wham", "sepformer", "SpeechBrain", 8000, 2, 25.68,
                   "WHAM! (WSJ0-2mix with noise)", "Apache-2.0", None),
    PublishedModel("speechbrain/sepformer-libri2mix", "sepformer", "SpeechBrain", 8000, 2, 25.68, "Libri2Mix",
                   "Apache-2.0", None),
    PublishedModel("speechbrain/sepformer-libri3mix", "sepformer", "SpeechBrain", 8000, 3, 25.75, "Libri3Mix",
                   "Apache-2.0", None),
    PublishedModel("speechbrain/sepformer-wsj03mix", "sepformer", "SpeechBrain", 8000, 3, 25.75, "WSJ0-3mix",
                   "Apache-2.0", None),
    PublishedModel("JorisCos/ConvTasNet_Libri2Mix_sepclean_8k", "conv_tasnet", "Asteroid", 8000, 2, None,
                   "Libri2Mix, clean mixtures (sep_clean)", None, None),
    PublishedModel("alibabasglab/MossFormer2_SS_16K", "mossformer2", "ClearerVoice-Studio", 16000, 2, None, None,
                   None, None),
)


def cached_models() -> dict[str, Path]:
    """Hub ids in the local Hugging Face cache with a snapshot folder → that folder's repo folder."""
    found: dict[str, Path] = {}
    for cache in hub_cache_dirs():
        if not cache.is_dir():
            continue
        for folder in sorted(cache.glob("models--*--*")):
            if (folder / "snapshots").is_dir() and any((folder / "snapshots").iterdir()):
                org, _, name = folder.name[len("models--"):].partition("--")
                found.setdefault(f"{org}/{name}", folder)
    return found


def _bundled_rows() -> list[dict[str, Any]]:
    from voxsep import checkpoint, pretrained

    rows = []
    for name, (file, description) in pretrained.BUNDLED.items():
        path = pretrained.PRETRAINED_DIR / file
        row: dict[str, Any] = {"name": name, "kind": "bundled", "architecture": None, "sample_rate": None,
                               "n_src": None, "parameters": None, "training_data": None,
                               "licence": "see its model card " + file.replace(".pt", ".md"),
                               "score": description, "local": path.is_file(), "path": str(path)}
        if path.is_file():
            data = checkpoint.read(path)
            row.update(architecture=data["model_name"], sample_rate=data.get("sample_rate"), n_src=data.get("n_src"),
                       parameters=round(sum(t.numel() for t in data["state_dict"].values()) / 1e6, 2),
                       training_data="voxsep offline corpus (real and synthetic voices; model card)")
        rows.append(row)
    return rows


def pretrained_table() -> list[dict[str, Any]]:
    """One row per runnable model: the bundled ones, the known published ones (``local``:
    in the cache), then other models found in the cache (their fields unknown until imported)."""
    cached = cached_models()
    rows = _bundled_rows()
    for model in KNOWN:
        row = {"name": model.hub_id, "kind": "published", **asdict(model), "local": model.hub_id in cached,
               "path": str(cached[model.hub_id]) if model.hub_id in cached else None}
        row.pop("hub_id")
        rows.append(row)
    known = {m.hub_id for m in KNOWN}
    for hub_id, folder in cached.items():
        if hub_id not in known:
            rows.append({"name": hub_id, "kind": "cache", "architecture": None, "toolkit": None, "sample_rate": None,
                         "n_src": None, "parameters": None, "training_data": None, "licence": None, "score": None,
                         "local": True, "path": str(folder)})
    return rows


def format_table(rows: list[dict[str, Any]]) -> str:
    """The rows as an aligned text table ("—": not stated)."""
    def cell(value: Any) -> str:
        if value is None:
            return "—"
        if isinstance(value, bool):
            return "yes" if value else "no"
        if isinstance(value, float):
            return f"{value:g} M"
        return str(value)

    columns = [("name", "model"), ("kind", "kind"), ("architecture", "architecture"), ("sample_rate", "rate"),
               ("parameters", "params"), ("local", "local"), ("licence", "licence"), ("training_data", "training data"),
               ("score", "published score")]
    table = [[title for _, title in columns]] + [[cell(row.get(key)) for key, _ in columns] for row in rows]
    widths = [max(len(line[i]) for line in table) for i in range(len(columns) - 1)]
    lines = ["  ".join(text.ljust(width) for text, width in zip(line[:-1], widths)) + "  " + line[-1] for line in table]
    return os.linesep.join(lines)
