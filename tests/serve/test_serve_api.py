"""``voxsep serve`` over HTTP (no browser): results equal the CLI's files, bad uploads get a
clear answer and the server keeps serving, 20 concurrent uploads get a result or "busy"."""

from __future__ import annotations

import base64
import io
import struct
import threading
import time
import zlib

import numpy as np
import pytest
import soundfile as sf

pytest.importorskip("httpx")
pytest.importorskip("starlette")
import httpx  # noqa: E402

from tests.serve.conftest import EXAMPLE_MIX, MAX_JOBS, snr_db  # noqa: E402


def post(server, data: bytes, name: str, model: str = "0", timeout: float = 120) -> httpx.Response:
    return httpx.post(f"{server.url}/api/separate", params={"model": model, "name": name}, content=data,
                      timeout=timeout)


@pytest.mark.usefixtures("one_thread")  # as the server (OMP_NUM_THREADS=1): bf16 sums depend on threads
def test_separate_equals_cli_output(server, tmp_path):
    from voxsep.inference.api import Separator

    answer = post(server, EXAMPLE_MIX.read_bytes(), "example_mix.wav")
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["model"] == "convtasnet_offline8k" and body["n_talkers"] == 2 == len(body["talkers"])
    assert body["sample_rate"] == 8000 and body["seconds"] > 0
    cli = Separator.from_pretrained().separate_file(EXAMPLE_MIX, tmp_path, n_src=None)
    assert len(cli) == 2
    for talker, path in zip(body["talkers"], cli):
        assert talker["name"] == path.name
        served, rate = sf.read(io.BytesIO(base64.b64decode(talker["wav"])), dtype="float32")
        reference, ref_rate = sf.read(path, dtype="float32")
        assert rate == ref_rate and served.shape == reference.shape
        assert snr_db(reference, served) >= 60
        png = base64.b64decode(talker["spectrogram"])
        assert png[:8] == b"\x89PNG\r\n\x1a\n"
    assert server.leftovers() == []


def test_separate_equals_voxsep_separate_command(server, tmp_path):
    """The served WAVs equal what `voxsep separate` writes for the same file (>= 60 dB)."""
    import os
    import subprocess
    import sys

    run = subprocess.run([sys.executable, "-c", "import sys; from voxsep.cli import main; sys.exit(main())",
                          "separate", str(EXAMPLE_MIX), "--out", str(tmp_path)], capture_output=True, text=True,
                         env=dict(os.environ, OMP_NUM_THREADS="1"), timeout=300)
    assert run.returncode == 0, run.stderr
    body = post(server, EXAMPLE_MIX.read_bytes(), "example_mix.wav").json()
    for talker in body["talkers"]:
        reference, _ = sf.read(tmp_path / talker["name"], dtype="float32")
        served, _ = sf.read(io.BytesIO(base64.b64decode(talker["wav"])), dtype="float32")
        print(f"\n{talker['name']}: served vs voxsep separate {snr_db(reference, served):.1f} dB")
        assert snr_db(reference, served) >= 60


def test_stereo_44k_mp3_is_separated(server, tmp_path):
    from voxsep.core.audio import read_audio, resample

    mix, rate = read_audio(EXAMPLE_MIX)
    stereo = resample(np.concatenate([mix, 0.8 * mix]), rate, 44100)
    path = tmp_path / "stereo.mp3"
    sf.write(path, stereo.T, 44100, format="MP3")
    answer = post(server, path.read_bytes(), "stereo.mp3")
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["sample_rate"] == 44100 and body["channels"] == 2 and body["n_talkers"] >= 1
    served, out_rate = sf.read(io.BytesIO(base64.b64decode(body["talkers"][0]["wav"])))
    assert out_rate == 44100


@pytest.mark.parametrize("kind", ["empty", "text", "one_sample", "nan", "oversize"])
def test_bad_upload_gets_a_message_and_server_keeps_serving(server, bad_files, kind):
    path, phrase = bad_files[kind]
    answer = post(server, path.read_bytes(), path.name)
    assert answer.status_code in (400, 413), answer.text
    message = answer.json()["error"]
    assert phrase in message and path.name in message
    assert str(server.tmp_root) not in message  # no server path in what the client sees
    assert httpx.get(f"{server.url}/api/models", timeout=10).status_code == 200
    assert server.leftovers() == []
    assert server.process.poll() is None


def test_oversize_without_content_length(server):
    """A chunked upload (no Content-Length) is cut at the limit while it streams in."""
    def chunks():
        for _ in range(40):
            yield b"\0" * 65536  # 2.5 MB > 1 MB

    answer = httpx.post(f"{server.url}/api/separate", params={"name": "stream.wav"}, content=chunks(), timeout=60)
    assert answer.status_code == 413 and "upload limit" in answer.json()["error"]
    assert server.leftovers() == []


def test_no_request_names_a_server_path(server):
    for path in ("/static/app.py", "/static/..%2Fapp.py", "/static/%2Fetc%2Fpasswd", "/static/index.html"):
        assert httpx.get(server.url + path, timeout=10).status_code == 404
    assert httpx.get(f"{server.url}/static/app.js", timeout=10).status_code == 200
    answer = post(server, EXAMPLE_MIX.read_bytes(), "../../etc/x/../passwd.wav")
    assert answer.status_code == 200 and answer.json()["file"] == "passwd.wav"
    assert post(server, b"RIFF", "x.wav", model="7").status_code == 400
    assert post(server, b"RIFF", "x.wav", model="-1").status_code == 400


def test_load_20_concurrent_uploads(server):
    data = EXAMPLE_MIX.read_bytes()
    results: list[tuple[int, str, float]] = []
    lock = threading.Lock()
    barrier = threading.Barrier(20)

    def one(i: int) -> None:
        barrier.wait()
        start = time.perf_counter()
        try:
            answer = post(server, data, f"load{i}.wav", timeout=300)
            outcome = (answer.status_code, answer.text[:200], time.perf_counter() - start)
        except httpx.HTTPError as error:  # a crash or a dropped connection fails the test below
            outcome = (0, repr(error), time.perf_counter() - start)
        with lock:
            results.append(outcome)

    start = time.perf_counter()
    threads = [threading.Thread(target=one, args=(i,)) for i in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.perf_counter() - start
    codes = [code for code, _, _ in results]
    done, busy = codes.count(200), codes.count(503)
    print(f"\nload: 20 concurrent uploads of {EXAMPLE_MIX.name}: {done} separated, {busy} busy (503), "
          f"wall {wall:.2f} s, slowest answer {max(t for _, _, t in results):.2f} s, "
          f"server peak RSS {server.peak_rss_mb():.0f} MB, max jobs {MAX_JOBS}")
    assert len(results) == 20
    assert done + busy == 20, [r for r in results if r[0] not in (200, 503)]
    assert done >= MAX_JOBS and busy >= 1  # 20 at once on 2 slots: some must be turned away
    assert all("busy" in text and "retry" in text for code, text, _ in results if code == 503)
    assert server.leftovers() == []
    assert server.peak_rss_mb() < 3000
    assert post(server, data, "after.wav").status_code == 200  # still serving


def test_spectrogram_png_decodes():
    from voxsep.serve.spectrogram import spectrogram_png

    t = np.arange(8000) / 8000
    png, top = spectrogram_png(np.sin(2 * np.pi * 1000 * t), 8000, height=64)
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    length, kind = struct.unpack(">I4s", png[8:16])
    width, height = struct.unpack(">II", png[16:24])
    assert kind == b"IHDR" and height == 64 and 0 < width <= 800
    idat_len = struct.unpack(">I", png[33:37])[0]
    raw = zlib.decompress(png[41:41 + idat_len])
    rows = np.frombuffer(raw, np.uint8).reshape(height, 1 + 3 * width)[:, 1:].reshape(height, width, 3)
    brightness = rows.astype(int).sum(axis=(1, 2))
    # 1 kHz of a 0-4 kHz axis, low frequencies at the bottom: the brightest row is 3/4 of the way down
    assert abs(int(np.argmax(brightness)) - 0.75 * (height - 1)) <= 2


def test_job_time_limit_and_busy_while_a_timed_out_job_runs(tmp_path):
    """Past --job-timeout the answer is 504; the job's slot stays taken (503 busy) until its
    thread ends, then the file is removed and the server separates again."""
    from tests.serve.conftest import start_server, stop_server
    from voxsep.core.audio import read_audio

    mix, rate = read_audio(EXAMPLE_MIX)
    long_mix = tmp_path / "long.wav"
    sf.write(long_mix, np.tile(mix[0], 12), rate)  # ~76 s: well over the 0.2 s limit on any machine
    server = start_server(tmp_path, "--max-jobs", "1", "--job-timeout", "0.2")
    try:
        answer = post(server, long_mix.read_bytes(), "long.wav")
        assert answer.status_code == 504 and "longer than 0.2 s" in answer.json()["error"], answer.text
        busy = post(server, EXAMPLE_MIX.read_bytes(), "next.wav")
        assert busy.status_code == 503 and busy.headers["retry-after"] == "2"
        deadline = time.monotonic() + 120
        while server.leftovers() and time.monotonic() < deadline:
            time.sleep(0.2)
        assert server.leftovers() == []
        time.sleep(0.2)
        assert server.process.poll() is None
        assert httpx.get(f"{server.url}/api/models", timeout=10).status_code == 200
    finally:
        stop_server(server)
    assert server.workdirs() == []  # the private folder is removed at shutdown


def test_other_host_warns(tmp_path):
    from tests.serve.conftest import start_server, stop_server

    server = start_server(tmp_path, "--host", "0.0.0.0")
    try:
        assert "WARNING: binding 0.0.0.0" in server.log.read_text()
    finally:
        stop_server(server)
