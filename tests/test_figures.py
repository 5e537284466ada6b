"""The site's SVG figures are what ``docs/figures/make_figures.py`` draws, and what they draw is refimpl's.

The figures are drawn from the architectures' constants; ``check_against_refimpl``
compares the shapes they show with the networks ``refimpl`` builds, and the
receptive-field arithmetic with autograd. A figure edited by hand, or a drawing
changed without regenerating its file, fails here.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import pytest

FIGURES = Path(__file__).resolve().parents[1] / "docs" / "figures"


@pytest.fixture(scope="module")
def make_figures() -> ModuleType:
    spec = importlib.util.spec_from_file_location("make_figures", FIGURES / "make_figures.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules["make_figures"] = module  # its dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


def test_every_committed_figure_is_what_the_script_draws(make_figures: ModuleType, tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setattr(make_figures, "HERE", tmp_path)  # draw into a folder of the test's own
    for figure in make_figures.FIGURES:
        figure()
    drawn = sorted(p.name for p in tmp_path.glob("*.svg"))
    assert drawn == sorted(p.name for p in FIGURES.glob("*.svg")), "a figure without its drawing, or the reverse"
    for name in drawn:
        assert (tmp_path / name).read_text() == (FIGURES / name).read_text(), f"{name}: regenerate it with the script"


def test_the_figures_show_refimpls_shapes_and_the_receptive_field_arithmetic(make_figures: ModuleType) -> None:
    make_figures.check_against_refimpl()  # raises (an AssertionError) on the first mismatch
