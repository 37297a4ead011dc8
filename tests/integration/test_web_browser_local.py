"""The web page on the local provider in headless Chromium: real thumbnail, HLS through hls.js.

Screenshots go to ``test-artifacts/web/`` as in ``test_web_browser.py``.
"""

from __future__ import annotations

import contextlib
import re
from pathlib import Path

import pytest

from tests.integration.test_web_browser import _signed_in, _wait_playing
from tests.support.browser import chromium, screenshot
from tests.support.local import local_settings, make_clip, worker_processes
from tests.support.service import running_service

with contextlib.suppress(ImportError):  # without Playwright, chromium() skips (fails under CI)
    from playwright.async_api import Request, expect

pytestmark = pytest.mark.browser


async def test_local_journey_upload_process_thumbnail_and_hls(tmp_path: Path) -> None:
    """Upload a clip, see it processing, then READY with its real thumbnail, and play its HLS."""
    settings = local_settings(tmp_path / "data")
    video = make_clip(seconds=3.0)
    async with running_service(settings) as service, chromium(tmp_path / "profile") as browser:
        page = await _signed_in(service, browser)
        # This Chromium plays HLS natively; as a browser without it (Firefox), the page must
        # then play through hls.js.
        await page.evaluate(
            """() => {
                const canPlay = HTMLMediaElement.prototype.canPlayType;
                HTMLMediaElement.prototype.canPlayType = function (type) {
                    return /mpegurl/i.test(type) ? "" : canPlay.call(this, type);
                };
            }"""
        )
        fetched: list[str] = []

        def record(request: Request) -> None:
            fetched.append(request.url)

        page.on("request", record)
        await page.set_input_files(
            "#file", files=[{"name": "walk.mp4", "mimeType": "video/mp4", "buffer": video}]
        )
        await page.check("input[name=visibility][value=PRIVATE]")
        await page.click("#start")
        await expect(page.locator("#progress-percent")).to_have_text("100 %")
        upload_id = await page.locator("#transfer").get_attribute("data-upload-id")
        # No worker yet: the job waits in the queue, and the page says so.
        await expect(page.locator("#transfer-status")).to_have_text(re.compile(r"Processing \d+ %"))
        await screenshot(page, "local-1-processing")

        with worker_processes(settings):
            status = page.locator("#transfer-status")
            await expect(status).to_have_attribute("data-status", "ready", timeout=60_000)
        item = page.locator(f"li.video[data-id='{upload_id}']")
        await expect(item.locator(".duration")).to_have_text("0:03")
        image = item.locator("img")
        await expect(image).to_be_visible()
        assert re.search(r"/t/[^/]+/thumbnail\.jpg$", await image.get_attribute("src") or "")
        assert await image.evaluate("(img) => img.naturalWidth") == 320
        await screenshot(page, "local-2-ready")

        await item.locator(".thumb").click()
        await expect(page.locator("#player")).to_be_visible()
        await _wait_playing(page, beyond=1.0)
        await screenshot(page, "local-3-playing")
        assert any(url.endswith("/hls/master.m3u8") for url in fetched), fetched
        assert any(url.endswith(".ts") for url in fetched), fetched
        assert any(url.endswith("/vendor/hls.min.mjs") for url in fetched), "not through hls.js"
        assert browser.console_errors == []
