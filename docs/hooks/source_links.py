"""Under every code block that embeds a file, a caption that links to that file on the repository.

A fenced block that embeds a file with pymdownx.snippets
(``--8<-- "refimpl/resnet.py:bottleneck"``) gets a caption under it that
links to the file, at the embedded lines, on the repository (``repo_url``
and ``edit_uri`` in ``mkdocs.yml``). A section that the file does not mark
fails the build.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

from mkdocs.config.defaults import MkDocsConfig
from mkdocs.exceptions import PluginError
from mkdocs.structure.files import Files
from mkdocs.structure.pages import Page

sys.path.insert(0, str(Path(__file__).resolve().parent))  # docs/hooks/, for pages.py, however this hook is loaded
from pages import ROOT, fences, language, source_base

#: a snippet line, ``--8<-- "path"`` or ``--8<-- "path:section"``
SNIPPET = re.compile(r"""^[ \t]*-+8<-+[ \t]+(["'])(?P<path>[^"':]+)(?::(?P<section>[\w-]+))?\1[ \t]*$""")
#: a section's marks in the embedded file, ``--8<-- [start:name]`` and ``--8<-- [end:name]``
SECTION_MARK = re.compile(r"-+8<-+\s*\[(start|end):([\w-]+)\]")


def _section_lines(path: Path, section: str) -> tuple[int, int]:
    """The first and last line (1-based) between ``--8<-- [start:section]`` and ``--8<-- [end:section]``."""
    marks = {}
    for number, line in enumerate(path.read_text().splitlines(), start=1):
        found = SECTION_MARK.search(line)
        if found and found.group(2) == section:
            marks[found.group(1)] = number
    if set(marks) != {"start", "end"}:
        raise PluginError(f"{path.relative_to(ROOT)} has no section {section!r}")
    return marks["start"] + 1, marks["end"] - 1


def _caption(embeds: list[tuple[str, str | None]], base: str, lang: str = "en") -> list[str]:
    """A paragraph of Markdown under a code block: each embedded file, linked at its lines, in the language ``lang``."""
    korean = lang == "ko"
    links = []
    for path, section in dict.fromkeys(embeds):
        url, where = f"{base}{path}", ""
        if section:
            first, last = _section_lines(ROOT / path, section)
            url, where = f"{url}#L{first}-L{last}", f", {first}–{last}행" if korean else f", lines {first}–{last}"
        links.append(f"[`{path}`{where}]({url})")
    return [f"{'소스 코드' if korean else 'Source'}: {'; '.join(links)}", "{: .source-link }"]


def link_sources(markdown: str, base: str, lang: str = "en") -> str:
    """After every fenced block that embeds files with snippets, a caption that links to them.

    In the edition's language ``lang``: ``"en"`` or ``"ko"``.
    """
    lines = markdown.split("\n")
    out: list[str] = []
    done = 0
    for start, end, indent in fences(lines):
        embeds = [(s.group("path"), s.group("section")) for line in lines[start:end] if (s := SNIPPET.match(line))]
        out += lines[done : end + 1]
        done = end + 1
        if embeds and end < len(lines):
            out += ["", *(indent + line for line in _caption(embeds, base, lang))]
    return "\n".join(out + lines[done:])


def on_page_markdown(markdown: str, page: Page, config: MkDocsConfig, files: Files) -> str:
    return link_sources(markdown, source_base(config), language(config))
