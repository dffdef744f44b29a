"""Headless Debian Chromium under Playwright, for the e2e and browser suites (never a downloaded browser)."""
from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

CHROMIUM = os.environ.get("PERF_PROFILER_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]


@contextlib.contextmanager
def headless_chromium() -> Iterator[Any]:
    """The launched browser; fails the test with the install command when Chromium is missing."""
    if not os.access(CHROMIUM, os.X_OK):
        pytest.fail(f"{CHROMIUM} not found: these tests need Debian's chromium "
                    "(`make test` installs it: apt-get install -y chromium)", pytrace=False)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        try:
            yield chromium
        finally:
            chromium.close()


@contextlib.contextmanager
def page_kept_on_failure(browser: Any, base_url: str, viewport: dict[str, int], screenshot: Path,
                         request: pytest.FixtureRequest) -> Iterator[Any]:
    """A fresh page (its own context) on ``base_url``; ``screenshot`` is written when the test fails.

    The failure is read from ``request.node.rep_call``, which the suite's
    ``pytest_runtest_makereport`` hook sets.
    """
    context = browser.new_context(viewport=viewport, base_url=base_url)
    context.set_default_timeout(30_000)
    page = context.new_page()
    try:
        yield page
    finally:
        report = getattr(request.node, "rep_call", None)
        if report is not None and report.failed:
            with contextlib.suppress(Exception):  # best effort: a crashed page must not hide the failure
                page.screenshot(path=str(screenshot), full_page=True)
        context.close()


def artifacts_folder(folder: Path, stale_failures: str) -> Path:
    """``folder`` (created), without the failure screenshots (``stale_failures``) of an earlier run."""
    folder.mkdir(parents=True, exist_ok=True)
    for stale in folder.glob(stale_failures):
        stale.unlink()
    return folder
