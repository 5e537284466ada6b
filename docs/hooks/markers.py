"""Replace each marker on a page with the Markdown generated for it; fail the build on any marker left.

A page asks for generated content with a marker on a line of its own::

    {{ model_zoo }}
    {{ paper_table resnet }}
    {{ summary resnet50 }}
    {{ forward_backward h200-baseline/forward_backward_cuda }}
    {{ api_model_files }}

The name picks a table: computed from the code (``computed.py``) or read
from a measured result file (``measured.py``); the arguments are passed to
it. An unknown name, arguments the table does not take, or any ``{{ ... }}``
left on a page outside code after the replacement fail the build.
"""

from __future__ import annotations

import inspect
import re
import sys
from collections.abc import Callable
from pathlib import Path

from mkdocs.config.defaults import MkDocsConfig
from mkdocs.exceptions import PluginError
from mkdocs.structure.files import Files
from mkdocs.structure.pages import Page

sys.path.insert(0, str(Path(__file__).resolve().parent))  # docs/hooks/, for the modules below, however it is loaded
import computed
import measured
from pages import fences, is_notebook, language

# arguments are model names, node names (features.denseblock1) and result files (h200-baseline/forward_backward_cuda)
MARKER = re.compile(r"^\{\{[ \t]*(\w+)((?:[ \t]+[\w./-]+)*)[ \t]*\}\}[ \t]*$", re.MULTILINE)
#: every marker's name -> the function that writes its Markdown
GENERATORS: dict[str, Callable[..., str]] = {**computed.GENERATORS, **measured.GENERATORS}
#: a marker's braces: any left on a page after the replacement are a marker the hook did not recognise
LEFTOVER = re.compile(r"\{\{.*?\}\}")
#: inline code, `x` or ``x``: it may show braces
INLINE_CODE = re.compile(r"(`+).+?(?<!`)\1(?!`)")


def on_config(config: MkDocsConfig) -> MkDocsConfig:
    # `mkdocs serve` rebuilds in this process: a build of its own computes them again. The Korean edition,
    # built right after the English one in the same process (docs/hooks/editions.py), reuses them.
    if language(config) == "en":
        computed.clear()
    return config


def check_replaced(markdown: str, where: str) -> None:
    """Fail on any ``{{ ... }}`` left outside code: a marker not replaced (indented, or with text beside it) shows raw.

    Args:
        markdown: a page's Markdown after the replacement.
        where: the page, for the message.

    Raises:
        PluginError: naming the page, the line, the text and the known markers.
    """
    lines = markdown.split("\n")
    code = {i for start, end, _ in fences(lines) for i in range(start, end + 1)}
    for number, line in enumerate(lines, start=1):
        left = None if number - 1 in code else LEFTOVER.search(INLINE_CODE.sub("", line))
        if left:
            raise PluginError(
                f"{where}:{number}: {left.group()} was not replaced: a marker stands alone on its line, as "
                f"{{{{ name args }}}}, with a known name: {', '.join(GENERATORS)}"
            )


def on_page_markdown(markdown: str, page: Page, config: MkDocsConfig, files: Files) -> str:
    def replace(match: re.Match[str]) -> str:
        name, args = match.group(1), match.group(2).split()
        if name not in GENERATORS:
            raise PluginError(f"{page.file.src_path}: unknown marker {{{{ {name} }}}}; known: {', '.join(GENERATORS)}")
        try:
            inspect.signature(GENERATORS[name]).bind(*args)
        except TypeError as error:
            raise PluginError(f"{page.file.src_path}: {match.group().strip()}: {error}") from None
        return GENERATORS[name](*args, lang=language(config))  # the edition's language: en or ko

    markdown = MARKER.sub(replace, markdown)
    if not is_notebook(page.file.src_uri, config):  # a notebook's source is Python, which mkdocs-jupyter renders
        check_replaced(markdown, page.file.src_path)
    return markdown
