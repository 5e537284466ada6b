"""Run the site's notebooks at full scale once, and keep what they printed and drew, with where it came from.

The notebook pages (``docs/notebooks/NAME.py``, jupytext's percent format) are
experiments: they train networks until the papers' effects show, which takes
minutes, not the seconds a site build or a test run can spend. So they run
here, once, like d2l.ai's build or Jupyter Book's execution cache: each
executed notebook is stored, outputs included, as ``docs/notebooks/runs/NAME.ipynb``
with its provenance in the notebook's metadata (``metadata.refimpl``):

- ``source``: the SHA-256 of ``NAME.py``;
- ``code``: the SHA-256 of every file of this repository the kernel imported
  (``refimpl/...``, ``docs/notebooks/_common.py``), read from ``sys.modules`` at the end;
- ``parameters``: what the run set in the notebook's ``parameters`` cell;
- ``torch``, ``device``, ``date`` (UTC) and ``wall_s`` (seconds).

The site renders the stored notebook (``docs/hooks/notebooks.py``) and refuses
to build when it is stale, that is when ``NAME.py`` or one of those files has
changed since: a reader never sees outputs of other code than the page shows.
The test suite refuses a stale one too, and runs every notebook at the smoke
scale (``SCALE = "smoke"``: a few steps of everything) to catch a broken one.

Usage::

    python docs/experiments.py                       # every notebook, full scale, stored
    python docs/experiments.py skip_connections      # one notebook by name
    python docs/experiments.py --stale               # only the stale ones
    python docs/experiments.py --check               # list the stale ones; exit 1 if any
    python docs/experiments.py unraveled_view --set DATA_ROOT="'data/cifar10'"
    python docs/experiments.py --smoke --out /tmp/nb # the suite's scale, stored elsewhere

``make experiments`` is the first; ``make experiments NOTEBOOK=NAME`` the second.
A notebook uses the GPU when one is present (``_common.DEVICE``).
"""

from __future__ import annotations

import argparse
import ast
import hashlib
import json
import os
import sys
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = ROOT / "docs" / "notebooks"
RUNS = NOTEBOOKS / "runs"
REFRESH = "make experiments NOTEBOOK={name}"  # the command that refreshes one stored notebook
SCALES = ("full", "smoke")
META = "refimpl"  # the key of the provenance in the notebook's metadata
CODE = ("refimpl/", "docs/notebooks/_")  # the imported files whose change makes a stored run stale

# Run in the kernel after the notebook's own cells, then removed: which of this repository's files it
# imported, and on what it ran. One JSON line on stdout.
_PROVENANCE_CELL = """\
import json as _json, os as _os, platform as _platform, sys as _sys
import torch as _torch
_root = {root!r}
_paths = {{_os.path.realpath(_m.__file__) for _m in list(_sys.modules.values()) if getattr(_m, "__file__", None)}}
_files = sorted(_os.path.relpath(_p, _root) for _p in _paths if _p.startswith(_root + _os.sep) and _os.path.isfile(_p))
if _torch.cuda.is_available():
    _device = "cuda: " + _torch.cuda.get_device_name()
else:
    _cpu = [_l.split(":", 1)[1].strip() for _l in open("/proc/cpuinfo") if _l.startswith("model name")] \
        if _os.path.exists("/proc/cpuinfo") else []
    _device = f"cpu: {{(_cpu or [_platform.machine()])[0]}}, {{_torch.get_num_threads()}} threads"
print(_json.dumps({{"files": _files, "device": _device, "torch": _torch.__version__}}))
"""


def names() -> list[str]:
    """Every notebook page, by name (``docs/notebooks/NAME.py``; ``_*.py`` are their helpers)."""
    return sorted(p.stem for p in NOTEBOOKS.glob("*.py") if not p.name.startswith("_"))


def source_path(name: str, root: Path = ROOT) -> Path:
    """The page's source, ``docs/notebooks/NAME.py`` under ``root``."""
    return root / NOTEBOOKS.relative_to(ROOT) / f"{name}.py"


def stored_path(name: str, root: Path = ROOT) -> Path:
    """Its stored run, ``docs/notebooks/runs/NAME.ipynb`` under ``root``."""
    return root / RUNS.relative_to(ROOT) / f"{name}.ipynb"


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


# ---------------------------------------------------------------- is a stored run still the page's?
def provenance(name: str, root: Path = ROOT) -> dict[str, Any] | None:
    """The provenance of the stored run of ``name``, or ``None`` if there is none."""
    path = stored_path(name, root)
    if not path.is_file():
        return None
    return json.loads(path.read_text(encoding="utf-8")).get("metadata", {}).get(META)


def stale(name: str, root: Path = ROOT) -> list[str]:
    """Why the stored run of ``name`` no longer shows what ``NAME.py`` computes; empty when it does.

    Args:
        name: the notebook, ``docs/notebooks/NAME.py``.
        root: the repository whose files are compared with the run's hashes.
    """
    meta = provenance(name, root)
    if meta is None:
        return [f"no stored run ({stored_path(name, root).relative_to(root)})"]
    reasons = []
    if meta.get("scale") != "full":
        reasons.append(f"stored at the {meta.get('scale')!r} scale, not 'full'")
    if meta.get("source") != sha256(source_path(name, root)):
        reasons.append(f"{source_path(name, root).relative_to(root)} changed")
    for file, digest in sorted(meta.get("code", {}).items()):
        path = root / file
        if not path.is_file():
            reasons.append(f"{file} is gone")
        elif sha256(path) != digest:
            reasons.append(f"{file} changed")
    return reasons


def stale_message(name: str, reasons: list[str]) -> str:
    """One line: which notebook, why, and the command that refreshes it."""
    return f"the stored run of notebook {name} is stale ({'; '.join(reasons)}): refresh it with `{REFRESH.format(name=name)}`"


# ---------------------------------------------------------------- running one
@dataclass
class Run:
    name: str
    notebook: Any  # nbformat.NotebookNode, outputs included
    wall_s: float


def _parameters(notebook: Any, values: dict[str, str]) -> None:
    """Put a cell setting ``values`` after the one tagged ``parameters`` (papermill's convention)."""
    import nbformat

    if not values:
        return
    index = next(
        (i for i, cell in enumerate(notebook.cells) if "parameters" in cell.get("metadata", {}).get("tags", [])), None
    )
    if index is None:
        raise ValueError("the notebook has no cell tagged 'parameters' to set " + ", ".join(values))
    declared = set()
    for node in ast.parse(notebook.cells[index].source).body:
        if isinstance(node, ast.Assign | ast.AnnAssign):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            declared |= {t.id for t in targets if isinstance(t, ast.Name)}
    unknown = sorted(set(values) - declared)
    if unknown:
        raise ValueError(f"unknown parameter {', '.join(unknown)}: the notebook declares {', '.join(sorted(declared))}")
    cell = nbformat.v4.new_code_cell("\n".join(f"{key} = {value}" for key, value in values.items()))
    cell.metadata["tags"] = ["injected-parameters"]
    notebook.cells.insert(index + 1, cell)


def prepare(name: str, scale: str, parameters: dict[str, str] | None = None) -> tuple[Any, dict[str, str]]:
    """The notebook ``name`` read from its source, with ``SCALE`` and ``parameters`` set; and what was set.

    Raises:
        ValueError: an unknown notebook, scale or parameter.
    """
    import jupytext

    if name not in names():
        raise ValueError(f"unknown notebook {name!r}: expected one of {', '.join(names())}")
    if scale not in SCALES:
        raise ValueError(f"unknown scale {scale!r}: expected one of {', '.join(SCALES)}")
    values = {"SCALE": repr(scale), **(parameters or {})} if scale != "full" else dict(parameters or {})
    notebook = jupytext.read(source_path(name))
    declares = any("parameters" in c.get("metadata", {}).get("tags", []) for c in notebook.cells)
    if not declares and set(values) == {"SCALE"}:
        values = {}  # a notebook without parameters runs the same at every scale
    _parameters(notebook, values)
    return notebook, values


def execute_here(name: str, scale: str = "smoke") -> dict[str, Any]:
    """Execute the code cells of notebook ``name`` at ``scale`` in this process; returns their namespace.

    The test suite's way to check that a notebook runs: the same cells and
    parameters as ``execute``, without a kernel to start and torch to import
    again (about 5 s a notebook on 2 cores). What it displays is not rendered.
    """
    notebook, _ = prepare(name, scale)
    if str(NOTEBOOKS) not in sys.path:
        sys.path.insert(0, str(NOTEBOOKS))  # `from _common import ...`, as the kernel's PYTHONPATH has it
    namespace: dict[str, Any] = {"__name__": "__main__"}
    for index, cell in enumerate(notebook.cells):
        if cell.cell_type == "code":
            exec(compile(cell.source, f"{source_path(name)}, cell {index}", "exec"), namespace)  # noqa: S102 (the cells of our own notebook)
    return namespace


def execute(
    name: str,
    scale: str = "full",
    parameters: dict[str, str] | None = None,
    progress: bool = True,
    threads: int | None = None,
) -> Run:
    """Execute notebook ``name`` in a fresh kernel at ``scale``, ``parameters`` set; returns it with its provenance.

    Args:
        name: the notebook, ``docs/notebooks/NAME.py``.
        scale: ``"full"`` or ``"smoke"`` (sets ``SCALE`` in its ``parameters`` cell).
        parameters: more of that cell's names, each to a Python literal (as source text).
        progress: a progress bar over the cells on stderr.
        threads: the kernel's CPU threads (``OMP_NUM_THREADS``); ``None``: torch's default.

    Raises:
        ValueError: an unknown notebook, scale or parameter.
        nbclient.exceptions.CellExecutionError: a cell failed (its traceback in the message).
    """
    import nbformat
    from nbclient import NotebookClient
    from tqdm.auto import tqdm

    notebook, values = prepare(name, scale, parameters)
    notebook.cells.append(nbformat.v4.new_code_cell(_PROVENANCE_CELL.format(root=str(ROOT))))

    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(ROOT), str(NOTEBOOKS), os.environ.get("PYTHONPATH", "")]).rstrip(os.pathsep),
        "TQDM_DISABLE": "1",  # no progress bars inside the stored outputs
        "MPLBACKEND": "module://matplotlib_inline.backend_inline",
        **({"OMP_NUM_THREADS": str(threads)} if threads else {}),
    }
    cells = sum(cell.cell_type == "code" for cell in notebook.cells)
    bar = tqdm(total=cells, desc=name, unit="cell", disable=not progress, leave=True)
    client = NotebookClient(
        notebook,
        kernel_name="python3",
        timeout=None,
        resources={"metadata": {"path": str(NOTEBOOKS)}},
        on_cell_executed=lambda **_: bar.update(),
    )
    start = time.perf_counter()
    try:
        client.execute(env=env)
    finally:
        bar.close()
    wall = time.perf_counter() - start

    last = notebook.cells.pop()  # the provenance cell: read, then dropped
    found = json.loads("".join(o.get("text", "") for o in last.outputs if o.output_type == "stream").strip())
    files = [f for f in found["files"] if f.startswith(CODE)]
    notebook.metadata[META] = {
        "source": sha256(source_path(name)),
        "code": {file: sha256(ROOT / file) for file in files},
        "scale": scale,
        "parameters": values,
        "torch": found["torch"],
        "device": found["device"],
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "wall_s": round(wall, 1),
        "command": REFRESH.format(name=name),
    }
    return Run(name, notebook, wall)


def store(run: Run, runs: Path = RUNS) -> Path:
    """Write the executed notebook atomically into the folder ``runs``; returns its path."""
    import nbformat

    from refimpl.tools.files import atomic_open

    path = runs / f"{run.name}.ipynb"
    with atomic_open(path) as f:
        nbformat.write(run.notebook, f)
    return path


# ---------------------------------------------------------------- the command
def _setting(text: str) -> tuple[str, str]:
    key, sep, value = text.partition("=")
    if not sep or not key.isidentifier():
        raise argparse.ArgumentTypeError(f"{text!r}: expected NAME=VALUE, VALUE a Python literal")
    try:
        ast.literal_eval(value)
    except (ValueError, SyntaxError):
        raise argparse.ArgumentTypeError(f"{text!r}: {value!r} is not a Python literal (quote strings)") from None
    return key, value


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="docs/experiments.py", description=__doc__.split("\n\n")[0])
    parser.add_argument("names", nargs="*", metavar="NAME", help="notebooks to run (default: all)")
    parser.add_argument("--stale", action="store_true", help="run only the stale ones among NAMEs")
    parser.add_argument("--check", action="store_true", help="run nothing; list the stale ones, exit 1 if any")
    parser.add_argument("--smoke", action="store_true", help="the test suite's scale: a few steps of everything")
    parser.add_argument("--set", type=_setting, action="append", default=[], metavar="NAME=VALUE")
    parser.add_argument(
        "--out",
        type=Path,
        help=f"store the runs here (default: {RUNS.relative_to(ROOT)}; a smoke run is stored only with --out)",
    )
    args = parser.parse_args(argv)
    unknown = [n for n in args.names if n not in names()]
    if unknown:
        parser.error(f"unknown notebook {', '.join(unknown)}: expected one of {', '.join(names())}")
    selected = args.names or names()
    if args.check or args.stale:
        reasons = {name: stale(name) for name in selected}  # each run's files hashed once
        selected = [name for name in selected if reasons[name]]
    if args.check:
        for name in selected:
            print(stale_message(name, reasons[name]))
        return 1 if selected else 0
    out = args.out.expanduser() if args.out else (None if args.smoke else RUNS)
    took = {}
    for name in selected:
        try:
            run = execute(name, "smoke" if args.smoke else "full", dict(args.set))
        except ValueError as error:
            parser.error(str(error))
        took[name] = run.wall_s
        if out is not None:
            print(f"{name}: {run.wall_s:.0f} s; stored {store(run, out)}")
    if took:
        print(
            f"{len(took)} notebooks in {sum(took.values()) / 60:.1f} min: "
            + ", ".join(f"{n} {s:.0f} s" for n, s in took.items())
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
