"""The site's SVG figures, English and Korean, are what ``make_figures.py`` draws, and what they draw is refimpl's.

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
    """Both editions' figures: the English in docs/figures/, the Korean in docs/ko/figures/, under the same names."""
    committed = dict(make_figures.FOLDERS)
    assert committed == {"en": FIGURES, "ko": FIGURES.parent / "ko" / "figures"}
    drawn = {lang: tmp_path / lang for lang in committed}
    monkeypatch.setattr(make_figures, "FOLDERS", drawn)  # draw into folders of the test's own
    make_figures.draw_all()  # a Korean figure with English prose left in it, or text too wide, raises here
    names = sorted(p.name for p in drawn["en"].glob("*.svg"))
    for lang, folder in drawn.items():
        assert sorted(p.name for p in folder.glob("*.svg")) == names, f"{lang}: not the same figures"
        assert sorted(p.name for p in committed[lang].glob("*.svg")) == names, (
            f"{lang}: a figure without its drawing, or the reverse"
        )
        for name in names:
            assert (folder / name).read_bytes() == (committed[lang] / name).read_bytes(), (
                f"{committed[lang] / name}: regenerate it with the script"
            )


def test_the_korean_table_holds_what_the_figures_draw_and_no_more(
    make_figures: ModuleType, tmp_path: Path, monkeypatch
) -> None:
    used = set()
    tr = make_figures.tr

    def recording(template: str, **fields: object) -> str:
        used.add(template)
        return tr(template, **fields)

    monkeypatch.setattr(make_figures, "tr", recording)
    monkeypatch.setattr(make_figures, "FOLDERS", {"ko": tmp_path})
    make_figures.draw("ko")
    assert sorted(set(make_figures.KO) - used) == [], "Korean for text no figure draws"


def test_the_figures_show_refimpls_shapes_and_the_receptive_field_arithmetic(make_figures: ModuleType) -> None:
    make_figures.check_against_refimpl()  # raises (an AssertionError) on the first mismatch
