"""The run folder: created, locked and checked before a run, and its ``metrics.jsonl``.

What a run leaves in its folder (``--out DIR``, ``fit``'s ``out``), written
only after an epoch has finished and passed the divergence check, each file
atomically (``checkpoint.pt`` first): ``checkpoint.pt`` (see
``refimpl.tools.train.checkpoint``) and ``metrics.jsonl``, one strict JSON
line per epoch (epoch, train loss and accuracy, test loss and accuracy, images
per second, seconds, device, precision, layout; a non-finite number is written
``null`` and named in a ``"nonfinite"`` list). Files follow the umask.

A run folder is never silently reused. While a run is going, it holds an OS
lock on its folder (``DIR/.lock``, with its pid and command, removed when the
run ends; the system releases the lock of a killed run), and a second run into
the folder is refused, naming the first. A new run into a folder that already
holds a run (a ``checkpoint.pt``, or a ``metrics.jsonl`` that is not empty) is
refused, naming ``--resume`` (continue it) and ``--overwrite`` (start over: the
earlier run's files stay until the new run's first epoch replaces them). This
holds for the default folder ``runs/MODEL-DATASET`` too, so a sweep needs an
``--out`` per run. A folder that cannot be created or written is refused with
the reason; one created for a run that then saved nothing is removed again
(also after Ctrl-C or SIGTERM; only SIGKILL leaves it, holding ``.lock``,
which the next run into it reuses). Temporary files that a killed run left are
removed when the folder is next opened. Nothing is written through a link the
run did not make: a ``.lock`` that is a link is refused, and a file of the run
that is a link is replaced, not the file it points to.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from refimpl.tools.errors import os_reason
from refimpl.tools.files import FolderLockedError, atomic_open, lock_folder, remove_stale

__all__ = ["CHECKPOINT", "CLASSES", "METRICS", "RunFolder", "RunFolderError", "open_run_folder", "write_metrics"]

CHECKPOINT = "checkpoint.pt"
METRICS = "metrics.jsonl"
CLASSES = "classes.json"  # the class names in label order, where the run records them


class RunFolderError(RuntimeError):
    """The run folder cannot be used: not writable, in use by another run, or holding a run already."""


def _cannot_write(folder: Path, err: OSError) -> str:
    why = os_reason(err)
    for parent in folder.parents:  # a path under a file: name the file
        with contextlib.suppress(OSError):
            if parent.is_file():
                return f"cannot write to the run folder {folder}: {why} ({parent} is a file)"
    return f"cannot write to the run folder {folder}: {why}"


def _holds_run(folder: Path) -> list[str]:
    """The files by which ``folder`` holds a run: a checkpoint, or metrics that are not empty."""
    held = []
    for name in (METRICS, CHECKPOINT):
        path = folder / name
        with contextlib.suppress(OSError):
            if path.exists() and (name == CHECKPOINT or path.stat().st_size > 0):
                held.append(name)
    return held


@dataclass
class RunFolder:
    """An open run folder: locked, checked, and told whether it held another run.

    Attributes:
        path: the folder.
        replaces: it holds an earlier run, which ``--overwrite`` lets this one
            replace; cleared once this run's first checkpoint is written.
    """

    path: Path
    replaces: bool

    @property
    def checkpoint(self) -> Path:
        """The run's ``checkpoint.pt``."""
        return self.path / CHECKPOINT

    @property
    def metrics(self) -> Path:
        """The run's ``metrics.jsonl``."""
        return self.path / METRICS

    @property
    def classes(self) -> Path:
        """The run's ``classes.json``: its class names in label order, where the run records them."""
        return self.path / CLASSES


@contextlib.contextmanager
def open_run_folder(out: str | Path, resume: dict[str, Any] | None, overwrite: bool) -> Iterator[RunFolder]:
    """Create ``out`` if need be and lock it for the block; refuse a folder that cannot take this run.

    Folders created here are removed again if the block leaves them empty (a
    run that failed or was interrupted before its first epoch was saved).

    Args:
        out: the run folder; ``~`` is the home folder.
        resume: the checkpoint the run continues (``load_checkpoint``'s), or ``None``.
        overwrite: let the folder hold another run, which this one replaces.

    Raises:
        RunFolderError: ``out`` cannot be created or written, another run holds
            its lock, or it holds a run that this one neither resumes nor may
            overwrite.
    """
    out = Path(out).expanduser()
    created: list[Path] = []  # the folders made here, deepest first
    try:
        lock = contextlib.ExitStack()
        try:
            if out.is_symlink() and not out.exists():
                raise RunFolderError(
                    f"cannot use {out} as the run folder: it is a link to {os.readlink(out)}, which does not exist"
                )
            if out.exists() and not out.is_dir():
                raise RunFolderError(f"cannot use {out} as the run folder: it is a file")
            missing = out
            while not missing.exists() and missing != missing.parent:
                created.append(missing)
                missing = missing.parent
            out.mkdir(parents=True, exist_ok=True)
            lock.enter_context(lock_folder(out))
        except FolderLockedError as err:
            raise RunFolderError(
                f"{out} is in use by another run ({err.holder}); wait for it to end, or choose another --out"
            ) from None
        except OSError as err:  # a read-only folder or file system, a path under a file, ...
            raise RunFolderError(_cannot_write(out, err)) from None
        with lock:
            yield _checked_run_folder(out, resume, overwrite)
    finally:
        for folder in created:  # a run that wrote nothing leaves no empty folder
            with contextlib.suppress(OSError):
                folder.rmdir()  # only an empty one


def _checked_run_folder(out: Path, resume: dict[str, Any] | None, overwrite: bool) -> RunFolder:
    """The locked folder ``out``, once cleared of a killed run's temporary files and checked for a run."""
    remove_stale(out, (CHECKPOINT, METRICS, CLASSES))  # a killed run's half-written files; we hold the lock
    held = _holds_run(out)
    source = None if resume is None else resume.get("path")
    own = source is not None and Path(source).resolve() == (out / CHECKPOINT).resolve()
    if held and not own and not overwrite:
        other = "" if resume is None else f" other than that of {source or 'the checkpoint given'}"
        raise RunFolderError(
            f"{out} already holds a run ({', '.join(held)}){other}; continue it with --resume, "
            "or start over with --overwrite, or choose another --out"
        )
    return RunFolder(out, replaces=bool(held) and not own)


def _json_row(row: dict[str, Any]) -> str:
    """One strict JSON line: a non-finite number becomes ``null`` and is named in ``"nonfinite"``."""
    bad = [k for k, v in row.items() if isinstance(v, float) and not math.isfinite(v)]
    if bad:
        row = {**{k: None if k in bad else v for k, v in row.items()}, "nonfinite": bad}
    return json.dumps(row, allow_nan=False)


def write_metrics(path: Path, history: list[dict[str, Any]]) -> None:
    """Write ``metrics.jsonl`` atomically, one strict JSON line per epoch of ``history``.

    Raises:
        OSError: the file cannot be written; the earlier one stays.
    """
    with atomic_open(path) as f:  # rewritten whole: after a resume it holds exactly the checkpoint's epochs
        f.writelines(_json_row(row) + "\n" for row in history)
