"""Debian's Chromium driven by Playwright (the driver ships in the PyPI wheel; nothing is
downloaded at test time). Chromium as root needs --no-sandbox; the other flags keep it
from reaching for the network, which would hang it here."""
from __future__ import annotations

import shutil
from contextlib import contextmanager
from typing import Iterator

import pytest

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
FLAGS = ["--no-sandbox", "--headless", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--disable-dev-shm-usage"]


@contextmanager
def chromium() -> Iterator[object]:
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.fail("playwright is not installed: pip install -e '.[test]'")
    if not shutil.which(CHROMIUM):
        pytest.fail("Debian's chromium is not installed: apt-get install chromium (.ci/apt-packages.txt)")
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=FLAGS, timeout=60_000)
        try:
            yield browser
        finally:
            browser.close()
