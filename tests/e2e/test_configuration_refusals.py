"""A wrong configuration stops ``conference serve`` and ``conference run`` at start with one line on
stderr and exit status 2 (no traceback, no secret echoed); the embedded default makes up its own
development token and keeps every file it writes private."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path

import httpx
import pytest

from devkit.processes import EmbeddedPlatform
from tests.support import bodies
from tests.support.ops import private_file_problems

SECRET = "s3cr3t-token-value"
BAD_TOKENS = {
    "not JSON": ("{registrar-token: [registrar]", "CONFERENCE_TOKENS: not valid JSON"),
    "unknown role": (json.dumps({SECRET: ["registar"]}), "CONFERENCE_TOKENS: token #1 has unknown role 'registar'"),
    "a string, not a list": (json.dumps({SECRET: "registrar"}), "CONFERENCE_TOKENS: token #1: roles must be a list"),
    "empty token": (json.dumps({"": ["checkin"]}), "CONFERENCE_TOKENS: token #1 is empty"),
}


def conference(args: list[str], tmp_path: Path, env: Mapping[str, str]) -> subprocess.CompletedProcess[str]:
    """``conference <args>`` to its end (a refusal ends at once; the bound only guards a regression)."""
    clean = {k: v for k, v in os.environ.items()
             if not k.startswith("CONFERENCE_") and not k.endswith("_DATABASE_URL")}
    return subprocess.run([sys.executable, "-m", "services.cli", *args], capture_output=True, text=True, timeout=30,
                          env={**clean, "CONFERENCE_DATA_DIR": str(tmp_path / "data"), **env})


def assert_refused(result: subprocess.CompletedProcess[str], expected: str) -> None:
    assert result.returncode == 2, (result.returncode, result.stdout, result.stderr)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith(f"conference: configuration error: {expected}"), lines[0]
    assert SECRET not in result.stderr + result.stdout
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize("case", BAD_TOKENS)
@pytest.mark.parametrize("command", [["serve", "registration", "--port", "0"], ["run", "--base-port", "0"]],
                         ids=["serve", "run"])
def test_bad_tokens_stop_the_process_with_one_line(tmp_path: Path, command: list[str], case: str) -> None:
    tokens, expected = BAD_TOKENS[case]
    result = conference(command, tmp_path, {"CONFERENCE_TOKENS": tokens, "CONFERENCE_ADMIN_TOKEN": "admin-1"})
    assert_refused(result, expected)
    assert not (tmp_path / "data").exists(), "nothing may be created before the configuration is checked"


def test_kafka_without_an_admin_token_is_refused(tmp_path: Path, kafka_env: dict[str, str]) -> None:
    env = {**kafka_env, "CONFERENCE_BUS": "kafka"}
    for command in (["serve", "projects", "--port", "0"], ["run", "--base-port", "0"]):
        result = conference(command, tmp_path, env)
        assert_refused(result, "CONFERENCE_ADMIN_TOKEN must be set with CONFERENCE_BUS=kafka")
    assert not (tmp_path / "data" / ".dev-token").exists()


def test_registration_without_a_personal_link_secret_is_refused_at_start(tmp_path: Path,
                                                                        kafka_env: dict[str, str]) -> None:
    env = {**kafka_env, "CONFERENCE_BUS": "kafka", "CONFERENCE_ADMIN_TOKEN": "admin-1"}
    for command in (["serve", "registration", "--port", "0"], ["run", "--base-port", "0"]):
        result = conference(command, tmp_path, env)
        assert_refused(result, "CONFERENCE_PERSONAL_LINK_SECRET must be set with CONFERENCE_BUS=kafka")


def test_postgresql_without_an_admin_token_is_refused(tmp_path: Path, postgres_env: dict[str, str]) -> None:
    env = {"NETWORK_DATABASE_URL": postgres_env["NETWORK_DATABASE_URL"]}
    result = conference(["serve", "network", "--port", "0"], tmp_path, env)
    assert_refused(result, "CONFERENCE_ADMIN_TOKEN must be set with a PostgreSQL database")
    assert not (tmp_path / "data" / ".dev-token").exists()


async def test_the_embedded_default_makes_up_a_private_development_token(tmp_path: Path) -> None:
    previous = os.umask(0o022)  # the child inherits the usual umask: files would be 0644 by default
    try:
        platform = EmbeddedPlatform(tmp_path / "data", tmp_path / "run.log", admin_token=None)
        await platform.start()
    finally:
        os.umask(previous)
    try:
        token = (tmp_path / "data" / ".dev-token").read_text().strip()
        async with httpx.AsyncClient(headers={"Authorization": f"Bearer {token}"}, timeout=30) as client:
            response = await client.post(f"{platform.url('registration')}/editions", json=bodies.edition_body())
            assert response.status_code == 201, response.text
        names = {p.name for p in (tmp_path / "data").iterdir()}
        for database in ("registration", "projects", "network", "dashboard", "bus"):
            assert {f"{database}.db", f"{database}.db-wal", f"{database}.db-shm"} <= names, names
        assert private_file_problems(tmp_path / "data") == []
        assert (tmp_path / "data").stat().st_mode & 0o777 == 0o700
    finally:
        platform.stop()
