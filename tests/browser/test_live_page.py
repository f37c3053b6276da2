"""The live page in a real browser: Debian's Chromium driven by Playwright (system executable)."""

from __future__ import annotations

import os
import shutil
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from playwright.async_api import Browser, Page, async_playwright, expect

from devkit.processes import ADMIN_TOKEN, EmbeddedPlatform
from services.dashboard.domain import CONFERENCE_TIME
from tests.support.bodies import project_body

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


async def _labels(page: Page) -> list[str]:
    return [text.strip() for text in await page.locator("#figures .label").all_text_contents()]


async def test_the_page_switches_to_chinese_with_its_own_font_and_flags(platform: EmbeddedPlatform,
                                                                       browser: Browser) -> None:
    """中文/English: every label and country name changes language; the Chinese comes in the page's own font and the
    flags are the service's SVGs, so a hall screen with neither CJK nor emoji fonts shows them."""
    registration = platform.url("registration")
    async with httpx.AsyncClient(headers={"Authorization": f"Bearer {ADMIN_TOKEN}"}, timeout=30) as client:
        edition = (await client.post(f"{registration}/editions", json={
            "year": 2025, "city": "Chongqing", "starts_on": "2025-07-30", "ends_on": "2025-07-31"})).json()
        for n, country in enumerate(["MY", "SG", "TH", "KE", "BR", "AE"]):
            await _register(client, registration, edition["id"], n, country)
        signed = await client.post(platform.url("projects") + "/projects",
                                   json=project_body(edition["id"], amount="4379000000.00"))
        assert signed.status_code == 201, signed.text

    dashboard = platform.url("dashboard")
    page = await browser.new_page(viewport={"width": 1920, "height": 1080}, locale="en-US")
    fonts: list[tuple[str, int]] = []
    page.on("response", lambda response: fonts.append((response.url, response.status))
            if response.url.endswith(".woff2") else None)
    await page.goto(dashboard + "/")
    await expect(page.locator("#fig-delegates")).to_have_text("6", timeout=20_000)
    await expect(page.locator("#fig-yuan")).to_have_text("4.38", timeout=20_000)  # billion yuan
    await expect(page.locator("[data-sector='trade_logistics']")).to_contain_text("Trade & logistics (1)¥4.38 bn")
    await expect(page.locator("#status")).to_have_text("live")
    assert await _labels(page) == ["delegates", "countries and regions", "projects signed", "billion yuan",
                                   "network countries"]
    await expect(page.locator("#country-table tbody tr[data-country='MY'] td").first).to_have_text("Malaysia")
    await expect(page.locator("#lang-switch")).to_have_text("中文")
    flags = await page.locator("#country-table tbody img.flag").evaluate_all(
        "imgs => imgs.map(img => [img.src, img.complete && img.naturalWidth])")
    # The delegates' countries and the project's parties' (CN, MY), each an SVG of the service that rendered.
    assert sorted(src for src, width in flags if width) == [
        f"{dashboard}/static/flags/{code}.svg" for code in ("ae", "br", "cn", "ke", "my", "sg", "th")], flags
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    await page.screenshot(path=str(ARTIFACTS / "live-page-en.png"))

    await page.locator("#lang-switch").click()
    assert await _labels(page) == ["代表", "国家和地区", "签约项目", "亿元", "网络覆盖国家"]
    await expect(page.locator("#country-table tbody tr[data-country='MY'] td").first).to_have_text("马来西亚")
    await expect(page.locator("#status")).to_have_text("实时")
    await expect(page.locator("#lang-switch")).to_have_text("English")
    await expect(page.locator("#fig-yuan")).to_have_text("43.79")  # 亿元: hundreds of millions
    await expect(page.locator("[data-sector='trade_logistics']")).to_contain_text("贸易与物流 (1)¥43.79亿")
    await expect(page.locator("[data-text]:empty")).to_have_count(0)  # no label left without a translation
    await expect(page.locator("#edition-text")).to_contain_text("第1届")
    assert await page.evaluate("document.documentElement.lang") == "zh-Hans"
    # The Chinese is set in the page's font, loaded from the service (not a font of this machine).
    loaded = await page.evaluate("document.fonts.ready.then(() => [...document.fonts]"
                                 ".filter((f) => f.family.replaceAll('\"', '') === 'Live CJK').map((f) => f.status))")
    assert loaded == ["loaded"], loaded
    assert await page.evaluate("document.fonts.check('16px \"Live CJK\"', '马来西亚')")
    assert (dashboard + "/static/fonts/live-cjk.woff2", 200) in fonts, fonts
    await page.screenshot(path=str(ARTIFACTS / "live-page-zh.png"))
    assert (ARTIFACTS / "live-page-zh.png").stat().st_size > 10_000

    # The choice is remembered; ?lang= (a hall screen's URL) and the browser's language choose too.
    await page.reload()
    await expect(page.locator("#country-table tbody tr[data-country='MY'] td").first).to_have_text("马来西亚",
                                                                                                timeout=20_000)
    await page.goto(dashboard + "/?lang=en")
    await expect(page.locator("[data-text='byCountry']")).to_have_text("By country")
    chinese = await browser.new_page(locale="zh-CN")
    await chinese.goto(dashboard + "/")
    await expect(chinese.locator("[data-text='byCountry']")).to_have_text("按国家和地区")
    await expect(chinese.locator("#country-table tbody tr[data-country='KE'] td").first).to_have_text("肯尼亚",
                                                                                                   timeout=20_000)


async def _bars(page: Page) -> list[str]:
    return [text.strip() for text in await page.locator("#timeline-chart g title").all_text_contents()]


async def test_the_page_draws_registrations_and_check_ins_over_time(platform: EmbeddedPlatform,
                                                                   browser: Browser) -> None:
    """The timeline panel: today's registrations and check-ins as today's bars (per day, as the edition is over),
    redrawn as scans arrive; per ten minutes at a click; and the self-registrations waiting for approval beside
    the delegates figure."""
    registration = platform.url("registration")
    today = datetime.now(CONFERENCE_TIME).date().isoformat()
    async with httpx.AsyncClient(headers={"Authorization": f"Bearer {ADMIN_TOKEN}"}, timeout=30) as client:
        edition = (await client.post(f"{registration}/editions", json={
            "year": 2025, "city": "Chongqing", "starts_on": "2025-07-30", "ends_on": "2025-07-31"})).json()
        for n, country in enumerate(["MY", "SG", "TH"]):
            await _register(client, registration, edition["id"], n, country)

        page = await browser.new_page(viewport={"width": 1920, "height": 1080}, locale="en-US")
        await page.goto(platform.url("dashboard") + "/")
        await expect(page.locator("#fig-delegates")).to_have_text("3", timeout=20_000)
        chart = page.locator("#timeline-chart")
        await expect(chart).to_have_attribute("data-span", "day")
        await expect(page.locator(".span-switch button[data-span='day']")).to_have_attribute("aria-pressed", "true")
        await expect(chart.locator("g title")).to_have_text([f"{today}: 3 registered, 0 checked in"], timeout=20_000)
        await expect(chart.locator("rect.registered")).to_have_count(1)
        await expect(page.locator("#fig-pending")).to_have_text("")

        delegates = (await client.get(f"{registration}/delegates", params={"edition_id": edition["id"]})).json()
        for delegate in delegates["items"][:2]:
            scanned = await client.post(f"{registration}/check-ins", json={"badge_code": delegate["badge_code"]})
            assert scanned.status_code in (200, 201), scanned.text
        # Redrawn from the stream's updates, without a reload.
        await expect(chart.locator("g title")).to_have_text([f"{today}: 3 registered, 2 checked in"], timeout=20_000)
        await expect(page.locator("#timeline-summary")).to_have_text("3 registered · 2 checked in")

        invitation = await client.post(f"{registration}/invitations", json={
            "edition_id": edition["id"], "label": "Malaysian delegation", "seats": 5, "country": "MY",
            "expires_at": (datetime.now(UTC) + timedelta(days=30)).isoformat()})
        assert invitation.status_code == 201, invitation.text
    async with httpx.AsyncClient(timeout=30) as anonymous:
        pending = await anonymous.post(f"{registration}/registrations", json={
            "invitation_code": invitation.json()["code"], "full_name": "Tan Wei Ming", "country": "MY",
            "email": "tan.wei.ming@example.com"})
        assert pending.status_code == 201, pending.text
    await expect(page.locator("#fig-pending")).to_have_text("+1 awaiting approval", timeout=20_000)
    await expect(page.locator("#fig-delegates")).to_have_text("3")  # pending ones are not registered yet

    await page.locator(".span-switch button[data-span='10min']").click()
    await expect(chart).to_have_attribute("data-span", "10min", timeout=20_000)
    titles = await _bars(page)
    assert titles and all(title.startswith(today) for title in titles), titles
    # Every ten minutes of today up to the last registration or scan, the quiet ones as zeros: the sums stay.
    await expect(page.locator("#timeline-summary")).to_have_text("3 registered · 2 checked in")
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    await page.screenshot(path=str(ARTIFACTS / "live-page-timeline.png"))

    await page.locator("#lang-switch").click()
    await expect(page.locator("[data-text='timeline']")).to_have_text("注册与签到")
    await expect(page.locator("#fig-pending")).to_have_text("另有1人待审核")
    await expect(page.locator("#timeline-summary")).to_have_text("注册 3 · 签到 2")
    await page.screenshot(path=str(ARTIFACTS / "live-page-timeline-zh.png"))
