"""``voxsep serve`` driven by headless Chromium (selenium): upload through the page's file
input, wait for the talker rows, download both WAVs and compare them with
``Separator.separate_file`` on the same file; bad uploads show a clear message on the page
and the server keeps serving.

Skipped when /usr/bin/chromium or chromedriver is absent (``make apt`` installs them).
Set ``VOXSEP_UPDATE_SCREENSHOT=1`` to write docs/serve_upload.png (the picture in README.md and docs/serve.md).
"""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from tests.serve.browser import require_browser, start_chromium
from tests.serve.conftest import EXAMPLE_MIX, ROOT, snr_db

require_browser()

from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.support import expected_conditions as EC  # noqa: E402
from selenium.webdriver.support.ui import WebDriverWait  # noqa: E402


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory):
    profile = tmp_path_factory.mktemp("chromium-profile")
    downloads = tmp_path_factory.mktemp("downloads")
    driver = start_chromium(profile, prefs={"download.default_directory": str(downloads),
                                            "download.prompt_for_download": False})
    driver.execute_cdp_cmd("Browser.setDownloadBehavior", {"behavior": "allow", "downloadPath": str(downloads)})
    driver.downloads = downloads
    yield driver
    driver.quit()


def upload(driver, server, path: Path) -> None:
    if not driver.current_url.startswith(server.url):
        driver.get(server.url + "/")
        WebDriverWait(driver, 30).until(lambda d: d.find_elements(By.CSS_SELECTOR, "#model option"))
    driver.find_element(By.ID, "file").send_keys(str(path))


def wait_for_download(folder: Path, name: str, timeout: float = 30) -> Path:
    target = folder / name
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if target.exists() and not (folder / f"{name}.crdownload").exists() and target.stat().st_size > 44:
            return target
        time.sleep(0.2)
    raise AssertionError(f"{name} was not downloaded into {folder}: {sorted(os.listdir(folder))}")


@pytest.mark.usefixtures("one_thread")  # as the server (OMP_NUM_THREADS=1): bf16 sums depend on threads
def test_upload_in_browser_matches_cli(server, browser, tmp_path):
    from voxsep.inference.api import Separator

    upload(browser, server, EXAMPLE_MIX)
    WebDriverWait(browser, 120).until(
        lambda d: d.find_elements(By.CSS_SELECTOR, "#status .done") or d.find_elements(By.CSS_SELECTOR, "#status.error"))
    assert not browser.find_elements(By.CSS_SELECTOR, "#status.error"), browser.find_element(By.ID, "status").text
    rows = browser.find_elements(By.CSS_SELECTOR, "#results .row.talker")
    assert len(rows) == 2
    assert browser.find_element(By.CSS_SELECTOR, ".summary .n-talkers").text == "2"
    assert browser.find_element(By.CSS_SELECTOR, ".summary .model").text == "convtasnet_offline8k"
    assert float(browser.find_element(By.CSS_SELECTOR, ".summary .seconds").text) > 0
    assert len(browser.find_elements(By.CSS_SELECTOR, "#results .row.mixture")) == 1
    for img in browser.find_elements(By.CSS_SELECTOR, "#results .row img"):  # spectrograms decoded by the browser
        assert browser.execute_script("return arguments[0].complete && arguments[0].naturalWidth", img) > 0
    axes = browser.find_element(By.CSS_SELECTOR, "#results .row.talker figure.spectrogram").text
    assert "4 kHz" in axes and "6.37 s" in axes and "−80 dB" in axes  # 8 kHz file: 4 kHz at the top
    shot = tmp_path / "serve_upload.png"
    browser.save_screenshot(str(shot))
    if os.environ.get("VOXSEP_UPDATE_SCREENSHOT"):
        shutil.copy(shot, ROOT / "docs" / "serve_upload.png")

    cli = Separator.from_pretrained().separate_file(EXAMPLE_MIX, tmp_path / "cli")
    assert [p.name for p in cli] == ["example_mix_spk1.wav", "example_mix_spk2.wav"]
    for link, reference_path in zip(browser.find_elements(By.CSS_SELECTOR, "#results .row.talker a.download"), cli):
        assert link.get_attribute("download") == reference_path.name
        link.click()
        downloaded = wait_for_download(browser.downloads, reference_path.name)
        served, rate = sf.read(downloaded, dtype="float32")
        reference, ref_rate = sf.read(reference_path, dtype="float32")
        assert rate == ref_rate and served.shape == reference.shape
        assert snr_db(reference, served) >= 60
    assert server.leftovers() == []


def test_bad_uploads_show_a_message_and_server_keeps_serving(server, browser, bad_files):
    for kind, (path, phrase) in bad_files.items():
        upload(browser, server, path)
        WebDriverWait(browser, 60).until(
            EC.text_to_be_present_in_element((By.CSS_SELECTOR, "#status.error .message"), phrase),
            message=f"{kind}: no message containing {phrase!r}",
        )
        message = browser.find_element(By.CSS_SELECTOR, "#status .message").text
        assert path.name in message and str(server.tmp_root) not in message, message
        assert server.process.poll() is None
    # the same page still separates a good file afterwards
    mix = EXAMPLE_MIX
    upload(browser, server, mix)
    WebDriverWait(browser, 120).until(lambda d: d.find_elements(By.CSS_SELECTOR, "#status .done"))
    assert len(browser.find_elements(By.CSS_SELECTOR, "#results .row.talker")) == 2
    assert server.leftovers() == []


def test_asterisk_prompts_mixed_in_browser(server, browser, tmp_path):
    """Two real talkers from the Debian asterisk prompts, mixed here at 16 kHz, through the page."""
    from voxsep.core.audio import read_audio, resample

    sounds = Path("/usr/share/asterisk/sounds/en")
    first, second = sounds / "conf-onlyperson.wav", Path("/usr/share/asterisk/sounds/es_MX_f_Allison") / "agent-incorrect.wav"
    if not first.exists() or not second.exists():
        pytest.skip("asterisk prompts not installed (make apt)")
    a, rate_a = read_audio(first, channels=1)
    b, rate_b = read_audio(second, channels=1)
    n = min(a.shape[-1], b.shape[-1])
    mix = resample(a[0, :n] / np.abs(a).max() + b[0, :n] / np.abs(b).max(), rate_a, 16000) * 0.4
    path = tmp_path / "prompts.wav"
    sf.write(path, mix, 16000)
    upload(browser, server, path)
    WebDriverWait(browser, 120).until(
        lambda d: d.find_elements(By.CSS_SELECTOR, "#status .done") or d.find_elements(By.CSS_SELECTOR, "#status.error"))
    assert not browser.find_elements(By.CSS_SELECTOR, "#status.error"), browser.find_element(By.ID, "status").text
    assert int(browser.find_element(By.CSS_SELECTOR, ".summary .n-talkers").text) >= 1
    assert "16000 Hz" in browser.find_element(By.CSS_SELECTOR, ".summary").text


def test_compare_two_models_side_by_side(browser, tmp_path):
    """Two --model entries: "compare" shows a column per model, each with its talker rows."""
    from tests.serve.conftest import start_server, stop_server

    checkpoint = ROOT / "src" / "voxsep" / "pretrained" / "convtasnet_offline8k.pt"
    server = start_server(tmp_path, "--model", "convtasnet_offline8k", "--model", str(checkpoint))
    try:
        browser.get(server.url + "/")
        WebDriverWait(browser, 30).until(lambda d: len(d.find_elements(By.CSS_SELECTOR, "#model2 option")) == 2)
        browser.find_element(By.ID, "compare-on").click()
        assert browser.find_element(By.ID, "model2").get_attribute("value") == "1"
        browser.find_element(By.ID, "file").send_keys(str(EXAMPLE_MIX))
        WebDriverWait(browser, 120).until(
            lambda d: d.find_elements(By.CSS_SELECTOR, "#status .done") or d.find_elements(By.CSS_SELECTOR, "#status.error"))
        assert not browser.find_elements(By.CSS_SELECTOR, "#status.error"), browser.find_element(By.ID, "status").text
        columns = browser.find_elements(By.CSS_SELECTOR, "#results .column")
        assert [c.find_element(By.CSS_SELECTOR, ".model").text for c in columns] == ["convtasnet_offline8k", str(checkpoint)]
        assert [len(c.find_elements(By.CSS_SELECTOR, ".row.talker")) for c in columns] == [2, 2]
        assert server.leftovers() == []
    finally:
        stop_server(server)
        browser.get("about:blank")  # the next test loads its own server's page
