"""What the prose says of the families holds for the declarations and the model files.

The summaries that name the families (the README's title, ``refimpl``'s
docstring, the site's description) name every family ``refimpl/specs.py``
declares, and the README's "Copy a file" table says, for every model file,
which other model files it imports: the ones to copy with it.
"""

from __future__ import annotations

import ast
import re
import tomllib
from pathlib import Path

import pytest

import refimpl
from refimpl.specs import SPECS

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()

#: each family (``spec.family``, its model file's name) as the prose names it
FAMILY_NAMES = {
    "resnet": "ResNet",
    "preact_resnet": "pre-activation ResNet",
    "densenet": "DenseNet",
    "senet": "SE-Net",
}
FAMILIES = list(dict.fromkeys(spec.family for spec in SPECS.values()))


def _site_description() -> str:
    """``site_description`` in ``mkdocs.yml``, a plain scalar on one line (the file has tags a safe loader refuses)."""
    (line,) = [line for line in (ROOT / "mkdocs.yml").read_text().splitlines() if line.startswith("site_description:")]
    return line.partition(":")[2].strip()


SUMMARIES = {
    "README.md's title": README.splitlines()[0],
    "refimpl's docstring": (refimpl.__doc__ or "").strip().splitlines()[0],
    "mkdocs.yml's site_description": _site_description(),
    "pyproject.toml's description": tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["description"],
}


def test_every_declared_family_has_a_name_for_the_prose() -> None:
    assert set(FAMILIES) == set(FAMILY_NAMES), (
        "a family was added or removed: name it here, in README.md's title, refimpl/__init__.py's docstring and "
        "mkdocs.yml's site_description"
    )


@pytest.mark.parametrize("where", SUMMARIES)
@pytest.mark.parametrize("family", FAMILIES)
def test_each_summary_names_every_family(where: str, family: str) -> None:
    assert FAMILY_NAMES[family] in SUMMARIES[where], f"{where} does not name {FAMILY_NAMES[family]}"


def _imported_model_files(family: str) -> set[str]:
    """The other model files that ``refimpl/FAMILY.py`` imports (``from .resnet import ...``, ``from resnet ...``)."""
    tree = ast.parse((ROOT / "refimpl" / f"{family}.py").read_text())
    modules = {node.module for node in ast.walk(tree) if isinstance(node, ast.ImportFrom) and node.module}
    return {f"{m.rpartition('.')[2]}.py" for m in modules if m.rpartition(".")[2] in set(FAMILIES) - {family}}


def _copy_table() -> dict[str, str]:
    """The README's "Copy a file" table: model file -> what to copy with it."""
    rows = re.findall(r"^\s*\| \[`(\w+\.py)`\]\([^)]*\) \| (.+) \|$", README, re.MULTILINE)
    return dict(rows)


@pytest.mark.parametrize("family", FAMILIES)
def test_the_readme_says_which_model_files_to_copy_together(family: str) -> None:
    table = _copy_table()
    file = f"{family}.py"
    assert file in table, f"README.md's 'Copy a file' table has no row for {file}"
    needs = _imported_model_files(family)
    named = set(re.findall(r"`(\w+\.py)`", table[file]))
    assert named == needs, f"{file} imports {sorted(needs) or 'no other model file'}; README.md says {table[file]!r}"
    assert ("alone" in table[file]) == (not needs), table[file]
