"""The documentation site: strict build, embedded code, generated numbers, offline in a real browser.

Run alone with ``pytest -m docs``. The build executes every notebook, so it is
the slowest part of the suite; it happens once per session.
"""

from __future__ import annotations

import functools
import http.server
import inspect
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlparse

import pytest

from refimpl import resnet

pytestmark = pytest.mark.docs

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
    r"""|<link\b[^>]*?\bhref\s*=\s*["']([^"']+)["']"""
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


@pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="Chromium is not installed (apt-get install chromium)")
def test_every_page_in_a_real_browser(site: Path, server: str) -> None:
    """Each page loads with no JavaScript error, no request to another host, and typeset math."""
    from playwright.sync_api import sync_playwright

    args = ["--no-sandbox", "--disable-background-networking", "--disable-component-update", "--disable-sync"]
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=args)
        page = browser.new_page()
        errors: list[str] = []
        foreign: list[str] = []
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
        page.on("request", lambda req: foreign.append(req.url) if urlparse(req.url).hostname not in LOCAL else None)
        for path in _pages(site):
            rel = path.parent.relative_to(site).as_posix()
            url = f"{server}/{rel}/" if rel != "." else f"{server}/"
            response = page.goto(url, wait_until="networkidle")
            assert response is not None and response.ok, url
            if _expects_math(path.read_text()):
                page.wait_for_selector("mjx-container", timeout=15_000)
                assert page.locator("mjx-merror").count() == 0, f"{url}: MathJax could not typeset"
                widths = page.evaluate(
                    "() => Array.from(document.querySelectorAll('mjx-container'), c => c.getBoundingClientRect().width)"
                )
                assert min(widths) > 0, f"{url}: typeset math is invisible (its fonts or styles did not load)"
            assert not errors, f"{url}: {errors}"
            assert not foreign, f"{url} requested {foreign}"
        browser.close()


# page -> at least this many plots
NOTEBOOKS_WITH_PLOTS = {
    "skip_connections": 2,
    "unraveled_view": 1,
    "model_zoo": 1,
    "densenet_efficiency": 1,
    "se_excitations": 1,
}
STDERR_OUTPUT = re.compile(r"""<div\b[^>]*\bdata-mime-type=["']application/vnd\.jupyter\.stderr["'][^>]*>""")


@pytest.mark.parametrize("name", NOTEBOOKS_WITH_PLOTS)
def test_notebook_page_has_its_plots_and_no_error_output(site: Path, name: str) -> None:
    """The executed notebook embeds its matplotlib figures and wrote nothing to stderr."""
    html = (site / "notebooks" / name / "index.html").read_text()
    body = re.sub(r"<style\b[\s\S]*?</style>", "", html)  # the inlined CSS names every output kind
    plots = re.findall(r"<img\b[^>]*\bsrc=[\"']data:image/png;base64,", body)
    assert len(plots) >= NOTEBOOKS_WITH_PLOTS[name], f"{name}: {len(plots)} plots"
    assert not STDERR_OUTPUT.search(body), f"{name} has an output on stderr"
    assert "Traceback (most recent call last)" not in _text(body), f"{name}: a traceback"


def test_no_page_shows_a_path_of_the_build_machine(site: Path) -> None:
    """Executed notebooks print no local paths: not where refimpl was imported from, not a temporary folder."""
    local = (str(ROOT), tempfile.gettempdir() + os.sep + "tmp")  # tempfile's folders are named tmp...
    for path in _pages(site):
        text = _text(path.read_text())
        assert not [p for p in local if p in text], f"{path.parent.relative_to(site)} shows a local path"


def test_every_notebook_is_checked(site: Path) -> None:
    built = sorted(p.parent.name for p in (site / "notebooks").glob("*/index.html"))
    assert built == sorted([*NOTEBOOKS_WITH_PLOTS, "quick_tour"])


def test_model_zoo_notebook_folds_every_model(site: Path) -> None:
    from refimpl import list_models

    html = (site / "notebooks" / "model_zoo" / "index.html").read_text()
    folded = re.findall(r"<details><summary><code>(\w+)</code>", html)
    assert folded == list_models()
