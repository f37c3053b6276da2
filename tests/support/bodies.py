"""Valid request bodies of the services' write endpoints, with changes for one test."""

from __future__ import annotations

import uuid
from typing import Any


def edition_body(year: int = 2025, **changes: Any) -> dict[str, Any]:
    return {"year": year, "city": "Chongqing", "theme": "Belt and Road, shared future",
            "starts_on": f"{year}-10-20", "ends_on": f"{year}-10-22", **changes}


def delegate_body(edition: str, /, **changes: Any) -> dict[str, Any]:
    return {"edition_id": edition, "full_name": "Tan Wei Ming", "name_zh": "陈伟明", "country": "MY",
            "city": "Kuala Lumpur", "organization": "Federation of Chinese Associations Malaysia",
            "email": f"{uuid.uuid4().hex[:10]}@example.com", "phone": "+60 3-1234 5678",
            "category": "representative", **changes}


def project_body(edition: str, /, **changes: Any) -> dict[str, Any]:
    return {"edition_id": edition, "title": "Chongqing–Kuala Lumpur cold-chain logistics hub",
            "sector": "trade_logistics", "amount": "1250000.00", "currency": "CNY",
            "parties": [{"name": "Chongqing Logistics Group", "country": "CN"},
                        {"name": "Penang Port Sdn Bhd", "country": "MY"}],
            "signed_on": "2025-10-21", **changes}


def organization_body(**changes: Any) -> dict[str, Any]:
    return {"name": f"Chinese Chamber of Commerce {uuid.uuid4().hex[:8]}", "name_zh": "中华总商会",
            "country": "MY", "kind": "chamber_of_commerce", "city": "Kuala Lumpur",
            "website": "https://chamber.example.my", "contact_email": "office@chamber.example.my", **changes}
