"""Render each notebook page from its stored full-scale run, never from a stale one.

The notebooks are experiments that take minutes to run, so the site does not
execute them: ``docs/experiments.py`` (``make experiments``) runs them once and
stores each, outputs included, as ``docs/notebooks/runs/NAME.ipynb`` with a
hash of the source and of the code it imported. mkdocs-jupyter still renders
every page (``execute: false``); this hook hands it the stored notebook in place
of ``NAME.py``, through mkdocs-jupyter's own converter
(``mkdocs_jupyter.convert.nb2html``), after checking that the stored run is
still the page's: a changed source, or a changed file of ``refimpl`` that the
notebook imported, fails the build with the command that refreshes it. Each
notebook page says, under its title, on what machine and when its run was made.
"""

from __future__ import annotations

import html
import re
import sys
from pathlib import Path
from typing import Any

from mkdocs.config.defaults import MkDocsConfig
from mkdocs.exceptions import PluginError
from mkdocs.structure.files import Files
from mkdocs.structure.pages import Page
from mkdocs_jupyter import convert

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # docs/, for experiments.py
sys.path.insert(0, str(Path(__file__).resolve().parent))  # docs/hooks/, for bilingual.py
import bilingual
import experiments
from pages import language

_CONVERT = getattr(convert.nb2html, "original", convert.nb2html)  # the plugin's own, however often we wrap it


def stored_notebook(nb_path: str | Path) -> Path:
    """The stored run to render for the page ``nb_path``; a PluginError if it is missing or stale.

    A Korean page (``docs/ko/notebooks/NAME.py``) gets the same run with its Korean prose and outputs
    (``bilingual.korean_run``).
    """
    path = Path(nb_path).resolve()
    if path.parent not in (experiments.NOTEBOOKS, bilingual.KOREAN_NOTEBOOKS) or path.suffix != ".py":
        return path  # not one of ours: the plugin's own way
    reasons = experiments.stale(path.stem)
    if reasons:
        raise PluginError(experiments.stale_message(path.stem, reasons))
    if path.parent == experiments.NOTEBOOKS:
        return experiments.stored_path(path.stem)
    return bilingual.korean_run(path.stem)


def from_stored_run(nb_path: str, **options: Any) -> str:
    """``nb2html`` on the stored run of ``nb_path``, never executing it."""
    return _CONVERT(str(stored_notebook(nb_path)), **{**options, "execute": False})


from_stored_run.original = _CONVERT  # type: ignore[attr-defined]


def on_files(files: Files, config: MkDocsConfig) -> Files:
    plugin = config.plugins.get("mkdocs-jupyter")
    if plugin is not None and plugin.config["execute"]:
        raise PluginError("mkdocs-jupyter must not execute the notebooks (execute: false): see docs/hooks/notebooks.py")
    convert.nb2html = from_stored_run
    return files


def run_note(name: str, lang: str = "en") -> str:
    """A line of HTML: where the stored run of ``name`` was made, when, how long it took, how to redo it.

    In the edition's language ``lang``, ``"en"`` or ``"ko"``.
    """
    meta = experiments.provenance(name)
    minutes = meta["wall_s"] / 60
    if lang == "ko":
        took = f"{minutes:.0f}분" if minutes >= 1 else f"{meta['wall_s']:.0f}초"
        device = re.sub(r", (\d+) threads$", r", 스레드 \1개", meta["device"])  # "cpu: AMD EPYC, 2 threads"
        return (
            f'<p class="notebook-run">저장된 실행의 출력입니다: {html.escape(device)}, torch '
            f"{html.escape(meta['torch'])}, {html.escape(meta['date'])}, {took}. 다시 실행하는 명령: "
            f"<code>{html.escape(meta['command'])}</code>.</p>"
        )
    took = f"{minutes:.0f} min" if minutes >= 1 else f"{meta['wall_s']:.0f} s"
    return (
        f'<p class="notebook-run">Outputs of a stored run: {html.escape(meta["device"])}, torch '
        f"{html.escape(meta['torch'])}, {html.escape(meta['date'])}, {took}. Run it again with "
        f"<code>{html.escape(meta['command'])}</code>.</p>"
    )


HEADING = re.compile(r"</h1>")


def on_page_content(html_: str, page: Page, config: MkDocsConfig, files: Files) -> str:
    path = Path(page.file.abs_src_path or "")
    if path.parent not in (experiments.NOTEBOOKS, bilingual.KOREAN_NOTEBOOKS) or path.suffix != ".py":
        return html_
    note = run_note(path.stem, language(config))
    if HEADING.search(html_):  # under the title, where a reader looks first
        return HEADING.sub(lambda m: m.group(0) + note, html_, count=1)
    return note + html_


def _restore() -> None:
    convert.nb2html = _CONVERT


def on_post_build(config: MkDocsConfig) -> None:
    _restore()


def on_build_error(error: Exception) -> None:
    _restore()
