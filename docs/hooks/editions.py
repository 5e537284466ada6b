"""The site in two editions, English (``mkdocs.yml``, ``docs/``) and Korean (``mkdocs.ko.yml``, ``docs/ko/``).

Two builds, one site: the English build ends by building the Korean edition
into ``site/ko/`` (``on_post_build``), in the same process, so the tables the
hooks compute from the code are computed once. Each edition is a plain MkDocs
site with its own ``lang``, theme language, navigation and search index, which
is why the Korean search never returns an English page, and why a Korean
notebook page cannot overwrite the English one (mkdocs-static-i18n, the usual
plugin for this, renders both languages in one build, where mkdocs-jupyter's
notebook pages collide: its issue 198).

Each Korean page has the English page's file name, so a link, an anchor and a
figure's path are the same in both, and each page's language switcher leads to
the same page in the other edition. The Korean build also:

- takes the shared static files (stylesheets, scripts) from ``docs/``;
- shows an English page that ``docs/ko/untranslated.txt`` lists as not yet
  translated, with a notice in Korean; ``docs/translations.py`` fails on any
  other English page without its Korean one.
"""

from __future__ import annotations

import posixpath
import re
import sys
from pathlib import Path

from mkdocs.config.defaults import MkDocsConfig
from mkdocs.structure.files import File, Files
from mkdocs.structure.pages import Page

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # docs/, for translations.py
sys.path.insert(0, str(Path(__file__).resolve().parent))  # docs/hooks/, for pages.py, however this hook is loaded
import translations
from pages import ROOT, language

ENGLISH_DOCS = ROOT / "docs"
KOREAN_CONFIG = ROOT / "mkdocs.ko.yml"
#: where each edition lives in the site
PREFIX = {"en": "", "ko": "ko/"}
#: the English site's static files that the Korean pages load too
SHARED = ("stylesheets", "javascripts")


def untranslated() -> list[str]:
    """The English pages (paths under ``docs/``) that the Korean edition shows in English, with a notice."""
    return translations.untranslated(ENGLISH_DOCS)


def on_config(config: MkDocsConfig) -> MkDocsConfig:
    """The Korean search index, and the Korean navigation's pages shown in English.

    Material's Korean theme names no search language, so its search would index Korean as English: lunr's
    Korean tokenizer goes beside the English one (code and names are English). A page listed in
    ``docs/ko/untranslated.txt`` that the Korean navigation does not name is added at its end.
    """
    search = config.plugins.get("material/search") or config.plugins.get("search")
    if language(config) == "ko" and search is not None:  # the plugin has built its index's settings already
        search.config["lang"] = ["en", "ko"]
        if getattr(search, "search_index", None) is not None:
            search.search_index.config["lang"] = ["en", "ko"]
    if language(config) == "ko" and config.nav is not None:  # an English page shown untranslated joins the nav
        listed = set(_nav_paths(config.nav))
        config.nav += [uri for uri in untranslated() if uri not in listed and (ENGLISH_DOCS / uri).is_file()]
    return config


def _nav_paths(nav: object) -> list[str]:
    """Every page path in a navigation (nested lists of titles mapping to paths or sections)."""
    if isinstance(nav, str):
        return [nav]
    if isinstance(nav, dict):
        return [path for value in nav.values() for path in _nav_paths(value)]
    if isinstance(nav, list):
        return [path for item in nav for path in _nav_paths(item)]
    return []


def on_files(files: Files, config: MkDocsConfig) -> Files:
    if language(config) != "ko":
        return files
    for folder in SHARED:
        for path in sorted((ENGLISH_DOCS / folder).rglob("*")):
            uri = path.relative_to(ENGLISH_DOCS).as_posix()
            if path.is_file() and files.get_file_from_path(uri) is None:
                files.append(File(uri, str(ENGLISH_DOCS), config.site_dir, config.use_directory_urls))
    for uri in untranslated():
        if files.get_file_from_path(uri) is None and (ENGLISH_DOCS / uri).is_file():
            files.append(File(uri, str(ENGLISH_DOCS), config.site_dir, config.use_directory_urls))
    return files


NOTICE = (
    '<div class="admonition warning untranslated" lang="ko"><p class="admonition-title">아직 번역되지 않은 페이지</p>'
    "<p>이 페이지는 아직 한국어로 옮기지 못해 영어 원문을 보여 드립니다. 링크는 한국어판의 페이지로 이어집니다.</p></div>"
)


def on_page_content(html_: str, page: Page, config: MkDocsConfig, files: Files) -> str:
    """An English page in the Korean edition says so, in Korean, above its text."""
    source = Path(page.file.abs_src_path or "")
    english = source.is_relative_to(ENGLISH_DOCS) and not source.is_relative_to(ENGLISH_DOCS / "ko")
    return NOTICE + html_ if language(config) == "ko" and english else html_


def counterpart(src_uri: str, lang: str) -> bool:
    """Whether the edition ``lang`` has the page ``src_uri`` (translated, or shown in English with the notice)."""
    if lang == "en":
        return (ENGLISH_DOCS / src_uri).is_file()
    return (ENGLISH_DOCS / "ko" / src_uri).is_file() or src_uri in untranslated()


def relative(target: str, here: str) -> str:
    """The link from the page at the site's folder ``here`` (``"resnet/"``, ``""``) to the folder ``target``."""
    return posixpath.relpath(target.rstrip("/") or ".", here.rstrip("/") or ".") + "/"


def on_page_context(context: dict, page: Page, config: MkDocsConfig, nav) -> dict:
    """The switcher's links for this page: the same page in each edition, or that edition's home if it has none."""
    this = language(config)
    here = PREFIX[this] + page.url
    page.alternates = [  # read by docs/overrides/partials/alternate.html
        {
            "name": alt["name"],
            "lang": alt["lang"],
            "href": relative(
                PREFIX[alt["lang"]] + (page.url if counterpart(page.file.src_uri, alt["lang"]) else ""), here
            ),
            "current": alt["lang"] == this,
        }
        for alt in config.extra.get("alternate") or []
    ]
    return context


#: the editions' roots that Material writes into every page's head, from ``extra.alternate``
HEAD_ALTERNATE = re.compile(r'\s*<link rel="alternate" href="[^"]*" hreflang="[^"]*">')


def on_post_page(output: str, page: Page, config: MkDocsConfig) -> str:
    """No ``<link rel="alternate" hreflang>`` in the head: the switcher's own links are the page's counterparts.

    Material's script reads those links, fetches each edition's sitemap and, on a click on the switcher,
    looks the page up there by ``site_url``; served anywhere else (``make docs``, a test's server) the lookup
    fails and it sends the reader to the other edition's home instead of the same page.
    """
    return HEAD_ALTERNATE.sub("", output)


def on_post_template(output: str, template_name: str, config: MkDocsConfig) -> str:
    return HEAD_ALTERNATE.sub("", output)  # the 404 page


def on_post_build(config: MkDocsConfig) -> None:
    """After the English edition, the Korean one, into ``ko/`` of the same site folder."""
    if language(config) != "en":
        return
    from mkdocs.commands.build import build
    from mkdocs.config import load_config

    korean = load_config(str(KOREAN_CONFIG), site_dir=str(Path(config.site_dir) / "ko"), strict=config.strict)
    korean.plugins.on_startup(command="build", dirty=False)
    try:
        build(korean)
    finally:
        korean.plugins.on_shutdown()
