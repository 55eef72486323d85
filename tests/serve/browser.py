"""Headless Chromium for the serve tests: one place for the binaries, the flags and the
driver start. A test module calls :func:`require_browser` at import (it skips the module with
the reason when Chromium, chromedriver or selenium is missing), then :func:`start_chromium`."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path(shutil.which("chromedriver") or "/usr/bin/chromedriver")
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--disable-dev-shm-usage", "--window-size=1200,1350"]


def require_browser(allow_module_level: bool = True) -> None:
    """Skip (the module, by default) unless Chromium, chromedriver and selenium are installed."""
    if not CHROMIUM.exists() or not CHROMEDRIVER.exists():
        pytest.skip(f"browser tests need {CHROMIUM} and chromedriver (Debian: apt-get install chromium "
                    "chromium-driver, or make apt)", allow_module_level=allow_module_level)
    pytest.importorskip("selenium", reason="browser tests need selenium (pip install -e '.[dev]')")


def start_chromium(profile: Path, *arguments: str, prefs: dict | None = None):
    """A headless Chromium driver with its own ``profile`` folder, ``FLAGS`` and ``arguments``."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for flag in [*FLAGS, f"--user-data-dir={profile}", *arguments]:
        options.add_argument(flag)
    if prefs:
        options.add_experimental_option("prefs", prefs)
    return webdriver.Chrome(service=Service(str(CHROMEDRIVER)), options=options)
