"""Staff obtain a delegate's personal link (real PostgreSQL, embedded bus)."""

from __future__ import annotations

import io
from collections.abc import AsyncIterator
from typing import Any

import pypdf
import pypdfium2  # type: ignore[import-untyped]
import pytest
import zxingcpp

from services.registration import personal_links
from tests.support.deployment import Deployment, deploy, open_edition, register
from tests.support.http_checks import assert_problem

pytestmark = pytest.mark.postgres
SECRET = "integration-personal-link-secret-0123456789"


@pytest.fixture(scope="module")
async def reg(postgres_env: dict[str, str], tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Deployment]:
    async with deploy(postgres_env, tmp_path_factory.mktemp("links") / "data", ["registration"],
                      personal_link_secret=SECRET) as d:
        yield d


async def test_registrar_obtains_the_personal_link(reg: Deployment) -> None:
    edition = await open_edition(reg)
    delegate = await register(reg, edition["id"])
    response = await reg["registration"].get(f"/delegates/{delegate['id']}/personal-link",
                                             headers={"Authorization": "Bearer registrar-token"})
    assert response.status_code == 200, response.text
    assert response.headers["cache-control"] == "no-store"
    body = response.json()
    assert body["delegate_id"] == delegate["id"]
    assert personal_links.verify(delegate["id"], body["token"], SECRET)
    assert body["badge_url"] == f"/delegates/{delegate['id']}/badge.pdf?token={body['token']}"


async def test_personal_link_is_staff_only(reg: Deployment) -> None:
    edition = await open_edition(reg)
    delegate = await register(reg, edition["id"])
    path = f"/delegates/{delegate['id']}/personal-link"
    client = reg["registration"]
    assert_problem(await client.get(path, headers={"Authorization": ""}), 401, "unauthenticated")
    assert_problem(await client.get(path, headers={"Authorization": "Bearer checkin-token"}), 403, "forbidden")
    unknown = "/delegates/00000000-0000-0000-0000-000000000000/personal-link"
    assert_problem(await client.get(unknown), 404, "delegate_not_found")


# -- badge PDF ---------------------------------------------------------------------------------------------


def _qr_payloads(pdf: bytes) -> list[str]:
    page = pypdfium2.PdfDocument(pdf)[0]
    image = page.render(scale=4).to_pil()
    return [barcode.text for barcode in zxingcpp.read_barcodes(image)]


async def _link(reg: Deployment, delegate_id: str) -> str:
    response = await reg["registration"].get(f"/delegates/{delegate_id}/personal-link")
    token: str = response.json()["token"]
    return token


async def test_delegate_downloads_badge_by_personal_link(reg: Deployment) -> None:
    edition = await open_edition(reg)
    delegate = await register(reg, edition["id"], name_zh="陈伟明", organization="Federation of Chinese Associations")
    token = await _link(reg, delegate["id"])
    response = await reg["registration"].get(f"/delegates/{delegate['id']}/badge.pdf", params={"token": token},
                                             headers={"Authorization": ""})
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/pdf"
    assert response.headers["cache-control"] == "no-store"
    assert response.headers["content-disposition"].startswith("attachment; filename=")
    badge_code = (await reg["registration"].get(f"/delegates/{delegate['id']}")).json()["badge_code"]
    assert _qr_payloads(response.content) == [badge_code]
    reader = pypdf.PdfReader(io.BytesIO(response.content))
    text = reader.pages[0].extract_text()
    for shown in ("Tan Wei Ming", "陈伟明", "Malaysia", "Federation of Chinese Associations", "REPRESENTATIVE"):
        assert shown in text, (shown, text)
    fonts: Any = reader.pages[0]["/Resources"]["/Font"]  # type: ignore[index]
    descendants = [font.get_object()["/DescendantFonts"][0].get_object() for font in fonts.values()]
    descriptors = [d["/FontDescriptor"].get_object() for d in descendants]
    assert any("/FontFile2" in d or "/FontFile3" in d for d in descriptors), "the CJK font is not embedded"
    # The header carries the token as well as the query does.
    by_header = await reg["registration"].get(f"/delegates/{delegate['id']}/badge.pdf",
                                              headers={"Authorization": "", "X-Personal-Token": token})
    assert by_header.status_code == 200


async def test_staff_download_badge(reg: Deployment) -> None:
    edition = await open_edition(reg)
    delegate = await register(reg, edition["id"])
    for staff in ("registrar-token", "checkin-token"):
        response = await reg["registration"].get(f"/delegates/{delegate['id']}/badge.pdf",
                                                 headers={"Authorization": f"Bearer {staff}"})
        assert response.status_code == 200, response.text
    forbidden = await reg["registration"].get(f"/delegates/{delegate['id']}/badge.pdf",
                                              headers={"Authorization": "Bearer projects-token"})
    assert_problem(forbidden, 403, "forbidden")


async def test_badge_refuses_wrong_links_unknown_and_cancelled(reg: Deployment) -> None:
    edition = await open_edition(reg)
    mine, other = await register(reg, edition["id"]), await register(reg, edition["id"])
    client = reg["registration"]
    anonymous = {"Authorization": ""}
    path = f"/delegates/{mine['id']}/badge.pdf"
    assert_problem(await client.get(path, headers=anonymous), 401, "unauthenticated")
    other_link = await _link(reg, other["id"])
    assert_problem(await client.get(path, params={"token": other_link}, headers=anonymous), 403, "forbidden")
    assert_problem(await client.get(path, params={"token": "pl1.forged"}, headers=anonymous), 403, "forbidden")
    assert_problem(await client.get("/delegates/00000000-0000-0000-0000-000000000000/badge.pdf"), 404,
                   "delegate_not_found")
    assert (await client.post(f"/delegates/{mine['id']}/cancel")).status_code == 200
    assert_problem(await client.get(path), 409, "badge_unavailable")
