"""The ``conference`` command: the one module allowed to import every service."""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import socket
import sys
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Annotated, Any

import typer
from fastapi import FastAPI
from rich.console import Console

from services.dashboard import app as dashboard_app
from services.demo.replay import DemoError, Targets, replay
from services.network import app as network_app
from services.projects import app as projects_app
from services.registration import app as registration_app
from services.registration.personal_links import personal_link_secret
from shared.db.migrations import run_migrations
from shared.events.asyncapi import render as render_asyncapi
from shared.http.server import GracefulServer, ShutdownSettings, server_config
from shared.http.workers import bind, run_workers
from shared.observability.logging import configure_logging
from shared.settings import PlatformSettings, ServiceSettings, configuration_problem
from shared.topology import SERVICE_NAMES, SERVICE_PORTS
from shared.topology import SERVICES as TOPOLOGY

console = Console(stderr=True)
cli = typer.Typer(help="Belt and Road Overseas Chinese Cooperation & Development Conference platform.",
                  no_args_is_help=True, add_completion=False, pretty_exceptions_enable=False)

SERVICES: dict[str, tuple[Callable[..., FastAPI], Path]] = {
    "registration": (registration_app.create_app, registration_app.SERVICE_DIR),
    "projects": (projects_app.create_app, projects_app.SERVICE_DIR),
    "network": (network_app.create_app, network_app.SERVICE_DIR),
    "dashboard": (dashboard_app.create_app, dashboard_app.SERVICE_DIR),
}


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
    names = SERVICE_NAMES if service == "all" else (_check_service(service),)
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
    workers: Annotated[int, typer.Option(min=1, help="Processes sharing the port (one relay publishes).")] = 1,
) -> None:
    """Run one service against the configured database and bus, migrating first."""
    _check_service(service)
    configure_logging(service)
    platform = PlatformSettings()
    settings = ServiceSettings(service, platform)
    token = platform.ensure_admin_token(on_postgres=settings.is_postgres)
    if service == "registration":
        personal_link_secret(settings)  # refuse to start without it, rather than fail at the first badge
    migrate_service(settings)
    console.print(f"{service} on http://{host}:{port or SERVICE_PORTS[service]} — bus: {platform.bus}, "
                  f"db: {_redact(settings.database_url)}")
    if os.environ.get("CONFERENCE_ADMIN_TOKEN") is None:
        console.print(f"development admin token: {token}")
    port = port or SERVICE_PORTS[service]

    def serve_one(sockets: list[socket.socket] | None = None) -> None:
        app = SERVICES[service][0](settings)
        shutdown = ShutdownSettings()
        config = server_config(app, host=host, port=port, platform=platform, shutdown=shutdown)
        # SIGTERM: /readyz 503 for the drain period, stop accepting, finish in flight, drain, exit 0.
        server = GracefulServer(config, on_drain=[app.state.context.begin_draining],
                                drain_seconds=shutdown.drain_seconds)
        if sockets is None:
            server.run()  # binds host:port itself
        else:
            server.run(sockets=sockets)

    if workers == 1:
        serve_one()
        return
    console.print(f"{workers} worker processes")
    sys.exit(run_workers(workers, bind(host, port), lambda sock: serve_one([sock])))


@cli.command()
def asyncapi(fmt: Annotated[str, typer.Option("--format", help="yaml or json.")] = "yaml") -> None:
    """Print the AsyncAPI 3.0 document of the event contract (docs/asyncapi.yaml is this output)."""
    if fmt not in ("yaml", "json"):
        raise typer.BadParameter("expected yaml or json", param_hint="--format")
    typer.echo(render_asyncapi(fmt=fmt), nl=False)


@cli.command()
def run(
    demo: Annotated[bool, typer.Option(help="Replay the 2025 conference once the services are up.")] = False,
    fast: Annotated[bool, typer.Option(help="With --demo: replay at full speed instead of pacing it.")] = False,
    host: Annotated[str, typer.Option()] = "127.0.0.1",
    base_port: Annotated[int, typer.Option(help="Dashboard port; the others follow (+1, +2, +3).")] = 8000,
) -> None:
    """Start all four services in one process (embedded bus and SQLite unless configured otherwise)."""
    configure_logging(default_level="WARNING")  # a terminal for people: URLs, progress, problems
    platform = PlatformSettings()
    settings = {name: ServiceSettings(name, platform) for name in SERVICE_NAMES}
    token = platform.ensure_admin_token(on_postgres=any(s.is_postgres for s in settings.values()))
    personal_link_secret(settings["registration"])
    for name in SERVICE_NAMES:
        migrate_service(settings[name])
    console.print(f"[bold]Conference platform[/] — bus: {platform.bus}, data: {platform.data_dir.resolve()}")
    ports = {s.name: s.port_from(base_port) for s in TOPOLOGY}
    for name in SERVICE_NAMES:
        console.print(f"  {name:<13} http://{host}:{ports[name]}  (docs: /docs)")
    console.print(f"  live page     http://{host}:{ports['dashboard']}/")
    console.print(f"  admin token   {token}   (Authorization: Bearer …)")
    apps = {name: SERVICES[name][0](settings[name]) for name in SERVICE_NAMES}
    after_start = None
    if demo:
        targets = Targets(**{name: f"http://{host}:{ports[name]}" for name in SERVICE_NAMES}, token=token)
        after_start = _demo_after_start(targets, fast=fast)
    asyncio.run(_serve_all({ports[name]: apps[name] for name in SERVICE_NAMES}, host, platform, after_start))


def _demo_after_start(targets: Targets, *, fast: bool) -> Callable[[], Coroutine[Any, Any, None]]:
    async def replay_once_up() -> None:
        console.print("[bold]Replaying the 2025 conference[/] — watch the live page fill up.")
        try:
            result = await replay(targets, fast=fast)
        except Exception as exc:  # a failed replay must not take the platform down
            console.print(f"[red]demo stopped:[/] {exc}")
            return
        console.print(f"[green]✓[/] 2025 conference replayed (edition {result.edition_id}).")

    return replay_once_up


@cli.command("demo")
def demo_command(
    fast: Annotated[bool, typer.Option(help="Full speed instead of pacing the replay over a few seconds.")] = False,
    seed: Annotated[int, typer.Option(help="Data seed; the same seed gives the same conference.")] = 2025,
) -> None:
    """Replay the 2025 conference through the public APIs of running services (`<SERVICE>_URL`)."""
    platform = PlatformSettings()
    targets = Targets(
        **{s.name: os.environ.get(f"{s.name.upper()}_URL", f"http://127.0.0.1:{s.port}") for s in TOPOLOGY},
        token=platform.ensure_admin_token())
    try:
        result = asyncio.run(replay(targets, fast=fast, seed=seed))
    except DemoError as exc:
        console.print(f"[red]demo stopped:[/] {exc}")
        raise typer.Exit(1) from None
    console.print(f"[green]✓[/] 2025 conference replayed (edition {result.edition_id}); "
                  f"live page: {targets.dashboard}/")


async def _serve_all(apps: dict[int, FastAPI], host: str, platform: PlatformSettings,
                     after_start: Callable[[], Coroutine[Any, Any, None]] | None = None) -> None:
    shutdown = ShutdownSettings()
    # Signals are handled here, once for the four servers (install_signals=False).
    servers = [GracefulServer(server_config(app, host=host, port=port, platform=platform, shutdown=shutdown),
                              on_drain=[app.state.context.begin_draining], drain_seconds=shutdown.drain_seconds,
                              install_signals=False)
               for port, app in apps.items()]
    loop = asyncio.get_running_loop()

    def stop() -> None:
        for server in servers:
            server.begin_shutdown()

    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop)
    serving = [asyncio.create_task(server.serve()) for server in servers]
    if after_start is not None:
        # Start-up takes a moment (migrations are done, sockets bind): poll the servers' own flag.
        while not all(server.started for server in servers) and not any(task.done() for task in serving):
            await asyncio.sleep(0.05)
        serving.append(asyncio.create_task(after_start()))
    await asyncio.gather(*serving)


dashboard_cli = typer.Typer(help="The dashboard's read model.", no_args_is_help=True)
cli.add_typer(dashboard_cli, name="dashboard")


@dashboard_cli.command("rebuild")
def dashboard_rebuild() -> None:
    """Drop the read model and replay every topic from offset 0 (stop the dashboard service first)."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    from services.dashboard.rebuild import rebuild

    settings = ServiceSettings("dashboard", PlatformSettings())
    migrate_service(settings)
    # A replay applies every event ever written: one log line each would drown the progress bar.
    logging.getLogger("shared.inbox").setLevel(logging.WARNING)
    with Progress(TextColumn("[bold]replaying events"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
                  console=console) as progress:
        task = progress.add_task("replay", total=None)
        result = asyncio.run(rebuild(
            settings, SERVICES["dashboard"][1],
            on_start=lambda total: progress.update(task, total=total),
            on_progress=lambda done: progress.update(task, completed=done)))
    rate = result.events / result.seconds if result.seconds else 0
    console.print(f"[green]✓[/] dashboard rebuilt from {result.events} events in {result.seconds:.1f} s "
                  f"({rate:,.0f} events/s)")


def _redact(url: str) -> str:
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)


def main() -> None:
    """The entry point: a configuration mistake ends the process with one line on stderr and exit
    status 2, before anything starts (no traceback: there is nothing to debug, only a setting to fix)."""
    try:
        cli()
    except Exception as exc:
        problem = configuration_problem(exc)
        if problem is None:
            raise
        print(f"conference: configuration error: {problem}", file=sys.stderr)
        sys.exit(2)


if __name__ == "__main__":
    main()
