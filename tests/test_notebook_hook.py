"""The docs build's notebooks side by side (``docs/hooks/notebooks.py``): the plugin's pages, sooner.

The hook converts every notebook with the options it reads from mkdocs-jupyter's
configuration and hands a page over only when the plugin asks with the same
options; these tests pin that the options are the plugin's, that a page comes
from the plugin's own converter, and that a failing notebook fails the build
naming it.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from mkdocs.config import load_config
from mkdocs.exceptions import PluginError
from mkdocs.structure.files import File, Files
from mkdocs.structure.pages import Page

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def hook() -> ModuleType:
    spec = importlib.util.spec_from_file_location("notebooks_hook", ROOT / "docs" / "hooks" / "notebooks.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def plugin() -> Any:
    config = load_config(str(ROOT / "mkdocs.yml"))
    jupyter = config.plugins["mkdocs-jupyter"]
    jupyter.config["cache"] = False
    return config, jupyter


def _notebook(folder: Path, name: str, code: str) -> str:
    path = folder / f"{name}.py"
    path.write_text(f"# %% [markdown]\n# # {name}\n\n# %%\n{code}\n")
    return str(path)


def test_the_options_are_those_mkdocs_jupyter_passes(
    hook: ModuleType, plugin: Any, tmp_path: Path, monkeypatch
) -> None:
    """Render a notebook page the plugin's way, record what it asks the converter: the hook's options exactly."""
    config, jupyter = plugin
    asked: dict[str, Any] = {}
    monkeypatch.setattr(hook.convert, "nb2html", lambda path, **options: asked.update(options) or "<p></p>")
    (tmp_path / "notebooks").mkdir()
    _notebook(tmp_path / "notebooks", "page", "1")  # where mkdocs.yml's `include` finds notebooks
    file = File("notebooks/page.py", str(tmp_path), str(tmp_path / "site"), use_directory_urls=True)
    page = Page(None, file, config)
    jupyter.on_pre_page(page, config, Files([file]))
    page.render(config, Files([file]))
    assert asked == {name: jupyter.config[name] for name in hook.OPTIONS}


def test_pages_come_from_the_plugins_converter_and_a_failure_names_its_notebook(
    hook: ModuleType, plugin: Any, tmp_path: Path
) -> None:
    _, jupyter = plugin
    options = {name: jupyter.config[name] for name in hook.OPTIONS}
    good = _notebook(tmp_path, "good", "print(6 * 7)")
    bad = _notebook(tmp_path, "bad", "raise ValueError('a cell that fails')")
    converter = hook.ParallelConverter([good, bad], options, jobs=2)
    try:
        html = converter(good, **options)
        assert "42" in html and 'id="good"' in html  # the output, and the heading anchor mkdocs-jupyter adds
        with pytest.raises(PluginError, match=r"(?s)bad\.py failed.*a cell that fails"):
            converter(bad, **options)
    finally:
        converter.close()


def test_a_call_with_other_options_is_converted_the_plugins_way(hook: ModuleType, monkeypatch) -> None:
    calls = []
    monkeypatch.setattr(hook, "_CONVERT", lambda path, **options: calls.append((path, options)) or "own")
    converter = hook.ParallelConverter([], {"execute": True}, jobs=2)  # nothing to run ahead
    assert converter("x.py", execute=False) == "own" and calls == [("x.py", {"execute": False})]
    converter.close()


@pytest.mark.parametrize("value", ["0", "two", "-1", "²"])  # "²".isdigit(), yet int("²") fails
def test_a_bad_job_count_is_one_line_naming_what_is_accepted(hook: ModuleType, value: str, monkeypatch) -> None:
    monkeypatch.setenv("REFIMPL_DOCS_JOBS", value)
    with pytest.raises(PluginError, match="expected a whole number of processes, at least 1"):
        hook._jobs(6)


def test_the_jobs_are_the_cores_at_most_the_notebooks(hook: ModuleType, monkeypatch) -> None:
    monkeypatch.delenv("REFIMPL_DOCS_JOBS", raising=False)
    monkeypatch.setattr(hook, "_cores", lambda: 16)
    assert hook._jobs(6) == 6 and hook._jobs(40) == 16
    monkeypatch.setenv("REFIMPL_DOCS_JOBS", "1")
    assert hook._jobs(6) == 1
