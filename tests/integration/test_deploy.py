"""The deploy files: Prometheus rules (promtool unit tests), its config, and docker-compose.yml checked
against the services' settings and validated by a real Compose (no Docker engine on the build machines:
`docker-compose config` needs none; parse and compare the rest)."""

from __future__ import annotations

import json
import os
import re
from typing import Any

import pytest
import yaml
from sqlalchemy.engine import make_url

from devkit.stack import ROOT
from shared.events.asyncapi import build_document
from shared.settings import PlatformSettings
from shared.topology import SERVICE_NAMES, SERVICE_PORTS
from tests.support.ops import (
    GRAFANA_DIR,
    PROMETHEUS_DIR,
    ComposeVariableMissing,
    alert_expressions,
    interpolate,
    run_compose,
    run_promtool,
)

COMPOSE = ROOT / "docker-compose.yml"
# What an operator exports before `docker compose up` (the secrets compose requires).
OPERATOR_ENV = {"CONFERENCE_ADMIN_TOKEN": "0123456789abcdef0123456789abcdef",
                "CONFERENCE_PERSONAL_LINK_SECRET": "fedcba9876543210fedcba9876543210",
                "GRAFANA_ADMIN_PASSWORD": "grafana-pw", "POSTGRES_PASSWORD": "pw"}


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    document: dict[str, Any] = yaml.safe_load(COMPOSE.read_text())
    return document


def env_of(service: dict[str, Any]) -> dict[str, str]:
    env = service.get("environment", {})
    if isinstance(env, list):
        env = dict(item.split("=", 1) for item in env)
    return {str(k): str(v) for k, v in env.items()}


# -- Prometheus ------------------------------------------------------------------------------------


def test_alert_rules_pass_their_promtool_unit_tests() -> None:
    tests = sorted((PROMETHEUS_DIR / "tests").glob("*.yml"))
    assert tests
    result = run_promtool("test", "rules", *(str(t) for t in tests))
    assert result.returncode == 0, result.stdout + result.stderr


def test_every_alert_has_a_unit_test_and_a_runbook() -> None:
    tested = set()
    for path in (PROMETHEUS_DIR / "tests").glob("*.yml"):
        for case in yaml.safe_load(path.read_text())["tests"]:
            for check in case.get("alert_rule_test", []):
                if check.get("exp_alerts"):
                    tested.add(check["alertname"])
    alerts = set(alert_expressions())
    assert alerts == tested, f"alerts without a firing unit test: {alerts - tested}"
    operations = (ROOT / "docs" / "operations.md").read_text()
    rules = yaml.safe_load((PROMETHEUS_DIR / "alerts.yml").read_text())
    for group in rules["groups"]:
        for rule in group["rules"]:
            anchor = rule["annotations"]["runbook"].split("#", 1)[1]
            assert f"### {rule['alert']}" in operations and anchor == rule["alert"].lower(), rule["alert"]
            assert rule["labels"]["severity"] in ("warning", "critical")


def test_prometheus_config_is_valid_and_scrapes_the_four_services() -> None:
    result = run_promtool("check", "config", "prometheus.yml")
    assert result.returncode == 0, result.stdout + result.stderr
    config = yaml.safe_load((PROMETHEUS_DIR / "prometheus.yml").read_text())
    # Every replica of a service (docker compose --scale): the addresses Docker's DNS gives for its name.
    jobs = {job["job_name"]: job["dns_sd_configs"] for job in config["scrape_configs"]}
    assert jobs == {name: [{"names": [name], "type": "A", "port": SERVICE_PORTS[name]}] for name in SERVICE_NAMES}
    assert config["rule_files"] == ["alerts.yml"]


# -- Grafana ---------------------------------------------------------------------------------------


def test_grafana_provisioning_points_at_prometheus_and_the_dashboards(compose: dict[str, Any]) -> None:
    datasources = yaml.safe_load((GRAFANA_DIR / "provisioning" / "datasources" / "prometheus.yml").read_text())
    [source] = datasources["datasources"]
    assert source["type"] == "prometheus" and source["url"] == "http://prometheus:9090"
    providers = yaml.safe_load((GRAFANA_DIR / "provisioning" / "dashboards" / "conference.yml").read_text())
    path = providers["providers"][0]["options"]["path"]
    mounts = dict(v.rsplit(":", 1)[0].split(":", 1) if v.endswith(":ro") else v.split(":", 1)
                  for v in compose["services"]["grafana"]["volumes"] if v.startswith("./"))
    assert mounts["./deploy/grafana/dashboards"] == path
    assert mounts["./deploy/grafana/provisioning"] == "/etc/grafana/provisioning"
    for dashboard in (GRAFANA_DIR / "dashboards").glob("*.json"):
        body = json.loads(dashboard.read_text())
        ids = [p["id"] for p in body["panels"]]
        assert len(ids) == len(set(ids)), f"{dashboard.name}: duplicate panel ids"
        for panel in body["panels"]:
            if panel["type"] != "row":
                assert panel["datasource"]["uid"] == source["uid"], panel["title"]
        titles = " ".join(p["title"].lower() for p in body["panels"])
        for headline in ("delegates", "country", "sector", "latency", "outbox", "lag"):
            assert headline in titles, f"no {headline} panel"


# -- docker-compose.yml ----------------------------------------------------------------------------


def test_compose_runs_the_whole_stack(compose: dict[str, Any]) -> None:
    services = compose["services"]
    assert set(services) == {*SERVICE_NAMES, "kafka", "postgres", "gateway", "prometheus", "grafana"}
    assert services["kafka"]["image"] == "apache/kafka:3.9.1"
    kafka_env = env_of(services["kafka"])
    assert kafka_env["KAFKA_PROCESS_ROLES"] == "broker,controller"  # KRaft, single node
    assert kafka_env["KAFKA_CONTROLLER_QUORUM_VOTERS"] == "1@kafka:9093"
    assert kafka_env["KAFKA_OFFSETS_TOPIC_REPLICATION_FACTOR"] == "1"
    assert "INTERNAL://kafka:19092" in kafka_env["KAFKA_ADVERTISED_LISTENERS"]
    assert services["postgres"]["image"].startswith("postgres:")
    init = [v for v in services["postgres"]["volumes"] if "/docker-entrypoint-initdb.d/" in v]
    assert init, "no init script for the per-service databases"
    script = (ROOT / init[0].split(":", 1)[0]).read_text()
    for name in SERVICE_NAMES:
        assert f"CREATE DATABASE {name};" in script
    prometheus_mounts = [v for v in services["prometheus"]["volumes"] if v.startswith("./deploy/prometheus:")]
    assert prometheus_mounts and "/etc/prometheus" in prometheus_mounts[0]
    for part in ("kafka", "postgres"):
        assert services[part].get("healthcheck", {}).get("test"), f"{part} has no healthcheck"


@pytest.mark.parametrize("name", SERVICE_NAMES)
def test_compose_service_matches_its_settings(compose: dict[str, Any], name: str) -> None:
    service = compose["services"][name]
    port = SERVICE_PORTS[name]
    assert service["build"] == "." or service["build"].get("context") == "."
    command = service["command"]
    assert command[:2] == ["serve", name], command  # migrations run on start (conference serve)
    assert command[command.index("--port") + 1] == str(port)
    assert command[command.index("--host") + 1] == "0.0.0.0"
    # No host port of its own, so that it scales (--scale); the gateway publishes it.
    assert "ports" not in service and service["expose"] == [str(port)]
    assert "container_name" not in service
    env = {k: interpolate(v, OPERATOR_ENV) for k, v in env_of(service).items()}
    assert env["CONFERENCE_BUS"] == "kafka"
    assert env["CONFERENCE_KAFKA_BOOTSTRAP"] == listeners(compose)["INTERNAL"]  # inside the network
    url = make_url(env[f"{name.upper()}_DATABASE_URL"])
    assert url.drivername == "postgresql+asyncpg" and url.host == "postgres" and url.database == name
    others = {f"{o.upper()}_DATABASE_URL" for o in SERVICE_NAMES if o != name}
    assert not others & set(env), "a service must not know another's database"
    assert env.get("CONFERENCE_ADMIN_TOKEN") == OPERATOR_ENV["CONFERENCE_ADMIN_TOKEN"], (
        "every service needs the same admin token, the operator's")
    # The environment is what the service's settings read.
    # Typed Any: the settings parse each string into its field's type (mypy would want each field's type).
    fields: dict[str, Any] = {k.removeprefix("CONFERENCE_").lower(): v for k, v in env.items()
                              if k.startswith("CONFERENCE_") and k.removeprefix("CONFERENCE_").lower()
                              in PlatformSettings.model_fields}
    platform = PlatformSettings(**fields)
    assert platform.bus == "kafka" and platform.environment == "production"
    assert platform.ensure_admin_token(on_postgres=True) == OPERATOR_ENV["CONFERENCE_ADMIN_TOKEN"]
    assert service["depends_on"] == {"postgres": {"condition": "service_healthy"},
                                     "kafka": {"condition": "service_healthy"}}
    probe = " ".join(service["healthcheck"]["test"])
    assert f"127.0.0.1:{port}/readyz" in probe
    assert service["stop_grace_period"], "SIGTERM needs time to drain"


def nginx_servers(text: str) -> dict[int, str]:
    """``{port: its server block}`` of an nginx configuration (comments dropped)."""
    text = re.sub(r"#[^\n]*", "", text)
    servers: dict[int, str] = {}
    for start in (m.end() for m in re.finditer(r"\bserver\s*{", text)):
        depth, end = 1, start
        while depth:
            depth += {"{": 1, "}": -1}.get(text[end], 0)
            end += 1
        block = text[start:end - 1]
        port = re.search(r"\blisten\s+(\d+)\s*;", block)
        assert port, block
        servers[int(port.group(1))] = block
    return servers


def test_the_gateway_spreads_each_port_over_every_replica(compose: dict[str, Any]) -> None:
    """The host reaches the services through the gateway: each service's port, proxied to its name, which
    Docker's DNS resolves to every replica (re-resolved, so replicas may come and go)."""
    gateway = compose["services"]["gateway"]
    assert gateway["image"].startswith("nginx:") and gateway["image"] != "nginx:latest"
    assert sorted(gateway["ports"]) == sorted(f"{port}:{port}" for port in SERVICE_PORTS.values())
    [mount] = [v for v in gateway["volumes"] if v.endswith(":/etc/nginx/nginx.conf:ro")]
    config = (ROOT / mount.split(":", 1)[0]).read_text()
    assert re.search(r"\bresolver\s+127\.0\.0\.11\b[^;]*\bvalid=", config), "the replicas are looked up once only"
    assert "non_idempotent" not in config, "a POST that reached a replica must not be resent to another"
    servers = nginx_servers(config)
    assert set(servers) == set(SERVICE_PORTS.values())
    for name, port in SERVICE_PORTS.items():
        # A variable in proxy_pass makes nginx resolve the name at request time, not once at start.
        target = re.search(r"set\s+\$(\w+)\s+(\S+);.*proxy_pass\s+\$(\w+);", servers[port], re.S)
        assert target and target.group(1) == target.group(3), servers[port]
        assert target.group(2) == f"http://{name}:{port}"
    assert "proxy_buffering off" in servers[SERVICE_PORTS["dashboard"]], "/stream must not be buffered"
    assert "X-Forwarded-For" in config and env_of(compose["services"]["registration"])["FORWARDED_ALLOW_IPS"]


@pytest.mark.parametrize(("service", "variable", "required"), [
    *((name, "CONFERENCE_ADMIN_TOKEN", "CONFERENCE_ADMIN_TOKEN") for name in SERVICE_NAMES),
    ("registration", "CONFERENCE_PERSONAL_LINK_SECRET", "CONFERENCE_PERSONAL_LINK_SECRET"),
    ("grafana", "GF_SECURITY_ADMIN_PASSWORD", "GRAFANA_ADMIN_PASSWORD"),
])
def test_compose_has_no_default_secret_and_fails_clearly_without_one(compose: dict[str, Any], service: str,
                                                                     variable: str, required: str) -> None:
    value = env_of(compose["services"][service])[variable]
    assert value.startswith(f"${{{required}:?"), f"{service} {variable} must be ${{{required}:?message}}: {value}"
    for unset in ({}, {required: ""}):
        with pytest.raises(ComposeVariableMissing, match=f"{required} is missing a value: set {required} "):
            interpolate(value, unset)
    assert interpolate(value, OPERATOR_ENV) == OPERATOR_ENV[required]


def test_no_secret_has_a_default_anywhere_in_compose() -> None:
    text = COMPOSE.read_text()
    for secret in ("CONFERENCE_ADMIN_TOKEN", "CONFERENCE_PERSONAL_LINK_SECRET", "GRAFANA_ADMIN_PASSWORD"):
        assert f"${{{secret}:-" not in text and f"${{{secret}-" not in text, secret


def test_prometheus_cannot_be_reloaded_or_stopped_over_http(compose: dict[str, Any]) -> None:
    command = compose["services"]["prometheus"]["command"]
    assert not any(arg.startswith("--web.enable-lifecycle") for arg in command), command
    assert not any(arg.startswith("--web.enable-admin-api") for arg in command), command


def test_dockerfile_runs_as_a_user_with_a_healthcheck() -> None:
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert "\nUSER conference" in dockerfile and "useradd" in dockerfile
    assert "\nHEALTHCHECK " in dockerfile
    assert 'ENTRYPOINT ["conference"]' in dockerfile and '"serve"' in dockerfile
    ignored = (ROOT / ".dockerignore").read_text().split()
    assert ".venv" in ignored and "data" in ignored and ".git" in ignored


def test_compose_accepts_the_file_and_refuses_it_without_the_secrets() -> None:
    """The real Compose: `config` parses, interpolates and validates the file (a typo in a key fails)."""
    result = run_compose(COMPOSE, "config", "--quiet", env={**os.environ, **OPERATOR_ENV})
    assert result.returncode == 0, result.stderr
    without = {k: v for k, v in os.environ.items() if k not in ("CONFERENCE_ADMIN_TOKEN", "GRAFANA_ADMIN_PASSWORD")}
    result = run_compose(COMPOSE, "config", "--quiet", env=without)
    assert result.returncode != 0 and "ADMIN" in result.stderr, result.stderr


def listeners(compose: dict[str, Any]) -> dict[str, str]:
    """Kafka's advertised listeners by name: ``{"INTERNAL": "kafka:19092", …}``."""
    advertised = env_of(compose["services"]["kafka"])["KAFKA_ADVERTISED_LISTENERS"]
    return dict(item.split("://", 1) for item in advertised.split(","))


def test_kafka_has_a_listener_for_clients_on_the_host(compose: dict[str, Any]) -> None:
    """`docker compose up`, then examples/consumer.py on the host with its defaults, at the AsyncAPI server."""
    kafka = compose["services"]["kafka"]
    env = env_of(kafka)
    advertised = listeners(compose)
    bound = dict(item.split("://", 1) for item in env["KAFKA_LISTENERS"].split(","))
    protocols = dict(item.split(":", 1) for item in env["KAFKA_LISTENER_SECURITY_PROTOCOL_MAP"].split(","))
    assert set(advertised) == {"INTERNAL", "EXTERNAL"} and set(bound) == {"INTERNAL", "EXTERNAL", "CONTROLLER"}
    assert set(protocols) == set(bound)
    assert env["KAFKA_INTER_BROKER_LISTENER_NAME"] == "INTERNAL"
    for name, address in advertised.items():
        assert address.rsplit(":", 1)[1] == bound[name].rsplit(":", 1)[1], f"{name} advertises another port"

    external = advertised["EXTERNAL"]
    assert external == "localhost:9092"
    assert f"127.0.0.1:{external.rsplit(':', 1)[1]}:{bound['EXTERNAL'].rsplit(':', 1)[1]}" in kafka["ports"], (
        "the host listener must be published (on the loopback: it has no authentication)")
    assert build_document()["servers"]["kafka"]["host"] == external, "the AsyncAPI server is the host listener"
    consumer = (ROOT / "examples" / "consumer.py").read_text()
    assert re.search(rf'"--bootstrap", default="{re.escape(external)}"', consumer), "consumer.py's default"

    assert advertised["INTERNAL"].split(":")[0] == "kafka", "services reach the broker by its service name"
    probe = " ".join(kafka["healthcheck"]["test"])
    assert f"--bootstrap-server {advertised['INTERNAL']}" in probe, "healthy = reachable the way services reach it"


def test_postgres_is_healthy_only_when_it_listens_on_tcp(compose: dict[str, Any]) -> None:
    postgres = compose["services"]["postgres"]
    probe = " ".join(postgres["healthcheck"]["test"])
    user = env_of(postgres)["POSTGRES_USER"]
    # Without -h pg_isready asks the Unix socket, where the image's temporary init server answers first.
    assert f"pg_isready -h localhost -U {user} " in probe, probe
    database = probe.split(" -d ", 1)[1].split()[0]
    assert database in SERVICE_NAMES, "the probe names a database the init script creates"
