"""docs/asyncapi.yaml as a third-party tool reads it: the official AsyncAPI parser (@asyncapi/parser, run
by node from tests/contract/asyncapi-parser/, installed by `make tools`) finds no error or warning in it,
and does find the error in a document with a broken reference (so a clean result means something)."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
DOCUMENT = ROOT / "docs" / "asyncapi.yaml"
PARSER_DIR = Path(__file__).parent / "asyncapi-parser"
INSTALL = "run `make tools` (deploy/local/install-asyncapi-parser.sh)"


def run_parser(document: Path) -> tuple[int, list[dict[str, Any]], str]:
    """The exit status of validate.mjs on ``document``, its diagnostics and its standard error."""
    node = shutil.which("node")
    if node is None:
        pytest.fail(f"node is not installed: this test runs the official AsyncAPI parser on Node.js; {INSTALL}")
    if not (PARSER_DIR / "node_modules" / "@asyncapi" / "parser").is_dir():
        pytest.fail(f"@asyncapi/parser is not installed in {PARSER_DIR.relative_to(ROOT)}; {INSTALL}")
    result = subprocess.run([node, str(PARSER_DIR / "validate.mjs"), str(document)], capture_output=True,
                            text=True, timeout=120, cwd=PARSER_DIR)
    return result.returncode, [json.loads(line) for line in result.stdout.splitlines()], result.stderr


def test_the_official_parser_reads_the_document_without_errors_or_warnings() -> None:
    status, diagnostics, stderr = run_parser(DOCUMENT)
    problems = [d for d in diagnostics if d["severity"] in ("error", "warning")]
    assert status == 0 and not problems, f"@asyncapi/parser on docs/asyncapi.yaml:\n{problems}\n{stderr}"


def test_the_parser_reports_a_broken_document(tmp_path: Path) -> None:
    document = yaml.safe_load(DOCUMENT.read_text())
    operation = next(iter(document["operations"].values()))
    operation["channel"] = {"$ref": "#/channels/noSuchTopic"}
    broken = tmp_path / "asyncapi.yaml"
    broken.write_text(yaml.safe_dump(document, sort_keys=False, allow_unicode=True))

    status, diagnostics, stderr = run_parser(broken)
    assert status == 1, stderr
    errors = [d for d in diagnostics if d["severity"] == "error"]
    assert any(d["code"] == "invalid-ref" and "noSuchTopic" in d["message"] for d in errors), diagnostics
