"""Serve MathJax from this site: no page may load anything from another host.

MathJax 3 comes from the PyPI package ``django-static-mathjax`` (static files
only, no Django needed), a dependency of the ``docs`` extra, so ``make docs``
needs nothing but Python. Only the CommonHTML output and what it loads on
demand are copied: the script, its fonts, the TeX extensions and the menu.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

from mkdocs.config.defaults import MkDocsConfig
from mkdocs.structure.files import File, Files

DEST = "assets/mathjax"
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
