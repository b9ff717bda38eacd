"""The explorer page in a real browser: ``neuratlas serve`` in a subprocess, headless Chromium.

Chromium is Debian's (``/usr/bin/chromium``, or ``$NEURATLAS_CHROMIUM``), driven by
Playwright for Python; Playwright's own browser downloads are never used. Where either
is missing every test here skips with one line saying which (``make test`` installs
both). The server gets a free port and a cache of its own, and is shared by the tests
of this folder; its log and a screenshot of every step go to ``test-artifacts/explorer/``.
"""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.service.live_server import serving, wait_for

ROOT = Path(__file__).resolve().parents[3]
ARTIFACTS = ROOT / "test-artifacts" / "explorer"
CHROMIUM_ENV = "NEURATLAS_CHROMIUM"
# a fresh cache: /ready waits for the sparse indexes of the statistical maps
START_TIMEOUT_S = 180
# the first load of a parcellation makes its files (template, resampled map) on Dask
READY_TIMEOUT_MS = 120_000
VIEWPORT = {"width": 1400, "height": 900}


def chromium_path() -> str | None:
    """Debian's Chromium, or the one ``$NEURATLAS_CHROMIUM`` names; None if there is none."""
    named = os.environ.get(CHROMIUM_ENV)
    if named:
        return named if Path(named).is_file() else None
    return shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.fixture(scope="package")
def sync_api() -> Any:
    """Playwright's sync API, and a Chromium to drive; else the tests skip, saying why."""
    try:
        from playwright import sync_api
    except ImportError:
        pytest.skip("playwright is not installed (pip install playwright): no browser tests")
    if chromium_path() is None:
        named = os.environ.get(CHROMIUM_ENV)
        where = f"${CHROMIUM_ENV}={named} is no file" if named else "no chromium on PATH"
        pytest.skip(f"{where} (apt-get install chromium): no browser tests")
    return sync_api


@pytest.fixture(scope="package")
def artifacts() -> Path:
    """Where screenshots and the server's log go (``test-artifacts/explorer/``, not committed)."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    return ARTIFACTS


@pytest.fixture(scope="package")
def server(sync_api, artifacts: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """``neuratlas serve --port <free port>`` with a cache of its own, once it is ready."""
    log = artifacts / "server.log"
    cache = tmp_path_factory.mktemp("explorer-cache")
    with serving(log, cache=cache) as (base, process):
        wait_for(f"{base}/ready", process, log, START_TIMEOUT_S)
        yield base


@pytest.fixture(scope="package")
def browser(sync_api) -> Iterator[Any]:
    """Headless Chromium (Debian's), for the whole folder."""
    with sync_api.sync_playwright() as playwright:
        # --no-sandbox: the tests may run as root (in containers), where the sandbox cannot
        launched = playwright.chromium.launch(
            executable_path=chromium_path(), headless=True, args=["--no-sandbox"]
        )
        yield launched
        launched.close()


@dataclass
class Explorer:
    """A tab on the explorer: the page, its console errors, and screenshots of each step."""

    page: Any
    base: str
    artifacts: Path
    test_name: str
    errors: list[str] = field(default_factory=list)
    messages: list[str] = field(default_factory=list)
    step: int = 0

    def open(self, query: str = "") -> None:
        """Load the page (``query``: the URL state, e.g. ``?parcellation=...``) and wait."""
        self.page.goto(f"{self.base}/{query}")
        self.wait()

    def wait(self, timeout_ms: int = READY_TIMEOUT_MS) -> None:
        """Until the views are drawn and nothing is loading (``body[data-ready]``)."""
        self.page.wait_for_function(
            "document.body.dataset.ready === 'true'", timeout=timeout_ms, polling=50
        )
        self.page.evaluate("window.explorer.ready")

    def state(self) -> dict[str, Any]:
        return self.page.evaluate("window.explorer.state")

    def shot(self, what: str) -> Path:
        """A screenshot of this step: ``<test>-<n>-<what>.png``."""
        self.step += 1
        path = self.artifacts / f"{self.test_name}-{self.step:02d}-{what}.png"
        self.page.screenshot(path=str(path))
        return path

    def api(self, path: str, **params: str) -> Any:
        """A route of the service the page talks to, as JSON."""
        response = httpx.get(f"{self.base}{path}", params=params, timeout=120)
        assert response.status_code == 200, response.text
        return response.json()

    def status(self) -> str:
        return self.page.inner_text("#status")


@pytest.fixture
def explorer(browser, server: str, artifacts: Path, request: pytest.FixtureRequest):
    """A fresh tab (its own context: no cache, no URL history) on the explorer."""
    context = browser.new_context(viewport=VIEWPORT, accept_downloads=True)
    page = context.new_page()
    name = re.sub(r"[^A-Za-z0-9_.-]+", "_", request.node.name.removeprefix("test_"))
    tab = Explorer(page, server, artifacts, name)
    # only errors count: the WebGL view may warn ("GPU stall due to ReadPixels")
    page.on("console", lambda message: message.type == "error" and tab.errors.append(message.text))
    page.on("console", lambda message: tab.messages.append(f"{message.type}: {message.text}"))
    page.on("pageerror", lambda error: tab.errors.append(f"page error: {error}"))
    try:
        yield tab
        if getattr(request.node, "call_failed", False):
            tab.shot("failed")  # what the page showed when the test failed
    finally:
        context.close()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo) -> Iterator[None]:
    # the outcome of a test's body, for the explorer fixture's screenshot of a failure
    outcome = yield
    report = outcome.get_result()
    if report.when == "call":
        item.call_failed = report.failed  # type: ignore[attr-defined]
