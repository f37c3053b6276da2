"""What the platform writes to its data directory is private to its user, whatever the umask: the
development admin token, each service's SQLite database and the embedded log, with their WAL and SHM
files, are 0600 and the data directory it creates is 0700."""

from __future__ import annotations

import asyncio
import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from shared.settings import PlatformSettings
from tests.support import bodies
from tests.support.inprocess import platform_settings, running_service
from tests.support.ops import private_file_problems


@pytest.fixture(autouse=True)
def permissive_umask() -> Iterator[None]:
    """The usual 022 (files 0644 by default): what the platform creates must not depend on it."""
    previous = os.umask(0o022)
    try:
        yield
    finally:
        os.umask(previous)


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_the_development_token_is_0600_in_a_0700_data_dir(tmp_path: Path) -> None:
    data_dir = tmp_path / "fresh" / "data"
    token = PlatformSettings(data_dir=data_dir, admin_token=None).ensure_admin_token()
    assert token.startswith("dev-")
    assert mode(data_dir / ".dev-token") == 0o600
    assert mode(data_dir) == 0o700
    assert PlatformSettings(data_dir=data_dir, admin_token=None).ensure_admin_token() == token  # kept
    assert [p.name for p in data_dir.iterdir()] == [".dev-token"]  # no temporary file left behind


async def test_sqlite_databases_and_the_embedded_log_are_0600(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    platform = platform_settings(bus="embedded", data_dir=data_dir, topic_prefix="")
    async with running_service("registration", platform) as client:  # SQLite in the data dir, the embedded log
        response = await client.post("/editions", json=bodies.edition_body())
        assert response.status_code == 201, response.text
        # While it runs: each database with its write-ahead log and shared memory, the log the same (the
        # log's files appear once the relay has published the edition's event, just after the 201).
        expected = {"registration.db", "registration.db-wal", "registration.db-shm", "bus.db", "bus.db-wal",
                    "bus.db-shm"}
        deadline = asyncio.get_running_loop().time() + 10
        while not expected <= (names := {p.name for p in data_dir.iterdir()}):
            assert asyncio.get_running_loop().time() < deadline, names
            await asyncio.sleep(0.05)
        assert private_file_problems(data_dir) == []
    assert mode(data_dir) == 0o700
    assert private_file_problems(data_dir) == []
    assert not (data_dir / ".dev-token").exists()  # a token was configured: none was made up
