"""Under a notebook page's title: its source on the repository, and its stored run as a ``.ipynb`` to download.

Each notebook page (``docs/notebooks/NAME.py``, rendered by mkdocs-jupyter)
gets its stored run (``docs/notebooks/runs/NAME.ipynb``, outputs included; see
``docs/experiments.py``) beside it on the site, and two links under its title:
the source on the repository and that notebook.
"""

from __future__ import annotations

import html
import re
import sys
from pathlib import Path

from mkdocs.config.defaults import MkDocsConfig
from mkdocs.structure.files import File, Files
from mkdocs.structure.pages import Page
from mkdocs.utils import get_relative_url

sys.path.insert(0, str(Path(__file__).resolve().parent))  # docs/hooks/, for pages.py, however this hook is loaded
import bilingual
from pages import ROOT, is_notebook, language, source_base

RUNS = ROOT / "docs" / "notebooks" / "runs"


def ipynb_uri(src_uri: str) -> str:
    """Where a notebook's ``.ipynb`` goes: next to its page, as mkdocs-jupyter's ``include_source`` puts the ``.py``."""
    path = Path(src_uri)
    return (path.with_suffix("") / path.with_suffix(".ipynb").name).as_posix()


def on_files(files: Files, config: MkDocsConfig) -> Files:
    """Next to each notebook page, its stored run as a ``.ipynb`` to download, outputs included."""
    for file in list(files):
        if file.src_uri.endswith(".py") and is_notebook(file.src_uri, config):
            stored = RUNS / Path(file.src_uri).with_suffix(".ipynb").name
            if not stored.is_file():  # a missing run fails the build when its page is rendered (notebooks.py)
                continue
            if Path(file.abs_src_path).parent == bilingual.KOREAN_NOTEBOOKS:  # the same run, in Korean
                stored = bilingual.korean_run(stored.stem)
            files.append(File.generated(config, ipynb_uri(file.src_uri), abs_src_path=str(stored)))
    return files


def on_page_content(html_: str, page: Page, config: MkDocsConfig, files: Files) -> str:
    """Under a notebook page's title: its source on the repository and the notebook to download."""
    src = page.file.src_uri
    if not (src.endswith(".py") and is_notebook(src, config)):
        return html_
    notebook = get_relative_url(ipynb_uri(src), page.url)
    source = f"{source_base(config)}{Path(config.docs_dir).relative_to(ROOT).as_posix()}/{src}"
    needs = " and <code>_common.py</code>" if "_common" in Path(page.file.abs_src_path).read_text() else ""
    links = (
        f'<p class="notebook-links">Source: <a href="{html.escape(source)}"><code>docs/{html.escape(src)}</code></a>'
        f' · Download: <a href="{html.escape(notebook)}" download><code>{html.escape(Path(notebook).name)}</code></a>'
        f" (the stored run, outputs included; to run it again it imports <code>refimpl</code>{needs}: run it in <code>docs/notebooks/</code>"
        " of a clone, after <code>pip install -e .</code>)</p>"
    )
    if language(config) == "ko":  # the code is the English notebook's; docs/ko/notebooks/NAME.py is its Korean prose
        code = f"docs/notebooks/{Path(src).name}"
        prose = f"{Path(config.docs_dir).relative_to(ROOT).as_posix()}/{src}"
        needs = " 및 <code>_common.py</code>" if "_common" in (ROOT / code).read_text() else ""
        base = source_base(config)
        links = (
            f'<p class="notebook-links">소스 코드: <a href="{html.escape(base + code)}"><code>{code}</code></a>'
            f' (한국어 설명: <a href="{html.escape(base + prose)}"><code>{html.escape(prose)}</code></a>)'
            f' · 내려받기: <a href="{html.escape(notebook)}" download><code>{html.escape(Path(notebook).name)}</code></a>'
            f" (같은 실행의 한국어판으로, 출력이 포함되어 있습니다. 이 노트북은 <code>refimpl</code>{needs} 모듈을 "
            "불러오므로, 다시 실행하려면 저장소를 클론하고 <code>pip install -e .</code> 명령을 실행한 뒤 "
            "<code>docs/notebooks/</code>에서 실행하십시오)</p>"
        )
    head = re.search(r"</h1>", html_)
    return html_[: head.end()] + links + html_[head.end() :] if head else links + html_
