"""Requests that strict input refuses (issue 11): amounts and rates that are not exact strings, text with
control or only invisible characters, dates no conference can have. Shared by the integration suite
(SQLite and PostgreSQL) and the fuzz suite's explicit negatives.

Each case is (service, method, path template, change to a valid body, field the 422 must name); a path
template's ``{project}``, ``{delegate}``, ``{organization}`` are filled from the ids at hand.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from tests.support.bodies import delegate_body, edition_body, organization_body, project_body

Case = tuple[str, str, str, dict[str, Any], str]


def case_body(edition: str, **changes: Any) -> dict[str, Any]:
    return {"edition_id": edition, "rank": 1, "title": "Cold-chain hub", "sector": "trade_logistics",
            "enterprise": "Chongqing Logistics Group", "country": "CN",
            "summary": "A hub for fresh produce.", **changes}


ZERO_WIDTH = "\u200b\u200c\u200d\u2060\ufeff"

# -- amounts and rates ----------------------------------------------------------------------------------------

BAD_AMOUNTS: list[tuple[str, dict[str, Any], str]] = [
    ("three decimals", {"amount": "12.345"}, "amount"),
    ("half a fen", {"amount": "1.005"}, "amount"),
    ("underscore separator", {"amount": "1_000"}, "amount"),
    ("padded with spaces", {"amount": " 5 "}, "amount"),
    ("a JSON integer", {"amount": 250}, "amount"),
    ("a JSON decimal number", {"amount": 12.5}, "amount"),
    ("exponent", {"amount": "1e3"}, "amount"),
    ("non-ASCII digits", {"amount": "١٢"}, "amount"),
    ("rate as a JSON number", {"currency": "USD", "fx_rate_to_cny": 7.1}, "fx_rate_to_cny"),
    ("rate as a JSON integer", {"currency": "USD", "fx_rate_to_cny": 7}, "fx_rate_to_cny"),
    ("rate with spaces", {"currency": "USD", "fx_rate_to_cny": " 7.1"}, "fx_rate_to_cny"),
    ("rate with underscore", {"currency": "USD", "fx_rate_to_cny": "7_1"}, "fx_rate_to_cny"),
]

# -- text -----------------------------------------------------------------------------------------------------

BAD_TEXT: list[Case] = [
    # (service, method, path template, body, field)
    ("projects", "POST", "/projects", {"title": "nul\u0000"}, "title"),
    ("projects", "POST", "/projects", {"title": "bell\u0007 title"}, "title"),
    ("projects", "POST", "/projects", {"title": "line\nbreak"}, "title"),
    ("projects", "POST", "/projects", {"title": ZERO_WIDTH}, "title"),
    ("projects", "POST", "/projects", {"parties": [{"name": "\u00a0\u200b ", "country": "CN"}]}, "parties.0.name"),
    ("projects", "POST", "/projects", {"parties": [{"name": "A", "country": "CN", "organization_id": "\u0000"}]},
     "parties.0.organization_id"),
    ("projects", "PATCH", "/projects/{project}", {"title": "\u3164"}, "title"),
    ("projects", "POST", "/cases", {"summary": "first\u0000second"}, "summary"),
    ("projects", "POST", "/cases", {"summary": "\n\t\u200b\n"}, "summary"),
    ("projects", "POST", "/cases", {"enterprise": "esc\u001b[31m"}, "enterprise"),
    ("registration", "POST", "/editions", {"theme": "x\u0000"}, "theme"),
    ("registration", "POST", "/editions", {"city": ZERO_WIDTH}, "city"),
    ("registration", "POST", "/editions", {"co_hosts": ["Sichuan\u0000"]}, "co_hosts.0"),
    ("registration", "POST", "/delegates", {"full_name": "Tan\u0000Wei"}, "full_name"),
    ("registration", "POST", "/delegates", {"full_name": "\u2060\u200b"}, "full_name"),
    ("registration", "POST", "/delegates", {"organization": "del\u007f"}, "organization"),
    ("registration", "POST", "/delegates", {"name_zh": "\u3000"}, "name_zh"),
    ("registration", "POST", "/delegates", {"edition_id": "\u0000"}, "edition_id"),
    ("registration", "PATCH", "/delegates/{delegate}", {"full_name": ZERO_WIDTH}, "full_name"),
    ("registration", "PATCH", "/delegates/{delegate}", {"city": "Kuala\u0085Lumpur"}, "city"),
    ("registration", "POST", "/sessions", {"title": "Forum\u0000"}, "title"),
    ("registration", "POST", "/check-ins", {"badge_code": "\u0000"}, "badge_code"),
    ("network", "POST", "/organizations", {"name": "Chamber\u0000"}, "name"),
    ("network", "POST", "/organizations", {"name": ZERO_WIDTH}, "name"),
    ("network", "POST", "/organizations", {"city": "x\u0007"}, "city"),
    ("network", "PATCH", "/organizations/{organization}", {"name": "\u200b"}, "name"),
    ("network", "PATCH", "/organizations/{organization}", {"name_zh": "总商会\u0000"}, "name_zh"),
]


def request_body(ids: Mapping[str, str], method: str, path: str, change: dict[str, Any]) -> dict[str, Any]:
    """A valid body for ``path`` with ``change`` applied (a PATCH sends only the change); ``ids["edition"]``
    is an existing edition's id."""
    if method == "PATCH":
        return change
    edition = ids["edition"]
    bodies: dict[str, dict[str, Any]] = {
        "/projects": project_body(edition), "/cases": case_body(edition), "/editions": edition_body(2040),
        "/delegates": delegate_body(edition), "/organizations": organization_body(),
        "/sessions": {"edition_id": edition, "kind": "forum", "title": "Digital economy forum", "capacity": 50,
                      "starts_at": "2025-10-21T09:00:00+08:00"},
        "/check-ins": {"badge_code": "X"}}
    return {**bodies[path], **change}


# -- dates ----------------------------------------------------------------------------------------------------

BAD_DATES: list[Case] = [
    ("registration", "POST", "/editions", {"ends_on": "2040-11-22"}, "ends_on"),       # 33 days
    ("registration", "POST", "/editions", {"ends_on": "9999-12-31"}, "ends_on"),
    ("registration", "POST", "/editions", {"starts_on": "0001-01-01"}, "starts_on"),
    ("registration", "POST", "/editions", {"year": 1999, "starts_on": "1999-10-20", "ends_on": "1999-10-22"},
     "year"),
    ("registration", "POST", "/sessions", {"starts_at": "0001-01-01T00:00:00+05:00"}, "starts_at"),
    ("registration", "POST", "/sessions", {"starts_at": "9999-12-31T23:59:59-05:00"}, "starts_at"),
    ("projects", "POST", "/projects", {"signed_on": "1900-01-01"}, "signed_on"),
    ("projects", "POST", "/projects", {"signed_on": "2999-10-21"}, "signed_on"),
    ("projects", "PATCH", "/projects/{project}", {"signed_on": "0001-01-01"}, "signed_on"),
]
