"""Checkpoints: ``save_checkpoint`` writes one atomically, ``load_checkpoint`` reads it back and checks it.

A checkpoint holds the model, optimiser, scheduler and gradient scaler, the
epoch, the metrics so far, the run's settings and every random state (Python,
NumPy, torch, CUDA), all as tensors and plain containers so that
``torch.load(weights_only=True)`` reads it. Each epoch's data order and
augmentation come from (seed, epoch), so a resumed run continues exactly: on
the CPU it ends with the same metrics as an uninterrupted one.

``load_checkpoint`` refuses, in one line, a file that is damaged, foreign,
edited into something no run writes, or that holds diverged weights; a resumed
run must keep the checkpoint's settings (``check_kept``). Every checkpoint
``fit`` or the command writes resumes through both:
``fit(..., resume=load_checkpoint(path))``, or ``train --resume``, which asks
for ``--model`` and ``--dataset`` where a checkpoint of ``fit`` (which trains
any module on any loaders) does not record them.
"""

from __future__ import annotations

import contextlib
import errno
import random
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from refimpl.tools.errors import os_reason
from refimpl.tools.files import atomic_open
from refimpl.tools.train.loop import nonfinite, some
from refimpl.tools.train.settings import FREE_ON_RESUME, is_a, setting_problems

__all__ = ["CheckpointError", "check_kept", "load_checkpoint", "restore", "resumed_settings", "save_checkpoint"]

FORMAT = "refimpl-train-checkpoint"  # marks our checkpoints among other .pt files
FORMAT_VERSION = 1
# what each entry of a checkpoint is (beyond "format" and "version")
CHECKPOINT_TYPES = {
    "config": dict,
    "epoch": int,
    "model": dict,
    "optimizer": dict,
    "scheduler": dict,
    "scaler": dict,
    "history": list,
    "rng": dict,
}
CHECKPOINT_KEYS = tuple(CHECKPOINT_TYPES)
#: what every row of a checkpoint's history holds (rows may hold more: the device, the precision, ...)
HISTORY_NUMBERS = ("epoch", "train_loss", "train_acc", "test_loss", "test_acc")
#: the numbers of SGD's parameter groups and of the schedules' states: an edit that makes one a string
#: (an lr of "abc") would pass torch.load and fail at the first step of every resume
OPTIMIZER_NUMBERS = ("lr", "initial_lr", "max_lr", "min_lr", "momentum", "dampening", "weight_decay")
SCHEDULER_NUMBERS = ("last_epoch", "total_steps", "T_max", "eta_min", "base_lrs", "_last_lr")


class CheckpointError(ValueError):
    """A checkpoint is missing, unreadable, not ours, or from a different recipe."""


def _rng_state() -> dict[str, Any]:
    """Every random state, as tensors and plain Python values (``weights_only`` reads them)."""
    _, keys, pos, has_gauss, gauss = np.random.get_state()
    return {
        "python": random.getstate(),  # (version, tuple of 625 ints, None or float)
        "numpy": {"keys": torch.from_numpy(keys.astype(np.int64)), "pos": pos, "has_gauss": has_gauss, "gauss": gauss},
        "torch": torch.get_rng_state(),
        "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
    }


def _set_rng_state(state: dict[str, Any]) -> None:
    version, internal, gauss = state["python"]
    random.setstate((version, tuple(internal), gauss))
    n = state["numpy"]
    np.random.set_state(("MT19937", n["keys"].numpy().astype(np.uint32), n["pos"], n["has_gauss"], n["gauss"]))
    torch.set_rng_state(state["torch"])
    if state["cuda"] and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def save_checkpoint(path: Path, state: dict[str, Any], replaces: Path | None = None) -> None:
    """Write ``state`` with our format mark and the random states, atomically.

    Args:
        path: the checkpoint file.
        state: what it holds besides the mark and the random states.
        replaces: a file to remove once the new checkpoint is written in full,
            just before it takes the old one's place (an earlier run's metrics).

    Raises:
        OSError: the file cannot be written (a full disk, ...); the earlier file stays.
    """
    with atomic_open(path, "wb") as f:
        try:
            torch.save({"format": FORMAT, "version": FORMAT_VERSION, **state, "rng": _rng_state()}, f)
        except RuntimeError as err:  # torch.save's writer reports a failed write as "unexpected pos ..."
            cause = err.__context__ or err.__cause__
            if isinstance(cause, OSError):  # the file's own error: ENOSPC, EIO, ...
                raise cause from None
            raise OSError(errno.EIO, f"torch.save failed ({err})") from None
        if replaces is not None:
            with contextlib.suppress(FileNotFoundError):
                replaces.unlink()


def load_checkpoint(path: str | Path) -> dict[str, Any]:
    """Read a training checkpoint with ``torch.load(..., weights_only=True)``, and check it.

    The dict returned also holds ``"path"``, the file it was read from (for messages).

    Raises:
        CheckpointError: the file is missing or unreadable (truncated,
            corrupted, holding arbitrary objects, no permission), not a refimpl
            training checkpoint, or edited into something no run writes (an
            unknown entry, a value of the wrong type, a setting out of range, a
            history that does not match its epoch), or it holds non-finite
            weights (saved after the run had diverged).
    """
    path = Path(path)
    if path.is_dir():
        raise CheckpointError(f"no checkpoint at {path}: it is a folder (continue its run with --resume --out {path})")
    if not path.is_file():
        raise CheckpointError(f"no checkpoint at {path}")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except OSError as err:
        raise CheckpointError(f"cannot read checkpoint {path}: {os_reason(err)}") from None
    except Exception as err:  # noqa: BLE001  (zip, pickle and weights-only errors all mean: not loadable)
        raise CheckpointError(
            f"cannot read checkpoint {path}: damaged, or not only tensors and plain containers ({type(err).__name__})"
        ) from None
    if not isinstance(state, dict) or state.get("format") != FORMAT:
        raise CheckpointError(f"{path} is not a refimpl training checkpoint (was it written by 'refimpl train'?)")
    if state.get("version") != FORMAT_VERSION:
        raise CheckpointError(f"{path} has checkpoint version {state.get('version')}, expected {FORMAT_VERSION}")
    missing = [key for key in CHECKPOINT_KEYS if key not in state]
    if missing:
        raise CheckpointError(f"checkpoint {path} lacks {', '.join(missing)}")
    problem = _checkpoint_problem(state)
    if problem:
        raise CheckpointError(f"checkpoint {path} {problem}")
    return {**state, "path": str(path)}


def _checkpoint_problem(state: dict[str, Any]) -> str | None:
    """What makes a checkpoint that ``torch.load`` read unusable (as "has ..."), or ``None``."""
    unknown = [str(key) for key in state if key not in ("format", "version", *CHECKPOINT_KEYS)]
    if unknown:
        return f"has unknown entries: {', '.join(unknown)} (edited, or written by another version?)"
    for key, kind in CHECKPOINT_TYPES.items():
        value = state[key]
        if not is_a(value, kind):
            return f"has {type(value).__name__} {value!r:.40} as its {key!r}, expected {kind.__name__}"
    epoch, history = state["epoch"], state["history"]
    if epoch < 0 or len(history) != epoch or not all(isinstance(row, dict) for row in history):
        return f"has epoch {epoch} but a history of {len(history)} epochs; it was edited"
    problem = _history_problem(history)
    if problem:
        return f"has a history that no run writes ({problem}); it was edited"
    problems = setting_problems(state["config"])
    if problems:
        return "has bad settings: " + "; ".join(problems)
    problem = _numbers_problem(state["optimizer"].get("param_groups"), "an optimizer", OPTIMIZER_NUMBERS)
    problem = problem or _numbers_problem([state["scheduler"]], "a scheduler", SCHEDULER_NUMBERS)
    if problem:
        return f"has {problem}; it was edited"
    weights = state["model"]
    if not all(isinstance(v, Tensor) for v in weights.values()):
        return "has a 'model' that is not all tensors"
    bad, _ = nonfinite(weights)
    if bad:
        return (
            f"holds non-finite weights ({some(bad)}): it was saved after the run had diverged; "
            "start a new run, or resume from an earlier checkpoint"
        )
    return None


def _history_problem(history: list[dict[str, Any]]) -> str | None:
    """What makes ``history`` unlike the rows a run writes, or ``None``: plain JSON values, epochs 1, 2, ..."""
    for i, row in enumerate(history, 1):
        missing = [key for key in HISTORY_NUMBERS if key not in row]
        if missing:
            return f"row {i} lacks {', '.join(missing)}"
        odd = [str(k) for k, v in row.items() if not isinstance(v, str | int | float | bool | None)]
        if odd:
            return f"row {i} holds {', '.join(odd)} of a type JSON has not"
        if row["epoch"] != i:
            return f"row {i} is epoch {row['epoch']!r}"
        not_numbers = [k for k in HISTORY_NUMBERS[1:] if not _is_number(row[k])]
        if not_numbers:
            return f"row {i} has {', '.join(not_numbers)} that are not numbers"
    return None


def _is_number(value: Any) -> bool:
    """A real number or None (a non-finite one is written as None), or a one-element tensor (a fused SGD's lr)."""
    if isinstance(value, Tensor):
        return value.numel() == 1 and value.is_floating_point()
    return value is None or is_a(value, float)


def _numbers_problem(groups: Any, what: str, keys: tuple[str, ...]) -> str | None:
    """Which of ``keys`` in the dicts ``groups`` is not a number (or a list of numbers), as "a ... that ..."."""
    if not isinstance(groups, list) or not all(isinstance(group, dict) for group in groups):
        return f"{what} without its parameter groups"
    for group in groups:
        for key in keys:
            value = group.get(key)
            values = value if isinstance(value, list) else [value]
            if not all(_is_number(v) for v in values):
                return f"{what} whose {key} is {value!r:.40}, not a number"
    return None


def restore(
    state: dict[str, Any],
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    scheduler: torch.optim.lr_scheduler.LRScheduler,
    scaler: torch.amp.GradScaler,
) -> tuple[list[dict[str, Any]], int]:
    """Load a checkpoint's states into the training objects and the random states; returns its history and epoch.

    Raises:
        CheckpointError: the states do not fit the objects.
    """
    try:
        model.load_state_dict(state["model"])
        kept = [group["lr"] for group in optimizer.param_groups]
        optimizer.load_state_dict(state["optimizer"])
        for group, lr in zip(optimizer.param_groups, kept, strict=True):
            if isinstance(lr, Tensor):  # a tensor lr stays the same tensor, on its device: a CUDA graph reads it
                group["lr"] = lr.fill_(float(group["lr"]))
        scheduler.load_state_dict(state["scheduler"])
        scaler.load_state_dict(state["scaler"])
        _set_rng_state(state["rng"])
        return list(state["history"]), int(state["epoch"])
    # a damaged or hand-edited checkpoint: states of the wrong shape or type
    except (AttributeError, IndexError, KeyError, RuntimeError, TypeError, ValueError) as err:
        why = " ".join(str(err).split())  # PyTorch's messages span several lines
        why = why if len(why) < 200 else why[:200] + "..."
        source = f"checkpoint {state['path']}" if "path" in state else "the checkpoint"
        raise CheckpointError(f"{source} does not fit this run: {why}") from None


def check_kept(saved: dict[str, Any], settings: dict[str, Any]) -> None:
    """Refuse ``settings`` that differ from a checkpoint's ``saved`` ones; a setting it does not record is free.

    Raises:
        CheckpointError: naming each setting that differs, with both values.
    """
    differ = {k: (v, saved[k]) for k, v in settings.items() if k in saved and saved[k] != v}
    if differ:
        text = ", ".join(f"{k} {new!r} (checkpoint: {old!r})" for k, (new, old) in differ.items())
        raise CheckpointError(f"the resumed run must keep the checkpoint's settings; differs: {text}")


def resumed_settings(resume: dict[str, Any], recipe: dict[str, Any]) -> dict[str, Any]:
    """The settings a run resumed by ``fit`` records: the checkpoint's, which the recipe must keep.

    A checkpoint of the command also records the model and the data (its
    flags); they stay, so that ``train --resume`` can continue the run after
    ``fit`` did.

    Raises:
        CheckpointError: the recipe differs from the checkpoint's in a setting that changes the numbers.
    """
    check_kept(resume["config"], {k: v for k, v in recipe.items() if k not in FREE_ON_RESUME})
    return {**resume["config"], **recipe}
