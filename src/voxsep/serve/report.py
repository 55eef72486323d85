"""The ``--results`` view as one static, self-contained HTML file to share: the page, its
style and script inline, and every saved estimate inline as a WAV and a spectrogram PNG
(``data:`` URLs). No server, no network: it opens from disk in any browser."""

from __future__ import annotations

import base64
import json
from pathlib import Path

from voxsep.serve.results import ResultSet


def report_html(sets: list[ResultSet]) -> str:
    from voxsep.core.audio import read_audio
    from voxsep.serve.spectrogram import spectrogram_png

    described = []
    for index, result in enumerate(sets):
        info = result.describe(index)
        for row, paths in result.audio.items():
            files = []
            for path in paths:
                audio, rate = read_audio(path)
                png, _ = spectrogram_png(audio.mean(axis=0), rate)
                files.append({"wav": "data:audio/wav;base64," + base64.b64encode(path.read_bytes()).decode(),
                              "png": "data:image/png;base64," + base64.b64encode(png).decode()})
            info["audio"][str(row)]["files"] = files
        described.append(info)
    static = Path(__file__).with_name("static")
    page = (static / "results.html").read_text(encoding="utf-8")
    style = (static / "style.css").read_text(encoding="utf-8")
    script = (static / "results.js").read_text(encoding="utf-8")
    data = json.dumps({"sets": described}).replace("</", "<\\/")  # no early end of the script element
    page = page.replace('<link rel="stylesheet" href="/static/style.css">', f"<style>\n{style}</style>")
    page = page.replace('<script src="/static/results.js"></script>',
                        f"<script>window.VOXSEP_RESULTS = {data};</script>\n<script>\n{script}</script>")
    page = page.replace('<a href="/" style="color:#fff">Separate a file</a>', "")
    return page


def write_report(sets: list[ResultSet], out: str | Path) -> Path:
    """Write :func:`report_html` to ``out`` (written whole or not at all)."""
    from voxsep.core.files import atomic_write

    out = Path(out)
    page = report_html(sets)
    with atomic_write(out) as temporary:
        temporary.write_text(page, encoding="utf-8")
    return out
