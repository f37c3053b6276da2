"""The PostgreSQL of one service restarted mid-load. The registration service has a cluster of its own
(deploy/local/postgres.sh on another port and state directory), so the outage is really one service's:
its writes get 503 database_unavailable while the database is down (never a 500, never a half-written
row), the other services go on accepting, and it recovers by itself, without a restart."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from pathlib import Path

import asyncpg
import pytest

from devkit.stack import PrivatePostgres
from shared.db.notifications import asyncpg_dsn
from tests.support.faults import Load, assert_nothing_lost, launched
from tests.support.http_checks import PROBLEM

pytestmark = [pytest.mark.postgres, pytest.mark.kafka]

DOWN_SECONDS = 4.0


@pytest.fixture(scope="module")
def victim_postgres() -> Iterator[tuple[PrivatePostgres, dict[str, str]]]:
    cluster = PrivatePostgres()
    try:
        yield cluster, cluster.start()
    finally:
        cluster.remove()


async def test_one_service_database_restarted_mid_load(postgres_env: dict[str, str], kafka_env: dict[str, str],
                                                       victim_postgres: tuple[PrivatePostgres, dict[str, str]],
                                                       tmp_path: Path) -> None:
    cluster, victim_env = victim_postgres
    victim_url = victim_env["REGISTRATION_DATABASE_URL"]
    async with launched(postgres_env, kafka_env, tmp_path, database_urls={"registration": victim_url}) as platform:
        load = Load(platform, count=160, interval=0.12).start()
        try:
            await load.progress("registration", accepted=10)
            down_at = time.monotonic()
            await asyncio.to_thread(cluster.stop)
            await load.progress("registration", failed=3, after=down_at)  # refused while it is down
            await asyncio.sleep(max(0.0, DOWN_SECONDS - (time.monotonic() - down_at)))  # the fault itself
            await asyncio.to_thread(cluster.start)
            up_at = time.monotonic()
            await load.progress("registration", accepted=10, after=up_at)  # no restart of the service
            await load.wait()
        finally:
            await load.cancel()

        load.assert_no_server_error()
        refused = load.refused("registration")
        assert refused, load.summary()
        for a in refused:
            assert a.status == 503, (a.status, a.response)
            assert a.content_type.split(";")[0] == PROBLEM
            assert a.response is not None and a.response["code"] == "database_unavailable", a.response
            assert a.headers.get("retry-after"), a.headers
        assert not load.unsent("registration") and not load.lost_in_flight("registration"), load.summary()
        for other in ("projects", "network"):  # their databases never went away
            assert load.statuses(other) == {"201": load.count}, load.summary()

        # Nothing of a refused request was written: no delegate with its e-mail, and exactly the 201s exist.
        conn = await asyncpg.connect(asyncpg_dsn(victim_url))
        try:
            written = await conn.fetchval("SELECT count(*) FROM delegates WHERE email = ANY($1::text[])",
                                          [a.body["email"] for a in refused])
            total = await conn.fetchval("SELECT count(*) FROM delegates WHERE edition_id = $1", platform.edition_id)
        finally:
            await conn.close()
        assert written == 0, f"{written} refused registrations were written anyway"
        assert total == len(load.accepted("registration"))
        verdict = await assert_nothing_lost(platform, load)
        print(f"registration's PostgreSQL down {up_at - down_at:.1f} s: {len(refused)} writes refused with 503 "
              f"database_unavailable, {len(load.accepted('registration', after=up_at))} accepted after it came back; "
              f"{verdict.figures['delegates']}")
