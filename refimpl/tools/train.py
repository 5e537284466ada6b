"""Training: ``fit`` trains any model; ``python -m refimpl train`` any model of the registry.

    python -m refimpl train --model resnet18 --small-input --dataset cifar10 --download --epochs 5
    python -m refimpl train --model resnet20 --dataset digits --epochs 8 --device cpu --out runs/x

The recipe: SGD with Nesterov momentum 0.9, weight decay 5e-4, label smoothing
0.1, a one-cycle (or cosine) learning rate stepped every batch, random crops and
flips. On CUDA it trains in bfloat16 autocast (float16 with a gradient scaler
where the GPU has no bfloat16) with channels_last tensors, and can use
``torch.compile``; on the CPU it trains in float32. ``--device auto`` takes
CUDA when there is one and says which device it uses.

Full CIFAR-10 training (EXPECTED accuracies from the literature, not measured
by this project):

    # ResNet-20, 0.27M parameters. Expected about 91-92% test accuracy: the
    # paper reports 91.25% (8.75% error, 164 epochs of batch 128, lr 0.1).
    python -m refimpl train --model resnet20 --dataset cifar10 --epochs 160 --batch-size 128 --lr 0.1
    # ResNet-18 with the 3x3 stem (--small-input). Expected about 95%: 200
    # epochs of batch 128, lr 0.1 and cosine decay are reported at 93-95%
    # (e.g. kuangliu/pytorch-cifar).
    python -m refimpl train --model resnet18 --small-input --dataset cifar10 --epochs 200 --batch-size 128 \\
        --lr 0.1 --schedule cosine

On a GPU, the recommended recipe (``CUDA_RECIPE``) trains at batch 512 with
the learning rate scaled with it; the step is replayed from a CUDA graph with
the fused SGD (``--cuda-graph``, ``--fused``, both on by default on CUDA).
EXPECTED, not measured by this project: about 94% for ResNet-18 with the 3x3
stem in 30 epochs; one-cycle schedules reach in tens of epochs what step
schedules reach in hundreds (Smith and Topin, arXiv:1708.07120):

    python -m refimpl train --model resnet18 --small-input --dataset cifar10 --epochs 30 --batch-size 512 \\
        --lr 0.4 --device cuda

From Python, ``fit`` trains any ``nn.Module`` (not only the registry's) on a
(train, test) pair of loaders with a ``Recipe``, writing into a run folder or,
for a notebook, nothing; ``on_step`` hands out the loss of every step:

    history = fit(resnet20(), make_loaders("digits", 32, torch.device("cpu")), Recipe(epochs=3), out=None)

What this file holds, top to bottom:

1. ``RULES``, what every setting accepts (the command's flags, ``Recipe``,
   ``TrainConfig`` and a checkpoint's settings are all checked against them);
   ``TrainConfig``, the settings (the command's flags), ``Recipe``, the
   optimisation settings among them, and the choices they lead to: device,
   precision and layout, model, optimiser and schedule;
2. ``train_epoch`` and ``evaluate``, the loops (also used by
   ``benchmarks/train_throughput.py``);
3. checkpoints: ``save_checkpoint`` and ``load_checkpoint`` (which refuses
   a damaged, foreign, edited or diverged one), random states included;
4. the run folder (created, locked, never silently reused) and ``fit``,
   which trains a model epoch by epoch, checks each epoch for divergence,
   writes the metrics and checkpoints, and resumes from a checkpoint;
5. ``train``, the command: it opens the run folder first (so that a refusal
   comes before any work), builds the model, the data and the device from a
   ``TrainConfig`` and trains as ``fit`` does; ``resolve_config`` fills a
   ``--resume`` run's settings from its checkpoint.

What a run leaves in ``--out DIR`` (``fit``'s ``out``), written only after an
epoch has finished and passed the divergence check, each file atomically
(``checkpoint.pt`` first): ``checkpoint.pt``, which holds the model, optimiser,
scheduler and gradient scaler, the epoch, the metrics so far and every random
state (Python, NumPy, torch, CUDA), all as tensors and plain containers so that
``torch.load(weights_only=True)`` reads it; and ``metrics.jsonl``, one strict
JSON line per epoch (epoch, train loss and accuracy, test loss and accuracy,
images per second, seconds, device, precision, layout; a non-finite number
would be written ``null`` and named in a ``"nonfinite"`` list). Files follow
the umask. Each epoch's data order and augmentation come from (seed, epoch), so
``--resume`` continues exactly: on the CPU a resumed run ends with the same
metrics as an uninterrupted one.

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
that is a link is replaced, not the file it points to. The first epoch of an
``--overwrite`` run removes the earlier run's ``metrics.jsonl`` once its own
checkpoint is written in full, just before that takes the earlier one's place,
so the two files never come from different runs.

A run stops, with a message naming the step and the last good checkpoint,
which stays, when a training loss is not finite (checked every ``log_every``
steps), or when an epoch ends with a non-finite training or test loss or
non-finite weights (checked before its checkpoint is written). Ctrl-C or
SIGTERM (what a job scheduler sends before it kills a job) stops it with
``TrainingInterrupted``, which names the last epoch saved: the epoch in
progress is lost, and a resumed run trains it again from its start. A signal
that arrives while an epoch's files are written waits until both are written.

Every checkpoint ``fit`` or ``train`` writes resumes through both:
``fit(..., resume=load_checkpoint(path))``, or ``train --resume``, which asks
for ``--model`` and ``--dataset`` where a checkpoint of ``fit`` (which trains
any module on any loaders) does not record them.
"""

from __future__ import annotations

import contextlib
import dataclasses
import errno
import itertools
import json
import math
import os
import random
import signal
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.utils.data import DataLoader
from tqdm import tqdm

from refimpl.tools.data import DATASETS, NUM_CLASSES, DeviceLoader, make_loaders
from refimpl.tools.files import FolderLockedError, atomic_open, lock_folder, remove_stale
from refimpl.tools.registry import get_spec

__all__ = [
    "CheckpointError",
    "NonFiniteLossError",
    "Recipe",
    "RunFolderError",
    "Stopped",
    "TrainConfig",
    "TrainingInterrupted",
    "build_model",
    "evaluate",
    "fit",
    "load_checkpoint",
    "make_optimizer",
    "resolve_config",
    "resolve_device",
    "train",
    "train_epoch",
]

CHECKPOINT = "checkpoint.pt"
METRICS = "metrics.jsonl"
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
OLD_LOADER_NAMES = {"gpu": "device"}  # checkpoints written before the rename still resume


class CheckpointError(ValueError):
    """A checkpoint is missing, unreadable, not ours, or from a different recipe."""


class NonFiniteLossError(RuntimeError):
    """The run diverged: a non-finite loss or non-finite weights; the message names the step."""


class RunFolderError(RuntimeError):
    """The run folder cannot be used: not writable, in use by another run, or holding a run already."""


class Stopped(KeyboardInterrupt):
    """SIGINT (Ctrl-C) or SIGTERM (what a job scheduler sends) arrived while a run was going.

    Attributes:
        signum: the signal's number (``signal.SIGINT`` or ``signal.SIGTERM``).
    """

    def __init__(self, signum: int = signal.SIGINT) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


class TrainingInterrupted(KeyboardInterrupt):
    """Training was interrupted (Ctrl-C or SIGTERM); says which epoch was saved last, and where.

    The epoch in progress is not saved: a resumed run trains it again from its start.

    Attributes:
        epoch: the last finished epoch (0 if none).
        epochs: the epochs the run was to train.
        checkpoint: the checkpoint that holds ``epoch``, or ``None``.
        folder: the run folder, or ``None`` (``fit`` with ``out=None``).
        signum: the signal that stopped it (``signal.SIGINT`` for Ctrl-C or a plain ``KeyboardInterrupt``).
    """

    def __init__(
        self, epoch: int, epochs: int, checkpoint: Path | None, folder: Path | None, signum: int = signal.SIGINT
    ) -> None:
        where = f"; checkpoint: {checkpoint}" if checkpoint is not None else "; no checkpoint"
        super().__init__(f"interrupted after epoch {epoch} of {epochs}{where}")
        self.epoch, self.epochs, self.checkpoint, self.folder = epoch, epochs, checkpoint, folder
        self.signum = signum


class _StopSignals:
    """SIGINT and SIGTERM raise ``Stopped``, except inside ``hold()``, which lets a save finish first.

    Installed only in the main thread (the only one Python delivers signals to),
    and only over the default handlers: a signal the parent ignores (a
    background job's SIGINT) stays ignored, and a notebook kernel's own handler stays.
    """

    def __init__(self) -> None:
        self.holding = False
        self.pending: int | None = None

    def handler(self, signum: int, frame: object) -> None:
        if self.holding:
            self.pending = signum  # raised when the save is complete
            return
        raise Stopped(signum)

    @contextlib.contextmanager
    def hold(self) -> Iterator[None]:
        """The block runs to its end; a signal that arrives meanwhile is raised after it."""
        self.holding = True
        try:
            yield
        finally:
            self.holding = False
        if self.pending is not None:
            signum, self.pending = self.pending, None
            raise Stopped(signum)


_SIGNALS: _StopSignals | None = None  # the active one, while a run is going in the main thread
_DEFAULT_HANDLERS = {signal.SIGINT: signal.default_int_handler, signal.SIGTERM: signal.SIG_DFL}


@contextlib.contextmanager
def _stop_on_signals() -> Iterator[None]:
    """Turn SIGINT and SIGTERM into ``Stopped`` for the block (see ``_StopSignals``); nests."""
    global _SIGNALS
    if _SIGNALS is not None or threading.current_thread() is not threading.main_thread():
        yield
        return
    _SIGNALS = _StopSignals()
    installed = {}
    try:
        for signum, default in _DEFAULT_HANDLERS.items():
            if signal.getsignal(signum) is default:
                installed[signum] = signal.signal(signum, _SIGNALS.handler)
        yield
    finally:
        for signum, previous in installed.items():
            signal.signal(signum, previous)
        _SIGNALS = None


def _saving() -> contextlib.AbstractContextManager[None]:
    """Hold SIGINT and SIGTERM back while a checkpoint and its metrics are written."""
    return _SIGNALS.hold() if _SIGNALS is not None else contextlib.nullcontext()


MAX_LR = 10.0  # beyond it SGD only diverges (and past 3.4e38 the step overflows float32)
MAX_SEED = 2**32 - 1  # NumPy's seeds
SCHEDULES = ("onecycle", "cosine")
#: the recommended CIFAR-10 recipe on a GPU (see the module's description): batch 512 keeps a GPU busy, and
#: the peak learning rate grows with the batch (0.1 per 128 images, the linear scaling rule of Goyal et al.,
#: arXiv:1706.02677); the one-cycle warm-up covers the first quarter of the steps
CUDA_RECIPE = {"batch_size": 512, "lr": 0.4, "epochs": 30, "schedule": "onecycle"}


@dataclass(frozen=True)
class Rule:
    """What a setting accepts: its type, its range in words, ``None`` or not."""

    kind: type
    accepts: Callable[[Any], bool]
    what: str
    optional: bool = False

    def problem(self, value: Any) -> str | None:
        """Why ``value`` is not accepted, or ``None`` if it is."""
        if value is None and self.optional:
            return None
        if self.kind is float:  # an int will do for a float, a bool will not
            right_type = isinstance(value, int | float) and not isinstance(value, bool)
        else:
            right_type = isinstance(value, self.kind) and (self.kind is bool or not isinstance(value, bool))
        return None if right_type and self.accepts(value) else f"expected {self.what}, got {value!r}"


def _one_of(*names: str) -> Rule:
    return Rule(str, lambda v: v in names, "one of " + ", ".join(names))


_ANY_BOOL = Rule(bool, lambda v: True, "true or false")
#: every setting of ``Recipe`` and ``TrainConfig``: the command's flags, the Python API and a
#: checkpoint's settings are all checked against these
RULES: dict[str, Rule] = {
    "epochs": Rule(int, lambda v: v >= 1, "a positive integer"),
    "lr": Rule(float, lambda v: 0 < v <= MAX_LR, f"a number in (0, {MAX_LR:g}]"),  # NaN fails too
    "schedule": _one_of(*SCHEDULES),
    "momentum": Rule(float, lambda v: 0 < v < 1, "a number in (0, 1)"),  # Nesterov needs some
    "weight_decay": Rule(float, lambda v: 0 <= v < math.inf, "a non-negative number"),
    "label_smoothing": Rule(float, lambda v: 0 <= v <= 1, "a number in [0, 1]"),
    "max_steps": Rule(int, lambda v: v >= 1, "a positive integer", optional=True),
    "total_steps": Rule(int, lambda v: v >= 1, "a positive integer", optional=True),
    "seed": Rule(int, lambda v: 0 <= v <= MAX_SEED, "an integer from 0 to 2**32 - 1"),
    "log_every": Rule(int, lambda v: v >= 1, "a positive integer"),
    "model": Rule(str, lambda v: v != "", "a model name"),
    "small_input": _ANY_BOOL,
    "dataset": _one_of(*DATASETS),
    "data_root": Rule(str, lambda v: True, "a folder"),
    "download": _ANY_BOOL,
    # batch normalisation computes its statistics over the batch: one image gives none
    "batch_size": Rule(int, lambda v: v >= 2, "an integer of at least 2 (batch normalisation needs 2 images)"),
    "device": _one_of("auto", "cpu", "cuda"),
    "out": Rule(str, lambda v: True, "a folder", optional=True),
    "resume": Rule(str, lambda v: True, "a checkpoint file", optional=True),
    "overwrite": _ANY_BOOL,
    "compile": _ANY_BOOL,
    "cuda_graph": Rule(bool, lambda v: True, "true or false", optional=True),
    "fused": Rule(bool, lambda v: True, "true or false", optional=True),
    "loader": _one_of("device", "dataloader"),
    "normalize": _one_of("imagenet", "cifar10"),
    "workers": Rule(int, lambda v: v >= 0, "a non-negative integer"),
}


def setting_problems(settings: dict[str, Any], unknown: bool = False) -> list[str]:
    """What is wrong with ``settings``, one ``"name: why"`` each; empty if nothing.

    Args:
        settings: values by the names of ``RULES``.
        unknown: whether a name outside ``RULES`` is a problem (else it is ignored).
    """
    problems = []
    for name, value in settings.items():
        rule = RULES.get(name)
        if rule is None and not unknown:
            continue
        why = "unknown setting" if rule is None else rule.problem(value)
        if why is not None:
            problems.append(f"{name}: {why}")
    return problems


def _check(owner: object) -> None:
    problems = setting_problems(dataclasses.asdict(owner))
    if problems:
        raise ValueError(f"{type(owner).__name__}: " + "; ".join(problems))


@dataclass(frozen=True)
class Recipe:
    """How ``fit`` optimises: SGD with Nesterov momentum, a per-step schedule, label smoothing.

    Args:
        epochs: passes over the training loader.
        lr: peak learning rate (one-cycle) or initial learning rate (cosine).
        schedule: ``"onecycle"`` or ``"cosine"``, stepped after every batch.
        momentum: SGD's (Nesterov) momentum, the same at every step.
        weight_decay: L2 penalty of SGD.
        label_smoothing: of the cross-entropy loss.
        max_steps: at most this many training (and test) batches per epoch, for
            smoke runs; ``None`` for all of them.
        total_steps: stop after this many training steps in all, part of the way
            through the last epoch if need be; the schedule spans exactly these
            steps. ``None`` for ``epochs`` whole epochs.
        seed: seeds Python's, NumPy's and torch's random state when training
            starts (a resumed run restores the saved states instead). The
            loaders seed their own data order and augmentation.
        log_every: steps between read-backs of the loss from the device (the
            progress bar, the non-finite check and ``on_step`` follow them).

    Raises:
        ValueError: a setting its rule in ``RULES`` refuses (an ``lr`` outside
            (0, 10], a negative ``seed``, ...), named in the message.
    """

    epochs: int = 30
    lr: float = 0.1
    schedule: str = "onecycle"
    momentum: float = 0.9
    weight_decay: float = 5e-4
    label_smoothing: float = 0.1
    max_steps: int | None = None
    total_steps: int | None = None
    seed: int = 0
    log_every: int = 10

    def __post_init__(self) -> None:
        _check(self)  # a ValueError naming the field, not a failure deep inside the optimiser


@dataclass
class TrainConfig:
    """Everything a training run of the command needs; the fields are its flags.

    Args:
        model: a name from ``list_models()``.
        small_input: build an ImageNet ResNet with the 3x3 stem for 32x32 images.
        dataset: ``"cifar10"``, ``"digits"`` or ``"fake"``.
        data_root: the folder that holds ``cifar-10-batches-py/``.
        download: fetch CIFAR-10 if it is missing.
        epochs: passes over the training set.
        batch_size: images per step, at least 2 (batch normalisation needs two).
        lr: peak learning rate (one-cycle) or initial learning rate (cosine).
        max_steps: at most this many training (and test) batches per epoch, for smoke runs.
        device: ``"auto"`` (CUDA when present), ``"cpu"`` or ``"cuda"``.
        out: folder for ``metrics.jsonl`` and ``checkpoint.pt``; ``None`` gives
            ``runs/MODEL-DATASET``. A folder that holds a run is refused unless
            the run is resumed or ``overwrite`` is set.
        resume: a checkpoint to continue from; ``""`` means ``OUT/checkpoint.pt``.
        overwrite: start over in a folder that holds another run; its files
            stay until this run's first epoch replaces them.
        seed: seeds the initialisation, the data order and the augmentation.
        compile: wrap the model in ``torch.compile``.
        loader: ``"device"`` (``DeviceLoader``: the data set kept and augmented
            on the training device, GPU or CPU) or ``"dataloader"``
            (``WorkerLoader``: the notes' DataLoader with PIL transforms in
            worker processes).
        normalize: ``"imagenet"`` (the notes' statistics) or ``"cifar10"``.
        workers: worker processes of the ``"dataloader"`` loader.
        schedule: ``"onecycle"`` or ``"cosine"``.
        momentum: SGD's (Nesterov) momentum, the same at every step.
        weight_decay: L2 penalty of SGD.
        label_smoothing: of the cross-entropy loss.
        cuda_graph: capture the whole training step (forward, backward,
            optimiser) in a CUDA graph and replay it; ``None``: on CUDA in
            bfloat16 without ``compile``, off otherwise. CUDA only.
        fused: the fused SGD kernel; ``None``: on CUDA, off on the CPU.

    Raises:
        ValueError: a setting its rule in ``RULES`` refuses (a ``batch_size``
            of 1, which batch normalisation cannot train with, ...).
    """

    model: str = "resnet20"
    small_input: bool = False
    dataset: str = "cifar10"
    data_root: str = "."
    download: bool = False
    epochs: int = 30
    batch_size: int = 64
    lr: float = 0.1
    max_steps: int | None = None
    device: str = "auto"
    out: str | None = None
    resume: str | None = None
    overwrite: bool = False
    seed: int = 0
    compile: bool = False
    loader: str = "device"
    normalize: str = "imagenet"
    workers: int = 2
    schedule: str = "onecycle"
    momentum: float = 0.9
    weight_decay: float = 5e-4
    label_smoothing: float = 0.1
    cuda_graph: bool | None = None
    fused: bool | None = None

    def __post_init__(self) -> None:
        _check(self)

    def recipe(self) -> Recipe:
        """The optimisation settings among the flags, for ``fit`` (the fields of ``Recipe`` it has)."""
        shared = [f.name for f in dataclasses.fields(Recipe) if hasattr(self, f.name)]
        return Recipe(**{name: getattr(self, name) for name in shared})


# the settings that decide a run's numbers: a resumed run must keep them
KEPT_ON_RESUME = (
    "model",
    "small_input",
    "dataset",
    "normalize",
    "epochs",
    "batch_size",
    "lr",
    "max_steps",
    "seed",
    "loader",
    "workers",
    "schedule",
    "momentum",
    "weight_decay",
    "label_smoothing",
)


def _kept_settings(config: TrainConfig) -> dict[str, Any]:
    return {name: getattr(config, name) for name in KEPT_ON_RESUME}


def resolve_device(name: str) -> torch.device:
    """``"auto"``, ``"cpu"`` or ``"cuda"`` as a device; ``auto`` takes CUDA when present.

    Raises:
        ValueError: ``"cuda"`` was asked for and there is no CUDA device.
    """
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise ValueError("--device cuda: no CUDA device is available (use --device cpu or auto)")
    if name not in ("cpu", "cuda"):
        raise ValueError(f"unknown device {name!r}; known: auto, cpu, cuda")
    return torch.device(name)


def _describe(device: torch.device) -> str:
    return f"cuda ({torch.cuda.get_device_name(device)})" if device.type == "cuda" else "cpu"


def fast_settings(device: torch.device) -> tuple[torch.dtype | None, torch.memory_format]:
    """The autocast dtype (``None`` for float32) and memory layout used on ``device``.

    On CUDA: bfloat16 (or float16 where the GPU lacks bfloat16) and
    channels_last, which lets cuDNN use tensor cores without transposes. On the
    CPU: float32 and the usual layout, since most CPUs are no faster otherwise.
    """
    if device.type != "cuda":
        return None, torch.contiguous_format
    dtype = torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    return dtype, torch.channels_last


def _seed_all(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def build_model(name: str, small_input: bool = False, num_classes: int = NUM_CLASSES) -> nn.Module:
    """A freshly initialised model from the registry, for ``num_classes`` classes.

    Raises:
        ValueError: an unknown model, or ``small_input`` for a model without that option.
    """
    spec = get_spec(name)  # an unknown name fails here, with suggestions
    if small_input and not spec.small_input:  # asked of the spec: a TypeError inside a builder stays one
        size = spec.input_size
        raise ValueError(f"{name} does not take --small-input (it is built for {size}x{size} images)")
    options = {"small_input": True} if small_input else {}
    return spec.builder(num_classes=num_classes, **options)


def make_optimizer(
    model: nn.Module, recipe: Recipe, total_steps: int, fused: bool = False
) -> tuple[torch.optim.SGD, torch.optim.lr_scheduler.LRScheduler]:
    """SGD with Nesterov momentum and weight decay, and its per-step schedule over ``total_steps``.

    Both schedules work for any ``total_steps`` >= 1. One-cycle warms up from
    lr / 25 to lr over the first 25% of the steps and anneals to nearly 0
    (PyTorch's ``OneCycleLR``); cosine anneals from lr to 0. The momentum
    stays ``recipe.momentum`` throughout.

    Args:
        model: whose parameters are optimised.
        recipe: lr, momentum, weight decay and schedule.
        total_steps: steps the schedule spans.
        fused: one fused kernel per step for all parameters (``fused=True``)
            instead of a few ``foreach`` kernels; the learning rate is then a
            tensor on the parameters' device, which the scheduler updates in
            place, so that a step captured in a CUDA graph reads the current one.
    """
    if total_steps < 1:
        raise ValueError(f"a schedule needs at least one step, got total_steps={total_steps}")
    device = next(model.parameters()).device
    lr = torch.tensor(recipe.lr, device=device) if fused else recipe.lr
    optimizer = torch.optim.SGD(
        model.parameters(),
        lr=lr,
        momentum=recipe.momentum,
        nesterov=True,
        weight_decay=recipe.weight_decay,
        fused=fused or None,
    )
    if recipe.schedule == "onecycle":  # warm up for 25% of the steps, then anneal to nearly 0
        pct_start = 0.25
        if pct_start * total_steps == 1:
            # OneCycleLR's warm-up spans steps 0 .. pct_start * total_steps - 1, here step 0 alone, and
            # interpolating within it divides 0 by 0 (total_steps = 4). A hair longer, it is one step
            # long: step 0 starts at lr / 25, as for any longer run, and the anneal takes the rest.
            pct_start *= 1 + 1e-6
        # the momentum stays fixed (no cycling): a CUDA graph holds it as a constant
        scheduler: torch.optim.lr_scheduler.LRScheduler = torch.optim.lr_scheduler.OneCycleLR(
            optimizer, max_lr=recipe.lr, total_steps=total_steps, pct_start=pct_start, cycle_momentum=False
        )
    elif recipe.schedule == "cosine":
        scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=total_steps)
    else:
        raise ValueError(f"unknown schedule {recipe.schedule!r}; known: onecycle, cosine")
    return optimizer, scheduler


# --8<-- [start:train_step]
class TrainStep:
    """One training step, ``step(images, labels) -> (loss, correct)``: eager, or replayed from a CUDA graph.

    Eager, a step is the usual forward (under autocast), loss, backward and
    optimiser step. At batch 64 a GPU finishes a small network's kernels
    faster than Python launches them; a CUDA graph records the whole step once
    and then launches it as one unit. Replaying it is the same arithmetic on
    the same buffers: the batch is copied into fixed input tensors, and the
    learning rate lives in a tensor the scheduler updates in place.

    The graph is recorded on the ``warmup + 1``-th call; the calls before it
    run eagerly on a side stream (cuDNN picks its algorithms, the optimiser
    creates its momentum buffers). A batch of another shape runs eagerly.

    Args:
        model: in training mode.
        optimizer: stepped every call. A graph needs one whose step reads the
            learning rate from a tensor without a host synchronisation: SGD
            with ``fused=True`` and a tensor ``lr`` (``make_optimizer(..., fused=True)``).
        scaler: the gradient scaler (float16 only). A graph cannot hold its
            host-side checks, so it must be disabled for one.
        amp_dtype: autocast dtype, or ``None`` for float32.
        label_smoothing: of the cross-entropy loss.
        cuda_graph: record and replay the step in a CUDA graph.
        warmup: eager calls before the graph is recorded.

    Raises:
        ValueError: ``cuda_graph`` with a model off CUDA, an enabled scaler, or
            an optimiser whose learning rate is not a tensor.
    """

    def __init__(
        self,
        model: nn.Module,
        optimizer: torch.optim.Optimizer,
        scaler: torch.amp.GradScaler,
        amp_dtype: torch.dtype | None = None,
        label_smoothing: float = 0.0,
        cuda_graph: bool = False,
        warmup: int = 3,
    ) -> None:
        self.model, self.optimizer, self.scaler = model, optimizer, scaler
        self.amp_dtype, self.label_smoothing = amp_dtype, label_smoothing
        self.device = next(model.parameters()).device
        if cuda_graph:
            if self.device.type != "cuda":
                raise ValueError(f"a CUDA graph needs the model on a CUDA device, not {self.device.type}")
            if scaler.is_enabled():
                raise ValueError("a CUDA graph cannot hold the float16 gradient scaler; train in bfloat16")
            if not all(isinstance(group["lr"], Tensor) for group in optimizer.param_groups):
                raise ValueError("a CUDA graph needs the learning rate as a tensor: make_optimizer(..., fused=True)")
        self.cuda_graph, self.warmup = cuda_graph, warmup
        self.calls = 0
        self.graph: torch.cuda.CUDAGraph | None = None
        self.static: tuple[Tensor, ...] = ()  # images, labels, loss, correct: the graph's inputs and outputs

    def eager(self, x: Tensor, y: Tensor) -> tuple[Tensor, Tensor]:
        """Forward, loss, backward and optimiser step: (B, 3, H, W), (B,) -> loss (), correct ()."""
        # no autocast cache: a CUDA graph must not keep casts of the weights from the step it recorded
        with torch.autocast(self.device.type, self.amp_dtype, enabled=self.amp_dtype is not None, cache_enabled=False):
            logits = self.model(x)  # (B, classes)
            loss = F.cross_entropy(logits, y, label_smoothing=self.label_smoothing)
        self.optimizer.zero_grad(set_to_none=True)
        self.scaler.scale(loss).backward()  # the scaler is a no-op unless training in float16
        self.scaler.step(self.optimizer)
        self.scaler.update()
        return loss.detach(), (logits.argmax(1) == y).sum()

    def __call__(self, x: Tensor, y: Tensor) -> tuple[Tensor, Tensor]:
        self.calls += 1
        if not self.cuda_graph or (self.static and self.static[0].shape != x.shape):
            return self.eager(x, y)
        if self.calls <= self.warmup:  # on a side stream, as the graph will run
            side = torch.cuda.Stream(self.device)
            side.wait_stream(torch.cuda.current_stream(self.device))
            with torch.cuda.stream(side):
                out = self.eager(x, y)
            torch.cuda.current_stream(self.device).wait_stream(side)
            return out
        if self.graph is None:  # record: nothing runs yet
            images, labels = x.clone(), y.clone()
            self.graph = torch.cuda.CUDAGraph()
            self.optimizer.zero_grad(set_to_none=True)  # the gradients are then allocated in the graph's memory
            with torch.cuda.graph(self.graph):
                loss, correct = self.eager(images, labels)
            self.static = (images, labels, loss, correct)
        images, labels, loss, correct = self.static
        images.copy_(x)
        labels.copy_(y)
        self.graph.replay()
        return loss.clone(), correct.clone()  # the next replay overwrites the static outputs


# --8<-- [end:train_step]


# --8<-- [start:train_epoch]
@dataclass
class EpochStats:
    """What one pass over the training batches gave."""

    loss: float  # mean training objective (label smoothing included)
    accuracy: float
    images: int
    seconds: float

    @property
    def images_per_s(self) -> float:
        return self.images / self.seconds


def train_epoch(
    model: nn.Module,
    batches: Iterable[tuple[Tensor, Tensor]],
    steps: int,
    optimizer: torch.optim.Optimizer,
    scheduler: torch.optim.lr_scheduler.LRScheduler,
    scaler: torch.amp.GradScaler,
    amp_dtype: torch.dtype | None = None,
    memory_format: torch.memory_format = torch.contiguous_format,
    label_smoothing: float = 0.0,
    first_step: int = 1,
    desc: str = "train",
    log_every: int = 10,
    on_step: Callable[[int, float], None] | None = None,
    progress: bool = True,
    step: TrainStep | None = None,
) -> EpochStats:
    """Train on ``steps`` batches, with a progress bar of loss, accuracy and images/s.

    The losses stay on the device and are read back every ``log_every``
    steps, so a GPU is not stalled after every step; the first non-finite
    loss is still found exactly.

    Args:
        model: in training mode after the call.
        batches: ``(images, labels)`` pairs; the first ``steps`` are used.
        steps: number of batches.
        optimizer: stepped once per batch.
        scheduler: the learning-rate schedule, stepped once per batch.
        scaler: the gradient scaler (float16 only; disabled otherwise), stepped once per batch.
        amp_dtype: autocast dtype, or ``None`` for float32.
        memory_format: layout the images are moved to (the model's).
        label_smoothing: of the cross-entropy loss.
        first_step: the global number of the first step, for messages.
        desc: label of the progress bar.
        log_every: steps between read-backs of the loss.
        on_step: called as ``on_step(step, loss)`` for every step, in order, with
            its global number and its loss; the calls come at the read-backs.
        progress: show the progress bar.
        step: the training step for the whole run (``TrainStep``), which may
            hold a CUDA graph; ``None``: an eager one from the arguments above.

    Raises:
        NonFiniteLossError: the loss became NaN or infinite; names the step.
    """
    if step is None:
        step = TrainStep(model, optimizer, scaler, amp_dtype, label_smoothing)
    model.train()
    device = next(model.parameters()).device
    losses = torch.zeros(steps, device=device)  # (steps,), filled as we go
    correct = torch.zeros((), dtype=torch.int64, device=device)
    images, checked = 0, 0
    # closed by the with block, also when a step fails (a bar left open shifts the next one down)
    quiet = {} if progress else {"disable": True}  # left unset, TQDM_DISABLE=1 in the environment still applies
    with tqdm(total=steps, desc=desc, unit="step", leave=False, dynamic_ncols=True, **quiet) as bar:
        start = time.perf_counter()
        for i, (x, y) in enumerate(itertools.islice(batches, steps)):
            x = x.to(device, memory_format=memory_format, non_blocking=True)  # (B, 3, H, W)
            y = y.to(device, non_blocking=True)  # (B,)
            loss, right = step(x, y)  # forward, loss, backward, optimiser: no synchronisation
            scheduler.step()
            losses[i] = loss
            correct += right
            images += len(y)
            bar.update()
            if (i + 1) % log_every == 0 or i + 1 == steps:
                window = losses[checked : i + 1].cpu()  # the one synchronisation point
                bad = torch.nonzero(~torch.isfinite(window))
                if on_step is not None:  # the steps before a non-finite loss, if any
                    for j, value in enumerate(window[: int(bad[0]) if len(bad) else None].tolist()):
                        on_step(first_step + checked + j, value)
                if len(bad):
                    step = first_step + checked + int(bad[0])
                    raise NonFiniteLossError(f"the loss is {window[bad[0]].item()} at step {step}")
                checked = i + 1
                seconds = time.perf_counter() - start
                bar.set_postfix(
                    loss=f"{losses[:checked].mean().item():.3f}",
                    acc=f"{correct.item() / images:.3f}",
                    img_s=f"{images / seconds:.0f}",
                )
    seconds = time.perf_counter() - start
    return EpochStats(losses[:checked].mean().item(), correct.item() / images, images, seconds)


@torch.no_grad()
def evaluate(
    model: nn.Module,
    batches: Iterable[tuple[Tensor, Tensor]],
    steps: int,
    amp_dtype: torch.dtype | None = None,
    memory_format: torch.memory_format = torch.contiguous_format,
) -> tuple[float, float, int]:
    """Mean cross-entropy (no label smoothing), accuracy and image count on ``steps`` batches."""
    model.eval()
    device = next(model.parameters()).device
    total_loss = torch.zeros((), device=device)
    correct = torch.zeros((), dtype=torch.int64, device=device)
    images = 0
    for x, y in itertools.islice(batches, steps):
        x = x.to(device, memory_format=memory_format, non_blocking=True)
        y = y.to(device, non_blocking=True)
        with torch.autocast(device.type, dtype=amp_dtype, enabled=amp_dtype is not None):
            logits = model(x)
        total_loss += F.cross_entropy(logits.float(), y, reduction="sum")
        correct += (logits.argmax(1) == y).sum()
        images += len(y)
    return total_loss.item() / images, correct.item() / images, images


# --8<-- [end:train_epoch]


# --8<-- [start:checkpoint]
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

    The dict returned also holds ``"path"``, the file it was read from (for
    messages), and its settings (``"config"``) are brought up to date: the
    loader once called ``"gpu"`` is ``"device"``.

    Raises:
        CheckpointError: the file is missing or unreadable (truncated,
            corrupted, holding arbitrary objects, no permission), not a refimpl
            training checkpoint, or edited into something no run writes (an
            unknown entry, a value of the wrong type, a setting out of range, a
            history that does not match its epoch), or it holds non-finite
            weights (a diverged epoch, saved by an older version).
    """
    path = Path(path)
    if path.is_dir():
        raise CheckpointError(f"no checkpoint at {path}: it is a folder (continue its run with --resume --out {path})")
    if not path.is_file():
        raise CheckpointError(f"no checkpoint at {path}")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except OSError as err:
        raise CheckpointError(f"cannot read checkpoint {path}: {_reason(err)}") from None
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
    if isinstance(state["config"], dict) and "loader" in state["config"]:  # fit's checkpoints record no loader
        loader = state["config"]["loader"]
        state["config"]["loader"] = OLD_LOADER_NAMES.get(loader, loader)
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
        if not isinstance(value, kind) or isinstance(value, bool):
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
    bad, _ = _nonfinite(weights)
    if bad:
        return (
            f"holds non-finite weights ({_some(bad)}): it was saved after the run had diverged; "
            "start a new run, or resume from an earlier checkpoint"
        )
    return None


#: what every row of a checkpoint's history holds (rows may hold more: the device, the precision, ...)
HISTORY_NUMBERS = ("epoch", "train_loss", "train_acc", "test_loss", "test_acc")
#: the numbers of SGD's parameter groups and of the schedules' states: an edit that makes one a string
#: (an lr of "abc") would pass torch.load and fail at the first step of every resume
OPTIMIZER_NUMBERS = ("lr", "initial_lr", "max_lr", "min_lr", "momentum", "dampening", "weight_decay")
SCHEDULER_NUMBERS = ("last_epoch", "total_steps", "T_max", "eta_min", "base_lrs", "_last_lr")


def _history_problem(history: list[dict[str, Any]]) -> str | None:
    """What makes ``history`` unlike the rows ``fit`` writes, or ``None``: plain JSON values, epochs 1, 2, ..."""
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
    return value is None or (isinstance(value, int | float) and not isinstance(value, bool))


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


def _nonfinite(weights: dict[str, Tensor]) -> tuple[list[str], int]:
    """The names of the floating-point tensors that hold a NaN or an infinity, and how many were checked."""
    tensors = {name: t for name, t in weights.items() if t.is_floating_point()}
    finite = torch.stack([torch.isfinite(t).all() for t in tensors.values()]).tolist() if tensors else []
    return [name for name, ok in zip(tensors, finite, strict=True) if not ok], len(tensors)  # one synchronisation


def _some(names: list[str]) -> str:
    return ", ".join(names[:3]) + (", ..." if len(names) > 3 else "")


# --8<-- [end:checkpoint]


def _json_row(row: dict[str, Any]) -> str:
    """One strict JSON line: a non-finite number becomes ``null`` and is named in ``"nonfinite"``."""
    bad = [k for k, v in row.items() if isinstance(v, float) and not math.isfinite(v)]
    if bad:
        row = {**{k: None if k in bad else v for k, v in row.items()}, "nonfinite": bad}
    return json.dumps(row, allow_nan=False)


def _write_metrics(path: Path, history: list[dict[str, Any]]) -> None:
    with atomic_open(path) as f:  # rewritten whole: after a resume it holds exactly the checkpoint's epochs
        f.writelines(_json_row(row) + "\n" for row in history)


def _restore(
    state: dict[str, Any],
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    scheduler: torch.optim.lr_scheduler.LRScheduler,
    scaler: torch.amp.GradScaler,
) -> tuple[list[dict[str, Any]], int]:
    """Load a checkpoint's states into the training objects; returns its history and epoch.

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
        reason = " ".join(str(err).split())  # PyTorch's messages span several lines
        reason = reason if len(reason) < 200 else reason[:200] + "..."
        source = f"checkpoint {state['path']}" if "path" in state else "the checkpoint"
        raise CheckpointError(f"{source} does not fit this run: {reason}") from None


class Loader(Protocol):
    """What ``fit`` needs of a loader: ``(images, labels)`` batches and their number.

    A loader may also have ``set_epoch(epoch)``, as ``make_loaders``' loaders
    do; ``fit`` then calls it before each epoch.
    """

    def __iter__(self) -> Iterator[tuple[Tensor, Tensor]]: ...

    def __len__(self) -> int: ...


# --8<-- [start:run_folder]
def _holds_run(folder: Path) -> list[str]:
    """The files by which ``folder`` holds a run: a checkpoint, or metrics that are not empty."""
    held = []
    for name in (METRICS, CHECKPOINT):
        path = folder / name
        with contextlib.suppress(OSError):
            if path.exists() and (name == CHECKPOINT or path.stat().st_size > 0):
                held.append(name)
    return held


def _reason(err: OSError) -> str:
    """The system's words for an OSError, without the path PyTorch or Python add to them."""
    return os.strerror(err.errno) if err.errno else str(err)


def _cannot_write(folder: Path, err: OSError) -> str:
    reason = _reason(err)
    for parent in folder.parents:  # a path under a file: name the file
        with contextlib.suppress(OSError):
            if parent.is_file():
                return f"cannot write to the run folder {folder}: {reason} ({parent} is a file)"
    return f"cannot write to the run folder {folder}: {reason}"


@dataclass
class _RunFolder:
    """An open run folder: locked, checked, and told whether it held another run."""

    path: Path
    replaces: bool  # it holds an earlier run, which --overwrite lets this one replace

    @property
    def checkpoint(self) -> Path:
        return self.path / CHECKPOINT


@contextlib.contextmanager
def _open_run_folder(out: str | Path, resume: dict[str, Any] | None, overwrite: bool) -> Iterator[_RunFolder]:
    """Create ``out`` if need be and lock it for the block; refuse a folder that cannot take this run.

    Folders created here are removed again if the block leaves them empty (a
    run that failed or was interrupted before its first epoch was saved).

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


def _checked_run_folder(out: Path, resume: dict[str, Any] | None, overwrite: bool) -> _RunFolder:
    """The locked folder ``out``, once cleared of a killed run's temporary files and checked for a run."""
    remove_stale(out, (CHECKPOINT, METRICS))  # a killed run's half-written files; we hold the lock
    held = _holds_run(out)
    source = None if resume is None else resume.get("path")
    own = source is not None and Path(source).resolve() == (out / CHECKPOINT).resolve()
    if held and not own and not overwrite:
        other = "" if resume is None else f" other than that of {source or 'the checkpoint given'}"
        raise RunFolderError(
            f"{out} already holds a run ({', '.join(held)}){other}; continue it with --resume, "
            "or start over with --overwrite, or choose another --out"
        )
    return _RunFolder(out, replaces=bool(held) and not own)


# --8<-- [end:run_folder]


def _smallest_training_batch(loader: Loader, steps: int) -> tuple[int, int, int] | None:
    """(smallest batch, batch size, data set size) of the first ``steps`` training batches, where known."""
    if isinstance(loader, DeviceLoader):
        size, n, drops = loader.batch_size, len(loader.labels), loader.train
    elif isinstance(loader, DataLoader) and isinstance(loader.batch_size, int):
        size, n, drops = loader.batch_size, len(loader.dataset), loader.drop_last  # type: ignore[arg-type]
    else:
        return None
    last = size if drops or n % size == 0 or steps < len(loader) else n % size
    return min(size, last), size, n


def _check_batches(model: nn.Module, loader: Loader, steps: int) -> None:
    """Refuse, before the first step, a training batch of one image for a model with batch normalisation."""
    if not any(isinstance(m, nn.modules.batchnorm._BatchNorm) for m in model.modules()):
        return
    known = _smallest_training_batch(loader, steps)
    if known is None or known[0] > 1:
        return
    _, size, n = known
    if size == 1:
        raise ValueError(
            "training batches of 1 image: batch normalisation needs at least 2 images per batch; "
            "use a batch size of at least 2"
        )
    raise ValueError(
        f"the last training batch holds 1 image ({n} images in batches of {size}), too few for batch "
        "normalisation; drop it (drop_last=True) or choose another batch size"
    )


def _divergence(model: nn.Module, train_loss: float, test_loss: float) -> str | None:
    """What shows that an epoch diverged (non-finite losses or weights), or ``None``."""
    bad, checked = _nonfinite(model.state_dict())
    losses = (("training loss", train_loss), ("test loss", test_loss))
    found = [f"the {what} is {value}" for what, value in losses if not math.isfinite(value)]
    if bad:
        found.append(f"{len(bad)} of {checked} weight tensors are not finite ({_some(bad)})")
    return " and ".join(found) or None


# --8<-- [start:fit]
def fit(
    model: nn.Module,
    data: tuple[Loader, Loader],
    recipe: Recipe,
    out: str | Path | None = None,
    *,
    compile: bool = False,
    resume: dict[str, Any] | None = None,
    overwrite: bool = False,
    settings: dict[str, Any] | None = None,
    on_step: Callable[[int, float], None] | None = None,
    progress: bool = True,
    cuda_graph: bool | None = None,
    fused: bool | None = None,
) -> list[dict[str, Any]]:
    """Train ``model`` on ``data`` with ``recipe``; returns the metrics of every epoch.

    The model trains in place, on the device of its parameters: on CUDA in
    bfloat16 (or float16) autocast with channels_last layout, on the CPU in
    float32 (see ``fast_settings``). Each epoch trains on the training loader
    and then evaluates on the test loader; its checkpoint and metrics are
    written only if its losses and weights are finite.

    Args:
        model: any image classifier, (B, 3, H, W) images -> (B, classes) logits.
        data: the (train, test) loaders, as ``make_loaders`` returns them.
        recipe: the optimisation settings.
        out: a folder for ``checkpoint.pt`` and ``metrics.jsonl``, both
            rewritten atomically after every epoch and locked against other
            runs while this one goes (see the module's description); ``None``
            writes nothing.
        compile: run the model through ``torch.compile`` (the checkpoint holds
            the plain model's weights).
        resume: a checkpoint from ``load_checkpoint`` to continue from, made
            with the same model, data and recipe; training goes on after its
            epoch, with its random states.
        overwrite: let ``out`` hold another run, which this one replaces when
            its first epoch is written; without it such a folder is refused.
        settings: what the checkpoint records as the run's settings
            (``"config"``); ``train`` records its flags. Default: the recipe.
        on_step: called as ``on_step(step, loss)`` for every training step, in
            order, with the step's number (from 1) and its training loss. The
            losses are read from the device every ``recipe.log_every`` steps,
            so the calls come in bursts and cost no synchronisation of their own.
        progress: show a progress bar per epoch and a line after it.
        cuda_graph: replay each training step from a CUDA graph (``TrainStep``);
            ``None``: on CUDA in bfloat16 without ``compile``, off otherwise.
        fused: SGD's fused kernel; ``None``: on CUDA (and wherever a graph is
            used, which needs it), off on the CPU.

    Returns:
        One dict per epoch, those of ``resume`` first, with the keys ``epoch``,
        ``train_loss`` (the objective, label smoothing included), ``train_acc``,
        ``test_loss``, ``test_acc``, ``test_images``, ``images_per_s``,
        ``seconds``, ``device``, ``precision``, ``channels_last`` and ``cuda_graph``.

    Raises:
        ValueError: the training loader has no batch, or batches of one image
            for a model with batch normalisation (checked before the first step).
        CheckpointError: ``resume`` does not fit the model or the optimiser, or
            its epoch is beyond the recipe's epochs.
        RunFolderError: ``out`` cannot be created or written (before the first
            step, or when a checkpoint is written), another run holds it, or it
            holds a run that is neither resumed nor to be overwritten.
        NonFiniteLossError: the run diverged; the message names the step and
            the last good checkpoint, which stays.
        TrainingInterrupted: Ctrl-C (a ``KeyboardInterrupt``) or SIGTERM; it
            names the last epoch saved. The epoch in progress is lost: a
            resumed run trains it again. Neither signal interrupts a save.
    """
    speed = {"cuda_graph": cuda_graph, "fused": fused}
    with _stop_on_signals():
        if out is None:
            return _fit(model, data, recipe, None, compile, resume, settings, on_step, progress, **speed)
        with _open_run_folder(out, resume, overwrite) as folder:
            return _fit(model, data, recipe, folder, compile, resume, settings, on_step, progress, **speed)


#: recipe settings that change no number of a run: a resumed run may set them anew
FREE_ON_RESUME = ("log_every",)


def _resumed_settings(resume: dict[str, Any], recipe: dict[str, Any]) -> dict[str, Any]:
    """The settings a run resumed by ``fit`` records: the checkpoint's, which the recipe must keep.

    A checkpoint of ``train`` also records the model and the data (its flags);
    they stay, so that ``train --resume`` can continue the run after ``fit`` did.

    Raises:
        CheckpointError: the recipe differs from the checkpoint's in a setting that changes the numbers.
    """
    _check_kept(resume["config"], {k: v for k, v in recipe.items() if k not in FREE_ON_RESUME})
    return {**resume["config"], **recipe}


def _check_kept(saved: dict[str, Any], settings: dict[str, Any]) -> None:
    """Refuse ``settings`` that differ from a checkpoint's ``saved`` ones; a setting it does not record is free.

    Raises:
        CheckpointError: naming each setting that differs, with both values.
    """
    differ = {k: (v, saved[k]) for k, v in settings.items() if k in saved and saved[k] != v}
    if differ:
        text = ", ".join(f"{k} {new!r} (checkpoint: {old!r})" for k, (new, old) in differ.items())
        raise CheckpointError(f"the resumed run must keep the checkpoint's settings; differs: {text}")


def step_settings(
    device: torch.device, amp_dtype: torch.dtype | None, compile: bool, cuda_graph: bool | None, fused: bool | None
) -> tuple[bool, bool]:
    """Whether to record the step in a CUDA graph and whether to fuse SGD; ``None`` picks the fastest that works.

    On CUDA: a graph (which needs the fused SGD) unless the model is compiled or
    trains in float16 (the gradient scaler checks on the host). On the CPU:
    neither, as before.

    Raises:
        ValueError: a graph asked for off CUDA, in float16, with ``compile``, or with ``fused=False``.
    """
    cuda = device.type == "cuda"
    if cuda_graph is None:
        cuda_graph = cuda and amp_dtype != torch.float16 and not compile and fused is not False
    if cuda_graph:
        problems = {
            "it needs a CUDA device": not cuda,
            "float16 training needs the gradient scaler, which checks on the host": amp_dtype == torch.float16,
            "a compiled model cannot be recorded here; use one or the other": compile,
            "the graph needs the fused SGD (its learning rate is a tensor)": fused is False,
        }
        problem = next((why for why, found in problems.items() if found), None)
        if problem:
            raise ValueError(f"--cuda-graph: {problem}")
    return cuda_graph, cuda_graph or (cuda if fused is None else fused)


def _fit(
    model: nn.Module,
    data: tuple[Loader, Loader],
    recipe: Recipe,
    folder: _RunFolder | None,
    compile: bool,
    resume: dict[str, Any] | None,
    settings: dict[str, Any] | None,
    on_step: Callable[[int, float], None] | None,
    progress: bool,
    cuda_graph: bool | None = None,
    fused: bool | None = None,
) -> list[dict[str, Any]]:
    """``fit`` in an open run folder (or none)."""
    train_batches, test_batches = data
    device = next(model.parameters()).device
    amp_dtype, memory_format = fast_settings(device)
    model.to(memory_format=memory_format)  # channels_last on CUDA: cuDNN then needs no transposes
    cuda_graph, fused = step_settings(device, amp_dtype, compile, cuda_graph, fused)
    forward = torch.compile(model) if compile else model
    steps = min(len(train_batches), recipe.max_steps or len(train_batches))
    if steps == 0:
        raise ValueError("the training loader has no batch (is the batch larger than the training set?)")
    _check_batches(model, train_batches, steps)
    test_steps = min(len(test_batches), recipe.max_steps or len(test_batches))
    if test_steps == 0:
        raise ValueError("the test loader has no batch: every epoch ends with a test, so it needs at least one")
    total_steps = recipe.epochs * steps
    if recipe.total_steps is not None:
        total_steps = min(total_steps, recipe.total_steps)
    epochs = -(-total_steps // steps)  # fewer than recipe.epochs where total_steps ends training early
    optimizer, scheduler = make_optimizer(model, recipe, total_steps, fused)
    scaler = torch.amp.GradScaler(device.type, enabled=amp_dtype == torch.float16)

    history: list[dict[str, Any]] = []
    start_epoch = 0
    saved: Path | None = None  # the last good checkpoint
    # what the checkpoint records as the run's settings: a resumed one keeps what it recorded (train's flags)
    config = dataclasses.asdict(recipe) if settings is None else settings
    if resume is None:
        _seed_all(recipe.seed)
    else:
        if settings is None:
            config = _resumed_settings(resume, config)
        history, start_epoch = _restore(resume, model, optimizer, scheduler, scaler)
        saved = Path(resume["path"]) if "path" in resume else None
        if start_epoch > epochs:
            source = f"checkpoint {saved}" if saved else "the checkpoint"
            raise CheckpointError(f"{source} is at epoch {start_epoch}, beyond the run's last, {epochs} (--epochs)")

    def last_good() -> str:
        if saved is not None:
            return f"{saved} (epoch {len(history)})"
        if folder is None:
            return "none (no run folder)"
        earlier = f"; {folder.path} still holds the earlier run" if folder.replaces else ""
        return f"none (no epoch finished{earlier})"

    precision = {None: "float32", torch.bfloat16: "bfloat16", torch.float16: "float16"}[amp_dtype]
    # after the restore, which replaces the optimiser's buffers: a graph records the ones it will use
    step = TrainStep(forward, optimizer, scaler, amp_dtype, recipe.label_smoothing, cuda_graph)
    try:
        for epoch in range(start_epoch, epochs):
            if hasattr(train_batches, "set_epoch"):  # the epoch's order and augmentation
                train_batches.set_epoch(epoch)
            epoch_steps = min(steps, total_steps - epoch * steps)
            try:
                stats = train_epoch(
                    forward,
                    train_batches,
                    epoch_steps,
                    optimizer,
                    scheduler,
                    scaler,
                    amp_dtype,
                    memory_format,
                    recipe.label_smoothing,
                    first_step=epoch * steps + 1,
                    desc=f"epoch {epoch + 1}/{epochs}",
                    log_every=recipe.log_every,
                    on_step=on_step,
                    progress=progress,
                    step=step,
                )
            except NonFiniteLossError as err:
                raise NonFiniteLossError(
                    f"{err} (epoch {epoch + 1}); training stopped; last good checkpoint: {last_good()}"
                ) from None
            test_loss, test_acc, test_images = evaluate(forward, test_batches, test_steps, amp_dtype, memory_format)
            diverged = _divergence(model, stats.loss, test_loss)  # before anything is written
            if diverged:
                raise NonFiniteLossError(
                    f"{diverged} after step {epoch * steps + epoch_steps} (epoch {epoch + 1}); "
                    f"training stopped; last good checkpoint: {last_good()}"
                )
            row = {
                "epoch": epoch + 1,
                "train_loss": stats.loss,
                "train_acc": stats.accuracy,
                "test_loss": test_loss,
                "test_acc": test_acc,
                "test_images": test_images,
                "images_per_s": stats.images_per_s,
                "seconds": stats.seconds,
                "device": _describe(device),
                "precision": precision,
                "channels_last": memory_format == torch.channels_last,
                "cuda_graph": cuda_graph,
            }
            if folder is not None:
                state = {
                    "config": config,
                    "epoch": epoch + 1,
                    "model": model.state_dict(),
                    "optimizer": optimizer.state_dict(),
                    "scheduler": scheduler.state_dict(),
                    "scaler": scaler.state_dict(),
                    "history": [*history, row],
                }
            with _saving():  # Ctrl-C or SIGTERM now waits for both files and the epoch's record: they agree
                if folder is not None:
                    _save_epoch(folder, state, last_good)
                    saved = folder.checkpoint
                history.append(row)
            if progress:
                tqdm.write(
                    f"epoch {epoch + 1}/{epochs}: train loss {stats.loss:.3f} acc {stats.accuracy:.1%}, "
                    f"test loss {test_loss:.3f} acc {test_acc:.1%}, {stats.images_per_s:,.0f} images/s"
                )
    except KeyboardInterrupt as err:  # Ctrl-C, or SIGTERM through _stop_on_signals
        signum = err.signum if isinstance(err, Stopped) else signal.SIGINT
        where = None if folder is None else folder.path
        raise TrainingInterrupted(len(history), epochs, saved, where, signum) from None
    return history


def _save_epoch(folder: _RunFolder, state: dict[str, Any], last_good: Callable[[], str]) -> None:
    """Write an epoch's checkpoint, then the metrics of every epoch so far (from the checkpoint's history).

    The first epoch of a run that replaces another (``--overwrite``) removes
    the earlier run's metrics once its checkpoint is written in full, just
    before that checkpoint takes the earlier one's place: a crash between the
    two writes must not leave the new run's checkpoint beside the old run's
    metrics, and a failed save (a full disk) leaves the earlier run whole.

    Raises:
        RunFolderError: a file cannot be written (a full disk, a folder made
            read-only); the last good checkpoint stays.
    """
    epoch = state["epoch"]
    path = folder.checkpoint
    try:
        save_checkpoint(path, state, replaces=folder.path / METRICS if folder.replaces else None)
        folder.replaces = False
        path = folder.path / METRICS
        _write_metrics(path, state["history"])
    except OSError as err:
        reason = f"cannot write {path}: {_reason(err)}; training stopped in epoch {epoch}"
        raise RunFolderError(f"{reason}; last good checkpoint: {last_good()}") from None


# --8<-- [end:fit]


def _checkpoint_path(resume: str, out: str | Path) -> Path:
    """The file ``--resume`` names; ``~`` is the home folder, as in ``--out`` and ``--data-root``."""
    return (Path(out) / CHECKPOINT if resume == "" else Path(resume)).expanduser()


def resolve_config(**given: Any) -> tuple[TrainConfig, dict[str, Any] | None]:
    """The settings of a run from the flags given (``None`` meaning not given), and its checkpoint.

    A new run fills the rest with ``TrainConfig``'s defaults and has no
    checkpoint. A resumed run reads its checkpoint (here, once) and takes the
    rest from it, so ``--resume`` alone continues it; pass both to ``train``.

    Raises:
        ValueError: a setting out of range.
        CheckpointError: ``resume`` names no usable checkpoint, or ``--resume``
            without a file comes without ``out``.
    """
    given = {k: v for k, v in given.items() if v is not None}
    config = TrainConfig(**given)
    if config.resume is None:
        return config, None
    if config.out is None:
        if config.resume == "":
            raise CheckpointError("--resume without a file needs --out DIR (it reads DIR/checkpoint.pt)")
        config.out = str(Path(config.resume).parent)  # continue in the checkpoint's folder
    checkpoint = load_checkpoint(_checkpoint_path(config.resume, Path(config.out)))
    unknown = [k for k in checkpoint["config"] if k not in RULES]
    if unknown:
        raise CheckpointError(f"checkpoint {checkpoint['path']} has unknown settings: {', '.join(map(str, unknown))}")
    recorded = checkpoint["config"]
    if recorded.get("total_steps") is not None:
        raise CheckpointError(
            f"checkpoint {checkpoint['path']} ends its run after total_steps={recorded['total_steps']}, "
            "which the command has no flag for; resume it with fit(..., resume=load_checkpoint(...))"
        )
    # a checkpoint written by fit records its recipe, not the model or the data: the flags must name them
    unrecorded = [k for k in ("model", "dataset") if k not in recorded and k not in given]
    if unrecorded:
        flags = " and ".join(f"--{k}" for k in unrecorded)
        raise CheckpointError(
            f"checkpoint {checkpoint['path']} does not record its {' or '.join(unrecorded)} (it was written by "
            f"fit); name them with {flags}"
        )
    saved = {k: v for k, v in recorded.items() if k in KEPT_ON_RESUME}
    config = dataclasses.replace(config, **{**saved, **{k: v for k, v in given.items() if k in KEPT_ON_RESUME}})
    return config, checkpoint


def train(config: TrainConfig, checkpoint: dict[str, Any] | None = None) -> dict[str, Any]:
    """Train ``config.model`` as ``python -m refimpl train`` does; returns the last epoch's metrics.

    Opens (and locks) the run folder, builds the model, the data and the
    device, checks that a resumed run keeps its checkpoint's settings, and
    leaves the training to ``fit``.

    Args:
        config: the run's settings; ``resolve_config`` fills a resumed run's.
        checkpoint: the checkpoint ``config.resume`` names, if already read
            (``resolve_config`` returns it); ``None`` reads it here.

    Raises:
        ValueError: a bad setting (unknown model, no CUDA device, ...).
        refimpl.tools.data.DataUnavailableError: CIFAR-10 is missing or unreadable.
        CheckpointError: ``resume`` names a missing, unreadable or foreign
            checkpoint, or one made with a different recipe.
        RunFolderError: the run folder cannot be written, is in use, or holds
            another run (see ``fit``).
        NonFiniteLossError: the run diverged; the checkpoint of the last good
            epoch is kept.
        TrainingInterrupted: Ctrl-C or SIGTERM; it names the last epoch saved.
    """
    out = Path(config.out or f"runs/{config.model}-{config.dataset}").expanduser()
    source = None
    if config.resume is None:
        if checkpoint is not None:
            raise ValueError("a checkpoint was given but config.resume is None")
    else:
        source = _checkpoint_path(config.resume, out)
        checkpoint = load_checkpoint(source) if checkpoint is None else checkpoint
        # a setting the checkpoint does not record (one written by fit records its recipe alone) comes from the flags
        _check_kept(checkpoint["config"], _kept_settings(config))
    device = resolve_device(config.device)
    step_settings(device, fast_settings(device)[0], config.compile, config.cuda_graph, config.fused)  # refused early
    get_spec(config.model)  # an unknown model fails here, with suggestions
    # SIGTERM stops the run as Ctrl-C does; the run folder opens before any work: it may be refused
    with _stop_on_signals(), _open_run_folder(out, checkpoint, config.overwrite) as folder:
        how = {"auto": " (--device auto" + ("" if device.type == "cuda" else ": no CUDA device found") + ")"}
        print(f"device: {_describe(device)}{how.get(config.device, '')}", flush=True)

        _seed_all(config.seed)  # the initial weights
        model = build_model(config.model, config.small_input).to(device)
        if get_spec(config.model).small_input and not config.small_input:
            print(f"note: {config.model} is built for large images; on 32x32 ones --small-input keeps more resolution")
        _, memory_format = fast_settings(device)
        data = make_loaders(
            config.dataset,
            config.batch_size,
            device,
            config.loader,
            config.data_root,
            config.download,
            config.normalize,
            config.seed,
            config.workers,
            channels_last=memory_format == torch.channels_last,
        )
        if len(data[0]) == 0:
            raise ValueError(f"--batch-size {config.batch_size} is larger than the training set of {config.dataset}")
        if checkpoint is not None:
            print(f"resuming from {source} after epoch {checkpoint['epoch']} of {config.epochs}")
        recipe, settings = config.recipe(), _kept_settings(config)
        speed = {"cuda_graph": config.cuda_graph, "fused": config.fused}
        history = _fit(model, data, recipe, folder, config.compile, checkpoint, settings, None, True, **speed)

    last = history[-1]
    total = sum(row["seconds"] for row in history)
    print(
        f"{config.model} on {config.dataset}, {config.epochs} epoch{'s'[: config.epochs > 1]} on {last['device']}: "
        f"test accuracy {last['test_acc']:.1%} (loss {last['test_loss']:.3f}, {last['test_images']} images), "
        f"train accuracy {last['train_acc']:.1%}; {total:.0f} s of training\n"
        f"metrics: {out / METRICS}; checkpoint: {out / CHECKPOINT}"
    )
    return last
