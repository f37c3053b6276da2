"""Helpers of the operations suites: promtool, metric names in PromQL, the deploy files."""

from __future__ import annotations

import json
import re
import shutil
import stat
import subprocess
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from devkit.stack import ROOT

PROMETHEUS_DIR = ROOT / "deploy" / "prometheus"
GRAFANA_DIR = ROOT / "deploy" / "grafana"

# Series Prometheus makes itself, not a service.
SYNTHETIC = {"up", "scrape_duration_seconds", "scrape_samples_scraped"}
# Grafana's interval variables, as it fills them in before a query goes to Prometheus.
_GRAFANA_INTERVALS = {"__rate_interval": "5m", "__interval": "1m", "__range": "1h"}


def promtool() -> str:
    path = shutil.which("promtool")
    if path is None:
        pytest.fail("promtool is missing: run `make tools` (installs Debian's `prometheus` package, "
                    "whose daemon is not started)")
    return path


def run_promtool(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([promtool(), *args], input=stdin, capture_output=True, text=True, timeout=120,
                          cwd=PROMETHEUS_DIR)


@dataclass(frozen=True)
class Selector:
    """One vector selector of a PromQL expression: a metric name and its label matchers."""

    name: str
    matchers: tuple[tuple[str, str, str], ...]  # (label, operator, value), e.g. ("status", "=", "5xx")

    def __str__(self) -> str:
        return self.name + "{" + ", ".join(f'{label}{op}"{value}"' for label, op, value in self.matchers) + "}"

    def matches(self, name: str, labels: Mapping[str, str]) -> bool:
        """Whether a sample is selected, as Prometheus decides it (regexes anchored, a missing label is "")."""
        return name == self.name and all(_label_matches(op, labels.get(label, ""), value)
                                         for label, op, value in self.matchers)


_OPERATORS = {"Equal": "=", "NotEqual": "!=", "Re": "=~", "NotRe": "!~"}


def _label_matches(op: str, actual: str, value: str) -> bool:
    if op in ("=~", "!~"):
        return (re.fullmatch(value, actual) is not None) == (op == "=~")
    return (actual == value) == (op == "=")


def selectors(expr: str) -> list[Selector]:
    """The vector selectors of a PromQL expression, read by a PromQL parser (promql-parser, the Rust
    crate's bindings)."""
    import promql_parser

    found: list[Selector] = []

    def visit(node: promql_parser.Expr) -> None:
        if isinstance(node, promql_parser.VectorSelector):
            matchers = tuple((m.name, _OPERATORS[str(m.op).rpartition(".")[2]], m.value)
                             for m in node.matchers.matchers if m.name != "__name__")
            found.append(Selector(node.name or "", matchers))

    promql_parser.walk(promql_parser.parse(expr), visit)
    return found


def metric_names(expr: str) -> set[str]:
    """The metric names a PromQL expression selects."""
    return {selector.name for selector in selectors(expr)}


def alert_expressions() -> dict[str, str]:
    import yaml

    rules = yaml.safe_load((PROMETHEUS_DIR / "alerts.yml").read_text())
    return {rule["alert"]: rule["expr"] for group in rules["groups"] for rule in group["rules"]}


def dashboard_expressions() -> dict[str, list[str]]:
    """Each panel's and each query variable's PromQL, with the dashboard's variables filled in as Grafana
    does for their default choice ("All": the variable's ``allValue``)."""
    found: dict[str, list[str]] = {}
    for path in sorted((GRAFANA_DIR / "dashboards").glob("*.json")):
        dashboard = json.loads(path.read_text())
        variables = dashboard.get("templating", {}).get("list", [])
        values = {**_GRAFANA_INTERVALS, **{v["name"]: v.get("allValue", ".*") for v in variables}}

        def filled(expr: str, values: Mapping[str, str] = values) -> str:
            return re.sub(r"\$\{?(\w+)\}?", lambda m: values.get(m.group(1), m.group(0)), expr)
        for panel in _panels(dashboard.get("panels", [])):
            exprs = [filled(t["expr"]) for t in panel.get("targets", []) if t.get("expr")]
            if exprs:
                found[f"{path.name}: {panel['title']}"] = exprs
        for variable in variables:
            query = variable.get("query")
            if isinstance(query, dict):
                query = query.get("query")
            if variable.get("type") == "query" and isinstance(query, str):
                inner = re.search(r"label_values\((\w+)", query)
                if inner:
                    found[f"{path.name}: variable {variable['name']}"] = [inner.group(1)]
    return found


def _panels(panels: Iterable[dict[str, Any]]) -> Iterable[dict[str, Any]]:
    for panel in panels:
        yield panel
        yield from _panels(panel.get("panels", []))


def exposed_names(text: str) -> set[str]:
    """Every sample name and family name in a /metrics text."""
    from prometheus_client.parser import text_string_to_metric_families

    names: set[str] = set()
    for family in text_string_to_metric_families(text):
        names.add(family.name)
        if family.type == "counter":
            names.add(family.name + "_total")
        names.update(sample.name for sample in family.samples)
    return names


# -- the data directory ------------------------------------------------------------------------------


def private_file_problems(directory: Path) -> list[str]:
    """Files and directories under ``directory`` that another user could read or write, as ``name mode``."""
    problems = []
    for path in sorted(directory.rglob("*")):
        mode = stat.S_IMODE(path.stat().st_mode)
        if mode & 0o077:
            problems.append(f"{path.relative_to(directory)} {mode:04o}")
    return problems


# -- docker-compose.yml ------------------------------------------------------------------------------

_COMPOSE_VARIABLE = re.compile(r"\$\{(?P<name>\w+)(?:(?P<op>:-|:\?)(?P<arg>[^}]*))?\}")


def compose_cli() -> list[str]:
    """A real Compose implementation whose ``config`` needs no engine: Docker's compose plugin when the
    docker CLI has it, else Debian's ``docker-compose`` (1.29.2 on bookworm), which `make tools` installs."""
    docker = shutil.which("docker")
    if docker and subprocess.run([docker, "compose", "version"], capture_output=True, timeout=60).returncode == 0:
        return [docker, "compose"]
    path = shutil.which("docker-compose")
    if path is None:
        pytest.fail("Docker Compose is missing: run `make tools` (deploy/local/install-compose.sh installs "
                    "Debian's docker-compose package; validating docker-compose.yml needs no Docker engine)")
    return [path]


def run_compose(compose_file: Path, *args: str, env: Mapping[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*compose_cli(), "-f", str(compose_file), *args], capture_output=True, text=True,
                          timeout=120, cwd=compose_file.parent, env=dict(env))


class ComposeVariableMissing(Exception):
    """What ``docker compose`` stops with when a ``${VAR:?message}`` is unset or empty."""


def interpolate(value: str, env: Mapping[str, str]) -> str:
    """``value`` with ``${VAR}``, ``${VAR:-default}`` and ``${VAR:?message}`` replaced as Compose does."""
    def replace(match: re.Match[str]) -> str:
        name, op, arg = match["name"], match["op"], match["arg"]
        given = env.get(name, "")
        if given:
            return given
        if op == ":?":
            raise ComposeVariableMissing(f"required variable {name} is missing a value: {arg}")
        return arg if op == ":-" else ""
    return _COMPOSE_VARIABLE.sub(replace, value)
