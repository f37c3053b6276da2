"""Limits before work (issue 11): a request's size and token are judged before its body is read, and
the CSV exports hold no pooled connection while a client reads slowly.

The uploads go to a real ``conference serve registration`` (embedded mode) over raw sockets, so that a
test decides how much of a body is actually sent: each declares or streams far more than it sends,
and an answer that arrives anyway proves the server did not wait for (or read) the rest.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from devkit.processes import ADMIN_TOKEN, ServiceProcess
from tests.support.bodies import edition_body
from tests.support.inprocess import admin_client, platform_settings, running_app
from tests.support.rawhttp import MiB, SlowReader, upload

BOUND = 20.0  # seconds: the most any single answer may take before the test calls the server stuck


@pytest.fixture(scope="module")
async def registration(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[ServiceProcess]:
    work = tmp_path_factory.mktemp("limits")
    data = work / "data"
    env = {"CONFERENCE_DATA_DIR": str(data), "CONFERENCE_BUS": "embedded", "CONFERENCE_ADMIN_TOKEN": ADMIN_TOKEN,
           "CONFERENCE_TOPIC_PREFIX": "", "REGISTRATION_DATABASE_URL": f"sqlite+inline:///{data}/registration.db"}
    process = ServiceProcess("registration", env, work)
    process.start()
    try:
        await process.wait_ready()
        yield process
    finally:
        process.stop()


async def test_a_declared_30_mb_body_is_refused_413_before_it_is_read(registration: ServiceProcess) -> None:
    answer = await upload(registration.port, "/delegates", headers={"Authorization": f"Bearer {ADMIN_TOKEN}"},
                          declared=30 * MiB, send_at_most=4 * MiB)
    assert answer.status == 413, answer.body
    assert answer.headers["content-type"] == "application/problem+json"
    assert answer.json()["code"] == "payload_too_large" and "1048576" in answer.json()["detail"]
    assert answer.sent < 4 * MiB  # answered while the upload was still going: the rest was never read


async def test_an_anonymous_write_is_refused_401_before_its_body_is_read(registration: ServiceProcess) -> None:
    # Under the size limit, so only the missing token can refuse it; 100 KB of the declared 900 KB are sent.
    answer = await upload(registration.port, "/delegates", headers={}, declared=900 * 1024, send_at_most=100 * 1024)
    assert answer.status == 401, answer.body
    assert answer.headers["www-authenticate"] == "Bearer"
    assert answer.json()["code"] == "unauthenticated"
    unknown = await upload(registration.port, "/editions", headers={"Authorization": "Bearer not-a-token"},
                           declared=900 * 1024, send_at_most=100 * 1024)
    assert unknown.status == 401 and unknown.json()["detail"] == "the bearer token is not known to this service"


async def test_a_chunked_body_is_counted_as_it_streams_and_stopped_at_the_limit(
        registration: ServiceProcess) -> None:
    answer = await upload(registration.port, "/delegates", headers={"Authorization": f"Bearer {ADMIN_TOKEN}"},
                          declared=None, send_at_most=8 * MiB)
    assert answer.status == 413, answer.body
    assert answer.json()["code"] == "payload_too_large"
    assert answer.sent < 8 * MiB


async def test_bodies_within_the_limit_still_work(registration: ServiceProcess) -> None:
    import httpx

    async with httpx.AsyncClient(base_url=registration.url, timeout=BOUND,
                                 headers={"authorization": f"bearer {ADMIN_TOKEN}"}) as client:
        created = await client.post("/editions", json=edition_body(2031))
        assert created.status_code == 201, created.text
        forbidden = await client.post("/editions", json=edition_body(2032), headers={"authorization": ""})
        assert forbidden.status_code == 401


# -- the CSV exports ----------------------------------------------------------------------------------------


async def _export_holds_no_connection(service: str, path: str, query: str, tmp_path: Path, setup: str | None
                                      ) -> None:
    platform = platform_settings(bus="embedded", data_dir=tmp_path / "data", topic_prefix="")
    async with running_app(service, platform) as app:
        if setup is not None:
            async with admin_client(app, service) as client:
                created = await client.post(setup, json=edition_body(2030))
                assert created.status_code == 201, created.text
                query = query.format(id=created.json()["id"])
        pool = app.state.context.read_engine.pool
        reader = SlowReader(app, path, query=query, headers={"authorization": f"Bearer {ADMIN_TOKEN}"})
        task = reader.start()
        try:
            await asyncio.wait_for(reader.first_body.wait(), BOUND)
            assert reader.status == 200
            # The client has not taken a byte yet: the export must not be holding a pooled connection.
            assert pool.checkedout() == 0, f"{path} holds {pool.checkedout()} pooled connection(s) while sending"
            reader.release.set()
            await asyncio.wait_for(task, BOUND)
        finally:
            reader.release.set()
            reader.disconnected.set()
            await asyncio.wait_for(task, BOUND)
        assert bytes(reader.body).lstrip(b"\xef\xbb\xbf").startswith(b"id,edition_id,")


async def test_the_delegates_export_holds_no_pooled_connection_while_a_client_reads(tmp_path: Path) -> None:
    await _export_holds_no_connection("registration", "/delegates/export.csv", "edition_id={id}", tmp_path,
                                      setup="/editions")


async def test_the_projects_export_holds_no_pooled_connection_while_a_client_reads(tmp_path: Path) -> None:
    await _export_holds_no_connection("projects", "/projects/export.csv", "", tmp_path, setup=None)


