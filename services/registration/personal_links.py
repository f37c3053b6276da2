"""Delegates' personal links: an unguessable, verifiable token that opens one delegate's own resources.

The token is ``pl1.`` + base64url(HMAC-SHA256(secret, "personal-link:v1:" + delegate id)). It carries no
data of its own: the delegate id is in the URL it goes with, and verifying recomputes the MAC and compares
in constant time. Nothing is stored, so a link never expires; rotating ``CONFERENCE_PERSONAL_LINK_SECRET``
revokes every link at once (docs/registration.md, "Personal links").

The token is accepted as the ``token`` query parameter (a link in an e-mail must work by a click) or the
``X-Personal-Token`` header (clients that can set one keep it out of access logs and browser history).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from typing import Annotated

from fastapi import Header, Query, Request
from pydantic import BaseModel, Field

from shared.http.auth import Forbidden, RoleCheck, Unauthenticated, current_roles
from shared.settings import ConfigurationError, Role, ServiceSettings, development_secret

__all__ = ["PREFIX", "PersonalAccess", "PersonalLink", "issue", "personal_link_secret", "verify"]

PREFIX = "pl1."
_CONTEXT = b"personal-link:v1:"


def issue(delegate_id: str, secret: str) -> str:
    """The personal-link token of ``delegate_id``."""
    mac = hmac.new(secret.encode(), _CONTEXT + delegate_id.encode(), hashlib.sha256).digest()
    return PREFIX + base64.urlsafe_b64encode(mac).rstrip(b"=").decode()


def verify(delegate_id: str, token: str, secret: str) -> bool:
    """Whether ``token`` is ``delegate_id``'s personal-link token (constant-time comparison)."""
    return hmac.compare_digest(issue(delegate_id, secret).encode(), token.encode())


def personal_link_secret(settings: ServiceSettings) -> str:
    """The configured secret; only on the embedded development default (development, embedded bus,
    SQLite) one is made up when unset and kept (0600) in the data dir, so links survive a restart."""
    platform = settings.platform
    if platform.personal_link_secret:
        return platform.personal_link_secret
    elsewhere = platform.beyond_embedded_default(on_postgres=settings.is_postgres)
    if elsewhere:
        raise ConfigurationError(
            f"CONFERENCE_PERSONAL_LINK_SECRET must be set with {' and '.join(elsewhere)}, the same for every "
            "registration process (at least 32 characters, e.g. $(openssl rand -hex 32))")
    secret = development_secret(platform.data_dir / ".dev-personal-link-secret", secrets.token_urlsafe(32),
                                "secret", min_length=32)
    platform.personal_link_secret = secret
    return secret


class PersonalAccess(RoleCheck):
    """A dependency for routes under ``/delegates/{delegate_id}/…``: lets through a staff token with one of
    ``roles`` (or admin), or the personal-link token of that same delegate. Returns ``"staff"`` or
    ``"personal"`` so a route can show staff more.

    A :class:`RoleCheck`, so the OpenAPI document and the request limits know the staff roles; the route's
    description names the personal link as the alternative to a bearer token."""

    accepts_personal_link = True

    def __init__(self, *roles: Role) -> None:
        super().__init__(frozenset(roles) | {"admin"})

    async def __call__(  # type: ignore[override]
        self, request: Request, delegate_id: str,
        token: Annotated[str | None, Query(description="The delegate's personal-link token")] = None,
        x_personal_token: Annotated[str | None, Header(description="The delegate's personal-link token")] = None,
    ) -> str:
        roles = await current_roles(request)
        if roles & self.roles:
            return "staff"
        given = x_personal_token or token
        if given is None:
            if roles:
                raise Forbidden(f"this token lacks the role needed here (one of: {', '.join(sorted(self.roles))})")
            raise Unauthenticated("send a staff bearer token or the delegate's personal link (`?token=`)")
        if not verify(delegate_id, given, personal_link_secret(request.app.state.context.settings)):
            raise Forbidden("this personal link does not open this delegate")
        return "personal"


class PersonalLink(BaseModel):
    """A delegate's personal link, for staff to pass on to the delegate."""

    delegate_id: str
    token: str = Field(description="Send as `?token=` or the `X-Personal-Token` header")
    badge_url: str = Field(description="The delegate's badge, opened by this link")
