"""The web page in a real headless Chromium against the real service on a loopback port.

Every step saves a screenshot under ``test-artifacts/web/``. Waits are bounded: Playwright's own
timeouts (15 s) and explicit deadlines for what it cannot wait on by itself.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
from pathlib import Path

import pytest

from entrypoints.http.web import find_node_modules
from tests.conftest import need
from tests.support.browser import Browser, chromium, screenshot
from tests.support.service import RunningService, make_video, running_service, service_settings
from tests.support.videos import make_noisy_video

with contextlib.suppress(ImportError):  # without Playwright, chromium() skips (fails under CI)
    from playwright.async_api import Error as PlaywrightError
    from playwright.async_api import Page, Request, Route, expect

pytestmark = pytest.mark.browser


async def _signed_in(service: RunningService, browser: Browser, user: str = "alice") -> Page:
    """A page opened with the token in its fragment, as the CLI's link does."""
    page = await browser.page(f"{service.base_url}/#token={service.token(user)}")
    await expect(page.locator("#who")).to_have_text(f"Signed in as {user}")
    await expect(page.locator("#live-state")).to_have_text("Live updates on.")
    return page


async def _current_time(page: Page) -> float:
    value = await page.evaluate("() => document.getElementById('video').currentTime")
    return float(value)


async def _wait_playing(page: Page, beyond: float, seconds: float = 10.0) -> float:
    """Poll the player's currentTime until it passes ``beyond`` seconds."""
    for _ in range(int(seconds / 0.05)):
        if (position := await _current_time(page)) > beyond:
            return position
        await asyncio.sleep(0.05)
    pytest.fail(f"the video did not play past {beyond} s within {seconds} s")


async def test_journey_upload_process_play(tmp_path: Path) -> None:
    """Sign in by link, upload a real MP4, see 100 %, PROCESSING, READY with thumbnail, and play."""
    video = make_video(seconds=3.0)
    settings = service_settings(tmp_path / "data", fake_processing_delay_seconds=1.0)
    async with running_service(settings) as service, chromium(tmp_path / "profile") as browser:
        page = await _signed_in(service, browser)
        assert "token" not in page.url, "the token must leave the address bar"
        await screenshot(page, "journey-1-signed-in")

        await page.set_input_files(
            "#file", files=[{"name": "holiday.mp4", "mimeType": "video/mp4", "buffer": video}]
        )
        await expect(page.locator("#title")).to_have_value("holiday")
        await page.fill("#description", "At the sea")
        await page.check("input[name=visibility][value=PUBLIC]")
        await expect(page.locator("#upload-error")).to_be_empty()
        await screenshot(page, "journey-2-file-chosen")

        await page.click("#start")
        await expect(page.locator("#progress-percent")).to_have_text("100 %")
        assert await page.locator("#progress").evaluate("(bar) => bar.value") == 100
        await expect(page.locator("#transfer-protocol")).to_have_text("put")
        upload_id = await page.locator("#transfer").get_attribute("data-upload-id")
        assert upload_id
        await expect(page.locator("#transfer-status")).to_have_text(re.compile(r"Processing \d+ %"))
        await screenshot(page, "journey-3-processing")

        status = page.locator("#transfer-status")
        await expect(status).to_have_attribute("data-status", "ready")
        item = page.locator(f"li.video[data-id='{upload_id}']")
        await expect(item).to_have_attribute("data-status", "ready")
        await expect(item.locator(".title")).to_have_text("holiday")
        await expect(item.locator(".duration")).to_have_text("0:03")
        await expect(item.locator("img")).to_be_visible()
        width = await item.locator("img").evaluate("(img) => img.naturalWidth")
        assert width > 0, "the thumbnail did not load"
        await screenshot(page, "journey-4-ready")

        await item.locator(".thumb").click()
        await expect(page.locator("#player")).to_be_visible()
        await expect(page.locator("#player-title")).to_have_text("holiday")
        await _wait_playing(page, beyond=0.5)
        await screenshot(page, "journey-5-playing")
        await page.click("#player-close")
        await expect(page.locator("#player")).to_be_hidden()
        assert browser.console_errors == []


async def test_phone_width_and_keyboard_sign_in(tmp_path: Path) -> None:
    """At phone width a refused token shows the server's reason; a good one signs in by keyboard."""
    settings = service_settings(tmp_path / "data")
    async with (
        running_service(settings) as service,
        chromium(tmp_path / "profile", viewport={"width": 390, "height": 844}) as browser,
    ):
        page = await browser.page(service.base_url + "/")
        await expect(page.locator("#token")).to_be_focused()
        await page.keyboard.type("not-a-token")
        await page.keyboard.press("Tab")
        await expect(page.locator("#signin-form button[type=submit]")).to_be_focused()
        await page.keyboard.press("Enter")
        await expect(page.locator("#signin-error")).to_contain_text("the bearer token is not valid")
        await expect(page.locator("#token")).to_have_value("not-a-token")  # kept, to be fixed
        await screenshot(page, "phone-1-refused")

        await page.locator("#token").fill(service.token("alice"))
        await page.locator("#token").focus()
        await page.keyboard.press("Tab")
        await page.keyboard.press("Enter")
        await expect(page.locator("#who")).to_have_text("Signed in as alice")
        await expect(page.locator("#file")).to_be_focused()
        await expect(page.locator("#library-empty")).to_be_visible()
        overflow = await page.evaluate(
            "() => document.documentElement.scrollWidth - window.innerWidth"
        )
        assert overflow <= 0, f"the page scrolls sideways by {overflow}px at phone width"
        columns = await page.evaluate(
            "() => getComputedStyle(document.getElementById('videos')).gridTemplateColumns"
        )
        assert len(columns.split()) == 2, f"tiles should be two to a row on a phone: {columns}"
        await screenshot(page, "phone-2-signed-in")
        assert browser.console_errors == [
            "Failed to load resource: the server responded with a status of 401 (Unauthorized)"
        ]


async def test_disallowed_files_say_why(tmp_path: Path) -> None:
    """The server's policy refuses wrong types and sizes up front; its errors are shown as sent."""
    settings = service_settings(tmp_path / "data", max_upload_bytes=2_000_000)
    async with running_service(settings) as service, chromium(tmp_path / "profile") as browser:
        page = await _signed_in(service, browser)
        creates: list[str] = []
        page.on(
            "request",
            lambda request: creates.append(request.url) if "upload/direct" in request.url else None,
        )
        await expect(page.locator("#policy-hint")).to_contain_text("up to 1.9 MiB")

        await page.set_input_files(
            "#file", files=[{"name": "notes.txt", "mimeType": "text/plain", "buffer": b"hello"}]
        )
        error = page.locator("#upload-error")
        await expect(error).to_contain_text("not a video this service accepts")
        await expect(error).to_contain_text(".mp4")
        await page.click("#start")
        await screenshot(page, "refused-1-type")

        big = b"\0" * 2_000_001
        await page.set_input_files(
            "#file", files=[{"name": "big.mp4", "mimeType": "video/mp4", "buffer": big}]
        )
        await expect(error).to_have_text("This file is 1.9 MiB; the limit is 1.9 MiB.")
        await page.click("#start")
        assert creates == [], "the page asked for an upload slot the policy refuses"
        await screenshot(page, "refused-2-size")

        # A rule only the server checks: its problem detail is shown as it sent it.
        long_name = "v" * 300 + ".mp4"
        await page.set_input_files(
            "#file", files=[{"name": long_name, "mimeType": "video/mp4", "buffer": b"x" * 100}]
        )
        await page.click("#start")
        await expect(error).to_have_text("Invalid input: fileName is longer than 255 characters")
        assert len(creates) == 1
        await screenshot(page, "refused-3-server")

        # Bytes that are not a video pass every up-front check; the provider's verdict shows.
        await page.set_input_files(
            "#file", files=[{"name": "fake.mp4", "mimeType": "video/mp4", "buffer": b"x" * 4096}]
        )
        await expect(page.locator("#title")).to_have_value("fake")  # the suggestion follows
        await page.click("#start")
        status = page.locator("#transfer-status")
        await expect(status).to_have_attribute("data-status", "failed")
        await expect(status).to_contain_text("not a recognised video container")
        upload_id = await page.locator("#transfer").get_attribute("data-upload-id")
        item = page.locator(f"li.video[data-id='{upload_id}']")
        await expect(item).to_have_attribute("data-status", "failed")
        await expect(item.locator(".reason")).to_contain_text("not a recognised video container")
        await screenshot(page, "refused-4-provider")


async def test_tus_upload_survives_a_cut_and_a_pause(tmp_path: Path) -> None:
    """Over tus, a connection reset and a pause both resume from the server's offset, not 0."""
    node_modules = find_node_modules(Path(__file__).parent)
    need(
        node_modules is not None and (node_modules / "tus-js-client").is_dir(),
        "needs tus-js-client in node_modules (npm ci --omit=dev)",
    )
    video = make_noisy_video(seconds=2.0)
    chunk = 64 * 1024
    assert len(video) > 3 * chunk
    settings = service_settings(
        tmp_path / "data", fake_tus_threshold_bytes=0, fake_upload_chunk_bytes=chunk
    )
    offsets: list[int] = []
    heads = 0
    resumed_after_cut = asyncio.Event()

    async def network(route: Route, request: Request) -> None:
        nonlocal heads
        if request.method == "HEAD":
            heads += 1
        if request.method != "PATCH":
            await route.continue_()
            return
        offsets.append(int(request.headers["upload-offset"]))
        if len(offsets) == 2:
            await route.abort("connectionreset")  # the connection drops mid-upload
            return
        if len(offsets) == 3:
            resumed_after_cut.set()
            await asyncio.sleep(1.0)  # slow enough to pause in the middle of this PATCH
        else:
            await asyncio.sleep(0.1)
        with contextlib.suppress(PlaywrightError):  # the page may have aborted it (pause)
            await route.continue_()

    async with running_service(settings) as service, chromium(tmp_path / "profile") as browser:
        page = await _signed_in(service, browser)
        await page.route("**/api/v1/media/fake/tus/**", network)
        await page.set_input_files(
            "#file", files=[{"name": "noise.mp4", "mimeType": "video/mp4", "buffer": video}]
        )
        await page.click("#start")
        await expect(page.locator("#transfer-protocol")).to_have_text("tus")
        async with asyncio.timeout(10):
            await resumed_after_cut.wait()
        await page.click("#pause")
        await expect(page.locator("#resume")).to_be_visible()
        await expect(page.locator("#transfer-status")).to_contain_text("Paused")
        await screenshot(page, "tus-1-paused")
        sent_while_paused = len(offsets)
        await asyncio.sleep(0.5)
        assert len(offsets) == sent_while_paused, "the upload went on while paused"
        percent = await page.locator("#progress").evaluate("(bar) => bar.value")
        assert 0 < percent < 100

        await page.click("#resume")
        await expect(page.locator("#progress-percent")).to_have_text("100 %")
        await expect(page.locator("#transfer-status")).to_have_attribute("data-status", "ready")
        await screenshot(page, "tus-2-ready")

        upload_id = await page.locator("#transfer").get_attribute("data-upload-id")
        playback = await service.client.get(
            f"/api/v1/media/{upload_id}/playback", headers=service.auth("alice")
        )
        stored = await service.client.get(playback.json()["url"])
    assert stored.content == video
    assert offsets[:3] == [0, chunk, chunk], offsets  # the cut chunk is sent again, not the file
    assert offsets.count(0) == 1, offsets
    assert offsets == sorted(offsets), offsets
    assert heads >= 3, "each resume asks the server for its offset first"


async def test_another_users_uploads_never_appear(tmp_path: Path) -> None:
    """Bob's uploads, old and made while Alice watches, never reach Alice's page."""
    video = make_video(seconds=1.0)
    settings = service_settings(tmp_path / "data")
    async with running_service(settings) as service, chromium(tmp_path / "profile") as browser:

        async def upload(user: str, title: str) -> str:
            created = (
                await service.create(
                    user, fileSize=len(video), metadata={"title": title, "visibility": "PUBLIC"}
                )
            ).json()
            await service.client.put(created["uploadUrl"], content=video)
            await service.wait_for(user, created["id"], {"ready"})
            return str(created["id"])

        mine = await upload("alice", "alice's clip")
        bobs_old = await upload("bob", "bob's old clip")
        page = await _signed_in(service, browser, "alice")
        await expect(page.locator(f"li.video[data-id='{mine}']")).to_have_attribute(
            "data-status", "ready"
        )
        bobs_new = await upload("bob", "bob's new clip")
        await asyncio.sleep(0.5)  # time for a leaked live event to arrive
        await page.click("#refresh")
        await expect(page.locator(f"li.video[data-id='{mine}']")).to_be_visible()
        assert await page.locator("li.video").count() == 1
        for theirs in (bobs_old, bobs_new):
            assert await page.locator(f"li.video[data-id='{theirs}']").count() == 0
        await expect(page.locator("#videos")).not_to_contain_text("bob")
        await screenshot(page, "isolation-alice")


async def test_private_playback_url_is_renewed_before_it_expires(tmp_path: Path) -> None:
    """With a PRIVATE video open, the page fetches a new signed URL before the old one expires."""
    video = make_video(seconds=1.0)
    settings = service_settings(tmp_path / "data")
    async with running_service(settings) as service, chromium(tmp_path / "profile") as browser:
        created = (
            await service.create(
                "alice", fileSize=len(video), metadata={"title": "secret", "visibility": "PRIVATE"}
            )
        ).json()
        await service.client.put(created["uploadUrl"], content=video)
        await service.wait_for("alice", created["id"], {"ready"})
        playbacks: list[str] = []
        page = await browser.page()
        await page.clock.install()  # the page's timers, fast-forwarded below
        page.on(
            "request",
            lambda request: (
                playbacks.append(request.url) if request.url.endswith("/playback") else None
            ),
        )
        await page.goto(f"{service.base_url}/#token={service.token('alice')}")
        tile = page.locator(f"li.video[data-id='{created['id']}'] .thumb")
        await expect(tile).to_be_enabled()
        opened = len(playbacks)
        await tile.click()
        await expect(page.locator("#player")).to_be_visible()
        for _ in range(200):
            if len(playbacks) > opened:
                break
            await asyncio.sleep(0.05)
        assert len(playbacks) == opened + 1
        first = await page.locator("#video").get_attribute("src")
        assert first is not None
        assert "token=" in first

        await page.clock.fast_forward("59:30")  # signed for an hour; renewed a minute before
        await expect(page.locator("#video")).to_have_attribute("data-renewals", "1")
        assert len(playbacks) == opened + 2
        assert await page.locator("#player-error").text_content() == ""
        await screenshot(page, "private-renewed")

        await page.click("#player-close")
        await page.clock.fast_forward("02:00:00")
        assert len(playbacks) == opened + 2, "a closed player renews nothing"
