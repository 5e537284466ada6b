"""The documentation site: strict build, embedded code, generated numbers, offline in a real browser.

Run alone with ``pytest -m docs``. The build renders every notebook from its
stored run (``docs/notebooks/runs/``) and computes every generated table, so it
is the slowest part of the suite; it happens once per session.
"""

from __future__ import annotations

import functools
import http.server
import inspect
import os
import posixpath
import re
import shutil
import subprocess
import sys
import tempfile
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlparse

import pytest

from refimpl import resnet

pytestmark = pytest.mark.docs  # under pytest-xdist, --dist loadfile keeps the file, and its one build, on one worker

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
LOCAL = {"127.0.0.1", "localhost"}


@pytest.fixture(scope="session")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("site")
    env = {**os.environ, "NO_MKDOCS_2_WARNING": "1"}
    cmd = [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(out)]
    result = subprocess.run(cmd, check=False, cwd=ROOT, env=env, capture_output=True, text=True, timeout=1800)
    assert result.returncode == 0, result.stdout + result.stderr
    return out


def _pages(site: Path) -> list[Path]:
    return sorted(p for p in site.rglob("index.html") if "assets" not in p.parts)


def _english(site: Path) -> list[Path]:
    """The English edition's pages (the Korean edition is in ``ko/``)."""
    return [p for p in _pages(site) if p.relative_to(site).parts[0] != "ko"]


#: the Korean pages the browser opens: the home page, an architecture page, a notebook page
KOREAN_BROWSED = ("ko", "ko/resnet", "ko/notebooks/skip_connections")


def _browsed(site: Path) -> list[Path]:
    """The pages the browser opens: every English page, and the Korean ones of ``KOREAN_BROWSED``."""
    return [*_english(site), *(site / rel / "index.html" for rel in KOREAN_BROWSED)]


def _text(html: str) -> str:
    """Visible text of a page, tags and highlighting spans removed."""
    import html as html_lib

    return html_lib.unescape(re.sub(r"<[^>]+>", "", html))


def test_resnet_page_shows_bottleneck_forward_exactly(site: Path) -> None:
    page = _text((site / "resnet" / "index.html").read_text())
    source = inspect.getsource(resnet.Bottleneck.forward)
    assert source.strip() in page


def test_generated_parameter_counts_appear(site: Path) -> None:
    """Counts computed at build time; the expected values are torchvision's and timm's."""
    home = _text((site / "index.html").read_text())
    for count in ("25,557,032", "7,978,856", "28,088,024"):  # ResNet-50, DenseNet-121, SE-ResNet-50
        assert count in home


LOADS = re.compile(
    r"""<(?:script|img|iframe|source|audio|video|embed)\b[^>]*?\bsrc\s*=\s*["']([^"']+)["']"""
    r"""|<link\b(?![^>]*\brel=["']?(?:canonical|alternate)\b)[^>]*?\bhref\s*=\s*["']([^"']+)["']"""
    r"""|url\(\s*["']?([^"')\s]+)|@import\s+["']([^"']+)["']"""
)


def test_no_page_loads_anything_from_another_host(site: Path) -> None:
    """Scripts, styles, fonts and images all come from the site; plain links may point anywhere."""
    for path in [*_pages(site), *site.rglob("*.css")]:
        for groups in LOADS.findall(path.read_text(errors="replace")):
            url = next(g for g in groups if g)
            if url.startswith(("http:", "https:", "//")):
                host = urlparse(url if not url.startswith("//") else "https:" + url).hostname
                assert host in LOCAL, f"{path.relative_to(site)} loads {url}"


def _expects_math(html: str) -> bool:
    """Markdown pages mark math with arithmatex; notebook markdown cells keep their $ signs."""
    body = re.sub(r"<(style|script)\b[\s\S]*?</\1>", "", html)
    cells = re.findall(r"<div class=\"[^\"]*\bjp-RenderedMarkdown\b[^\"]*\"[^>]*>([\s\S]*?)</div>", body)
    return 'class="arithmatex"' in html or any(re.search(r"\$[^$<]+\$", cell) for cell in cells)


@pytest.fixture(scope="session")
def server(site: Path) -> Iterator[str]:
    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, format: str, *args: object) -> None:
            pass

    handler = functools.partial(Quiet, directory=str(site))
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()


@dataclass
class Visit:
    """What one page did in Chromium at a phone's width (390 px)."""

    ok: bool
    errors: list[str]  # JavaScript errors and console errors
    foreign: list[str]  # requests to another host
    math: list[float] | None  # widths of the typeset formulas; None: a page without math
    math_errors: int
    overflowing: list[str]  # elements that stick out of the screen
    plots: list[list[float]]  # (figure width, column width) of each notebook figure


@pytest.fixture(scope="module")
def browser_visits(site: Path, server: str) -> dict[str, Visit]:
    """Every page loaded once in Chromium at 390 px, recorded for the tests below; two pages at 1366 px too.

    One visit a page serves both the load checks and the layout checks, which
    once loaded every page twice.
    """
    if not Path(CHROMIUM).exists():
        pytest.skip("Chromium is not installed (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    fits = """(text) => {
        const table = Array.from(document.querySelectorAll('.md-content table')).find(t => t.textContent.includes(text));
        if (table === undefined) return false;
        const wrap = table.closest('.md-typeset__scrollwrap') || table.parentElement;  // what would scroll
        return wrap.scrollWidth <= wrap.clientWidth + 1 && table.scrollWidth <= table.clientWidth + 1;
    }"""
    args = ["--no-sandbox", "--disable-background-networking", "--disable-component-update", "--disable-sync"]
    visits: dict[str, Visit] = {}
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=args)
        page = browser.new_page(viewport={"width": 390, "height": 844})
        errors: list[str] = []
        foreign: list[str] = []
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
        page.on("request", lambda req: foreign.append(req.url) if urlparse(req.url).hostname not in LOCAL else None)
        for path in _browsed(site):
            rel = path.parent.relative_to(site).as_posix()
            url = f"{server}/{rel}/" if rel != "." else f"{server}/"
            errors.clear()
            foreign.clear()
            response = page.goto(url, wait_until="networkidle")
            math, math_errors = None, 0
            if _expects_math(path.read_text()):
                page.wait_for_selector("mjx-container", timeout=15_000)
                math_errors = page.locator("mjx-merror").count()
                math = page.evaluate(
                    "() => Array.from(document.querySelectorAll('mjx-container'), c => c.getBoundingClientRect().width)"
                )
            plots = page.evaluate(
                """() => Array.from(document.querySelectorAll('.jupyter-wrapper img'), i =>
                    [i.getBoundingClientRect().width, i.closest('.jupyter-wrapper').getBoundingClientRect().width])"""
            )
            ok = response is not None and response.ok
            visits[rel] = Visit(ok, list(errors), list(foreign), math, math_errors, page.evaluate(OVERFLOWING), plots)
        wide = browser.new_page(viewport={"width": 1366, "height": 768})
        wide.goto(f"{server}/", wait_until="load")
        visits["wide: the model zoo table"] = wide.evaluate(fits, "top-1 V2")
        wide.goto(f"{server}/densenet/", wait_until="load")
        visits["wide: the DenseNet memory table"] = wide.evaluate(fits, "time vs plain")
        browser.close()
    return visits


def test_every_page_in_a_real_browser(site: Path, browser_visits: dict[str, Visit]) -> None:
    """Each page loads with no JavaScript error, no request to another host, and typeset math."""
    for path in _browsed(site):
        rel = path.parent.relative_to(site).as_posix()
        visit = browser_visits[rel]
        assert visit.ok, rel
        if _expects_math(path.read_text()):
            assert visit.math_errors == 0, f"{rel}: MathJax could not typeset"
            assert visit.math and min(visit.math) > 0, (
                f"{rel}: typeset math is invisible (its fonts or styles did not load)"
            )
        assert not visit.errors, f"{rel}: {visit.errors}"
        assert not visit.foreign, f"{rel} requested {visit.foreign}"


# page -> at least this many plots
NOTEBOOKS_WITH_PLOTS = {
    "skip_connections": 2,
    "unraveled_view": 1,
    "model_zoo": 1,
    "densenet_efficiency": 3,
    "se_excitations": 2,
}
STDERR_OUTPUT = re.compile(r"""<div\b[^>]*\bdata-mime-type=["']application/vnd\.jupyter\.stderr["'][^>]*>""")


@pytest.mark.parametrize("name", NOTEBOOKS_WITH_PLOTS)
def test_notebook_page_has_its_plots_and_no_error_output(site: Path, name: str) -> None:
    """The executed notebook embeds its figures, as SVG with a text alternative, and wrote nothing to stderr."""
    html = (site / "notebooks" / name / "index.html").read_text()
    body = re.sub(r"<style\b[\s\S]*?</style>", "", html)  # the inlined CSS names every output kind
    plots = re.findall(r"<img\b[^>]*\bsrc=[\"']data:image/svg\+xml;base64,[^>]*>", body)
    assert len(plots) >= NOTEBOOKS_WITH_PLOTS[name], f"{name}: {len(plots)} plots"
    alts = [re.search(r'\balt="([^"]*)"', plot) for plot in plots]
    assert all(alt and len(alt.group(1)) > 40 for alt in alts), f"{name}: a figure without a text alternative"
    assert not STDERR_OUTPUT.search(body), f"{name} has an output on stderr"
    assert "Traceback (most recent call last)" not in _text(body), f"{name}: a traceback"


def test_no_page_shows_a_path_of_the_build_machine(site: Path) -> None:
    """Executed notebooks print no local paths: not where refimpl was imported from, not a temporary folder."""
    local = (str(ROOT), tempfile.gettempdir() + os.sep + "tmp")  # tempfile's folders are named tmp...
    for path in _pages(site):
        text = _text(path.read_text())
        assert not [p for p in local if p in text], f"{path.parent.relative_to(site)} shows a local path"


#: code that only writes a table or a conclusion from the numbers: its cell is tagged remove_input, readers see its output
GENERATOR = re.compile(r"\b(?:Markdown|display|HTML)\(")
#: what would give away the build machine: temporary and work folders, an installation, a home folder
BUILD_PATH = re.compile(
    "|".join(map(re.escape, ["/tmp/", "/work/", "/home/", "site-packages", str(Path.home()) + "/"]))
)


def _input_cells(html: str) -> list[str]:
    """The source of every code cell a notebook page shows, as text."""
    return [_text(cell) for cell in re.findall(r'<div class="jp-InputArea\b[\s\S]*?<pre>([\s\S]*?)</pre>', html)]


@pytest.mark.parametrize("name", [*NOTEBOOKS_WITH_PLOTS, "quick_tour"])
def test_notebook_page_hides_its_generators_and_build_paths(site: Path, name: str) -> None:
    """Readers see the tables and conclusions a notebook writes, not the code that writes them, and no local path."""
    html = (site / "notebooks" / name / "index.html").read_text()
    cells = _input_cells(html)
    assert cells, f"{name}: no code cell found (has the notebook template changed?)"
    shown = [cell.strip().splitlines()[0] for cell in cells if GENERATOR.search(cell)]
    assert not shown, f"{name} shows the code of a generator cell (tag it remove_input): {shown}"
    body = re.sub(r"<(style|script)\b[\s\S]*?</\1>", "", html)
    found = BUILD_PATH.findall(_text(body))
    assert not found, f"{name} shows a path of the build machine: {found}"


def test_search_holds_no_hidden_code(site: Path) -> None:
    """The search index is built from the pages: a hidden cell's code must not be found there either."""
    import json

    docs = json.loads((site / "search" / "search_index.json").read_text())["docs"]
    notebook_entries = [d for d in docs if d["location"].startswith("notebooks/")]
    assert notebook_entries
    for entry in notebook_entries:
        assert not GENERATOR.search(entry["text"]), f"{entry['location']}: generator code in the search index"
        assert not BUILD_PATH.search(entry["text"]), f"{entry['location']}: a build path in the search index"


def test_every_notebook_is_checked(site: Path) -> None:
    built = sorted(p.parent.name for p in (site / "notebooks").glob("*/index.html"))
    assert built == sorted([*NOTEBOOKS_WITH_PLOTS, "quick_tour"])


def test_model_zoo_notebook_folds_every_model(site: Path) -> None:
    from refimpl import list_models

    html = (site / "notebooks" / "model_zoo" / "index.html").read_text()
    folded = re.findall(r"<details><summary><code>(\w+)</code>", html)
    assert folded == list_models()


# --- the site for readers: code within reach, MathJax where needed, a working 404, layout ---------------------------

REPO_URL = re.search(r"^repo_url:\s*(\S+)", (ROOT / "mkdocs.yml").read_text(), re.MULTILINE).group(1).rstrip("/")
SITE_URL = re.search(r"^site_url:\s*(\S+)", (ROOT / "mkdocs.yml").read_text(), re.MULTILINE).group(1)
EMBED = re.compile(r"""^[ \t]*-+8<-+[ \t]+["']([^"':]+)(?::[\w-]+)?["']""", re.MULTILINE)
HREF = re.compile(r"""\bhref=["']([^"']+)["']""")


def _page_of(src: Path, site: Path) -> Path:
    rel = src.relative_to(ROOT / "docs").with_suffix("")
    return site / "index.html" if rel.name == "index" else site / rel / "index.html"


def test_every_embedded_code_block_links_to_its_source(site: Path) -> None:
    """Each file a page embeds with snippets is linked under its block, at the embedded section's lines."""
    pages = [p for p in (ROOT / "docs").glob("*.md") if EMBED.search(p.read_text())]
    assert pages, "no page embeds code any more, or the pattern no longer finds it"
    for src in pages:
        html = _page_of(src, site).read_text()
        captions = re.findall(r'<p class="source-link">([\s\S]*?)</p>', html)
        blocks = len(re.findall(r"^[ \t]*(?:```|~~~)[^\n]*\n(?:[ \t]*-+8<-+[^\n]*\n)+", src.read_text(), re.MULTILINE))
        assert len(captions) == blocks, f"{src.name}: {blocks} embedding blocks, {len(captions)} source links"
        linked = {url for caption in captions for url in HREF.findall(caption)}
        for path in set(EMBED.findall(src.read_text())):
            urls = [u for u in linked if u.split("#")[0] == f"{REPO_URL}/blob/main/{path}"]
            assert urls, f"{src.name} embeds {path} without a link to it"
            lines = (ROOT / path).read_text().splitlines()
            for url in urls:
                first, last = map(int, re.fullmatch(r".*#L(\d+)-L(\d+)", url).groups())
                assert "[start:" in lines[first - 2] and "[end:" in lines[last], f"{url}: not a snippet section"


def test_links_to_the_repository_name_files_that_exist(site: Path) -> None:
    for path in [*_pages(site), site / "404.html"]:
        for url in HREF.findall(path.read_text()):
            if url.startswith((f"{REPO_URL}/blob/main/", f"{REPO_URL}/tree/main/")):
                target = url.split("#")[0].split("/main/", 1)[1]
                assert (ROOT / target).exists(), f"{path.relative_to(site)} links to {url}, not in the repository"


def test_home_page_links_the_model_files_and_introduces_the_notes(site: Path) -> None:
    html = (site / "index.html").read_text()
    for name in ("resnet.py", "densenet.py", "senet.py"):
        assert f'href="{REPO_URL}/blob/main/refimpl/{name}"' in html
    assert 'id="the-lecture-notes"' in html
    assert "패스트 캠퍼스, 한번에 끝내는 컴퓨터비전 초격차 패키지" in _text(html)


def test_mentions_of_the_lecture_notes_link_to_their_introduction(site: Path) -> None:
    """A page whose text mentions the notes links to the home page's introduction of them."""
    for src in sorted((ROOT / "docs").glob("*.md")):
        if src.name != "index.md" and "lecture notes" in src.read_text():
            html = _page_of(src, site).read_text()
            assert re.search(r'href="(\.\./)+#the-lecture-notes"', html), f"{src.name}: the notes are not linked"


def test_notebook_pages_link_their_source_and_a_notebook_to_download(site: Path) -> None:
    import json

    for page in sorted((site / "notebooks").glob("*/index.html")):
        name = page.parent.name
        links = re.search(r'<p class="notebook-links">([\s\S]*?)</p>', page.read_text())
        assert links, f"{name}: no links to its source"
        urls = HREF.findall(links.group(1))
        assert f"{REPO_URL}/blob/main/docs/notebooks/{name}.py" in urls
        assert f"{name}.ipynb" in urls
        notebook = json.loads((page.parent / f"{name}.ipynb").read_text())
        assert notebook["nbformat"] == 4
        assert [c["cell_type"] for c in notebook["cells"]].count("code") >= 2
        assert notebook["metadata"]["refimpl"]["scale"] == "full", f"{name}: the download is not the stored run"
        assert any(c.get("outputs") for c in notebook["cells"]), f"{name}: the download has no outputs"


def test_notebook_pages_say_where_and_when_their_run_was_made(site: Path) -> None:
    """Under the title: the stored run's device and date, and the command that makes it again."""
    import json

    for page in sorted((site / "notebooks").glob("*/index.html")):
        name = page.parent.name
        meta = json.loads((ROOT / "docs" / "notebooks" / "runs" / f"{name}.ipynb").read_text())["metadata"]["refimpl"]
        note = re.search(r'<p class="notebook-run">([\s\S]*?)</p>', page.read_text())
        assert note, f"{name}: no note of its stored run"
        text = _text(note.group(1))
        assert meta["device"] in text and meta["date"] in text, f"{name}: {text}"
        assert f"make experiments NOTEBOOK={name}" in text


MATHJAX = re.compile(r"""<script\b[^>]*\bsrc=["'][^"']*tex-chtml\.js["']""")


def test_mathjax_only_on_pages_with_math(site: Path) -> None:
    for path in _pages(site):
        html = path.read_text()
        assert bool(MATHJAX.search(html)) == _expects_math(html), f"{path.parent.relative_to(site)}"
    assert not MATHJAX.search((site / "index.html").read_text())  # no math on the home page
    assert not MATHJAX.search((site / "elsewhere" / "index.html").read_text())
    assert MATHJAX.search((site / "resnet" / "index.html").read_text())
    assert MATHJAX.search((site / "notebooks" / "skip_connections" / "index.html").read_text())


def test_the_404_page_loads_its_assets_from_the_site_root(site: Path) -> None:
    """GitHub Pages serves 404.html at any depth: its assets must be absolute, under site_url's path, and exist."""
    html = (site / "404.html").read_text()
    prefix = urlparse(SITE_URL).path
    assets = [next(g for g in groups if g) for groups in LOADS.findall(html)]
    local = [u for u in assets if not u.startswith(("http:", "https:", "//", "data:", "#"))]
    assert len(local) >= 3, local
    for url in local:
        assert url.startswith(prefix), f"404.html loads {url}, which resolves differently at each depth"
        assert (site / url.removeprefix(prefix).split("?")[0]).is_file(), f"404.html loads {url}, which is missing"
    assert "Page not found" in _text(html)


def test_pages_show_no_internal_goals(site: Path) -> None:
    """Readers see measured figures and published ones, never the project's own targets."""
    for path in _pages(site):
        if "notebooks" in path.parts:
            continue
        text = _text(path.read_text())
        assert not re.search(r"\b(goals?|meets goal|limit is)\b", text, re.IGNORECASE), path.parent.name


def test_api_blocks_only_on_the_api_page(site: Path) -> None:
    for path in _pages(site):
        blocks = len(re.findall(r'class="doc doc-object', path.read_text()))
        assert (blocks > 0) == (path.parent.name == "api"), f"{path.parent.relative_to(site)}: {blocks} API blocks"


# elements of the article that reach past the screen's right edge, other than inside a box that scrolls
# or clips them (Material hides the page's own horizontal overflow, so the page's width says nothing)
OVERFLOWING = """() => {
    const edge = document.documentElement.clientWidth + 1, out = [];
    for (const e of document.querySelectorAll('.md-content *')) {
        if (e.getBoundingClientRect().right <= edge) continue;
        let p = e.parentElement, contained = false;
        for (; p && !p.classList.contains('md-content'); p = p.parentElement) {
            if (getComputedStyle(p).overflowX !== 'visible' && p.getBoundingClientRect().right <= edge) {
                contained = true;
                break;
            }
        }
        if (!contained) out.push(e.tagName.toLowerCase() + (e.className ? '.' + String(e.className).split(' ')[0] : ''));
    }
    return out.slice(0, 5);
}"""


def test_layout_on_a_laptop_and_a_phone(site: Path, browser_visits: dict[str, Visit]) -> None:
    """At 1366 px the wide tables fit; at 390 px no page scrolls sideways and plots take the column's width."""
    assert browser_visits["wide: the model zoo table"], "the model zoo table scrolls at 1366 px"
    assert browser_visits["wide: the DenseNet memory table"], "the DenseNet memory table scrolls at 1366 px"
    for path in _browsed(site):
        rel = path.parent.relative_to(site).as_posix()
        visit = browser_visits[rel]
        assert not visit.overflowing, f"{rel}: at 390 px these stick out of the screen: {visit.overflowing}"
        assert all(abs(w - column) <= 2 for w, column in visit.plots), (
            f"{rel}: plots narrower than the column {visit.plots}"
        )


# --- the Korean edition (docs/ko/, built into ko/) -----------------------------------------------------------------


def test_every_english_page_has_its_korean_page(site: Path) -> None:
    """Same paths in both editions, each page in its language: lang="ko" on the Korean ones."""
    untranslated = [
        line.split("#")[0].strip() for line in (ROOT / "docs" / "ko" / "untranslated.txt").read_text().splitlines()
    ]
    for path in _english(site):
        rel = path.relative_to(site)
        korean = site / "ko" / rel
        assert korean.is_file(), f"no Korean page for {rel.parent.as_posix()}"
        assert '<html lang="en"' in path.read_text(), rel
        html = korean.read_text()
        assert '<html lang="ko"' in html, f"ko/{rel}"
        if not any(rel.parent.as_posix() == Path(u).with_suffix("").as_posix() for u in untranslated if u):
            assert "untranslated" not in html, f"ko/{rel} shows the English page"
    assert (site / "ko" / "glossary" / "index.html").is_file()


def _targets(html: str) -> list[tuple[str, str]]:
    """Each link of a page's body and header: (href, the whole tag)."""
    return [(m.group(1), m.group(0)) for m in re.finditer(r"""<a\b[^>]*\bhref=["']([^"']+)["'][^>]*>""", html)]


def test_korean_pages_link_to_korean_pages(site: Path) -> None:
    """No link from a Korean page leads into the English edition, except the language switcher's."""
    english_root = SITE_URL.rstrip("/") + "/"
    for path in _pages(site / "ko"):
        here = path.parent.relative_to(site).as_posix() + "/"
        for href, tag in _targets(path.read_text()):
            if 'hreflang="en"' in tag or href.startswith(("#", "mailto:")):
                continue
            if href.startswith(english_root):
                assert href.startswith(english_root + "ko/"), f"{here}: {href} leads to the English edition"
                continue
            if urlparse(href).scheme:
                continue  # another site: the repository, a paper
            target = posixpath.normpath(posixpath.join(here, urlparse(href).path))
            assert target == "ko" or target.startswith("ko/"), f"{here}: {href} leads to the English edition ({target})"


def test_the_switcher_leads_to_the_same_page_in_the_other_edition(site: Path) -> None:
    for path in _english(site):
        rel = path.parent.relative_to(site).as_posix()
        for page, other, lang in (
            (path, f"ko/{rel}" if rel != "." else "ko", "ko"),
            (site / "ko" / path.relative_to(site), rel, "en"),
        ):
            here = page.parent.relative_to(site).as_posix()
            links = [href for href, tag in _targets(page.read_text()) if f'hreflang="{lang}"' in tag]
            assert links, f"{here}: no link to the {lang} edition"
            assert posixpath.normpath(posixpath.join(here, links[0])) == posixpath.normpath(other), (here, links[0])


def test_each_edition_searches_its_own_pages(site: Path) -> None:
    """The Korean index is built for Korean and holds the Korean words; the English one holds none of them."""
    import json

    korean = json.loads((site / "ko" / "search" / "search_index.json").read_text())
    english = json.loads((site / "search" / "search_index.json").read_text())
    assert "ko" in korean["config"]["lang"]
    text = " ".join(d["text"] + d["title"] for d in korean["docs"])
    for word in ("잔차", "병목", "성장률"):
        assert word in text, word
    assert not [d["location"] for d in english["docs"] if d["location"].startswith("ko/")]
    pages = " ".join(d["text"] for d in english["docs"] if not d["location"].startswith("notebooks/"))
    assert not re.search("잔차|병목|성장률", pages)  # a notebook's code writes both languages: not its prose


def test_korean_pages_use_the_glossary_and_korean_tables(site: Path) -> None:
    """No rejected variant anywhere on a built Korean page (tables and notebook outputs included)."""
    sys.path.insert(0, str(ROOT / "tests"))
    from test_translation import glossary

    rejected = {word: korean for korean, _, words in glossary() for word in words}
    for path in _pages(site / "ko"):
        if path.parent.name == "glossary":
            continue  # the glossary names them, to reject them
        body = re.sub(r"<(style|script|pre|code)\b[\s\S]*?</\1>", " ", path.read_text())
        text = _text(body)
        found = [f"{w} (write {k})" for w, k in rejected.items() if w in text]
        assert not found, f"{path.parent.relative_to(site)}: {found}"


def test_korean_notebook_pages_show_the_runs_korean_outputs(site: Path) -> None:
    """The same run in both editions: the same figures; the conclusions written from its numbers, in Korean."""
    for name in [*NOTEBOOKS_WITH_PLOTS, "quick_tour"]:
        en = (site / "notebooks" / name / "index.html").read_text()
        ko = (site / "ko" / "notebooks" / name / "index.html").read_text()
        figures = re.compile(r"data:image/svg\+xml;base64,([A-Za-z0-9+/=]+)")
        assert figures.findall(en) == figures.findall(ko), f"{name}: the editions show different figures"
        alts = re.findall(r'<img class="nb-figure"[^>]*\balt="([^"]*)"', ko)
        assert all(re.search("[가-힣]", alt) for alt in alts), f"{name}: a figure without its Korean alt text"
        outputs = re.findall(
            r'<div class="jp-RenderedMarkdown[^"]*"[^>]*data-mime-type="text/markdown"[^>]*>([\s\S]*?)</div>', ko
        )
        for output in outputs:
            assert re.search("[가-힣]", _text(output)), (
                f"{name}: an English output on the Korean page: {_text(output)[:80]}"
            )
        assert 'lang="ko"' in ko
        # the notebook to download is the same run, in Korean on the Korean page
        import json

        title = [
            json.loads((site / e / "notebooks" / name / f"{name}.ipynb").read_text())["cells"][0] for e in (".", "ko")
        ]
        assert not re.search("[가-힣]", "".join(title[0]["source"])) and re.search(
            "[가-힣]", "".join(title[1]["source"])
        )


def test_korean_edition_in_a_real_browser(site: Path, server: str) -> None:
    """The Korean home, an architecture page and a notebook page: nothing from another host; the switcher both
    ways lands on the same page; the search finds Korean words on Korean pages only."""
    if not Path(CHROMIUM).exists():
        pytest.skip("Chromium is not installed (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    args = ["--no-sandbox", "--disable-background-networking", "--disable-component-update", "--disable-sync"]
    foreign: list[str] = []
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=args)
        page = browser.new_page(viewport={"width": 1366, "height": 768})
        page.on("request", lambda req: foreign.append(req.url) if urlparse(req.url).hostname not in LOCAL else None)
        for rel in KOREAN_BROWSED:
            page.goto(f"{server}/{rel}/", wait_until="networkidle")
            assert page.evaluate("document.documentElement.lang") == "ko", rel
            font = page.evaluate("getComputedStyle(document.querySelector('.md-typeset')).fontFamily")
            assert "Noto Sans KR" in font or "Malgun Gothic" in font, f"{rel}: no Hangul font named: {font}"
            page.locator(".md-select__link[hreflang=en]").first.dispatch_event("click")
            page.wait_for_url(f"{server}/{rel.removeprefix('ko').lstrip('/')}" + ("/" if rel != "ko" else ""))
            assert page.evaluate("document.documentElement.lang") == "en", rel
            page.locator(".md-select__link[hreflang=ko]").first.dispatch_event("click")
            page.wait_for_url(f"{server}/{rel}/")
        page.goto(f"{server}/ko/", wait_until="networkidle")
        # the search worker builds its index first (on a busy machine, for a while): the field says when it is ready
        ready = "() => !document.querySelector('.md-search-result__meta').textContent.includes('검색 초기화')"
        page.wait_for_function(ready, timeout=120_000)
        for word in ("잔차", "병목", "성장률"):
            # at 1366 px the search field is in the header; Material reads it on keyup, which typing Hangul
            # (Playwright inserts it as text) does not send: a last key does, as the reader's last keystroke
            page.fill("input.md-search__input", "")
            page.press("input.md-search__input", "End")
            page.wait_for_selector(".md-search-result__item", state="detached", timeout=30_000)  # no results left
            page.fill("input.md-search__input", word)
            page.press("input.md-search__input", "End")
            page.wait_for_selector(".md-search-result__item", timeout=30_000)
            hrefs = page.eval_on_selector_all(".md-search-result__item a", "as => as.map(a => a.href)")
            assert hrefs, word
            assert all(urlparse(h).path.startswith("/ko/") for h in hrefs), (word, hrefs)
        browser.close()
    assert not foreign, foreign


# --- code on the pages that says it runs -----------------------------------------------------------------------------

RUNS = re.compile(r"^<!-- test: runs -->\n```python\n(.*?)^```$", re.DOTALL | re.MULTILINE)


def _fake_cifar10(root: Path, per_batch: int = 4) -> None:
    """A CIFAR-10 folder in torchvision's format with a few random images (downloads fail in the tests)."""
    import pickle

    import numpy as np

    folder = root / "cifar-10-batches-py"
    folder.mkdir(parents=True)
    rng = np.random.default_rng(0)
    for name in [*(f"data_batch_{i}" for i in range(1, 6)), "test_batch"]:
        batch = {
            "data": rng.integers(0, 256, (per_batch, 3072), dtype=np.uint8),
            "labels": [i % 10 for i in range(per_batch)],
        }
        (folder / name).write_bytes(pickle.dumps(batch))
    (folder / "batches.meta").write_bytes(pickle.dumps({"label_names": [f"class {i}" for i in range(10)]}))


def test_the_snippets_marked_to_run_do(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, cache_checkpoint) -> None:
    """Every ```python block after a ``<!-- test: runs -->`` line runs, page by page in order, offline.

    The setting is prepared: a CIFAR-10 folder with a few random images in ``./data`` and a
    cached resnet18 checkpoint (random weights).
    """
    import torchvision

    pages = {p: RUNS.findall(p.read_text()) for p in sorted((ROOT / "docs").glob("*.md"))}
    pages = {p: blocks for p, blocks in pages.items() if blocks}
    assert ROOT / "docs" / "practice.md" in pages, "the fine-tuning example lost its marker"
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(torchvision.datasets.CIFAR10, "_check_integrity", lambda self: True)  # no checksums
    monkeypatch.setattr(torchvision.datasets.cifar, "check_integrity", lambda *args, **kwargs: True)
    _fake_cifar10(tmp_path / "data")
    cache_checkpoint("resnet18", "DEFAULT", torchvision.models.resnet18().state_dict())  # TORCH_HOME: ./torch
    for page, blocks in pages.items():
        namespace: dict[str, object] = {"__name__": page.stem}
        for i, code in enumerate(blocks, start=1):
            exec(compile(code, f"{page.name}, block {i}", "exec"), namespace)  # noqa: S102  (the page's own code)
