"""The Korean edition (``docs/ko/``) keeps up with the English one and speaks one vocabulary.

- Every English page has a Korean page that records the English version it
  translates; an edited English page fails here until its Korean page is
  updated and stamped again (``docs/translations.py``), and a new English page
  fails until it is translated or listed as not yet translated.
- A Korean page keeps the English page's code, embedded files, generated tables
  and test markers, byte for byte, in the same order: only prose is translated.
- A notebook's Korean prose has one cell for each of its Markdown cells.
- The glossary (``docs/ko/glossary.md``) is the vocabulary: no rejected variant
  appears on a Korean page, and each term's first use on a page gives the English.

The built site's side (every page in both editions, the language switcher, no
link from a Korean page into the English edition, the Korean search) is checked
in ``test_docs.py``.
"""

from __future__ import annotations

import importlib.util
import re
import shutil
import subprocess
import sys
from pathlib import Path
from types import ModuleType, SimpleNamespace

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
KO = DOCS / "ko"
sys.path.append(str(DOCS / "hooks"))
from pages import fences


def _load(path: Path) -> ModuleType:
    spec = importlib.util.spec_from_file_location(path.stem, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[path.stem] = module
    spec.loader.exec_module(module)
    return module


translations = _load(DOCS / "translations.py")


# --- in step with the English edition ---------------------------------------------------------------------------


def test_every_english_page_has_a_current_korean_page() -> None:
    problems = [s.message for s in translations.check() if s.state not in ("current", "untranslated")]
    assert not problems, "\n".join(problems)


def _scratch_docs(tmp_path: Path) -> Path:
    """A copy of the pages of both editions (no runs, no hooks): enough for ``translations.check``."""
    docs = tmp_path / "docs"
    for page in translations.english_pages():
        (docs / page).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(DOCS / page, docs / page)
    shutil.copytree(KO, docs / "ko", ignore=shutil.ignore_patterns("figures"))
    return docs


def test_an_edited_english_page_fails_until_its_korean_page_records_the_new_version(tmp_path: Path) -> None:
    docs = _scratch_docs(tmp_path)
    assert all(s.state in ("current", "untranslated") for s in translations.check(docs))
    with (docs / "resnet.md").open("a", encoding="utf-8") as f:
        f.write("\nA sentence the Korean page does not have yet.\n")
    stale = [s for s in translations.check(docs) if s.state != "current"]
    assert [(s.page, s.state) for s in stale] == [("resnet.md", "stale")]
    # names the page, and how to see what changed
    assert "docs/ko/resnet.md" in stale[0].message and "python docs/translations.py diff resnet.md" in stale[0].message
    translations.stamp("resnet.md", docs)
    assert all(s.state == "current" for s in translations.check(docs) if s.page == "resnet.md")
    # a notebook's Korean prose records its version on its first line
    with (docs / "notebooks" / "quick_tour.py").open("a", encoding="utf-8") as f:
        f.write("\n# %%\nprint('one more cell')\n")
    assert translations.state("notebooks/quick_tour.py", docs).state == "stale"
    translations.stamp("notebooks/quick_tour.py", docs)
    assert translations.state("notebooks/quick_tour.py", docs).state == "current"
    assert (docs / "ko" / "notebooks" / "quick_tour.py").read_text().count("translated_from") == 1


@pytest.mark.skipif(shutil.which("git") is None, reason="git is not installed")
def test_diff_shows_what_changed_since_the_translation(tmp_path: Path) -> None:
    docs = _scratch_docs(tmp_path)
    git = ["git", "-c", "user.name=t", "-c", "user.email=t@t", "-c", "commit.gpgsign=false"]
    subprocess.run([*git, "init", "-q"], cwd=tmp_path, check=True)
    subprocess.run([*git, "add", "-A"], cwd=tmp_path, check=True)
    subprocess.run([*git, "commit", "-qm", "pages"], cwd=tmp_path, check=True)
    with (docs / "senet.md").open("a", encoding="utf-8") as f:
        f.write("A sentence added after the translation.\n")
    change = translations.diff("senet.md", docs)
    assert "+A sentence added after the translation." in change
    assert sum(line.startswith(("+", "-")) and not line.startswith(("+++", "---")) for line in change.splitlines()) == 1


def test_the_command_names_a_page_it_does_not_know_in_one_line(capsys) -> None:
    assert translations.main(["diff", "no_such_page.md"]) == 2
    assert translations.main(["stamp"]) == 2
    err = capsys.readouterr().err.splitlines()
    assert err[0] == "translations.py: error: no page 'no_such_page.md'; a page is a path under docs/, e.g. resnet.md"
    assert err[1].startswith("usage: python docs/translations.py")


def test_a_new_english_page_needs_a_korean_page_or_the_untranslated_list(tmp_path: Path) -> None:
    docs = _scratch_docs(tmp_path)
    (docs / "new_page.md").write_text("# A new page\n")
    assert translations.state("new_page.md", docs).state == "missing"
    assert "docs/ko/untranslated.txt" in translations.state("new_page.md", docs).message
    with (docs / "ko" / "untranslated.txt").open("a") as f:
        f.write("new_page.md\n")
    assert translations.state("new_page.md", docs).state == "untranslated"
    assert all(s.state in ("current", "untranslated") for s in translations.check(docs))


def test_the_korean_edition_shows_an_untranslated_page_in_english_with_a_notice(monkeypatch) -> None:
    from mkdocs.structure.files import Files

    editions = _load(DOCS / "hooks" / "editions.py")
    monkeypatch.setattr(editions, "untranslated", lambda: ["own_data.md"])
    monkeypatch.setattr(editions, "counterpart", lambda src, lang: True)
    config = SimpleNamespace(theme={"language": "ko"}, site_dir="/nonexistent", use_directory_urls=True)
    files = editions.on_files(Files([]), config)
    english = files.get_file_from_path("own_data.md")
    assert english is not None and Path(english.abs_src_path) == DOCS / "own_data.md"
    assert files.get_file_from_path("stylesheets/extra.css") is not None  # the shared static files come along
    page = SimpleNamespace(file=english)
    shown = editions.on_page_content("<h1>Train on your own data</h1>", page, config, files)
    assert shown.startswith('<div class="admonition warning untranslated" lang="ko">') and "번역" in shown
    korean = SimpleNamespace(file=SimpleNamespace(abs_src_path=str(KO / "resnet.md")))
    assert editions.on_page_content("<h1>x</h1>", korean, config, files) == "<h1>x</h1>"
    config.plugins, config.nav = {}, [{"홈": "index.md"}, {"ResNet": ["resnet.md"]}]
    assert editions.on_config(config).nav[-1] == "own_data.md"  # in the Korean navigation, at its end


# --- only prose is translated ---------------------------------------------------------------------------------------

#: what stays byte for byte: snippet lines, markers, HTML comments (the tests' marks), and admonition types
KEPT_LINE = re.compile(r"^\s*(-+8<-+.*|\{\{.*\}\}|<!--.*-->)\s*$")


def _kept(markdown: str) -> list[str]:
    """The parts of a page that a translation keeps as they are, in order: code blocks and the lines above."""
    lines = markdown.split("\n")
    kept, code = [], set()
    for start, end, _ in fences(lines):
        kept.append((start, "\n".join(line.strip() for line in lines[start : end + 1])))
        code.update(range(start, end + 1))
    kept += [(i, line.strip()) for i, line in enumerate(lines) if i not in code and KEPT_LINE.match(line)]
    return [text for _, text in sorted(kept)]


KOREAN_PAGES = sorted(p.relative_to(KO).as_posix() for p in KO.glob("*.md") if (DOCS / p.name).is_file())


@pytest.mark.parametrize("page", KOREAN_PAGES)
def test_a_korean_page_keeps_the_code_embeds_and_markers_of_the_english_one(page: str) -> None:
    english, korean = _kept((DOCS / page).read_text()), _kept((KO / page).read_text())
    for i, (en, ko) in enumerate(zip(english, korean, strict=False)):
        assert en == ko, f"docs/ko/{page}: kept part {i + 1} differs from docs/{page}:\n{ko}\n--- English:\n{en}"
    assert len(english) == len(korean), (
        f"docs/ko/{page} has {len(korean)} code blocks and marks, docs/{page} {len(english)}"
    )


def _markdown_cells(path: Path) -> int:
    return len(re.findall(r"^# %% \[markdown\]", path.read_text(), re.MULTILINE))


@pytest.mark.parametrize("notebook", sorted(p.name for p in (KO / "notebooks").glob("*.py")))
def test_a_notebooks_korean_prose_has_one_cell_for_each_markdown_cell(notebook: str) -> None:
    bilingual = _load(DOCS / "hooks" / "bilingual.py")
    cells = bilingual.prose_cells(KO / "notebooks" / notebook)  # also refuses a line that is not Markdown
    assert len(cells) == _markdown_cells(DOCS / "notebooks" / notebook) > 0


# --- one vocabulary -------------------------------------------------------------------------------------------------


def glossary() -> list[tuple[str, str, list[str]]]:
    """(Korean, English, rejected variants) for each row of the glossary's table."""
    rows = []
    for line in (KO / "glossary.md").read_text().splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if line.startswith("|") and len(cells) == 4 and re.search("[가-힣]", cells[0]) and cells[0] != "한국어":
            rejected = [w.strip() for w in cells[2].split(",") if w.strip()]
            rows.append((cells[0], cells[1], rejected))
    return rows


def _prose(path: Path) -> str:
    """A Korean source's prose: code blocks, inline code, HTML comments, URLs and headings removed."""
    text = path.read_text()
    if path.suffix == ".py":
        text = "\n".join(line[2:] for line in text.splitlines() if line.startswith("# ") and "%%" not in line)
    lines = text.split("\n")
    code = {i for start, end, _ in fences(lines) for i in range(start, end + 1)}
    kept = [line for i, line in enumerate(lines) if i not in code and not line.lstrip().startswith("#")]
    text = "\n".join(kept)
    text = re.sub(r"^---\n.*?\n---\n", "", text, flags=re.DOTALL)
    text = re.sub(r"<!--.*?-->|`[^`]*`|\]\([^)]*\)|\{#[^}]*\}", " ", text, flags=re.DOTALL)
    return text


KOREAN_SOURCES = sorted(
    [p for p in KO.glob("*.md") if p.name != "glossary.md"] + list((KO / "notebooks").glob("*.py")),
)


def test_the_glossary_has_its_terms() -> None:
    terms = glossary()
    assert len(terms) >= 40
    korean = [k for k, _, _ in terms]
    assert len(set(korean)) == len(korean), "a Korean term twice"
    assert {"잔차 연결", "병목", "배치 정규화", "성장률", "합성곱", "특징 맵", "밀집 블록"} <= set(korean)


@pytest.mark.parametrize("source", KOREAN_SOURCES, ids=lambda p: p.relative_to(KO).as_posix())
def test_no_rejected_variant_on_a_korean_page(source: Path) -> None:
    text = _prose(source)
    for korean, english, rejected in glossary():
        for word in rejected:
            assert word not in text, f"docs/ko/{source.relative_to(KO)} writes {word!r}: the glossary says {korean!r}"


def first_uses(text: str, terms: list[tuple[str, str, list[str]]]) -> dict[str, str]:
    """Each term's first use in ``text``, as the 40 characters from it; a term inside a longer one does not count.

    A term starts a word (no Hangul right before it: 계층 does not use 층); what follows may be a particle.
    """
    taken = [False] * len(text)
    found: dict[str, tuple[int, str]] = {}
    for korean, _, _ in sorted(terms, key=lambda t: -len(t[0])):
        for match in re.finditer(rf"(?<![가-힣]){re.escape(korean)}", text):
            if any(taken[match.start() : match.end()]):
                continue
            taken[match.start() : match.end()] = [True] * (match.end() - match.start())
            if korean not in found:
                found[korean] = (match.start(), text[match.start() : match.start() + len(korean) + 40])
    return {k: v for k, (_, v) in found.items()}


def test_first_uses_are_found_as_a_reader_sees_them() -> None:
    terms = [("잔차", "residual", []), ("잔차 연결", "residual connection", []), ("층", "layer", [])]
    uses = first_uses("계층 구조에서 잔차 연결(residual connection)과 잔차(residual)와 18층(layer)", terms)
    assert uses["잔차 연결"].startswith("잔차 연결(residual connection)")
    assert uses["잔차"].startswith("잔차(residual)")  # not the one inside 잔차 연결
    assert uses["층"].startswith("층(layer)")  # not the one inside 계층


@pytest.mark.parametrize("source", KOREAN_SOURCES, ids=lambda p: p.relative_to(KO).as_posix())
def test_each_terms_first_use_on_a_page_gives_the_english(source: Path) -> None:
    terms = glossary()
    english = {k: e for k, e, _ in terms}
    text = re.sub(r"\s+", " ", _prose(source))
    for korean, use in first_uses(text, terms).items():
        assert use[len(korean) :].lower().startswith(f"({english[korean].lower()}"), (
            f"docs/ko/{source.relative_to(KO)}: the first use of {korean!r} should read "
            f"'{korean}({english[korean]})', found {use!r}"
        )


# --- one run, two languages -----------------------------------------------------------------------------------------

NOTEBOOKS = sorted(p for p in (DOCS / "notebooks").glob("*.py") if not p.name.startswith("_"))


@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=lambda p: p.stem)
def test_a_notebook_writes_for_readers_in_both_languages(notebook: Path) -> None:
    """Tables and conclusions go through ``_common.say``/``say_html``, never English alone (``show`` needs its
    Korean alt text: a call without it fails when the notebook runs)."""
    source = notebook.read_text()
    assert not re.search(r"\b(Markdown|HTML)\(", source), f"{notebook.name}: use say(en, ko) or say_html(en, ko)"


@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=lambda p: p.stem)
def test_the_stored_run_carries_the_korean_of_every_output_for_readers(notebook: Path) -> None:
    import json

    run = json.loads((DOCS / "notebooks" / "runs" / f"{notebook.stem}.ipynb").read_text())
    outputs = [o for c in run["cells"] if c["cell_type"] == "code" for o in c.get("outputs", [])]
    for output in outputs:
        data = output.get("data", {})
        if "text/markdown" in data or "text/html" in data:
            korean = output.get("metadata", {}).get("refimpl", {})
            assert "ko" in korean or "alt_ko" in korean, f"{notebook.stem}: an output without its Korean"
            assert re.search("[가-힣]", korean.get("ko") or korean.get("alt_ko")), notebook.stem
