"""uvicorn gets its connection limits from the settings, on both ``conference serve`` and ``conference run``."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace
from typing import Any

import pytest
import uvicorn

from services import cli
from shared.http.server import GuardedHTTPProtocol, ShutdownSettings
from shared.settings import PlatformSettings

LIMITS = {"max_concurrency": 77, "keep_alive_timeout_seconds": 3, "max_header_bytes": 12345}


def _assert_limited(config: uvicorn.Config) -> None:
    assert config.limit_concurrency == 77
    assert config.timeout_keep_alive == 3
    assert config.h11_max_incomplete_event_size == 12345
    assert config.http is GuardedHTTPProtocol  # connections beyond the descriptor budget are closed
    assert config.timeout_graceful_shutdown == round(ShutdownSettings().timeout_seconds)


class _CapturingServer:
    configs: list[uvicorn.Config] = []

    def __init__(self, config: uvicorn.Config, **_: Any) -> None:
        self.configs.append(config)
        self.started = True

    def run(self) -> None:
        return None

    async def serve(self) -> None:
        return None

    def begin_shutdown(self) -> None:
        return None


def _app() -> Any:
    return SimpleNamespace(state=SimpleNamespace(context=SimpleNamespace(begin_draining=lambda: None)))


def test_serve_passes_the_limits_to_uvicorn(monkeypatch: pytest.MonkeyPatch, tmp_path: Any) -> None:
    for name, value in LIMITS.items():
        monkeypatch.setenv(f"CONFERENCE_{name.upper()}", str(value))
    monkeypatch.setenv("CONFERENCE_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("CONFERENCE_ADMIN_TOKEN", "t")
    _CapturingServer.configs = []
    monkeypatch.setattr(cli, "GracefulServer", _CapturingServer)
    monkeypatch.setattr(cli, "migrate_service", lambda settings: None)
    monkeypatch.setitem(cli.SERVICES, "network", (lambda settings: _app(), cli.SERVICES["network"][1]))
    cli.serve("network", port=18999, host="127.0.0.1")
    [config] = _CapturingServer.configs
    _assert_limited(config)


def test_run_passes_the_limits_to_each_uvicorn(monkeypatch: pytest.MonkeyPatch) -> None:
    _CapturingServer.configs = []
    monkeypatch.setattr(cli, "GracefulServer", _CapturingServer)
    platform = PlatformSettings(max_concurrency=77, keep_alive_timeout_seconds=3, max_header_bytes=12345)
    asyncio.run(cli._serve_all({18001: _app(), 18002: _app()}, "127.0.0.1", platform))
    assert len(_CapturingServer.configs) == 2
    for config in _CapturingServer.configs:
        _assert_limited(config)
