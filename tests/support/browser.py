"""Headless Chromium for the web tests: Debian's ``/usr/bin/chromium`` driven by Playwright.

Playwright for Python brings its driver in the wheel; no browser is ever downloaded (nothing here
runs ``playwright install``). Each test gets a fresh browser with a fresh profile in its own
temporary directory, and the page's console errors and failed requests are collected so a test can
show them when it fails. Screenshots go to ``test-artifacts/web/`` (git-ignored).
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import attrs

from entrypoints.http.web import find_node_modules
from tests.conftest import need

if TYPE_CHECKING:
    from playwright.async_api import BrowserContext, Page

CHROMIUM = Path(os.environ.get("MEDIA_TEST_CHROMIUM", "/usr/bin/chromium"))
FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
)
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "web"
TIMEOUT_MS = 15_000


PAGE_LIBRARIES = ("tus-js-client", "@mux/upchunk", "hls.js")
"""The npm packages the page loads from node_modules (package.json "dependencies")."""


def need_chromium() -> None:
    """Skip (fail under CI) unless Chromium and Playwright for Python are installed."""
    need(CHROMIUM.exists(), f"needs Chromium at {CHROMIUM} (Debian: apt-get install chromium)")
    need(
        importlib.util.find_spec("playwright") is not None,
        "needs Playwright for Python (pip install -e '.[test]')",
    )


def need_page_libraries() -> None:
    """Skip (fail under CI) unless the page's npm libraries are installed: without them the page
    runs in its reduced mode, which the browser journeys do not describe."""
    found = find_node_modules(Path(__file__).parent)
    missing = [name for name in PAGE_LIBRARIES if found is None or not (found / name).is_dir()]
    need(not missing, f"the page's npm libraries are missing ({', '.join(missing)}): run npm ci")


@attrs.define
class Browser:
    """One browser context and what its pages reported."""

    context: BrowserContext
    console_errors: list[str] = attrs.field(factory=list)

    async def page(self, url: str | None = None) -> Page:
        """A new tab, optionally opened at ``url``, whose console errors are recorded."""
        page = await self.context.new_page()
        page.set_default_timeout(TIMEOUT_MS)
        page.on(
            "console",
            lambda message: (
                self.console_errors.append(message.text) if message.type == "error" else None
            ),
        )
        page.on("pageerror", lambda error: self.console_errors.append(str(error)))
        if url is not None:
            await page.goto(url)
        return page


@contextlib.asynccontextmanager
async def chromium(profile_dir: Path, **context_options: Any) -> AsyncIterator[Browser]:
    """Launch Chromium with a fresh profile in ``profile_dir``; close it afterwards."""
    need_chromium()
    need_page_libraries()
    from playwright.async_api import async_playwright  # noqa: PLC0415 - optional until needed

    async with async_playwright() as playwright:
        context = await playwright.chromium.launch_persistent_context(
            str(profile_dir),
            executable_path=str(CHROMIUM),
            args=list(FLAGS),
            headless=True,
            accept_downloads=False,
            viewport=context_options.pop("viewport", {"width": 1100, "height": 900}),
            **context_options,
        )
        try:
            yield Browser(context=context)
        finally:
            await context.close()


async def screenshot(page: Page, name: str) -> Path:
    """Save a full-page screenshot as ``test-artifacts/web/<name>.png``."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"{re.sub(r'[^A-Za-z0-9_.-]', '_', name)}.png"
    await page.screenshot(path=str(path), full_page=True)
    return path
