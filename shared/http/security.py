"""Security headers on every response of every service (pure ASGI, like the request middleware).

Every answer says: do not sniff another content type (``X-Content-Type-Options: nosniff``), never be
framed (``X-Frame-Options: DENY`` and CSP ``frame-ancestors 'none'``), send no ``Referer`` onwards
(``Referrer-Policy: no-referrer``), and carries a ``Content-Security-Policy``. An API answer (JSON,
CSV, SSE, metrics) loads nothing, so its policy allows nothing (``default-src 'none'``). A page sets
its own, strict, policy with :func:`page_policy` (only what it loads, from the service itself); the
middleware adds only the headers a response has not set.
"""

from __future__ import annotations

from collections.abc import Iterable

from starlette.types import ASGIApp, Message, Receive, Scope, Send

CSP = "content-security-policy"
SELF = "'self'"
# Directives every policy ends with: no <base> rewriting, no framing by any site.
_ALWAYS = ("base-uri 'none'", "frame-ancestors 'none'")
API_POLICY = "; ".join(("default-src 'none'", "form-action 'none'", *_ALWAYS))
SECURITY_HEADERS: tuple[tuple[str, str], ...] = (
    (CSP, API_POLICY),
    ("x-content-type-options", "nosniff"),
    ("x-frame-options", "DENY"),
    ("referrer-policy", "no-referrer"),
)


def page_policy(*, scripts: Iterable[str] = (SELF,), styles: Iterable[str] = (SELF,),
                images: Iterable[str] = (SELF,), fonts: Iterable[str] = ("'none'",), connect: Iterable[str] = (SELF,),
                forms: str = "'none'") -> str:
    """A page's ``Content-Security-Policy``: nothing but the sources named (by default the service itself);
    no inline script or style unless a source names its hash; no web font unless ``fonts`` names where from."""
    return "; ".join((
        "default-src 'none'",
        f"script-src {' '.join(scripts)}",
        f"style-src {' '.join(styles)}",
        f"img-src {' '.join(images)}",
        f"font-src {' '.join(fonts)}",
        f"connect-src {' '.join(connect)}",
        f"form-action {forms}",
        *_ALWAYS,
    ))


class SecurityHeadersMiddleware:
    """Adds :data:`SECURITY_HEADERS` to each HTTP response that does not set them itself."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self._headers = [(name.encode("latin-1"), value.encode("latin-1")) for name, value in SECURITY_HEADERS]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", ()))
                present = {name.lower() for name, _ in headers}
                headers.extend(header for header in self._headers if header[0] not in present)
                message["headers"] = headers
            await send(message)

        await self.app(scope, receive, send_with_headers)
