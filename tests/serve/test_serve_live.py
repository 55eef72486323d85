"""Live microphone mode in headless Chromium: Chromium's fake microphone plays a two-talker
WAV, the page streams it over the WebSocket, the server runs ``StreamingSeparator`` (with the
output level rule, ``match_level``) on a causal checkpoint; the separated recordings the page
offers equal ``StreamingSeparator`` on the input the page captured (>= 30 dB), and that input
is the WAV (found by cross-correlation). A non-causal model is refused with a message on the
page naming one that can stream; with no --model the server streams the bundled causal model."""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from tests.serve.browser import require_browser, start_chromium
from tests.serve.conftest import EXAMPLE_MIX, ROOT, snr_db, start_server, stop_server

require_browser()
pytest.importorskip("websockets", reason="live mode needs uvicorn's WebSocket support (pip install websockets)")

from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.support.ui import WebDriverWait  # noqa: E402


@pytest.fixture(scope="module")
def causal_server(tmp_path_factory: pytest.TempPathFactory):
    import torch

    from voxsep import checkpoint, models

    d = tmp_path_factory.mktemp("live")
    torch.manual_seed(0)
    model = models.build("conv_tasnet", n_src=2, causal=True, n_filters=16, kernel_size=8, bottleneck=8, hidden=16,
                         n_blocks=3, n_repeats=2, skip=8).eval()
    path = checkpoint.save(d / "causal.pt", model, sample_rate=8000)
    server = start_server(d / "server", "--model", str(path), "--model", "convtasnet_offline8k")
    server.checkpoint = path
    yield server
    stop_server(server)


def chromium(tmp_path: Path, wav: Path):
    return start_chromium(tmp_path / "profile", "--use-fake-ui-for-media-stream", "--use-fake-device-for-media-stream",
                          f"--use-file-for-fake-audio-capture={wav}", "--autoplay-policy=no-user-gesture-required")


def fetch_blob(driver, link) -> bytes:
    data = driver.execute_async_script("""
        const done = arguments[1];
        fetch(arguments[0].href).then(r => r.arrayBuffer()).then(b => {
          const bytes = new Uint8Array(b); let s = "";
          for (let i = 0; i < bytes.length; i += 8192) s += String.fromCharCode.apply(null, bytes.subarray(i, i + 8192));
          done(btoa(s));
        });""", link)
    import base64
    import io

    return sf.read(io.BytesIO(base64.b64decode(data)), dtype="float32")


def test_live_microphone_matches_streaming_separator(causal_server, tmp_path):
    from voxsep.inference.streaming import StreamingSeparator

    mix, rate = sf.read(EXAMPLE_MIX, dtype="float32")
    source = tmp_path / "mic.wav"
    sf.write(source, np.tile(mix, 2), rate, subtype="PCM_16")
    driver = chromium(tmp_path, source)
    try:
        driver.get(causal_server.url + "/")
        WebDriverWait(driver, 30).until(lambda d: len(d.find_elements(By.CSS_SELECTOR, "#model option")) == 2)
        driver.find_element(By.ID, "live-start").click()
        WebDriverWait(driver, 30).until(
            lambda d: d.find_elements(By.CSS_SELECTOR, "#live-status .latency") or d.find_elements(By.CSS_SELECTOR, ".live-error"))
        assert not driver.find_elements(By.CSS_SELECTOR, ".live-error"), driver.find_element(By.ID, "live-status").text
        latency_ms = float(driver.find_element(By.CSS_SELECTOR, "#live-status .latency").text)
        stream = StreamingSeparator.from_checkpoint(causal_server.checkpoint)
        assert latency_ms == pytest.approx(1000 * stream.latency_samples / 8000, abs=0.01)
        assert len(driver.find_elements(By.CSS_SELECTOR, "#live-talkers meter")) == 2
        WebDriverWait(driver, 30).until(lambda d: not d.find_element(By.ID, "live-stop").get_attribute("disabled"))
        time.sleep(4)
        driver.find_element(By.ID, "live-stop").click()
        WebDriverWait(driver, 30).until(lambda d: d.find_elements(By.CSS_SELECTOR, "#live-downloads a.live-talker"))
        captured, captured_rate = fetch_blob(driver, driver.find_element(By.CSS_SELECTOR, "a.live-input"))
        talkers = [fetch_blob(driver, a)[0] for a in driver.find_elements(By.CSS_SELECTOR, "a.live-talker")]
        driver.save_screenshot(str(tmp_path / "serve_live.png"))
        if os.environ.get("VOXSEP_UPDATE_SCREENSHOT"):
            shutil.copy(tmp_path / "serve_live.png", ROOT / "docs" / "serve_live.png")
    finally:
        driver.quit()
    assert captured_rate == 8000 and captured.size > 8000 * 2, captured.size  # seconds of audio came through
    n = min(captured.size, *(t.size for t in talkers))
    assert n >= captured.size - 2000  # every block sent was answered, but possibly the last
    expected = StreamingSeparator.from_checkpoint(causal_server.checkpoint, match_level=True).process(captured[:n])
    for k, talker in enumerate(talkers):
        quality = snr_db(expected[k], talker[:n])
        print(f"\nlive talker {k + 1}: page vs StreamingSeparator on the captured input {quality:.1f} dB over {n} samples")
        assert quality >= 30
    # the captured input is the fake microphone's file (Chromium resamples it: correlation, not equality)
    reference = np.tile(mix, 3)
    piece = captured[8000:8000 + 16000]
    if np.abs(piece).max() > 0:
        corr = np.correlate(reference[:8000 * 14], piece, mode="valid")
        norm = np.sqrt(np.convolve(reference[:8000 * 14] ** 2, np.ones(piece.size), mode="valid") * np.sum(piece ** 2))
        best = float(np.max(corr / np.maximum(norm, 1e-12)))
        print(f"captured input vs the fake microphone's file: peak normalised correlation {best:.3f}")
        assert best > 0.9
    else:
        pytest.fail("the fake microphone delivered silence")


def test_live_refuses_a_non_causal_model_with_a_message(causal_server, tmp_path):
    driver = chromium(tmp_path, EXAMPLE_MIX)
    try:
        driver.get(causal_server.url + "/")
        WebDriverWait(driver, 30).until(lambda d: len(d.find_elements(By.CSS_SELECTOR, "#model option")) == 2)
        driver.find_element(By.CSS_SELECTOR, "#model option[value='1']").click()
        driver.find_element(By.ID, "live-start").click()
        WebDriverWait(driver, 30).until(lambda d: d.find_elements(By.CSS_SELECTOR, ".live-error"))
        message = driver.find_element(By.CSS_SELECTOR, ".live-error").text
        assert "cannot run live" in message and f"pick {causal_server.checkpoint}" in message
        assert not driver.find_element(By.ID, "live-start").get_attribute("disabled")
    finally:
        driver.quit()
    assert causal_server.process.poll() is None


def test_live_sessions_are_bounded_and_blocks_checked(causal_server):
    """--max-live 1: a second session at once gets "busy, retry"; a malformed block ends only its session."""
    import json

    from websockets.sync.client import connect

    url = causal_server.url.replace("http://", "ws://") + "/ws/live?model=0"
    with connect(url) as first:
        assert json.loads(first.recv(timeout=30))["type"] == "ready"
        first.send(np.zeros(160, "<f4").tobytes())
        assert len(first.recv(timeout=30)) == 2 * 160 * 4  # two talkers' float32 samples
        with connect(url) as second:
            answer = json.loads(second.recv(timeout=30))
            assert answer["type"] == "error" and "busy" in answer["message"] and "retry" in answer["message"]
        first.send(b"\0\0\0")  # not a whole float32 sample
        answer = json.loads(first.recv(timeout=30))
        assert answer["type"] == "error" and "float32" in answer["message"]
    with connect(url) as again:  # the slot was given back
        assert json.loads(again.recv(timeout=30))["type"] == "ready"
    assert causal_server.process.poll() is None


def test_default_server_streams_the_bundled_causal_model_live(server):
    """``voxsep serve`` with no --model offers the bundled model and its causal companion; live
    mode streams the companion and refuses the offline model naming the companion."""
    import json

    import httpx
    from websockets.sync.client import connect

    from voxsep import pretrained

    models = httpx.get(f"{server.url}/api/models", timeout=10).json()["models"]
    assert [(m["name"], m["live"]) for m in models] == [(pretrained.DEFAULT_MODEL, False),
                                                        (pretrained.STREAMING_MODEL, True)]
    base = server.url.replace("http://", "ws://") + "/ws/live?model="
    with connect(base + "0") as refused:
        answer = json.loads(refused.recv(timeout=30))
        assert answer["type"] == "error" and f"pick {pretrained.STREAMING_MODEL}" in answer["message"]
    with connect(base + "1") as live:
        ready = json.loads(live.recv(timeout=30))
        assert ready["type"] == "ready" and ready["model"] == pretrained.STREAMING_MODEL and ready["n_src"] == 2
        block = np.random.default_rng(0).standard_normal(160).astype("<f4") * 0.1
        live.send(block.tobytes())
        assert len(live.recv(timeout=30)) == 2 * 160 * 4
