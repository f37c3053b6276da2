"""The 2025 replay's requests pass the strict input rules (pure: the request schemas, no service running)."""

from __future__ import annotations

import json
from typing import Any

from pydantic import BaseModel

from services.demo import data
from services.network.schemas import OrganizationCreate
from services.projects.schemas import CaseCreate, ProjectCreate
from services.registration.domain import check_edition_dates
from services.registration.schemas import DelegateCreate, EditionCreate, SessionCreate

EDITION = "00000000-0000-4000-8000-000000000001"
ID = "00000000-0000-4000-8000-000000000002"


def valid(model: type[BaseModel], body: dict[str, Any]) -> None:
    """``body`` as the replay sends it (JSON) passes ``model``."""
    model.model_validate_json(json.dumps(body))


def test_every_demo_request_body_is_valid_input() -> None:
    c = data.build()
    for edition in (data.FIRST_EDITION, data.NEXT_EDITION):
        valid(EditionCreate, edition)
        parsed = EditionCreate.model_validate(edition)
        check_edition_dates(parsed.year, parsed.starts_on, parsed.ends_on)
    for d in c.delegates:
        valid(DelegateCreate, {"edition_id": EDITION, "full_name": d.full_name, "name_zh": d.name_zh,
                                       "country": d.country, "organization": d.organization, "email": d.email,
                                       "category": d.category})
    for o in c.organizations:
        valid(OrganizationCreate, {"name": o.name, "country": o.country, "kind": o.kind, "website": o.website})
    for p in c.projects:
        parties: list[dict[str, Any]] = [{"name": p.chinese_party, "country": "CN"}]
        parties += [{"name": f"{data.country_name(country)} partner consortium", "country": country}
                    for country in p.overseas_countries]
        valid(ProjectCreate, {"edition_id": EDITION, "title": p.title, "sector": p.sector,
                                      "amount": f"{p.amount:.2f}", "currency": "CNY", "parties": parties,
                                      "signed_on": "2025-07-30"})
    for index, (kind, title, capacity) in enumerate(c.sessions):
        valid(SessionCreate, {"edition_id": EDITION, "kind": kind, "title": title, "capacity": capacity,
                                      "starts_at": f"2025-07-{30 + index % 2}T{9 + index % 8:02d}:00:00+08:00"})
    for case in c.cases:
        valid(CaseCreate, {"edition_id": EDITION, "rank": case.rank, "title": case.title,
                                   "sector": case.sector, "enterprise": case.enterprise, "country": case.country,
                                   "summary": case.summary, **({"project_id": ID} if case.project_key else {})})
