"""The ``voxsep serve`` web app: a Starlette ASGI app run by uvicorn.

Routes (no request names a server path: static files come from a fixed table of the
package's own files, uploads go into a private temporary folder under a name the
server chooses):

- ``GET /`` the page; ``GET /static/<name>`` its script and style sheet;
- ``GET /api/models`` the models given with ``--model``;
- ``POST /api/separate?model=<index>&name=<file name>`` the uploaded file as the raw
  request body; answers JSON with the talkers' WAV files (base64) and spectrograms (PNG),
  the number of talkers found, the time taken and the model used. Errors answer JSON
  ``{"error": message}``: 400 (unreadable, empty, too short, NaN...), 413 (too large),
  503 (busy: every job slot taken; ``Retry-After``), 504 (over the per-job time limit).

Separation uses ``voxsep.inference.api.Separator.separate`` (the chunked path of
``voxsep separate``) and then ``peak_normalise`` and 16-bit PCM WAV, as ``separate_file``
writes, so a download equals the CLI's output file.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import io
import os
import re
import shutil
import tempfile
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np

MIN_SECONDS = 0.1  # shorter uploads are refused with a message (a 1-sample file separates into nothing useful)
STATIC = {  # the only files the server sends: name -> content type
    "app.js": "text/javascript; charset=utf-8",
    "style.css": "text/css; charset=utf-8",
    "results.js": "text/javascript; charset=utf-8",
    "live.js": "text/javascript; charset=utf-8",
    "live-worklet.js": "text/javascript; charset=utf-8",
}
LOCAL_HOSTS = ("127.0.0.1", "localhost", "::1")


class UploadError(ValueError):
    """An upload the server refuses, with the HTTP status to answer."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.status = status


@dataclass
class ServedModel:
    spec: str
    separator: Any
    lock: threading.Lock = field(default_factory=threading.Lock)
    path: Any = None  # the checkpoint file, when there is one (live mode streams a fresh copy of it)
    live_model: Any = None  # a causal model StreamingSeparator accepts, or None
    live_reason: str = "not checked"

    def describe(self, index: int) -> dict:
        sep = self.separator
        return {"index": index, "name": self.spec, "sample_rate": sep.sample_rate, "n_src": sep.n_src,
                "counts_talkers": bool(sep.counts_talkers), "live": self.live_model is not None,
                "live_reason": self.live_reason}


@dataclass
class ServeConfig:
    max_upload_mb: float = 50.0
    max_jobs: int = 1
    job_timeout_s: float = 300.0
    max_seconds: float = 600.0  # longest recording accepted
    max_live: int = 1  # live microphone sessions at once


def safe_suffix(name: str) -> str:
    """The upload's extension if it is a plain short one (``.wav``, ``.flac``...), else ``''``:
    only a hint for the audio reader, never part of a path the client chooses."""
    suffix = Path(name or "").suffix.lower()
    return suffix if re.fullmatch(r"\.[a-z0-9]{1,5}", suffix) else ""


def display_name(name: str) -> str:
    """The client's file name reduced to a harmless label (used in messages and download names)."""
    base = re.split(r"[\\/]", name or "")[-1]
    base = re.sub(r"[^\w.\- ]", "_", base)[:100].strip() or "upload"
    return base


def wav_bytes(audio: np.ndarray, sample_rate: int) -> bytes:
    import soundfile as sf

    buffer = io.BytesIO()
    sf.write(buffer, np.asarray(audio, dtype=np.float32), sample_rate, subtype="PCM_16", format="WAV")
    return buffer.getvalue()


def separate_upload(model: ServedModel, path: Path, name: str, config: ServeConfig) -> dict:
    """Read, check and separate one uploaded file (runs in a worker thread)."""
    from voxsep.core.audio import AudioError, read_audio
    from voxsep.inference.api import peak_normalise
    from voxsep.serve.spectrogram import spectrogram_png

    start = time.perf_counter()
    try:
        audio, rate = read_audio(path)
    except AudioError as error:
        message = str(error).replace(str(path), name)
        if "cannot read" in message:
            message = (f"{name} is not an audio file voxsep can read (WAV, FLAC, OGG, MP3...); "
                       f"is it a renamed text or other file? ({message})")
        raise UploadError(message) from None
    seconds = audio.shape[-1] / rate
    if seconds < MIN_SECONDS:
        raise UploadError(f"{name} is too short: {audio.shape[-1]} sample(s), {seconds:.4f} s at {rate} Hz; "
                          f"give at least {MIN_SECONDS:g} s of audio")
    if seconds > config.max_seconds:
        raise UploadError(f"{name} is {seconds:.1f} s long; this server takes at most {config.max_seconds:g} s "
                          "(voxsep serve --max-seconds)", 413)
    separator = model.separator
    with model.lock:  # a Separator keeps per-call state (last_count)
        try:
            estimates = separator.separate(audio, rate, source=name)
        except ValueError as error:
            raise UploadError(str(error).replace(str(path), name)) from None
    if len(estimates):
        estimates, _ = peak_normalise(estimates, name)
    elapsed = time.perf_counter() - start
    mono = audio.mean(axis=0)
    mix_png, top = spectrogram_png(mono, rate)
    talkers = []
    stem = Path(name).stem or "upload"
    for i, estimate in enumerate(estimates):
        signal = estimate if estimate.ndim == 1 else estimate.mean(axis=0)
        png, _ = spectrogram_png(signal, rate, top_db=top)
        talkers.append({
            "name": f"{stem}_spk{i + 1}.wav",
            "wav": base64.b64encode(wav_bytes(estimate.T if estimate.ndim == 2 else estimate, rate)).decode(),
            "spectrogram": base64.b64encode(png).decode(),
        })
    return {
        "file": name, "model": model.spec, "sample_rate": rate, "duration_s": round(seconds, 3),
        "channels": int(audio.shape[0]), "n_talkers": len(talkers), "seconds": round(elapsed, 3),
        "mixture_spectrogram": base64.b64encode(mix_png).decode(), "talkers": talkers,
    }


def create_app(models: list[ServedModel], config: ServeConfig | None = None, tmp_root: str | None = None,
               results: list | None = None):
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import HTMLResponse, JSONResponse, Response
    from starlette.routing import Route

    if not models:
        raise ValueError("voxsep serve needs at least one model")
    config = config or ServeConfig()
    if config.max_jobs < 1:
        raise ValueError(f"--max-jobs must be at least 1, got {config.max_jobs}")
    if not config.max_upload_mb > 0:
        raise ValueError(f"--max-upload-mb must be positive, got {config.max_upload_mb}")
    max_bytes = int(config.max_upload_mb * 1024 * 1024)
    workdir = Path(tempfile.mkdtemp(prefix="voxsep-serve-", dir=tmp_root))  # mode 0700
    executor = ThreadPoolExecutor(max_workers=config.max_jobs, thread_name_prefix="voxsep-job")
    state = {"running": 0}  # jobs holding a slot (a timed-out job keeps its slot until its thread ends)
    static_dir = resources.files("voxsep.serve") / "static"

    def error(message: str, status: int, **headers: str) -> JSONResponse:
        return JSONResponse({"error": message}, status_code=status, headers=headers or None)

    async def index(request: Request) -> Response:
        return HTMLResponse((static_dir / "index.html").read_text(encoding="utf-8"))

    async def static(request: Request) -> Response:
        name = request.path_params["name"]
        if name not in STATIC:
            return error("not found", 404)
        return Response((static_dir / name).read_bytes(), media_type=STATIC[name])

    async def list_models(request: Request) -> Response:
        return JSONResponse({"models": [m.describe(i) for i, m in enumerate(models)],
                             "max_upload_mb": config.max_upload_mb, "max_seconds": config.max_seconds,
                             "job_timeout_s": config.job_timeout_s})

    async def separate(request: Request) -> Response:
        try:
            index_ = int(request.query_params.get("model", "0"))
            model = models[index_]
            if index_ < 0:
                raise IndexError
        except (ValueError, IndexError):
            return error(f"unknown model {request.query_params.get('model')!r}; "
                         f"choose 0 to {len(models) - 1} (GET /api/models)", 400)
        name = display_name(request.query_params.get("name", ""))
        length = request.headers.get("content-length")
        if length is not None and length.isdigit() and int(length) > max_bytes:
            return error(f"{name} is {int(length) / 1e6:.1f} MB; this server takes uploads up to "
                         f"{config.max_upload_mb:g} MB (voxsep serve --max-upload-mb)", 413, Connection="close")
        if state["running"] >= config.max_jobs:
            return error(f"busy: {state['running']} job(s) running, the limit of this server; retry in a moment",
                         503, **{"Retry-After": "2"})
        state["running"] += 1
        released = False
        path = workdir / f"{uuid.uuid4().hex}{safe_suffix(name)}"

        def release(_: object = None) -> None:
            state["running"] -= 1

        try:
            size = 0
            with open(path, "xb") as handle:
                async for chunk in request.stream():
                    size += len(chunk)
                    if size > max_bytes:
                        return error(f"{name} is over {config.max_upload_mb:g} MB, the upload limit of this server "
                                     "(voxsep serve --max-upload-mb)", 413, Connection="close")
                    handle.write(chunk)
            if size == 0:
                return error(f"{name} is empty (0 bytes); choose an audio file", 400)
            loop = asyncio.get_running_loop()
            future = loop.run_in_executor(executor, separate_upload, model, path, name, config)
            try:
                result = await asyncio.wait_for(asyncio.shield(future), timeout=config.job_timeout_s)
            except asyncio.TimeoutError:
                # the thread cannot be stopped: its slot stays taken and its file is removed when it ends
                future.add_done_callback(lambda _: (path.unlink(missing_ok=True), release()))
                released = True
                return error(f"{name}: separation took longer than {config.job_timeout_s:g} s, the time limit of "
                             "this server (voxsep serve --job-timeout)", 504)
            return JSONResponse(result)
        except UploadError as problem:
            return error(str(problem), problem.status)
        except Exception as problem:  # noqa: BLE001 - the server keeps serving after any failure
            detail = str(problem).replace(str(path), name).replace(str(workdir), "<upload folder>")
            return error(f"{name}: separation failed: {type(problem).__name__}: {detail}", 500)
        finally:
            if not released:
                path.unlink(missing_ok=True)
                release()

    @contextlib.asynccontextmanager
    async def lifespan(app: Any):
        try:
            yield
        finally:
            executor.shutdown(wait=False, cancel_futures=True)
            shutil.rmtree(workdir, ignore_errors=True)

    from voxsep.serve.live import live_routes

    extra = live_routes(models, config.max_live)
    if results is not None:
        from voxsep.serve.results import results_routes

        extra += results_routes(results)
    app = Starlette(routes=[*extra, 
        Route("/", index),
        Route("/static/{name}", static),
        Route("/api/models", list_models),
        Route("/api/separate", separate, methods=["POST"]),
    ], lifespan=lifespan)
    app.state.workdir = workdir
    app.state.config = config
    return app


def load_models(specs: list[str] | None) -> list[ServedModel]:
    """``Separator.load`` for each ``--model`` (when none is given: the bundled model, and its
    causal companion for live mode)."""
    from voxsep import pretrained
    from voxsep.inference.api import Separator

    from voxsep.serve.live import live_capability

    served = []
    for spec in list(specs or [pretrained.DEFAULT_MODEL, pretrained.STREAMING_MODEL]):
        model = ServedModel(spec, Separator.load(spec))
        if spec in pretrained.BUNDLED:
            model.path = pretrained.pretrained_path(spec)
        elif Path(spec).is_file() and Path(spec).suffix != ".onnx":
            model.path = Path(spec)
        model.live_model, model.live_reason = live_capability(model)
        served.append(model)
    return served
