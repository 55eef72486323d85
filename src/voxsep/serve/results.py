"""``voxsep serve --results``: the per-mixture table that ``voxsep evaluate`` wrote
(``results.csv``, its ``results.json`` summary and the estimates it saved under
``results_audio/`` with ``--save-audio N``), sortable in the page, worst first, with a
player and a labelled spectrogram (frequency and time axes, colour bar) per saved estimate.

Requests name result sets, rows and outputs by number only; the server maps them to the
files it found when it started.
"""

from __future__ import annotations

import csv
import json
from dataclasses import dataclass, field
from pathlib import Path

SORT_KEYS = ("si_snri", "sdri", "snri", "si_snr", "sdr")  # the first present is the default order (worst first)


@dataclass
class ResultSet:
    csv_path: Path
    columns: list[str]
    rows: list[dict[str, str]]
    summary: dict
    audio: dict[int, list[Path]] = field(default_factory=dict)  # row -> saved estimates in reference order

    def describe(self, index: int) -> dict:
        import soundfile as sf

        audio = {}
        for row, paths in self.audio.items():
            info = sf.info(str(paths[0]))
            audio[str(row)] = {"outputs": len(paths), "sample_rate": int(info.samplerate),
                               "duration_s": round(info.frames / info.samplerate, 3)}
        sort = next((key for key in SORT_KEYS if key in self.columns), None)
        return {"index": index, "name": self.csv_path.name, "columns": self.columns, "rows": self.rows,
                "summary": self.summary,
                "audio": audio, "sort": sort}


def load_results(source: str | Path) -> list[ResultSet]:
    """A results CSV of ``voxsep evaluate``, or a folder holding such CSVs (each next to its
    ``.json`` summary). Raises ``FileNotFoundError``/``ValueError`` with what is wrong."""
    from voxsep.evaluate import safe_audio_names

    source = Path(source)
    if source.is_dir():
        paths = sorted(p for p in source.glob("*.csv") if p.with_suffix(".json").is_file())
        if not paths:
            raise FileNotFoundError(f"--results {source}: no results CSV with its .json summary in this folder "
                                    "(voxsep evaluate --out DIR/results.csv writes both)")
    elif source.is_file():
        paths = [source]
    else:
        raise FileNotFoundError(f"--results {source}: no such file or folder")
    sets = []
    for path in paths:
        with open(path, newline="", encoding="utf-8") as handle:
            reader = csv.DictReader(handle)
            columns = list(reader.fieldnames or [])
            rows = list(reader)
        if "mixture_id" not in columns:
            raise ValueError(f"--results {path}: not a voxsep evaluate table (no mixture_id column)")
        summary_path = path.with_suffix(".json")
        summary = json.loads(summary_path.read_text(encoding="utf-8")) if summary_path.is_file() else {}
        audio_dir = path.with_name(f"{path.stem}_audio")
        audio: dict[int, list[Path]] = {}
        if audio_dir.is_dir():
            names = safe_audio_names([r["mixture_id"] for r in rows])
            for i, row in enumerate(rows):
                found = []
                k = 1
                while (audio_dir / f"{names[row['mixture_id']]}_s{k}.wav").is_file():
                    found.append(audio_dir / f"{names[row['mixture_id']]}_s{k}.wav")
                    k += 1
                if found:
                    audio[i] = found
        sets.append(ResultSet(path, columns, rows, summary, audio))
    return sets


def results_routes(sets: list[ResultSet]) -> list:
    from starlette.requests import Request
    from starlette.responses import HTMLResponse, JSONResponse, Response
    from starlette.routing import Route

    from voxsep.serve.spectrogram import spectrogram_png

    static_dir = Path(__file__).with_name("static")

    def audio_path(request: Request) -> Path | None:
        try:
            index, row, k = (int(request.path_params[key]) for key in ("set", "row", "k"))
        except (ValueError, KeyError):
            return None
        if not (0 <= index < len(sets) and row in sets[index].audio and 1 <= k <= len(sets[index].audio[row])):
            return None  # no negative index reaches a file from the end of a list
        return sets[index].audio[row][k - 1]

    async def page(request: Request) -> Response:
        return HTMLResponse((static_dir / "results.html").read_text(encoding="utf-8"))

    async def listing(request: Request) -> Response:
        return JSONResponse({"sets": [s.describe(i) for i, s in enumerate(sets)]})

    async def wav(request: Request) -> Response:
        path = audio_path(request)
        if path is None:
            return JSONResponse({"error": "no such saved estimate"}, status_code=404)
        return Response(path.read_bytes(), media_type="audio/wav")

    async def png(request: Request) -> Response:
        from voxsep.core.audio import read_audio

        path = audio_path(request)
        if path is None:
            return JSONResponse({"error": "no such saved estimate"}, status_code=404)
        audio, rate = read_audio(path)
        image, _ = spectrogram_png(audio.mean(axis=0), rate)
        return Response(image, media_type="image/png")

    return [
        Route("/results", page),
        Route("/api/results", listing),
        Route("/api/results/{set:int}/{row:int}/{k:int}.wav", wav),
        Route("/api/results/{set:int}/{row:int}/{k:int}.png", png),
    ]
