"""Every notebook runs: its code cells executed at the smoke scale (``SCALE = "smoke"``).

The site shows stored full-scale runs (``make experiments``); this catches a
notebook that no longer runs at all, in seconds, without the full run. The
cells run in this process (``experiments.execute_here``), not in a kernel of
their own, which would import torch again for each; one notebook still goes
through a real kernel, the way ``make experiments`` runs them all. A file of
its own, so that pytest-xdist runs it beside the other tests.
"""

from __future__ import annotations

import sys
from pathlib import Path

import matplotlib
import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "docs"))
import experiments  # docs/experiments.py, a script beside the pages

pytestmark = pytest.mark.notebooks  # handed out early by conftest.py: one of the longest files


@pytest.fixture(autouse=True)
def _own_plot_settings():
    """The notebooks restyle matplotlib; the tests after them in this worker get its settings back."""
    with matplotlib.rc_context():
        yield


@pytest.mark.parametrize("name", experiments.names())
def test_the_notebook_runs_at_the_smoke_scale(name: str) -> None:
    namespace = experiments.execute_here(name, "smoke")
    assert namespace.get("SCALE", "smoke") == "smoke"  # set where the notebook has a parameters cell


def test_a_notebook_runs_in_a_kernel_as_make_experiments_runs_it() -> None:
    run = experiments.execute("quick_tour", "smoke", progress=False, threads=1)  # one thread: a worker per core
    meta = run.notebook.metadata["refimpl"]
    assert meta["scale"] == "smoke"
    assert meta["source"] == experiments.sha256(experiments.source_path("quick_tour"))
    assert "refimpl/resnet.py" in meta["code"]
    outputs = [o for c in run.notebook.cells if c.cell_type == "code" for o in c.outputs]
    assert any(o.output_type == "stream" and "resnet50" in o.text for o in outputs)
    assert not [o for o in outputs if o.output_type == "stream" and o.name == "stderr"], "output on stderr"
