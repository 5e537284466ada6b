"""The GitHub workflows: valid against GitHub's schema and clean under zizmor, all offline."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
WORKFLOWS = sorted((ROOT / ".github" / "workflows").glob("*.yml"))
BIN = Path(sys.executable).parent


def test_the_expected_workflows_exist() -> None:
    assert [p.name for p in WORKFLOWS] == ["docs.yml", "gpu-smoke.yml", "tests.yml"]


def test_workflows_match_githubs_schema() -> None:
    cmd = [BIN / "check-jsonschema", "--builtin-schema", "vendor.github-workflows", *WORKFLOWS]
    result = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT, check=False)
    assert result.returncode == 0, result.stdout + result.stderr


def test_zizmor_finds_nothing() -> None:
    cmd = [BIN / "zizmor", "--offline", "--config", ROOT / "zizmor.yml", "--format", "plain", *WORKFLOWS]
    result = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT, check=False)
    assert result.returncode == 0, result.stdout + result.stderr


def test_ci_runs_the_readme_test_command() -> None:
    assert "make test" in (ROOT / ".ci" / "run").read_text()
    assert "make test" in (ROOT / "README.md").read_text()
