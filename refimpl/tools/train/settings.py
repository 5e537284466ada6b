"""What a training run can be told: ``RULES``, the one check of every setting, and ``Recipe``.

``Recipe``, the command's flags (``refimpl.tools.train.command.TrainConfig``, a
``Recipe`` with the model, the data and the device besides) and the settings
a checkpoint records are all checked against ``RULES``, so a bad value is
refused in the same words wherever it comes from.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from refimpl.tools.data import DATASETS

__all__ = [
    "CUDA_BATCH_SIZE",
    "FOLLOWED_ON_RESUME",
    "FREE_ON_RESUME",
    "KEPT_ON_RESUME",
    "MAX_LR",
    "POSITIVE",
    "RULES",
    "Recipe",
    "Rule",
    "is_a",
    "setting_problems",
]

MAX_LR = 10.0  # beyond it SGD only diverges (and past 3.4e38 the step overflows float32)
MAX_SEED = 2**32 - 1  # NumPy's seeds
SCHEDULES = ("onecycle", "cosine")
MIN_IMAGE_SIZE, MAX_IMAGE_SIZE = 16, 1024  # below 16 pixels a ResNet's last stage has no map left
IMAGE_SIZES = f"an integer from {MIN_IMAGE_SIZE} to {MAX_IMAGE_SIZE}"
#: the recommended CIFAR-10 batch on a GPU: 512 images keep a GPU busy, and the peak learning rate grows
#: with the batch (0.1 per 128 images, the linear scaling rule of Goyal et al., arXiv:1706.02677), to 0.4
CUDA_BATCH_SIZE = 512


def is_a(value: Any, kind: type) -> bool:
    """``isinstance(value, kind)``, except that a bool is no int: Python's ``True`` is an int, a setting's is not.

    An int will do for a float.
    """
    if kind is float:
        return isinstance(value, int | float) and not isinstance(value, bool)
    return isinstance(value, kind) and (kind is bool or not isinstance(value, bool))


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
        return None if is_a(value, self.kind) and self.accepts(value) else f"expected {self.what}, got {value!r}"


def _one_of(*names: str) -> Rule:
    return Rule(str, lambda v: v in names, "one of " + ", ".join(names))


#: a count (epochs, steps): an int of at least 1, not a bool; the command's other counts take it too
POSITIVE = Rule(int, lambda v: v >= 1, "a positive integer")
_ANY_BOOL = Rule(bool, lambda v: True, "true or false")
#: every setting of ``Recipe`` and ``TrainConfig``: the command's flags, the Python API and a
#: checkpoint's settings are all checked against these
RULES: dict[str, Rule] = {
    "epochs": POSITIVE,
    "lr": Rule(float, lambda v: 0 < v <= MAX_LR, f"a number in (0, {MAX_LR:g}]"),  # NaN fails too
    "schedule": _one_of(*SCHEDULES),
    "momentum": Rule(float, lambda v: 0 < v < 1, "a number in (0, 1)"),  # Nesterov needs some
    "weight_decay": Rule(float, lambda v: 0 <= v < math.inf, "a non-negative number"),
    "label_smoothing": Rule(float, lambda v: 0 <= v <= 1, "a number in [0, 1]"),
    "max_steps": dataclasses.replace(POSITIVE, optional=True),
    "total_steps": dataclasses.replace(POSITIVE, optional=True),
    "seed": Rule(int, lambda v: 0 <= v <= MAX_SEED, "an integer from 0 to 2**32 - 1"),
    "log_every": POSITIVE,
    "model": Rule(str, lambda v: v != "", "a model name"),
    "weights": Rule(str, lambda v: v != "", "a published checkpoint's name or a checkpoint file", optional=True),
    "small_input": _ANY_BOOL,
    "dataset": _one_of(*DATASETS),
    "data_root": Rule(str, lambda v: True, "a folder"),
    "image_size": Rule(int, lambda v: MIN_IMAGE_SIZE <= v <= MAX_IMAGE_SIZE, IMAGE_SIZES, optional=True),
    # a run's class names, in label order (recorded by the command, not a flag)
    "classes": Rule(list, lambda v: len(v) >= 2 and all(isinstance(c, str) for c in v), "a list of class names"),
    "download": _ANY_BOOL,
    # batch normalisation computes its statistics over the batch: one image gives none
    "batch_size": Rule(int, lambda v: v >= 2, "an integer of at least 2 (batch normalisation needs 2 images)"),
    "device": _one_of("auto", "cpu", "cuda"),
    "out": Rule(str, lambda v: True, "a folder", optional=True),
    "resume": Rule(str, lambda v: True, "a checkpoint file", optional=True),
    "overwrite": _ANY_BOOL,
    "compile": _ANY_BOOL,
    "cuda_graph": dataclasses.replace(_ANY_BOOL, optional=True),
    "fused": dataclasses.replace(_ANY_BOOL, optional=True),
    "sync_bn": _ANY_BOOL,
    "loader": _one_of("device", "dataloader"),
    "normalize": _one_of("imagenet", "cifar10", "weights"),
    "workers": Rule(int, lambda v: v >= 0, "a non-negative integer"),
}


#: the settings that decide a run's numbers: a checkpoint of the command records them, a resumed run keeps them
KEPT_ON_RESUME = (
    "model",
    "weights",
    "small_input",
    "dataset",
    "image_size",
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
    "sync_bn",
)
#: recipe settings that change no number of a run: a resumed run may set them anew
FREE_ON_RESUME = ("log_every",)
#: recorded by the command and followed by ``--resume`` unless the flag is given anew (the data moved)
FOLLOWED_ON_RESUME = ("data_root",)


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
        # a ValueError naming the field, not a failure deep inside the optimiser; a subclass's fields too
        problems = setting_problems(dataclasses.asdict(self))
        if problems:
            raise ValueError(f"{type(self).__name__}: " + "; ".join(problems))
