"""A notebook's stored run in Korean: the Korean prose of ``docs/ko/notebooks/NAME.py`` on the same run's outputs.

Each notebook runs once (``docs/experiments.py``) and both editions show that
run. Its Korean page is the stored run with:

- each Markdown cell replaced by the Korean file's cell of the same rank (the
  Korean file holds the Markdown cells only, in order; a count that differs
  fails the build);
- each output that the notebook wrote in both languages (``_common.say``,
  ``show``: the Korean rides in the output's metadata, ``refimpl``) showing its
  Korean.

``korean_run`` writes that notebook once per build (and again only when the
stored run or the Korean prose changes, as ``mkdocs serve`` rebuilds): the page
renders it (``notebooks.py``) and offers it to download (``notebook_links.py``).

Not a hook (``mkdocs.yml`` does not list it): ``notebooks.py`` and
``notebook_links.py`` import it.
"""

from __future__ import annotations

import functools
import json
import re
import sys
import tempfile
from pathlib import Path
from typing import Any

from mkdocs.exceptions import PluginError

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # docs/, for experiments.py
import experiments

KOREAN_NOTEBOOKS = experiments.ROOT / "docs" / "ko" / "notebooks"
CELL = re.compile(r"^# %% \[markdown\][^\n]*\n", re.MULTILINE)
ALT = re.compile(r'(<img class="nb-figure" [^>]*?alt=")[^"]*(")')


def prose_cells(path: Path) -> list[str]:
    """The Markdown cells of a Korean notebook file, each as its Markdown (the ``# `` of every line removed)."""
    parts = CELL.split(path.read_text(encoding="utf-8"))
    head, cells = parts[0], parts[1:]
    if any(line.strip() and not line.startswith("# translated_from:") for line in head.splitlines()):
        raise PluginError(f"{path}: text before the first '# %% [markdown]' cell: it holds Markdown cells only")
    out = []
    for cell in cells:
        lines = cell.rstrip("\n").split("\n")
        bad = [line for line in lines if line and not (line == "#" or line.startswith("# "))]
        if bad:
            raise PluginError(f"{path}: a Markdown cell's line does not start with '# ': {bad[0]!r}")
        out.append("\n".join(line[2:] for line in lines))
    return out


def _korean_output(output: dict[str, Any]) -> None:
    """Show the Korean that ``_common.say``/``show`` stored in the output's metadata, in place."""
    korean = (output.get("metadata") or {}).get("refimpl")
    if not korean:
        return
    data = output["data"]
    if "ko" in korean:
        mime = "text/markdown" if "text/markdown" in data else "text/html"
        data[mime] = korean["ko"]
    if "alt_ko" in korean:
        html = "".join(data["text/html"])
        data["text/html"] = ALT.sub(lambda m: m.group(1) + korean["alt_ko"] + m.group(2), html, count=1)


def korean_notebook(name: str) -> dict[str, Any]:
    """The stored run of the notebook ``name`` with its Korean prose and outputs, as notebook JSON."""
    notebook = json.loads(experiments.stored_path(name).read_text(encoding="utf-8"))
    source = KOREAN_NOTEBOOKS / f"{name}.py"
    korean = prose_cells(source)
    markdown = [cell for cell in notebook["cells"] if cell["cell_type"] == "markdown"]
    if len(korean) != len(markdown):
        raise PluginError(
            f"docs/ko/notebooks/{name}.py has {len(korean)} Markdown cells and the notebook's run has "
            f"{len(markdown)}: the Korean file holds every Markdown cell of docs/notebooks/{name}.py, in order"
        )
    for cell, text in zip(markdown, korean, strict=True):
        cell["source"] = text
    for cell in notebook["cells"]:
        for output in cell.get("outputs", []):
            _korean_output(output)
    notebook.setdefault("metadata", {})["language_info"] = {
        **notebook.get("metadata", {}).get("language_info", {}),
        "name": "python",
    }
    return notebook


def korean_run(name: str) -> Path:
    """``korean_notebook(name)`` written to a folder of this process's own, once for each version of its sources."""
    sources = (experiments.stored_path(name), KOREAN_NOTEBOOKS / f"{name}.py")
    return _written(name, tuple((p.stat().st_mtime_ns, p.stat().st_size) for p in sources if p.is_file()))


@functools.cache
def _written(name: str, version: tuple[tuple[int, int], ...]) -> Path:
    folder = Path(tempfile.mkdtemp(prefix=f"{name}-", dir=_folder()))
    target = folder / f"{name}.ipynb"
    target.write_text(json.dumps(korean_notebook(name), ensure_ascii=False, indent=1), encoding="utf-8")
    return target


@functools.cache
def _folder() -> str:
    """The process's folder for the Korean notebooks, removed when the process ends."""
    _FOLDERS.append(tempfile.TemporaryDirectory(prefix="refimpl-ko-notebooks-"))
    return _FOLDERS[-1].name


_FOLDERS: list[tempfile.TemporaryDirectory] = []
