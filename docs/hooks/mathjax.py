"""Serve MathJax from this site: no page may load anything from another host.

MathJax 3 comes from the PyPI package ``django-static-mathjax`` (static files
only, no Django needed), a dependency of the ``docs`` extra, so ``make docs``
needs nothing but Python. Only the CommonHTML output and what it loads on
demand are copied: the script, its fonts, the TeX extensions and the menu.

MathJax (1.2 MB with its fonts) is loaded only by the pages that have math:
a Markdown page whose math pymdownx.arithmatex marked (``class="arithmatex"``),
or a notebook page whose Markdown cells hold TeX (``$...$``, ``$$``, ``\\(``,
``\\[``). ``on_post_page`` adds the configuration (``javascripts/mathjax.js``)
and ``tex-chtml.js`` to those pages, at the end of the body, as
``extra_javascript`` would have added them to every page.
"""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path

from mkdocs.config.defaults import MkDocsConfig
from mkdocs.structure.files import File, Files
from mkdocs.structure.pages import Page
from mkdocs.utils import get_relative_url

DEST = "assets/mathjax"
CONFIG = "javascripts/mathjax.js"
SCRIPT = f"{DEST}/tex-chtml.js"
PARTS = ("tex-chtml.js", "output/chtml", "input/tex/extensions", "ui", "a11y", "adaptors")


def _es5_dir() -> Path:
    spec = importlib.util.find_spec("mathjax")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("MathJax is missing: install the docs extra (pip install -e '.[docs]')")
    root = Path(next(iter(spec.submodule_search_locations))) / "static" / "mathjax" / "es5"
    if not (root / "tex-chtml.js").is_file():
        raise RuntimeError(f"no MathJax 3 build found under {root}")
    return root


def on_files(files: Files, config: MkDocsConfig) -> Files:
    es5 = _es5_dir()
    for part in PARTS:
        source = es5 / part
        for path in [source] if source.is_file() else sorted(p for p in source.rglob("*") if p.is_file()):
            uri = f"{DEST}/{path.relative_to(es5).as_posix()}"
            files.append(File.generated(config, uri, abs_src_path=str(path)))
    return files


_CODE = re.compile(r"<(style|script|pre|code)\b[\s\S]*?</\1>")
_NOTEBOOK_MARKDOWN = re.compile(r"<div class=\"[^\"]*\bjp-RenderedMarkdown\b[^\"]*\"[^>]*>([\s\S]*?)</div>")
_TEX = re.compile(r"\$[^$<]+\$|\\\(|\\\[")


def has_math(html: str) -> bool:
    """Whether MathJax has anything to typeset on a built page (the places mathjax.js tells it to search)."""
    if 'class="arithmatex"' in html:
        return True
    body = _CODE.sub("", html)
    return any(_TEX.search(cell) for cell in _NOTEBOOK_MARKDOWN.findall(body))


def on_post_page(output: str, page: Page, config: MkDocsConfig) -> str:
    if not has_math(output):
        return output
    scripts = [SCRIPT] if CONFIG in output else [CONFIG, SCRIPT]  # notebook pages already load the configuration
    tags = "".join(f'<script src="{get_relative_url(s, page.url)}"></script>' for s in scripts)
    head, body_end, tail = output.rpartition("</body>")
    if not body_end:
        raise RuntimeError(f"{page.file.src_uri}: no </body> to put MathJax before")
    return f"{head}{tags}\n{body_end}{tail}"
