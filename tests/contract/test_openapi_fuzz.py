"""Fuzzing from the OpenAPI documents (schemathesis): every operation of every service, with a bounded
number of generated examples, authenticated as the admin. No answer is a 5xx, every answer conforms to
the documented status codes, content types, headers and schemas, every error is problem+json, and an
operation documented as needing the bearer token refuses a call without one (schemathesis's ignored_auth).

The four services run as `conference run` (embedded bus) on fresh PostgreSQL databases; a few entities
are created first so that generated requests also meet existing editions and delegates. The examples are
derandomized (the same every run); FUZZ_RANDOM=1 draws new ones, to explore.
"""

from __future__ import annotations

import asyncio
import os
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis.checks import CheckContext, not_a_server_error
from schemathesis.core.failures import Failure, FailureGroup
from schemathesis.generation import GenerationMode
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    ignored_auth,
    negative_data_rejection,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from devkit import stack
from devkit.processes import ADMIN_TOKEN, EmbeddedPlatform
from shared.topology import SERVICE_NAMES
from tests.support.http_checks import PROBLEM, assert_problem
from tests.support.operations import operations
from tests.support.strict_input import BAD_AMOUNTS, BAD_DATES, BAD_TEXT, request_body

AUTH = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
MAX_EXAMPLES = 25


class _PostgresPlatform(EmbeddedPlatform):
    """`conference run` (embedded bus) with each service on a fresh PostgreSQL database."""

    def __init__(self, root: Path, database_urls: dict[str, str]) -> None:
        super().__init__(root / "data", root / "platform.log")
        self.database_urls = database_urls

    @property
    def env(self) -> dict[str, str]:
        return {**super().env, **{f"{s.upper()}_DATABASE_URL": url for s, url in self.database_urls.items()}}


@pytest.fixture(scope="module")
def platform(tmp_path_factory: pytest.TempPathFactory, postgres_env: dict[str, str]) -> Iterator[EmbeddedPlatform]:
    running = _PostgresPlatform(tmp_path_factory.mktemp("fuzz"), asyncio.run(stack.fresh_databases(postgres_env)))
    asyncio.run(running.start())
    try:
        asyncio.run(_seed(running))
        yield running
    finally:
        running.stop()


async def _seed(platform: EmbeddedPlatform) -> None:
    async with httpx.AsyncClient(headers=AUTH, timeout=30) as c:
        r = await c.post(f"{platform.url('registration')}/editions",
                         json={"year": 2025, "starts_on": "2025-07-30", "ends_on": "2025-07-31"})
        assert r.status_code == 201, r.text
        edition = r.json()["id"]
        r = await c.post(f"{platform.url('registration')}/delegates", json={
            "edition_id": edition, "full_name": "Seed Delegate", "country": "MY", "email": "seed@example.org",
            "category": "guest"})
        assert r.status_code == 201, r.text
        r = await c.post(f"{platform.url('network')}/organizations",
                         json={"name": "Seed Chamber", "country": "SG", "kind": "chamber_of_commerce"})
        assert r.status_code == 201, r.text


def errors_are_problems(ctx: CheckContext, response: Any, case: Any) -> bool | None:
    """Every 4xx/5xx answer is an RFC 9457 problem document with a status, a code and a detail."""
    if response.status_code < 400:
        return None
    content_type = response.headers.get("content-type", [""])
    content_type = content_type[0] if isinstance(content_type, list) else content_type
    if content_type.split(";")[0].strip() != PROBLEM:
        raise Failure(operation=case.operation.label, title="Error is not problem+json",
                      message=f"{response.status_code} answered with content-type {content_type!r}")
    body = response.json()
    if body.get("status") != response.status_code or not body.get("detail") or not body.get("code"):
        raise Failure(operation=case.operation.label, title="Incomplete problem document",
                      message=f"{response.status_code}: {body}")
    return True


# ignored_auth: an operation whose document requires the bearer token, answering 2xx to the admin, is
# called again without a token and with a made-up one, and must refuse both.
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_headers_conformance,
          response_schema_conformance, negative_data_rejection, ignored_auth, errors_are_problems]
# Generation only (no shrinking: a failure is recorded as found and the run goes on to the next one).
FUZZ = settings(max_examples=MAX_EXAMPLES, deadline=None, derandomize="FUZZ_RANDOM" not in os.environ, database=None,
                phases=[Phase.explicit, Phase.generate], suppress_health_check=list(HealthCheck))


def _fuzz(operation: Any, mode: GenerationMode, calls: Counter[str], failures: dict[str, str]) -> None:
    label = f"{operation.method.upper()} {operation.path} ({mode.value})"

    @given(case=operation.as_strategy(generation_mode=mode))
    @FUZZ
    def fuzz(case: Any) -> None:
        calls[label] += 1
        if label in failures:
            return
        try:
            case.call_and_validate(headers=AUTH, checks=CHECKS, timeout=30)
        except (FailureGroup, AssertionError) as exc:
            failures[label] = f"{exc}"
        except Exception as exc:  # e.g. the connection dropped: a failure of its own
            failures[label] = f"{exc!r}\n  reproduce: {case.as_curl_command(headers=AUTH)}"

    try:
        fuzz()
    except Unsatisfiable:  # nothing to vary (e.g. no parameters to break in negative mode)
        pass


@pytest.mark.parametrize("service", SERVICE_NAMES)
def test_every_operation_answers_as_documented(platform: EmbeddedPlatform, service: str) -> None:
    schema = schemathesis.openapi.from_url(f"{platform.url(service)}/openapi.json")
    failures: dict[str, str] = {}
    calls: Counter[str] = Counter()
    for operation in operations(schema, service):
        takes_input = any(len(part) for part in (operation.path_parameters, operation.query, operation.headers,
                                                  operation.body))
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE) if takes_input else (GenerationMode.POSITIVE,):
            _fuzz(operation, mode, calls, failures)
    print(f"\n{service}: {len(calls)} operation/mode pairs, {sum(calls.values())} requests")
    assert not failures, "\n\n".join(f"{label}: {text}" for label, text in failures.items())


# Explicit negatives (issue 11, strict input): generated data rarely hits these, so they are sent as written,
# to `conference run` on PostgreSQL. Each is a 422 problem naming its field.
EXPLICIT_NEGATIVES = [("projects", "POST", "/projects", change, field) for _, change, field in BAD_AMOUNTS] + [
    case for case in BAD_TEXT + BAD_DATES if "{project}" not in case[2]]


def test_explicit_negatives_are_refused_with_the_field_named(platform: EmbeddedPlatform) -> None:
    with httpx.Client(headers=AUTH, timeout=30) as c:
        edition = c.get(f"{platform.url('registration')}/editions").json()["items"][0]["id"]
        ids = {"edition": edition,
               "delegate": c.get(f"{platform.url('registration')}/delegates").json()["items"][0]["id"],
               "organization": c.get(f"{platform.url('network')}/organizations").json()["items"][0]["id"]}
        for service, method, path, change, field in EXPLICIT_NEGATIVES:
            response = c.request(method, platform.url(service) + path.format(**ids),
                                 json=request_body(ids, method, path, change))
            assert response.status_code == 422, f"{method} {path} {change}: {response.status_code} {response.text}"
            assert_problem(response, 422, response.json()["code"], field=field)
