"""The Korean edition (``docs/ko/``) against its English sources: which pages are current, stale or missing.

    python docs/translations.py              # every Korean page's state; exit 1 if one is stale or missing
    python docs/translations.py diff PAGE    # what changed in the English page since it was translated
    python docs/translations.py stamp PAGE   # record that the Korean page translates the English page as it is now

PAGE is the English page's path under ``docs/`` (``resnet.md``,
``notebooks/skip_connections.py``); ``docs/resnet.md`` and ``docs/ko/resnet.md``
are accepted too.

Each Korean page records the version of the English page it translates: the
English file's git blob id (``git hash-object``), in its front matter
(``translated_from: ...``) or, for a notebook's Korean prose, on its first line
(``# translated_from: ...``). A blob id names the old text in the repository's
history, so ``diff`` can show what changed since. An English page without a
Korean one is missing unless ``docs/ko/untranslated.txt`` lists it; the Korean
site then shows the English page with a notice (``docs/hooks/editions.py``).
``tests/test_translation.py`` runs the check.
"""

from __future__ import annotations

import difflib
import hashlib
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

DOCS = Path(__file__).resolve().parent
#: the pages that exist in Korean only
KOREAN_ONLY = ("glossary.md",)
#: where a page records its English source's version: a notebook's first line, a Markdown page's front matter
NOTEBOOK_STAMP = re.compile(r"# translated_from: (?P<blob>[0-9a-f]{40})\s*$")
FRONT_MATTER = re.compile(r"---\n(.*?\n)---\n", re.DOTALL)
PAGE_STAMP = re.compile(r"^translated_from: (?P<blob>[0-9a-f]{40})\s*$", re.MULTILINE)


def blob_id(data: bytes) -> str:
    """The git blob id of a file's bytes: what ``git hash-object FILE`` prints."""
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


def english_pages(docs: Path = DOCS) -> list[str]:
    """The English edition's pages, as paths under ``docs/``: its Markdown pages and its notebooks."""
    pages = [p.name for p in docs.glob("*.md")]
    pages += [f"notebooks/{p.name}" for p in (docs / "notebooks").glob("*.py") if not p.name.startswith("_")]
    return sorted(pages)


def untranslated(docs: Path = DOCS) -> list[str]:
    """The English pages listed in ``docs/ko/untranslated.txt``: shown in English in the Korean edition."""
    path = docs / "ko" / "untranslated.txt"
    if not path.is_file():
        return []
    lines = (line.split("#", 1)[0].strip() for line in path.read_text(encoding="utf-8").splitlines())
    return [line for line in lines if line]


def recorded(korean: Path) -> str | None:
    """The blob id a Korean page records for its English source, or None."""
    text = korean.read_text(encoding="utf-8")
    if korean.suffix == ".py":
        found = NOTEBOOK_STAMP.match(text.split("\n", 1)[0])
    else:
        front = FRONT_MATTER.match(text)
        found = PAGE_STAMP.search(front.group(1)) if front else None
    return found.group("blob") if found else None


@dataclass(frozen=True)
class State:
    page: str  # under docs/
    state: str  # current, stale, missing, untranslated, unstamped, orphan
    message: str


def state(page: str, docs: Path = DOCS) -> State:
    """Where the Korean page of ``page`` stands against the English page."""
    english, korean = docs / page, docs / "ko" / page
    if not english.is_file():
        return State(page, "orphan", f"docs/ko/{page} has no English page docs/{page}: remove it, or add the English")
    if not korean.is_file():
        if page in untranslated(docs):
            return State(page, "untranslated", f"docs/{page} is listed in docs/ko/untranslated.txt: shown in English")
        return State(
            page,
            "missing",
            f"docs/{page} has no Korean page: translate it as docs/ko/{page} (then `python docs/translations.py "
            f"stamp {page}`), or list it in docs/ko/untranslated.txt to show it in English with a notice",
        )
    blob, now = recorded(korean), blob_id(english.read_bytes())
    if blob is None:
        return State(
            page,
            "unstamped",
            f"docs/ko/{page} does not say which version of docs/{page} it translates: after checking it, run "
            f"`python docs/translations.py stamp {page}`",
        )
    if blob != now:
        return State(
            page,
            "stale",
            f"docs/ko/{page} translates docs/{page} as of {blob[:10]}, and the English page has changed since: "
            f"see what changed with `python docs/translations.py diff {page}`, update the Korean page, then run "
            f"`python docs/translations.py stamp {page}`",
        )
    return State(page, "current", f"docs/ko/{page} is current")


def check(docs: Path = DOCS) -> list[State]:
    """Every page's state: each English page's, and each Korean page's that has no English page."""
    pages = english_pages(docs)
    korean = [p.relative_to(docs / "ko").as_posix() for p in (docs / "ko").glob("*.md")]
    korean += [f"notebooks/{p.name}" for p in (docs / "ko" / "notebooks").glob("*.py")]
    extra = sorted(set(korean) - set(pages) - set(KOREAN_ONLY))
    return [state(page, docs) for page in pages + extra]


def stamp(page: str, docs: Path = DOCS) -> None:
    """Record in the Korean page of ``page`` the blob id of the English page as it is now."""
    korean = docs / "ko" / page
    blob = blob_id((docs / page).read_bytes())
    text = korean.read_text(encoding="utf-8")
    if korean.suffix == ".py":
        lines = text.split("\n")
        body = lines[1:] if lines and lines[0].startswith("# translated_from:") else lines
        text = "\n".join([f"# translated_from: {blob}", *body])
    else:
        front = FRONT_MATTER.match(text)
        if front:
            meta = re.sub(r"^translated_from: .*\n", "", front.group(1), flags=re.MULTILINE)
            text = f"---\ntranslated_from: {blob}\n{meta}---\n" + text[front.end() :]
        else:
            text = f"---\ntranslated_from: {blob}\n---\n\n" + text
    tmp = korean.with_name(f".{korean.name}.tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(korean)


def diff(page: str, docs: Path = DOCS) -> str:
    """A unified diff of the English page, from the version the Korean page translates to the current one."""
    blob = recorded(docs / "ko" / page)
    if blob is None:
        raise LookupError(f"docs/ko/{page} records no version of docs/{page}")
    shown = subprocess.run(["git", "cat-file", "-p", blob], check=False, cwd=docs, capture_output=True, text=True)
    if shown.returncode != 0:
        raise LookupError(
            f"version {blob[:10]} of docs/{page} is not in this clone's history; see `git log -p -- docs/{page}`"
        )
    now = (docs / page).read_text(encoding="utf-8")
    lines = difflib.unified_diff(
        shown.stdout.splitlines(keepends=True),
        now.splitlines(keepends=True),
        f"docs/{page} @ {blob[:10]} (translated)",
        f"docs/{page} (now)",
    )
    return "".join(lines)


def _page(arg: str) -> str | None:
    """The page ``arg`` names, as a path under ``docs/``, or None if it names none."""
    path = Path(arg).as_posix().removeprefix("docs/").removeprefix("ko/")
    return path if path in english_pages() or (DOCS / "ko" / path).is_file() else None


def main(argv: list[str]) -> int:
    if argv[:1] in (["diff"], ["stamp"]) and len(argv) == 2:
        page = _page(argv[1])
        if page is None:
            print(
                f"translations.py: error: no page {argv[1]!r}; a page is a path under docs/, e.g. resnet.md",
                file=sys.stderr,
            )
            return 2
        if argv[0] == "stamp":
            stamp(page)
            print(f"docs/ko/{page} now translates docs/{page} as of {recorded(DOCS / 'ko' / page)[:10]}")
            return 0
        try:
            sys.stdout.write(diff(page) or f"docs/{page} is unchanged since it was translated\n")
        except LookupError as error:
            print(f"translations.py: error: {error}", file=sys.stderr)
            return 1
        return 0
    if argv:
        print("usage: python docs/translations.py [diff PAGE | stamp PAGE]", file=sys.stderr)
        return 2
    states = check()
    for s in states:
        print(f"{s.state:>12}  {s.message}")
    return 0 if all(s.state in ("current", "untranslated") for s in states) else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
