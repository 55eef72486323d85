"""``voxsep serve --results``: the table ``voxsep evaluate`` wrote, in headless Chromium
(sorted worst first, re-sorted by a click, players and labelled spectrograms of the saved
estimates) and over HTTP (rows and outputs by number only)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

import numpy as np
import pytest
import soundfile as sf

pytest.importorskip("httpx")
import httpx  # noqa: E402

from tests.serve.browser import require_browser, start_chromium  # noqa: E402
from tests.serve.conftest import EXAMPLE_MIX, ROOT, start_server, stop_server  # noqa: E402

PRETRAINED = EXAMPLE_MIX.parent


@pytest.fixture(scope="module")
def results_server(tmp_path_factory: pytest.TempPathFactory):
    """voxsep evaluate on three mixtures built from the bundled example (estimates of the first
    two saved), then voxsep serve --results on its CSV."""
    d = tmp_path_factory.mktemp("results")
    s1, rate = sf.read(PRETRAINED / "example_s1.wav", dtype="float32")
    s2, _ = sf.read(PRETRAINED / "example_s2.wav", dtype="float32")
    noise = np.random.default_rng(0).standard_normal(s1.size).astype(np.float32) * 0.05
    lines = ["mixture_ID,mixture_path,source_1_path,source_2_path,length"]
    for name, a, b, extra in (("plain", s1, s2, 0), ("quiet_second", s1, 0.3 * s2, 0), ("noisy", s1, s2, noise)):
        paths = [d / f"{name}_{part}.wav" for part in ("mix", "s1", "s2")]
        for path, signal in zip(paths, (a + b + extra, a, b)):
            sf.write(path, signal, rate, subtype="FLOAT")
        lines.append(f"{name},{paths[0]},{paths[1]},{paths[2]},{s1.size}")
    (d / "test.csv").write_text("\n".join(lines) + "\n")
    out = d / "eval" / "test_results.csv"
    run = subprocess.run([sys.executable, "-c", "import sys; from voxsep.cli import main; sys.exit(main())",
                          "evaluate", "--model", str(PRETRAINED / "convtasnet_offline8k.pt"), str(d / "test.csv"),
                          "--out", str(out), "--save-audio", "2", "--no-quality", "--no-sdr", "--device", "cpu",
                          "--report", str(d / "evaluate_report.html")],
                         capture_output=True, text=True, env=dict(os.environ, OMP_NUM_THREADS="1"), timeout=300)
    assert run.returncode == 0, run.stderr
    server = start_server(d / "server", "--results", str(out.parent))
    server.results_csv = out
    server.evaluate_report = d / "evaluate_report.html"
    yield server
    stop_server(server)


def test_results_api(results_server):
    import csv

    with open(results_server.results_csv, newline="") as handle:
        rows = list(csv.DictReader(handle))
    listing = httpx.get(f"{results_server.url}/api/results", timeout=30).json()["sets"]
    assert len(listing) == 1 and listing[0]["name"] == "test_results.csv"
    assert [r["mixture_id"] for r in listing[0]["rows"]] == [r["mixture_id"] for r in rows]
    assert sorted(listing[0]["audio"]) == ["0", "1"] and listing[0]["sort"] == "si_snri"
    saved = results_server.results_csv.with_name("test_results_audio") / "plain_s2.wav"
    answer = httpx.get(f"{results_server.url}/api/results/0/0/2.wav", timeout=30)
    assert answer.status_code == 200 and answer.content == saved.read_bytes()
    png = httpx.get(f"{results_server.url}/api/results/0/1/1.png", timeout=30)
    assert png.status_code == 200 and png.content[:4] == b"\x89PNG"
    for missing in ("0/2/1.wav", "0/0/3.wav", "1/0/1.wav", "0/0/0.png", "0/-1/1.wav"):
        assert httpx.get(f"{results_server.url}/api/results/{missing}", timeout=30).status_code == 404


def test_results_page_in_browser(results_server, tmp_path):
    require_browser(allow_module_level=False)
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    driver = start_chromium(tmp_path / "profile")
    try:
        driver.get(results_server.url + "/results")
        WebDriverWait(driver, 30).until(lambda d: len(d.find_elements(By.CSS_SELECTOR, "#table tbody tr")) == 3)
        header = [th.text.replace(" ▲", "").replace(" ▼", "") for th in driver.find_elements(By.CSS_SELECTOR, "#table th")]
        column = header.index("si_snri")

        def scores() -> list[float]:
            return [float(tr.find_elements(By.TAG_NAME, "td")[column].text)
                    for tr in driver.find_elements(By.CSS_SELECTOR, "#table tbody tr")]

        assert scores() == sorted(scores())  # worst first
        assert "si_snri mean" in driver.find_element(By.ID, "summary").text
        driver.find_elements(By.CSS_SELECTOR, "#table th")[column].click()
        assert scores() == sorted(scores(), reverse=True)
        buttons = driver.find_elements(By.CSS_SELECTOR, "button.listen")
        assert len(buttons) == 2  # the two mixtures whose estimates evaluate saved
        buttons[0].click()
        WebDriverWait(driver, 30).until(lambda d: len(d.find_elements(By.CSS_SELECTOR, "#detail .row.estimate")) == 2)
        WebDriverWait(driver, 30).until(lambda d: all(
            d.execute_script("return arguments[0].complete && arguments[0].naturalWidth", img) > 0
            for img in d.find_elements(By.CSS_SELECTOR, "#detail img")))
        figure = driver.find_element(By.CSS_SELECTOR, "#detail figure.spectrogram").text
        assert "4 kHz" in figure and "0 s" in figure and "0 dB" in figure and "−80 dB" in figure
        assert driver.find_elements(By.CSS_SELECTOR, "#detail audio")
        shot = tmp_path / "serve_results.png"
        driver.save_screenshot(str(shot))
        if os.environ.get("VOXSEP_UPDATE_SCREENSHOT"):
            shutil.copy(shot, ROOT / "docs" / "serve_results.png")
    finally:
        driver.quit()


def test_static_report_is_self_contained(results_server, tmp_path):
    """voxsep serve --results CSV --report HTML: one file, nothing fetched from anywhere, the
    estimates inline byte for byte; opened from disk in Chromium it sorts and plays like /results."""
    import base64
    import re

    out = tmp_path / "report.html"
    run = subprocess.run([sys.executable, "-c", "import sys; from voxsep.cli import main; sys.exit(main())",
                          "serve", "--results", str(results_server.results_csv), "--report", str(out)],
                         capture_output=True, text=True, env=dict(os.environ, OMP_NUM_THREADS="1"), timeout=120)
    assert run.returncode == 0, run.stderr
    page = out.read_text(encoding="utf-8")
    assert not re.search(r"""(src|href)=["']?(https?:|/)""", page)  # no server, no CDN
    assert "/static/" not in page and "fetch(" in page  # the script's server path is unused when data is inline
    saved = results_server.results_csv.with_name("test_results_audio") / "plain_s1.wav"
    assert base64.b64encode(saved.read_bytes()).decode() in page

    require_browser(allow_module_level=False)  # the browser half
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    driver = start_chromium(tmp_path / "profile")
    try:
        driver.get(out.as_uri())
        WebDriverWait(driver, 30).until(lambda d: len(d.find_elements(By.CSS_SELECTOR, "#table tbody tr")) == 3)
        assert driver.find_elements(By.CSS_SELECTOR, "#table tbody tr td")[0].text == "noisy"  # worst first
        driver.find_elements(By.CSS_SELECTOR, "button.listen")[0].click()
        WebDriverWait(driver, 30).until(lambda d: len(d.find_elements(By.CSS_SELECTOR, "#detail .row.estimate")) == 2)
        WebDriverWait(driver, 30).until(lambda d: all(
            d.execute_script("return arguments[0].complete && arguments[0].naturalWidth", img) > 0
            for img in d.find_elements(By.CSS_SELECTOR, "#detail img")))
        duration = driver.execute_async_script("""
            const a = document.querySelector('#detail audio'); const done = arguments[0];
            a.preload = 'auto'; a.onloadedmetadata = () => done(a.duration); a.onerror = () => done(-1); a.load();""")
        assert duration == pytest.approx(6.37, abs=0.01)  # the inline WAV plays
    finally:
        driver.quit()


def test_evaluate_report_equals_serve_report(results_server, tmp_path):
    """voxsep evaluate --report writes the same self-contained page as voxsep serve --results --report."""
    out = tmp_path / "report.html"
    run = subprocess.run([sys.executable, "-c", "import sys; from voxsep.cli import main; sys.exit(main())",
                          "serve", "--results", str(results_server.results_csv), "--report", str(out)],
                         capture_output=True, text=True, env=dict(os.environ, OMP_NUM_THREADS="1"), timeout=120)
    assert run.returncode == 0, run.stderr
    assert results_server.evaluate_report.read_text(encoding="utf-8") == out.read_text(encoding="utf-8")


def test_evaluate_report_cannot_replace_the_results(results_server):
    """--report naming the results CSV is refused before any scoring; the CSV is unchanged."""
    csv_path = results_server.results_csv
    before = csv_path.read_bytes()
    run = subprocess.run([sys.executable, "-c", "import sys; from voxsep.cli import main; sys.exit(main())",
                          "evaluate", "--model", str(PRETRAINED / "convtasnet_offline8k.pt"),
                          str(csv_path.parent.parent / "test.csv"), "--out", str(csv_path.with_name("other.csv")),
                          "--report", str(csv_path.with_name("other.csv")), "--no-quality", "--no-sdr"],
                         capture_output=True, text=True, env=dict(os.environ, OMP_NUM_THREADS="1"), timeout=300)
    assert run.returncode != 0 and "give another --report" in run.stderr, run.stderr
    assert not csv_path.with_name("other.csv").exists() and csv_path.read_bytes() == before
