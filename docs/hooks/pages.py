"""What the hooks read off the site: the repository's address for a file, which pages are notebooks, fenced code.

Not a hook (``mkdocs.yml`` does not list it): the hooks beside it import it.
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Iterator
from pathlib import Path

from mkdocs.config.defaults import MkDocsConfig
from mkdocs.exceptions import PluginError

ROOT = Path(__file__).resolve().parents[2]
#: the opening line of a fenced code block, and its indent (a block inside a tab or an admonition is indented)
FENCE = re.compile(r"^(?P<indent>[ \t]*)(?P<fence>`{3,}|~{3,})")


def source_base(config: MkDocsConfig) -> str:
    """The URL under which the repository shows its files: ``repo_url``, then ``edit_uri`` less the docs folder.

    ``edit_uri: blob/main/docs/`` names the branch once; a file ``refimpl/resnet.py`` is then at
    ``{repo_url}/blob/main/refimpl/resnet.py``.

    Raises:
        PluginError: ``mkdocs.yml`` has no ``repo_url``, or an ``edit_uri`` that does not end in the docs folder.
    """
    docs = Path(config.docs_dir).relative_to(ROOT).as_posix()
    edit = (config.edit_uri or "").strip("/")
    if not config.repo_url or not edit.endswith(f"/{docs}"):
        raise PluginError(f"mkdocs.yml needs repo_url and an edit_uri ending in {docs}/ (got {config.edit_uri!r})")
    return f"{config.repo_url.rstrip('/')}/{edit.removesuffix(docs)}"


def language(config: MkDocsConfig) -> str:
    """The edition being built: ``"en"`` (``mkdocs.yml``) or ``"ko"`` (``mkdocs.ko.yml``), the theme's language."""
    return config.theme.get("language") or "en"


def is_notebook(src_uri: str, config: MkDocsConfig) -> bool:
    """Whether the page ``src_uri`` is one that mkdocs-jupyter renders (its ``include`` patterns)."""
    jupyter = config.plugins.get("mkdocs-jupyter")
    patterns = list(jupyter.config["include"]) if jupyter is not None else []
    return any(fnmatch.fnmatch(src_uri, pattern) for pattern in patterns)


def fences(lines: list[str]) -> Iterator[tuple[int, int, str]]:
    """Each fenced code block: the index of its opening line, of its closing one (``len(lines)`` if unclosed), its indent.

    A block closes on a line of its fence's character, at least as long, with nothing after it.
    """
    start = 0
    while start < len(lines):
        opened = FENCE.match(lines[start])
        if opened is None:
            start += 1
            continue
        end = start + 1
        while end < len(lines):
            closing = FENCE.match(lines[end])
            if (
                closing
                and closing.group("fence").startswith(opened.group("fence"))
                and not lines[end][closing.end() :].strip()
            ):
                break
            end += 1
        yield start, end, opened.group("indent")
        start = end + 1
