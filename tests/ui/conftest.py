"""Fixtures for the browser tests: one headless Debian chromium for the session, driven by
Playwright (never `playwright install`: the machine's chromium is used, offline), and a
fresh tab per test that records what the page logged and fetched."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from dataclasses import dataclass, field

import pytest
from playwright.sync_api import Browser, ConsoleMessage, Page, Response, expect, sync_playwright

CHROMIUM = shutil.which("chromium")
WAIT_MS = 10_000  # for anything to show; on a loaded CI machine a page can take seconds
expect.set_options(timeout=WAIT_MS)


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    """Debian's chromium, headless. As root, chromium refuses to start with its sandbox."""
    assert CHROMIUM is not None, "Debian's chromium is missing: apt-get install chromium"
    driver = sync_playwright().start()
    args = ["--no-sandbox"] if os.geteuid() == 0 else []
    launched = driver.chromium.launch(executable_path=CHROMIUM, args=args)
    yield launched
    launched.close()
    driver.stop()


@dataclass
class Tab:
    """A page with what it said on the console, every URL it asked for, and every answer
    that was a server fault."""

    page: Page
    errors: list[str] = field(default_factory=list)
    requests: list[str] = field(default_factory=list)
    faults: list[str] = field(default_factory=list)

    def foreign_requests(self, base: str) -> list[str]:
        """Requests to anywhere but the UI at `base` (the pages load nothing from a CDN)."""
        return [url for url in self.requests if not url.startswith(base + "/")]

    def console(self, message: ConsoleMessage) -> None:
        if message.type == "error":
            self.errors.append(f"{message.text} at {message.location.get('url')}")

    def check(self, response: Response) -> None:
        if response.status >= 500:
            self.faults.append(f"{response.status} {response.url}")


@pytest.fixture
def tab(browser: Browser) -> Iterator[Tab]:
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    context.set_default_timeout(WAIT_MS)
    page = context.new_page()
    tab = Tab(page)
    page.on("console", tab.console)
    page.on("pageerror", lambda e: tab.errors.append(str(e)))
    page.on("request", lambda r: tab.requests.append(r.url))
    page.on("response", tab.check)
    yield tab
    context.close()
