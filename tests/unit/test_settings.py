"""The settings refuse a wrong configuration when they are read, with one line naming the variable
(``CONFERENCE_TOKENS``, ``CONFERENCE_ADMIN_TOKEN``) and never quoting a secret."""

from __future__ import annotations

import json

import pytest
from pydantic import ValidationError

from shared.http.auth import require_role
from shared.settings import ROLES, ConfigurationError, PlatformSettings, configuration_problem

SECRET = "s3cr3t-token-value"


def problem_with(monkeypatch: pytest.MonkeyPatch, **env: str) -> str:
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    with pytest.raises(ValidationError) as caught:
        PlatformSettings()
    line = configuration_problem(caught.value)
    assert line is not None
    assert "\n" not in line
    return line


@pytest.mark.parametrize(("tokens", "expected"), [
    ("{not json", "CONFERENCE_TOKENS: not valid JSON"),
    (json.dumps({SECRET: ["registar"]}), "CONFERENCE_TOKENS: token #1 has unknown role 'registar'; roles are admin"),
    (json.dumps({"other": ["checkin"], SECRET: "registrar"}), "CONFERENCE_TOKENS: token #2: roles must be a list"),
    (json.dumps({SECRET: [1]}), "CONFERENCE_TOKENS: token #1: roles must be a list"),
    (json.dumps({"": ["registrar"]}), "CONFERENCE_TOKENS: token #1 is empty"),
    (json.dumps({"   ": ["registrar"]}), "CONFERENCE_TOKENS: token #1 is empty"),
    (json.dumps({f"{SECRET} x": ["registrar"]}), "CONFERENCE_TOKENS: token #1 has characters"),
    (json.dumps({SECRET: []}), "CONFERENCE_TOKENS: token #1 lists no role"),
    (json.dumps([SECRET, "registrar"]), "CONFERENCE_TOKENS: expected a JSON object"),
    (json.dumps("registrar"), "CONFERENCE_TOKENS: expected a JSON object"),
    (f'{{"{SECRET}": ["registrar"], "{SECRET}": ["checkin"]}}', "CONFERENCE_TOKENS: a token appears twice"),
])
def test_a_wrong_tokens_variable_is_refused_with_one_line(monkeypatch: pytest.MonkeyPatch, tokens: str,
                                                          expected: str) -> None:
    line = problem_with(monkeypatch, CONFERENCE_TOKENS=tokens)
    assert line.startswith(expected), line
    assert SECRET not in line


def test_the_admin_token_must_be_sendable_and_not_among_the_others(monkeypatch: pytest.MonkeyPatch) -> None:
    assert problem_with(monkeypatch, CONFERENCE_ADMIN_TOKEN="").startswith("CONFERENCE_ADMIN_TOKEN: the admin token "
                                                                          "is empty")
    line = problem_with(monkeypatch, CONFERENCE_ADMIN_TOKEN=f"{SECRET}\n")
    assert line.startswith("CONFERENCE_ADMIN_TOKEN: the admin token has characters") and SECRET not in line
    line = problem_with(monkeypatch, CONFERENCE_ADMIN_TOKEN=SECRET, CONFERENCE_TOKENS=json.dumps({SECRET: ["checkin"]}))
    assert "lists the admin token" in line and SECRET not in line


def test_a_validation_error_does_not_echo_the_values() -> None:
    with pytest.raises(ValidationError) as caught:
        PlatformSettings(tokens=json.dumps({SECRET: ["nope"]}))
    assert SECRET not in str(caught.value)


def test_other_settings_errors_name_their_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    assert problem_with(monkeypatch, CONFERENCE_BUS="kafak").startswith("CONFERENCE_BUS: ")


def test_good_tokens_from_the_environment_or_a_mapping(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CONFERENCE_TOKENS", json.dumps({"desk-1": ["checkin"], "reg": ["registrar", "checkin"]}))
    monkeypatch.setenv("CONFERENCE_ADMIN_TOKEN", "root-token")
    settings = PlatformSettings()
    assert settings.token_roles == {"desk-1": frozenset({"checkin"}), "reg": frozenset({"registrar", "checkin"}),
                                    "root-token": frozenset({"admin"})}
    assert PlatformSettings(admin_token=None, tokens={"t": ["network"]}).token_roles == {"t": frozenset({"network"})}
    assert PlatformSettings(admin_token=None, tokens="").token_roles == {}
    monkeypatch.delenv("CONFERENCE_TOKENS")
    assert PlatformSettings(admin_token=None).tokens == {}


@pytest.mark.parametrize(("fields", "named"), [
    ({"bus": "kafka"}, "CONFERENCE_BUS=kafka"),
    ({"environment": "production"}, "CONFERENCE_ENVIRONMENT=production"),
])
def test_no_development_token_away_from_the_embedded_default(fields: dict[str, str], named: str) -> None:
    settings = PlatformSettings(admin_token=None, **fields)  # type: ignore[arg-type]
    with pytest.raises(ConfigurationError) as caught:
        settings.ensure_admin_token()
    line = configuration_problem(caught.value)
    assert line is not None and line.startswith("CONFERENCE_ADMIN_TOKEN must be set") and named in line


def test_no_development_token_on_postgresql() -> None:
    with pytest.raises(ConfigurationError, match="CONFERENCE_ADMIN_TOKEN must be set with a PostgreSQL database"):
        PlatformSettings(admin_token=None).ensure_admin_token(on_postgres=True)


def test_a_configured_admin_token_is_used_everywhere() -> None:
    assert PlatformSettings(admin_token="given", bus="kafka").ensure_admin_token(on_postgres=True) == "given"


def test_roles_are_defined_once_and_require_role_accepts_only_those() -> None:
    assert set(ROLES) == {"admin", "registrar", "checkin", "projects", "network"}
    with pytest.raises(ValueError, match="unknown role"):
        require_role("registar")  # type: ignore[arg-type]


def test_an_error_that_is_not_about_configuration_is_not_reported_as_one() -> None:
    assert configuration_problem(RuntimeError("boom")) is None
