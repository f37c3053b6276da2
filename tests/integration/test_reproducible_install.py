"""Reproducible installs (docs/decisions.md): requirements/*.lock pin every transitive dependency with
its hashes and agree with pyproject.toml's pins; the venv `make install` built holds exactly the locked
versions (pip says so); the Dockerfile's base image is pinned by digest."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from devkit.stack import ROOT

DEV_LOCK = ROOT / "requirements" / "dev.lock"
RUNTIME_LOCK = ROOT / "requirements" / "runtime.lock"
REGENERATE = "run `make lock` and commit requirements/"


def lock_entries(path: Path) -> dict[str, tuple[str, list[str]]]:
    """``{name: (version, hashes)}`` of a pip requirements file as uv writes it (``name==v \\`` then one
    ``--hash=`` per line)."""
    logical = re.sub(r"\\\n", " ", path.read_text())
    entries: dict[str, tuple[str, list[str]]] = {}
    for line in logical.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):  # uv's header and "# via" lines
            continue
        requirement, *options = line.split()
        parsed = Requirement(requirement)
        [specifier] = parsed.specifier
        assert specifier.operator == "==", f"{path.name}: {requirement} is not pinned with =="
        name = canonicalize_name(parsed.name)
        assert name not in entries, f"{path.name}: {name} appears twice"
        entries[name] = (specifier.version, [o.removeprefix("--hash=") for o in options if o.startswith("--hash=")])
    return entries


def pyproject_pins(*, extras: tuple[str, ...] = ()) -> dict[str, str]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    requirements = [*project["dependencies"], *(r for extra in extras for r in project["optional-dependencies"][extra])]
    pins: dict[str, str] = {}
    for text in requirements:
        parsed = Requirement(text)
        [specifier] = parsed.specifier
        assert specifier.operator == "==", f"pyproject.toml: pin {text} with == (STYLE.md)"
        pins[canonicalize_name(parsed.name)] = specifier.version
    return pins


@pytest.mark.parametrize(("lock", "extras"), [(DEV_LOCK, ("dev",)), (RUNTIME_LOCK, ())], ids=["dev", "runtime"])
def test_the_lock_has_every_pin_of_pyproject_and_a_hash_for_every_entry(lock: Path, extras: tuple[str, ...]) -> None:
    entries = lock_entries(lock)
    for name, version in pyproject_pins(extras=extras).items():
        assert name in entries, f"{lock.name} lacks {name}=={version}: {REGENERATE}"
        assert entries[name][0] == version, (
            f"{lock.name} has {name}=={entries[name][0]}, pyproject.toml pins {version}: {REGENERATE}")
    for name, (version, hashes) in entries.items():
        assert hashes, f"{lock.name}: {name}=={version} has no --hash"
        assert all(re.fullmatch(r"sha256:[0-9a-f]{64}", h) for h in hashes), f"{lock.name}: {name} hashes"


def test_the_runtime_lock_is_the_dev_lock_without_the_dev_tools() -> None:
    dev, runtime = lock_entries(DEV_LOCK), lock_entries(RUNTIME_LOCK)
    dev_only = set(pyproject_pins(extras=("dev",))) - set(pyproject_pins())
    assert not dev_only & set(runtime), f"the image would carry dev tools: {sorted(dev_only & set(runtime))}"
    for name, (version, _) in runtime.items():  # the image runs what the tests ran
        assert dev[name][0] == version, f"{name}: runtime.lock {version}, dev.lock {dev[name][0]}: {REGENERATE}"


def test_the_locks_build_the_project_offline() -> None:
    """--no-build-isolation builds with what the lock installed: [build-system] requires must be in it."""
    requires = tomllib.loads((ROOT / "pyproject.toml").read_text())["build-system"]["requires"]
    for lock in (DEV_LOCK, RUNTIME_LOCK):
        entries = lock_entries(lock)
        for text in requires:
            requirement = Requirement(text)
            name = canonicalize_name(requirement.name)
            assert name in entries, f"{lock.name} lacks the build requirement {text}: add it to requirements/build.in"
            assert requirement.specifier.contains(entries[name][0]), f"{lock.name}: {name} does not satisfy {text}"


def test_the_venv_holds_exactly_the_locked_versions() -> None:
    """What `make install` built, as pip itself reports it: every locked version, and nothing broken."""
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check"]
    listed = subprocess.run([*pip, "list", "--format=json"], capture_output=True, text=True, timeout=120, check=True)
    installed: dict[str, str] = {canonicalize_name(p["name"]): p["version"] for p in json.loads(listed.stdout)}
    wrong = {name: (version, installed.get(name)) for name, (version, _) in lock_entries(DEV_LOCK).items()
             if installed.get(name) != version}
    assert not wrong, f"locked vs installed: {wrong}; run `make install`"
    check = subprocess.run([*pip, "check"], capture_output=True, text=True, timeout=120)
    assert check.returncode == 0, check.stdout + check.stderr


def test_every_base_image_is_pinned_by_digest() -> None:
    froms = re.findall(r"^FROM\s+(?:--platform=\S+\s+)?(\S+)", (ROOT / "Dockerfile").read_text(), re.MULTILINE)
    assert froms
    for image in froms:
        assert re.fullmatch(r"[\w./-]+:[\w.-]+@sha256:[0-9a-f]{64}", image), (
            f"FROM {image}: pin the base image by digest (name:tag@sha256:…)")
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert "--require-hashes -r requirements/runtime.lock" in dockerfile
    assert "--no-deps --no-build-isolation" in dockerfile
