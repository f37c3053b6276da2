"""Checks of HTTP answers: problem documents, cursor pagination, no 5xx on odd requests."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import httpx

PROBLEM = "application/problem+json"


def assert_problem(response: httpx.Response, status: int, code: str, *, field: str | None = None
                   ) -> dict[str, Any]:
    """An RFC 9457 problem with ``status`` and ``code``; for 422, ``errors`` names ``field``."""
    assert response.status_code == status, f"expected {status} {code}, got {response.status_code}: {response.text}"
    assert response.headers["content-type"].split(";")[0] == PROBLEM, response.headers["content-type"]
    body: dict[str, Any] = response.json()
    assert body["code"] == code, body
    assert body["status"] == status, body
    assert isinstance(body.get("detail"), str) and body["detail"], body
    assert body.get("title"), body
    if field is not None:
        errors = body.get("errors")
        assert isinstance(errors, list) and errors, f"no field errors in {body}"
        named = [e["field"] for e in errors]
        assert any(f == field or f.startswith(field + ".") for f in named), f"{field} not in {named}"
        assert all(e.get("message") for e in errors), errors
    return body


async def walk_pages(client: httpx.AsyncClient, path: str, *, limit: int, headers: dict[str, str] | None = None,
                     **params: Any) -> list[dict[str, Any]]:
    """Follow ``next_cursor`` to the end; every page is at most ``limit`` long and no item comes twice.
    ``headers`` go with every request (e.g. ``{"Authorization": ""}`` to walk as an anonymous caller)."""
    items: list[dict[str, Any]] = []
    cursor: str | None = None
    for _ in range(1000):
        query = {**params, "limit": limit, **({"cursor": cursor} if cursor else {})}
        response = await client.get(path, params=query, headers=headers)
        assert response.status_code == 200, response.text
        page = response.json()
        assert set(page) == {"items", "next_cursor"}
        assert len(page["items"]) <= limit
        items.extend(page["items"])
        cursor = page["next_cursor"]
        if cursor is None:
            break
        assert page["items"], "a page with a next_cursor must not be empty"
    ids = [i["id"] for i in items]
    assert len(ids) == len(set(ids)), "an item came twice"
    return items


async def assert_no_server_error(client: httpx.AsyncClient, requests: Iterable[tuple[str, str, Any]]) -> None:
    """Each (method, url, body) answers below 500; a 4xx is a problem document."""
    failures = []
    for method, url, body in requests:
        kwargs: dict[str, Any] = {}
        if isinstance(body, bytes | str):
            kwargs["content"] = body
            kwargs["headers"] = {"content-type": "application/json"}
        elif body is not None:
            kwargs["json"] = body
        response = await client.request(method, url, **kwargs)
        if response.status_code >= 500:
            failures.append(f"{method} {url} {body!r} -> {response.status_code} {response.text[:200]}")
        elif response.status_code >= 400:
            ctype = response.headers.get("content-type", "").split(";")[0]
            if ctype != PROBLEM:
                failures.append(f"{method} {url} -> {response.status_code} with content-type {ctype}")
    assert not failures, "\n".join(failures)


# Requests no service should answer with a 5xx.
WEIRD_PATHS: list[tuple[str, str, Any]] = [
    ("GET", "/", None),
    ("GET", "/nope", None),
    ("GET", "//", None),
    ("GET", "/%00", None),
    ("GET", "/stats?edition_id=%00", None),
    ("GET", "/stats?edition_id=" + "x" * 37, None),
    ("GET", "/stats?edition_id=%F0%9F%92%A9", None),
    ("DELETE", "/stats", None),
    ("PUT", "/stats", b"{}"),
    ("GET", "/healthz", None),
    ("GET", "/readyz", None),
    ("GET", "/metrics", None),
    ("GET", "/docs", None),
    ("GET", "/openapi.json", None),
]
