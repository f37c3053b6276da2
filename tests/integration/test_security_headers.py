"""Every answer of every service carries the security headers (issue 11, "private by default"); the pages
have strict Content-Security-Policies, and ``/docs`` is served from the service's own files, not a CDN."""

from __future__ import annotations

import base64
import hashlib
import re
from collections.abc import AsyncIterator
from urllib.parse import urljoin, urlsplit

import httpx
import pytest

from tests.support.bodies import edition_body
from tests.support.deployment import STATE_TABLES, Deployment, deploy
from tests.support.http_checks import assert_problem

pytestmark = pytest.mark.postgres

SERVICES = tuple(STATE_TABLES)
FIXED = {"x-content-type-options": "nosniff", "x-frame-options": "DENY", "referrer-policy": "no-referrer"}
# What each service answers without a token, a body or state: a page, the API document, an operation, a problem.
EVERY_KIND = [("GET", "/docs"), ("GET", "/openapi.json"), ("GET", "/healthz"), ("GET", "/readyz"),
              ("GET", "/metrics"), ("GET", "/stats"), ("GET", "/no-such-path"), ("GET", "/docs-assets/swagger-ui.css")]
_ATTRIBUTE_URL = re.compile(r"""(?:src|href)\s*=\s*["']([^"']+)["']""")


@pytest.fixture(scope="module")
async def world(postgres_env: dict[str, str], tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Deployment]:
    async with deploy(postgres_env, tmp_path_factory.mktemp("headers") / "data", SERVICES) as d:
        yield d


def policy(response: httpx.Response) -> dict[str, list[str]]:
    """The response's Content-Security-Policy as {directive: sources}."""
    header = response.headers.get("content-security-policy")
    assert header, f"{response.request.url}: no Content-Security-Policy"
    directives = [d.split() for d in header.split(";") if d.strip()]
    return {d[0]: d[1:] for d in directives}


def assert_security_headers(response: httpx.Response) -> dict[str, list[str]]:
    for name, value in FIXED.items():
        assert response.headers.get(name) == value, (response.request.url, name, response.headers.get(name))
    assert len(response.headers.get_list("content-security-policy")) == 1, response.request.url
    directives = policy(response)
    assert directives.get("frame-ancestors") == ["'none'"], (response.request.url, directives)
    assert directives.get("default-src") == ["'none'"], (response.request.url, directives)
    assert directives.get("base-uri") == ["'none'"], (response.request.url, directives)
    for sources in directives.values():
        assert not {"'unsafe-inline'", "'unsafe-eval'", "*", "http:", "https:"} & set(sources), directives
    return directives


@pytest.mark.parametrize("service", SERVICES)
async def test_every_kind_of_answer_carries_the_headers(world: Deployment, service: str) -> None:
    client = world[service]
    for method, path in EVERY_KIND:
        response = await client.request(method, path, headers={"Authorization": ""})
        assert response.status_code < 500, (path, response.status_code)
        assert_security_headers(response)
    # Answers made before any route runs: a refused token, a malformed body, a validation error.
    write = {"registration": "/editions", "projects": "/projects", "network": "/organizations",
             "dashboard": "/totals"}[service]
    refused = await client.post(write, json={}, headers={"Authorization": "Bearer nobody"})
    assert refused.status_code in (401, 405), refused.text
    assert_security_headers(refused)
    assert_security_headers(await client.post(write, content=b"{", headers={"content-type": "application/json"}))


async def test_an_api_answer_allows_nothing_to_load(world: Deployment) -> None:
    created = await world["registration"].post("/editions", json=edition_body(2040))
    assert created.status_code == 201, created.text
    for response in (created, await world["registration"].get(f"/editions/{created.json()['id']}"),
                     await world["dashboard"].get("/totals")):
        directives = assert_security_headers(response)
        assert set(directives) - {"default-src", "base-uri", "form-action", "frame-ancestors"} == set(), directives
    assert_problem(await world["registration"].get("/delegates/nobody"), 404, "delegate_not_found")


async def test_the_live_page_loads_only_the_services_own_files(world: Deployment) -> None:
    client = world["dashboard"]
    page = await client.get("/")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    directives = assert_security_headers(page)
    for directive in ("script-src", "style-src", "connect-src", "img-src", "font-src"):  # its font and flags too
        assert directives[directive] == ["'self'"], directives
    html = page.text
    # Nothing inline for the policy to refuse: no inline script, style element or style attribute.
    assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", html), "an inline script"
    assert "<style" not in html and " style=" not in html and not re.search(r"\son[a-z]+=", html)
    assets = _ATTRIBUTE_URL.findall(html)
    assert any(a.endswith(".js") for a in assets) and any(a.endswith(".css") for a in assets), assets
    for asset in assets:
        assert not urlsplit(asset).netloc, f"the live page loads {asset} from another host"
        loaded = await client.get(urljoin("/", asset))
        assert loaded.status_code == 200, (asset, loaded.status_code)
        assert loaded.headers["content-type"].split(";")[0] in ("text/javascript", "text/css", "font/woff2"), asset
        assert_security_headers(loaded)


@pytest.mark.parametrize("service", SERVICES)
async def test_docs_are_served_from_the_service_itself(world: Deployment, service: str) -> None:
    client = world[service]
    page = await client.get("/docs", headers={"Authorization": ""})
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    html = page.text
    assert "http://" not in html and "https://" not in html and "//" not in re.sub(r"<!--.*?-->", "", html), \
        "the docs page names another host"
    directives = assert_security_headers(page)
    inline = re.findall(r"<script>(.*?)</script>", html, re.DOTALL)
    assert len(inline) == 1, "Swagger UI is started by one inline script"
    digest = base64.b64encode(hashlib.sha256(inline[0].encode()).digest()).decode()
    assert directives["script-src"] == ["'self'", f"'sha256-{digest}'"], directives
    assert directives["style-src"] == ["'self'"] and directives["connect-src"] == ["'self'"], directives
    assert set(directives["img-src"]) <= {"'self'", "data:"}, directives

    assets = _ATTRIBUTE_URL.findall(html)
    assert {a.rsplit("/", 1)[-1] for a in assets} >= {"swagger-ui-bundle.js", "swagger-ui.css"}, assets
    for asset in assets:
        loaded = await client.get(asset, headers={"Authorization": ""})
        assert loaded.status_code == 200 and len(loaded.content) > 1000, (asset, loaded.status_code)
        assert_security_headers(loaded)
    # The document it shows is the service's own (the URL in the inline script).
    assert "url: '/openapi.json'" in inline[0]
    assert (await client.get("/openapi.json")).json()["info"]["title"]
    # ReDoc is not served (it needs inline styles and blob: workers); its CDN page is gone with it.
    assert_problem(await client.get("/redoc"), 404, "not_found")
