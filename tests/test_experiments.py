"""The notebooks' stored full-scale runs (``docs/experiments.py``, ``docs/hooks/notebooks.py``).

Each notebook page is rendered from ``docs/notebooks/runs/NAME.ipynb``, executed
once at full scale with ``make experiments``. These tests hold the contract:
every stored run is the page's (its source and the code it imported unchanged),
a changed file makes it stale and fails both the suite and the build with the
command that refreshes it, and the hook never executes a notebook. The smoke
runs, which execute every notebook at a few steps, are in
``tests/test_notebooks_smoke.py``.
"""

from __future__ import annotations

import importlib.util
import json
import shutil
import sys
from pathlib import Path
from types import ModuleType

import jupytext
import pytest
from mkdocs.exceptions import PluginError

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "docs"))
import experiments  # docs/experiments.py, a script beside the pages


@pytest.fixture(scope="module")
def hook() -> ModuleType:
    spec = importlib.util.spec_from_file_location("notebooks_hook", ROOT / "docs" / "hooks" / "notebooks.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("name", experiments.names())
def test_every_stored_run_is_fresh_and_full_scale(name: str) -> None:
    reasons = experiments.stale(name)
    assert not reasons, experiments.stale_message(name, reasons)
    meta = experiments.provenance(name)
    assert {"torch", "device", "date", "wall_s", "code", "source", "parameters"} <= set(meta)
    assert any(file.startswith("refimpl/") for file in meta["code"]), "the run imported no refimpl code?"


@pytest.mark.parametrize("name", experiments.names())
def test_a_stored_run_shows_the_code_of_its_page(name: str) -> None:
    """The cells the reader sees are the source's, with nothing injected: parameters are recorded, not shown."""
    stored = json.loads(experiments.stored_path(name).read_text())
    source = jupytext.read(experiments.source_path(name))
    assert ["".join(c["source"]) for c in stored["cells"]] == [c.source for c in source.cells]
    assert all(c["cell_type"] != "code" or c.get("outputs") is not None for c in stored["cells"])


def _copy_run(name: str, root: Path) -> dict:
    """The stored run of ``name`` with the files it hashes, into a repository of its own at ``root``."""
    meta = experiments.provenance(name)
    for relative in [*meta["code"], experiments.source_path(name).relative_to(ROOT)]:
        (root / relative).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(ROOT / relative, root / relative)
    stored = experiments.stored_path(name, root)
    stored.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy(experiments.stored_path(name), stored)
    return meta


def test_a_changed_source_or_imported_file_makes_a_run_stale(tmp_path: Path) -> None:
    name = "quick_tour"
    meta = _copy_run(name, tmp_path)
    assert experiments.stale(name, tmp_path) == []

    source = experiments.source_path(name, tmp_path)
    source.write_text(source.read_text() + "\n# %%\nprint('new')\n")
    code = tmp_path / "refimpl" / "resnet.py"
    assert "refimpl/resnet.py" in meta["code"]
    code.write_text(code.read_text() + "\n# changed\n")
    (tmp_path / "refimpl" / "densenet.py").unlink()
    reasons = experiments.stale(name, tmp_path)
    assert reasons == [
        "docs/notebooks/quick_tour.py changed",
        "refimpl/densenet.py is gone",
        "refimpl/resnet.py changed",
    ]
    message = experiments.stale_message(name, reasons)
    assert "quick_tour" in message and "`make experiments NOTEBOOK=quick_tour`" in message
    assert "\n" not in message

    experiments.stored_path(name, tmp_path).unlink()
    assert experiments.stale(name, tmp_path) == ["no stored run (docs/notebooks/runs/quick_tour.ipynb)"]


def test_a_smoke_run_stored_in_place_is_stale(tmp_path: Path) -> None:
    name = "quick_tour"
    _copy_run(name, tmp_path)
    stored = experiments.stored_path(name, tmp_path)
    notebook = json.loads(stored.read_text())
    notebook["metadata"]["refimpl"]["scale"] = "smoke"
    stored.write_text(json.dumps(notebook))
    assert experiments.stale(name, tmp_path) == ["stored at the 'smoke' scale, not 'full'"]


def test_the_build_renders_the_stored_run_and_refuses_a_stale_one(hook: ModuleType, monkeypatch) -> None:
    page = experiments.source_path("quick_tour")
    calls = []
    monkeypatch.setattr(hook, "_CONVERT", lambda path, **options: calls.append((path, options)) or "<html>")
    monkeypatch.setattr(hook.experiments, "stale", lambda name: [])
    assert hook.from_stored_run(str(page), execute=True, theme="light") == "<html>"
    assert calls == [(str(experiments.stored_path("quick_tour")), {"execute": False, "theme": "light"})]

    monkeypatch.setattr(hook.experiments, "stale", lambda name: ["refimpl/resnet.py changed"])
    with pytest.raises(PluginError, match=r"quick_tour is stale \(refimpl/resnet.py changed\).*make experiments"):
        hook.from_stored_run(str(page))


def test_the_build_never_executes_a_notebook(hook: ModuleType) -> None:
    from mkdocs.config import load_config

    config = load_config(str(ROOT / "mkdocs.yml"))
    assert config.plugins["mkdocs-jupyter"].config["execute"] is False
    config.plugins["mkdocs-jupyter"].config["execute"] = True
    with pytest.raises(PluginError, match="execute: false"):
        hook.on_files([], config)


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["nope"], "unknown notebook nope: expected one of densenet_efficiency, model_zoo"),
        (["--set", "EPOCHS"], "expected NAME=VALUE"),
        (["--set", "DATA_ROOT=data/cifar"], "is not a Python literal (quote strings)"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(argv: list[str], expected: str, capsys) -> None:
    with pytest.raises(SystemExit) as exit_:
        experiments.main(argv)
    assert exit_.value.code == 2
    error = capsys.readouterr().err.strip().splitlines()[-1]
    assert expected in error


def test_an_unknown_parameter_names_the_declared_ones() -> None:
    notebook = jupytext.read(experiments.source_path("skip_connections"))
    with pytest.raises(ValueError, match="unknown parameter EPOCH: the notebook declares DATA_ROOT, EPOCHS, SCALE"):
        experiments._parameters(notebook, {"EPOCH": "3"})
    experiments._parameters(notebook, {"EPOCHS": "3"})
    injected = [c for c in notebook.cells if "injected-parameters" in c.metadata.get("tags", [])]
    assert [c.source for c in injected] == ["EPOCHS = 3"]


def test_check_lists_the_stale_runs_and_exits_1(monkeypatch, capsys) -> None:
    monkeypatch.setattr(experiments, "stale", lambda name: ["x changed"] if name == "model_zoo" else [])
    assert experiments.main(["--check"]) == 1
    assert capsys.readouterr().out.strip() == experiments.stale_message("model_zoo", ["x changed"])
    monkeypatch.setattr(experiments, "stale", lambda name: [])
    assert experiments.main(["--check"]) == 0
