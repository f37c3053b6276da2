"""Personal-link tokens and their secret (pure: no database)."""

from __future__ import annotations

from pathlib import Path

import pytest

from services.registration import badges, personal_links
from shared.settings import ConfigurationError, PlatformSettings, ServiceSettings

SECRET = "s" * 32


def test_token_opens_only_its_own_delegate() -> None:
    token = personal_links.issue("d-1", SECRET)
    assert token.startswith(personal_links.PREFIX)
    assert personal_links.verify("d-1", token, SECRET)
    assert not personal_links.verify("d-2", token, SECRET)
    assert not personal_links.verify("d-1", token, "t" * 32)  # a rotated secret revokes every link
    assert not personal_links.verify("d-1", token[:-1], SECRET)
    assert not personal_links.verify("d-1", "", SECRET)
    assert not personal_links.verify("d-1", "é" + token, SECRET)  # non-ASCII input is refused, not an error


def test_tokens_are_stable_and_differ_between_delegates() -> None:
    assert personal_links.issue("d-1", SECRET) == personal_links.issue("d-1", SECRET)
    assert personal_links.issue("d-1", SECRET) != personal_links.issue("d-2", SECRET)


def test_development_default_secret_is_made_up_once_and_kept(tmp_path: Path) -> None:
    first = personal_links.personal_link_secret(
        ServiceSettings("registration", PlatformSettings(data_dir=tmp_path)))
    again = personal_links.personal_link_secret(
        ServiceSettings("registration", PlatformSettings(data_dir=tmp_path)))
    assert first == again and len(first) >= 32
    assert (tmp_path / ".dev-personal-link-secret").stat().st_mode & 0o077 == 0


@pytest.mark.parametrize("platform", [{"environment": "production"}, {"bus": "kafka"}])
def test_secret_required_outside_development(tmp_path: Path, platform: dict[str, str]) -> None:
    settings = ServiceSettings("registration", PlatformSettings.model_validate({"data_dir": tmp_path, **platform}))
    with pytest.raises(ConfigurationError, match="CONFERENCE_PERSONAL_LINK_SECRET"):
        personal_links.personal_link_secret(settings)
    configured = ServiceSettings("registration", PlatformSettings.model_validate(
        {"data_dir": tmp_path, "personal_link_secret": SECRET, **platform}))
    assert personal_links.personal_link_secret(configured) == SECRET


def test_short_secret_is_refused() -> None:
    with pytest.raises(ValueError, match="personal_link_secret"):
        PlatformSettings(personal_link_secret="short")


def test_badge_without_a_cjk_font_is_a_503_naming_the_fix(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CONFERENCE_BADGE_FONT", str(tmp_path / "missing.ttf"))
    badges.badge_font.cache_clear()
    try:
        with pytest.raises(badges.BadgeFontMissing, match="fonts-wqy-microhei") as raised:
            badges.badge_font()
        assert raised.value.status == 503
    finally:
        badges.badge_font.cache_clear()
