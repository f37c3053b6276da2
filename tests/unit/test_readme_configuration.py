"""README's configuration table is what the code reads: every field of every settings class (its
variable and its default), every variable read straight from ``os.environ``, every variable
docker-compose.yml takes from the operator, and no row for a variable nothing reads."""

from __future__ import annotations

import ast
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from pydantic_settings import BaseSettings

from devkit.stack import ROOT
from shared.http.server import ShutdownSettings
from shared.settings import DatabaseSettings, PlatformSettings
from shared.topology import SERVICE_NAMES

# Every settings class of the product and the variable prefix it is read with (DatabaseSettings is
# built per service with ``_env_prefix``).
SETTINGS: dict[type[BaseSettings], str] = {PlatformSettings: "CONFERENCE_", ShutdownSettings: "CONFERENCE_SHUTDOWN_",
                                           DatabaseSettings: "<SERVICE>_"}
PRODUCT = ("shared", "services")


@dataclass(frozen=True)
class Row:
    name: str     # as written: CONFERENCE_BUS, <SERVICE>_URL, CONFERENCE_TEST_*
    default: str  # the cell as written

    @property
    def pattern(self) -> re.Pattern[str]:
        services = "|".join(name.upper() for name in SERVICE_NAMES)
        return re.compile(re.escape(self.name).replace(re.escape("<SERVICE>"), f"(?:{services})")
                          .replace(re.escape("*"), "[A-Z0-9_]+"))

    def covers(self, read: str) -> bool:
        """``read`` is a variable name, or a glob (``*_URL``) for a name built at run time."""
        if "*" in read:
            return re.sub(r"<[A-Z]+>", "*", self.name) == read
        return self.pattern.fullmatch(read) is not None


def readme_rows() -> dict[str, Row]:
    text = (ROOT / "README.md").read_text()
    section = text.split("\n## Configuration\n", 1)[1].split("\n## ", 1)[0]
    rows = {}
    for line in section.splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if line.startswith("| `") and len(cells) >= 3:
            name = cells[0].strip("`")
            assert name not in rows, f"README lists {name} twice"
            rows[name] = Row(name, cells[1])
    assert rows, "no configuration table in README.md"
    return rows


ROWS = readme_rows()


def documented_default_matches(cell: str, default: Any) -> bool:
    """The README's default is the field's: the first `quoted` value of the cell, or, for no value or
    an empty string, words without one ("empty", "generated …")."""
    quoted = re.search(r"`([^`]*)`", cell)
    if default is None:
        return quoted is None
    if default == "":
        return quoted is None and cell.startswith("empty")
    if quoted is None:
        return False
    value = quoted.group(1)
    if isinstance(default, bool):
        return value == str(default).lower()
    if isinstance(default, int | float):
        return float(value) == default
    if isinstance(default, Path):
        return Path(value) == default
    if isinstance(default, dict | list):
        return bool(json.loads(value) == default)
    return bool(value == str(default))


def settings_variables() -> list[tuple[str, Any]]:
    variables = []
    for model, prefix in SETTINGS.items():
        for field_name, field in model.model_fields.items():
            variables.append((f"{prefix}{field_name.upper()}", field.get_default(call_default_factory=True)))
    return variables


def product_modules() -> list[tuple[Path, ast.Module]]:
    return [(path, ast.parse(path.read_text()))
            for package in PRODUCT for path in sorted((ROOT / package).rglob("*.py"))]


def environ_reads(module: ast.Module) -> set[str]:
    """Names read with ``os.environ.get(…)``, ``os.environ[…]`` or ``os.getenv(…)``: a literal, a module
    constant, or an f-string (a glob: ``f"{s.name.upper()}_URL"`` is ``*_URL``)."""
    constants = {target.id: node.value.value for node in module.body if isinstance(node, ast.Assign)
                 for target in node.targets if isinstance(target, ast.Name)
                 and isinstance(node.value, ast.Constant) and isinstance(node.value.value, str)}

    def name_of(key: ast.expr) -> str:
        if isinstance(key, ast.Constant) and isinstance(key.value, str):
            return key.value
        if isinstance(key, ast.Name) and key.id in constants:
            return constants[key.id]
        if isinstance(key, ast.JoinedStr):
            return "".join(str(part.value) if isinstance(part, ast.Constant) else "*" for part in key.values)
        raise AssertionError(f"an environment lookup this test cannot name: {ast.unparse(key)}")

    reads = set()
    for node in ast.walk(module):
        source = ast.unparse(node.func) if isinstance(node, ast.Call) else None
        if isinstance(node, ast.Call) and source in ("os.environ.get", "os.getenv") and node.args:
            reads.add(name_of(node.args[0]))
        elif isinstance(node, ast.Subscript) and ast.unparse(node.value) == "os.environ":
            reads.add(name_of(node.slice))
    return reads


def code_reads() -> set[str]:
    reads = {name for _, module in product_modules() for name in environ_reads(module)}
    reads |= set(re.findall(r"\$\{(\w+)", (ROOT / "docker-compose.yml").read_text()))
    reads |= set(re.findall(r"os\.environ\['(\w+)'\]", (ROOT / "Dockerfile").read_text()))
    return reads


def test_the_settings_classes_are_all_listed_here() -> None:
    """A new settings class must join SETTINGS above, or its variables would escape the check."""
    for path, module in product_modules():
        for node in ast.walk(module):
            if isinstance(node, ast.ClassDef) and any(ast.unparse(b) == "BaseSettings" for b in node.bases):
                assert node.name in {model.__name__ for model in SETTINGS}, f"{path.relative_to(ROOT)}: {node.name}"


@pytest.mark.parametrize(("variable", "default"), settings_variables(), ids=lambda value: str(value))
def test_every_setting_is_in_the_readme_with_its_default(variable: str, default: Any) -> None:
    assert variable in ROWS, f"README.md's configuration table lacks {variable} (default {default!r})"
    cell = ROWS[variable].default
    assert documented_default_matches(cell, default), f"README says {variable} defaults to {cell!r}; it is {default!r}"


def test_every_variable_the_code_reads_is_in_the_readme() -> None:
    missing = sorted(read for read in code_reads() if not any(row.covers(read) for row in ROWS.values()))
    assert not missing, f"read by the code but not in README.md's configuration table: {missing}"


def test_every_row_of_the_readme_is_read_by_something() -> None:
    reads = code_reads() | {variable for variable, _ in settings_variables()}
    stale = sorted(row.name for row in ROWS.values()
                   if not any(row.covers(read) or read == row.name for read in reads))
    assert not stale, f"README.md documents variables nothing reads: {stale}"


def test_the_check_notices_a_missing_row_and_a_wrong_default() -> None:
    """The matching itself: a literal, a service placeholder, a glob, defaults of each type."""
    assert Row("<SERVICE>_URL", "").covers("REGISTRATION_URL") and not Row("<SERVICE>_URL", "").covers("X_URL")
    assert Row("<SERVICE>_URL", "").covers("*_URL") and not Row("CONFERENCE_X", "").covers("*_URL")
    assert Row("CONFERENCE_TEST_*", "").covers("CONFERENCE_TEST_PAUSE") and not Row("CONFERENCE_A", "").covers("B")
    assert documented_default_matches("`1048576` (1 MiB)", 1024 * 1024)
    assert not documented_default_matches("`30`", 20.0)
    assert documented_default_matches("`./data`", Path("data")) and documented_default_matches("`{}`", {})
    assert documented_default_matches("empty", "") and not documented_default_matches("`x`", None)
