"""``/docs``: Swagger UI served by the service itself, from the files of a pinned package (no CDN).

The JavaScript, stylesheet and icon of Swagger UI come from the ``fastapi-offline`` package (which
ships the swagger-ui dist files) and are served at :data:`ASSETS_PATH`; the page is FastAPI's own
``get_swagger_ui_html`` pointed at them. Its policy allows scripts, styles and requests from the
service only, plus the one inline script that starts Swagger UI, by its hash. ReDoc is not served:
it needs inline styles and workers from ``blob:`` that a strict policy refuses, and Swagger UI shows
the same document.
"""

from __future__ import annotations

import base64
import hashlib
import re
from pathlib import Path

import fastapi_offline
from fastapi import FastAPI, Request
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles

from shared.http.security import CSP, SELF, page_policy

DOCS_PATH = "/docs"
ASSETS_PATH = "/docs-assets"
ASSETS_DIR = Path(fastapi_offline.__file__).parent / "static"
_INLINE_SCRIPT = re.compile(rb"<script>(.*?)</script>", re.DOTALL)
# Swagger UI's parameters beyond FastAPI's defaults: no call to the public online validator.
_PARAMETERS = {"validatorUrl": None}


def docs_policy(page: bytes) -> str:
    """The page's policy: its own inline scripts by hash, everything else from the service itself
    (Swagger UI's stylesheet draws its icons as ``data:`` images)."""
    hashes = [f"'sha256-{base64.b64encode(hashlib.sha256(script).digest()).decode()}'"
              for script in _INLINE_SCRIPT.findall(page)]
    return page_policy(scripts=(SELF, *hashes), images=(SELF, "data:"))


def install_docs(app: FastAPI) -> None:
    """Serve Swagger UI at ``/docs`` and its files at ``/docs-assets`` (the app is built without FastAPI's
    CDN-backed ``/docs`` and ``/redoc``)."""
    app.mount(ASSETS_PATH, StaticFiles(directory=ASSETS_DIR), name="docs-assets")

    @app.get(DOCS_PATH, include_in_schema=False)
    async def swagger_ui(request: Request) -> HTMLResponse:
        root = request.scope.get("root_path", "")
        page = get_swagger_ui_html(
            openapi_url=f"{root}{app.openapi_url}", title=f"{app.title} — API",
            swagger_js_url=f"{root}{ASSETS_PATH}/swagger-ui-bundle.js",
            swagger_css_url=f"{root}{ASSETS_PATH}/swagger-ui.css",
            swagger_favicon_url=f"{root}{ASSETS_PATH}/favicon.png",
            swagger_ui_parameters=_PARAMETERS)
        page.headers[CSP] = docs_policy(bytes(page.body))
        return page
