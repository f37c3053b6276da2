"""The live page in a real browser: Debian's Chromium driven by Playwright (system executable)."""

from __future__ import annotations

import os
import shutil
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from playwright.async_api import Browser, Page, async_playwright, expect

from devkit.processes import ADMIN_TOKEN, EmbeddedPlatform

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = Path(os.environ.get("CONFERENCE_TEST_ARTIFACTS", ROOT / "test-artifacts"))
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
# As root and on a closed network: no sandbox, and none of Chromium's background connections.
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]


@pytest.fixture
async def platform(tmp_path: Path) -> AsyncIterator[EmbeddedPlatform]:
    running = EmbeddedPlatform(tmp_path / "data", tmp_path / "run.log")
    await running.start()
    try:
        yield running
    finally:
        running.stop()


@pytest.fixture
async def browser() -> AsyncIterator[Browser]:
    assert Path(CHROMIUM).exists(), "Chromium is missing: `make test` installs Debian's chromium package"
    async with async_playwright() as p:
        launched = await p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield launched
        finally:
            await launched.close()


async def _register(client: httpx.AsyncClient, registration: str, edition_id: str, n: int, country: str) -> None:
    response = await client.post(f"{registration}/delegates", json={
        "edition_id": edition_id, "full_name": f"Delegate {n}", "country": country,
        "email": f"delegate{n}@example.org", "category": "representative"})
    assert response.status_code == 201, response.text


async def _figure(page: Page, name: str) -> str:
    return (await page.locator(f"#fig-{name}").text_content() or "").strip()


async def test_the_page_shows_the_figures_and_updates_without_reload(platform: EmbeddedPlatform,
                                                                     browser: Browser) -> None:
    registration = platform.url("registration")
    async with httpx.AsyncClient(headers={"Authorization": f"Bearer {ADMIN_TOKEN}"}, timeout=30) as client:
        edition = (await client.post(f"{registration}/editions", json={
            "year": 2025, "city": "Chongqing", "starts_on": "2025-07-30", "ends_on": "2025-07-31"})).json()
        for n, country in enumerate(["MY", "SG", "TH"]):
            await _register(client, registration, edition["id"], n, country)

        page = await browser.new_page(viewport={"width": 1920, "height": 1080})
        await page.goto(platform.url("dashboard") + "/")
        await expect(page.locator("#fig-delegates")).to_have_text("3", timeout=20_000)
        await expect(page.locator("#fig-countries")).to_have_text("3")
        await expect(page.locator("#status")).to_have_text("live")
        await expect(page.locator("#edition-text")).to_contain_text("1st edition")
        reloads: list[str] = []
        page.on("framenavigated", lambda frame: reloads.append(frame.url))

        await _register(client, registration, edition["id"], 3, "KE")
        await expect(page.locator("#fig-delegates")).to_have_text("4", timeout=20_000)
        await expect(page.locator("#fig-countries")).to_have_text("4")
        await expect(page.locator("#country-table tbody tr[data-country='KE']")).to_have_count(1)
        assert reloads == [], "the page reloaded instead of updating in place"

        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        await page.screenshot(path=str(ARTIFACTS / "live-page.png"))
        assert (ARTIFACTS / "live-page.png").stat().st_size > 10_000

        # Sorting the country table by a column is a click on its header.
        await page.locator("#country-table th[data-key='name']").click()
        first = await page.locator("#country-table tbody tr").first.get_attribute("data-country")
        assert first == "KE"  # Kenya < Malaysia < Singapore < Thailand

        # The stream drops: the page says so instead of showing stale figures as live.
        platform.stop()
        await expect(page.locator("#status")).to_have_text("reconnecting…", timeout=20_000)
        assert await page.locator("body.reconnecting #banner").is_visible()


async def test_the_page_fits_a_phone(platform: EmbeddedPlatform, browser: Browser) -> None:
    page = await browser.new_page(viewport={"width": 390, "height": 844}, is_mobile=True)
    await page.goto(platform.url("dashboard") + "/")
    await expect(page.locator("#status")).to_have_text("live", timeout=20_000)
    width = await page.evaluate("document.documentElement.scrollWidth")
    assert width <= 390, f"the page scrolls sideways on a phone ({width}px wide)"


async def _open_watched(browser: Browser, url: str) -> tuple[Page, list[str], set[str]]:
    """A new page at ``url``, with every policy violation recorded (``window.__violations``), its console
    messages and the hosts it sent requests to."""
    page = await browser.new_page()
    # Runs before the page's own scripts and is not subject to its policy.
    await page.add_init_script("window.__violations = []; document.addEventListener('securitypolicyviolation',"
                               " (e) => window.__violations.push(e.violatedDirective + ' ' + e.blockedURI));")
    console: list[str] = []
    hosts: set[str] = set()
    page.on("console", lambda message: console.append(message.text))
    page.on("request", lambda request: hosts.add(request.url.split("/")[2]))
    await page.goto(url)
    return page, console, hosts


async def test_the_pages_need_nothing_their_policy_refuses(platform: EmbeddedPlatform, browser: Browser) -> None:
    """The live page and /docs render under their Content-Security-Policies: no violation, nothing from another
    host (Swagger UI's files come from the service itself)."""
    live = platform.url("dashboard") + "/"
    page, console, hosts = await _open_watched(browser, live)
    await expect(page.locator("#status")).to_have_text("live", timeout=20_000)
    await expect(page.locator("#fig-delegates")).to_have_text("0")
    assert await page.evaluate("window.__violations") == [], live
    assert not [text for text in console if "Content Security Policy" in text], console
    assert hosts == {live.split("/")[2]}, f"the live page loaded from {hosts}"

    docs = platform.url("registration") + "/docs"
    page, console, hosts = await _open_watched(browser, docs)
    await expect(page.locator(".swagger-ui .info .title")).to_contain_text("Conference registration",
                                                                             timeout=20_000)
    await expect(page.locator(".opblock").first).to_be_visible()
    assert await page.evaluate("window.__violations") == [], docs
    assert not [text for text in console if "Content Security Policy" in text], console
    assert hosts == {docs.split("/")[2]}, f"/docs loaded from {hosts}"
