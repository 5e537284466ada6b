"""Every notebook runs: each executed in a kernel of its own at the smoke scale (``SCALE = "smoke"``).

The site shows stored full-scale runs (``make experiments``); this catches a
notebook that no longer runs at all, in seconds, without the full run. A file
of its own, so that pytest-xdist runs it beside the other tests.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "docs"))
import experiments  # docs/experiments.py, a script beside the pages

pytestmark = pytest.mark.notebooks  # handed out early by conftest.py: one of the longest files


@pytest.mark.parametrize("name", experiments.names())
def test_the_notebook_runs_at_the_smoke_scale(name: str) -> None:
    run = experiments.execute(name, "smoke", progress=False, threads=1)  # one thread: a worker per core
    meta = run.notebook.metadata["refimpl"]
    assert meta["scale"] == "smoke"
    assert meta["source"] == experiments.sha256(experiments.source_path(name))
    outputs = [o for c in run.notebook.cells if c.cell_type == "code" for o in c.outputs]
    assert outputs, f"{name} printed and drew nothing"
    assert not [o for o in outputs if o.output_type == "stream" and o.name == "stderr"], f"{name} wrote to stderr"
