"""The ``conference`` command: the one module allowed to import every service."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Annotated

import typer
import uvicorn
from fastapi import FastAPI
from rich.console import Console

from services.dashboard import app as dashboard_app
from services.network import app as network_app
from services.projects import app as projects_app
from services.registration import app as registration_app
from shared.db import run_migrations
from shared.logging import configure_logging
from shared.settings import SERVICE_NAMES, SERVICE_PORTS, PlatformSettings, ServiceSettings

console = Console(stderr=True)
cli = typer.Typer(help="Belt and Road Overseas Chinese Cooperation & Development Conference platform.",
                  no_args_is_help=True, add_completion=False, pretty_exceptions_enable=False)

SERVICES: dict[str, tuple[Callable[..., FastAPI], Path]] = {
    "registration": (registration_app.create_app, registration_app.SERVICE_DIR),
    "projects": (projects_app.create_app, projects_app.SERVICE_DIR),
    "network": (network_app.create_app, network_app.SERVICE_DIR),
    "dashboard": (dashboard_app.create_app, dashboard_app.SERVICE_DIR),
}
ORDER = ("registration", "projects", "network", "dashboard")


def _check_service(name: str) -> str:
    if name not in SERVICE_NAMES:
        raise typer.BadParameter(f"expected one of: {', '.join(SERVICE_NAMES)}")
    return name


def migrate_service(settings: ServiceSettings) -> None:
    run_migrations(SERVICES[settings.service][1], settings.database_url)


@cli.command()
def migrate(service: Annotated[str, typer.Argument(help="registration|projects|network|dashboard|all")] = "all"
            ) -> None:
    """Bring a service's database (or all four) to the latest schema."""
    names = ORDER if service == "all" else (_check_service(service),)
    platform = PlatformSettings()
    for name in names:
        settings = ServiceSettings(name, platform)
        migrate_service(settings)
        console.print(f"[green]✓[/] {name} migrated ({_redact(settings.database_url)})")


@cli.command()
def serve(
    service: Annotated[str, typer.Argument(help="registration|projects|network|dashboard")],
    port: Annotated[int | None, typer.Option(help="Defaults to the service's port (8000–8003).")] = None,
    host: Annotated[str, typer.Option()] = "127.0.0.1",
) -> None:
    """Run one service against the configured database and bus, migrating first."""
    _check_service(service)
    configure_logging(service)
    platform = PlatformSettings()
    token = platform.ensure_admin_token()
    settings = ServiceSettings(service, platform)
    migrate_service(settings)
    console.print(f"{service} on http://{host}:{port or SERVICE_PORTS[service]} — bus: {platform.bus}, "
                  f"db: {_redact(settings.database_url)}")
    if os.environ.get("CONFERENCE_ADMIN_TOKEN") is None:
        console.print(f"development admin token: {token}")
    app = SERVICES[service][0](settings)
    uvicorn.run(app, host=host, port=port or SERVICE_PORTS[service], log_level="warning", access_log=False)


@cli.command()
def run(
    demo: Annotated[bool, typer.Option(help="Replay the 2025 conference once the services are up.")] = False,
    host: Annotated[str, typer.Option()] = "127.0.0.1",
    base_port: Annotated[int, typer.Option(help="Dashboard port; the others follow (+1, +2, +3).")] = 8000,
) -> None:
    """Start all four services in one process (embedded bus and SQLite unless configured otherwise)."""
    configure_logging()
    platform = PlatformSettings()
    token = platform.ensure_admin_token()
    settings = {name: ServiceSettings(name, platform) for name in ORDER}
    for name in ORDER:
        migrate_service(settings[name])
    console.print(f"[bold]Conference platform[/] — bus: {platform.bus}, data: {platform.data_dir.resolve()}")
    ports = {name: base_port + SERVICE_PORTS[name] - SERVICE_PORTS["dashboard"] for name in ORDER}
    for name in ORDER:
        console.print(f"  {name:<13} http://{host}:{ports[name]}  (docs: /docs)")
    console.print(f"  live page     http://{host}:{ports['dashboard']}/")
    console.print(f"  admin token   {token}   (Authorization: Bearer …)")
    if demo:
        console.print("[yellow]--demo: the 2025 replay arrives with issue #5; starting empty.[/]")
    apps = {name: SERVICES[name][0](settings[name]) for name in ORDER}
    asyncio.run(_serve_all({ports[name]: apps[name] for name in ORDER}, host))


class _Server(uvicorn.Server):
    """A uvicorn server that leaves signal handling to ``_serve_all`` (it runs four of them)."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


async def _serve_all(apps: dict[int, FastAPI], host: str) -> None:
    servers = [_Server(uvicorn.Config(app, host=host, port=port, log_level="warning", access_log=False,
                                      lifespan="on"))
               for port, app in apps.items()]
    loop = asyncio.get_running_loop()

    def stop() -> None:
        for server in servers:
            server.should_exit = True

    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop)
    await asyncio.gather(*(server.serve() for server in servers))


def _redact(url: str) -> str:
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)


def main() -> None:
    cli()


if __name__ == "__main__":
    main()
