"""The text the hooks write onto a page, in the edition's language: English (``"en"``) or Korean (``"ko"``).

A table's prose comes in two kinds. What a hook writes itself (a caption, a
note) sits in the code in both languages, side by side (``pick``). What comes
from elsewhere, in English only (a header row that ``refimpl.tools.inspection``
formats, a note quoted from a paper, a phrase a result file stores), is looked
up in a dictionary English -> Korean (``translate``): a text without its entry
fails the Korean build, so that a new column or a changed note never shows in
English on a Korean page unnoticed.

Not a hook (``mkdocs.yml`` does not list it): the hooks beside it import it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from mkdocs.exceptions import PluginError

#: the editions: English (``mkdocs.yml``) and Korean (``mkdocs.ko.yml``)
LANGUAGES = ("en", "ko")


def check(lang: str) -> None:
    """Fail on a language the site has no edition in."""
    if lang not in LANGUAGES:
        raise PluginError(f"no edition in {lang!r}: the site has {', '.join(LANGUAGES)}")


def pick(lang: str, en: str, ko: str) -> str:
    """The text of the edition ``lang``, from a hook's own two versions of it."""
    check(lang)
    return ko if lang == "ko" else en


def translate(text: str, lang: str, korean: Mapping[str, str], where: str) -> str:
    """``text`` in the edition ``lang``: itself in English, its entry in ``korean`` in Korean.

    Args:
        text: English text from elsewhere: a header cell, a quoted note, a result file's phrase.
        lang: ``"en"`` or ``"ko"``.
        korean: English -> Korean.
        where: the dictionary, for the message (``"computed.KO"``).

    Raises:
        PluginError: in Korean, ``text`` has no entry in ``korean``.
    """
    check(lang)
    if lang == "en":
        return text
    if text not in korean:
        raise PluginError(f"no Korean for {text!r}: add it to {where}, so that no English shows on a Korean page")
    return korean[text]


def translate_all(texts: Iterable[str], lang: str, korean: Mapping[str, str], where: str) -> list[str]:
    """Each of ``texts`` in the edition ``lang`` (``translate``): a header row, for one."""
    return [translate(text, lang, korean, where) for text in texts]


def split_row(line: str) -> list[str]:
    """The cells of a Markdown table's row ``| a | b |`` (an escaped ``\\|`` stays in its cell)."""
    cells, cell, escaped = [], "", False
    for char in line.strip()[1:-1]:
        if char == "|" and not escaped:
            cells.append(cell.strip())
            cell = ""
        else:
            cell += char
        escaped = char == "\\" and not escaped
    return [*cells, cell.strip()]


def join_row(cells: Iterable[str]) -> str:
    """A Markdown table's row from its cells, as ``refimpl.tools.inspection.format_table`` writes it."""
    return "| " + " | ".join(cells) + " |"
