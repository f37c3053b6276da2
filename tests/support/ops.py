"""Helpers of the operations suites: promtool, metric names in PromQL, the deploy files."""

from __future__ import annotations

import json
import re
import shutil
import stat
import subprocess
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import pytest

from devkit.stack import ROOT

PROMETHEUS_DIR = ROOT / "deploy" / "prometheus"
GRAFANA_DIR = ROOT / "deploy" / "grafana"

# Series Prometheus makes itself, not a service.
SYNTHETIC = {"up", "scrape_duration_seconds", "scrape_samples_scraped"}
_FUNCTIONS_AND_KEYWORDS = {
    "sum", "min", "max", "avg", "count", "stddev", "stdvar", "topk", "bottomk", "quantile", "count_values",
    "group", "by", "without", "on", "ignoring", "group_left", "group_right", "and", "or", "unless", "bool",
    "offset", "rate", "irate", "increase", "delta", "idelta", "deriv", "predict_linear", "histogram_quantile",
    "sort", "sort_desc", "abs", "absent", "absent_over_time", "clamp_min", "clamp_max", "hour", "minute",
    "day_of_week", "time", "vector", "scalar", "label_replace", "label_join", "avg_over_time", "max_over_time",
    "min_over_time", "sum_over_time", "count_over_time", "last_over_time", "changes", "resets", "round",
    "ceil", "floor", "timestamp", "inf", "nan",
}


def promtool() -> str:
    path = shutil.which("promtool")
    if path is None:
        pytest.fail("promtool is missing: run `make tools` (installs Debian's `prometheus` package, "
                    "whose daemon is not started)")
    return path


def run_promtool(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([promtool(), *args], input=stdin, capture_output=True, text=True, timeout=120,
                          cwd=PROMETHEUS_DIR)


def metric_names(expr: str) -> set[str]:
    """The metric names a PromQL expression selects (label matchers, ranges and strings removed)."""
    text = re.sub(r'"(?:[^"\\]|\\.)*"', "", expr)
    text = re.sub(r"\{[^}]*\}", "", text)
    text = re.sub(r"\[[^\]]*\]", "", text)
    text = re.sub(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", "", text)
    text = re.sub(r"\$\w+", "", text)
    names = set()
    for match in re.finditer(r"(?<![\w.])([a-zA-Z_:][a-zA-Z0-9_:]*)\s*(\()?", text):
        name, call = match.group(1), match.group(2)
        if call or name.lower() in _FUNCTIONS_AND_KEYWORDS or re.fullmatch(r"\d+\w*", name):
            continue
        names.add(name)
    return names


def alert_expressions() -> dict[str, str]:
    import yaml

    rules = yaml.safe_load((PROMETHEUS_DIR / "alerts.yml").read_text())
    return {rule["alert"]: rule["expr"] for group in rules["groups"] for rule in group["rules"]}


def dashboard_expressions() -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for path in sorted((GRAFANA_DIR / "dashboards").glob("*.json")):
        dashboard = json.loads(path.read_text())
        for panel in _panels(dashboard.get("panels", [])):
            exprs = [t["expr"] for t in panel.get("targets", []) if t.get("expr")]
            if exprs:
                found[f"{path.name}: {panel['title']}"] = exprs
        for variable in dashboard.get("templating", {}).get("list", []):
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
