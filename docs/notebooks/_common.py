"""Helpers the notebooks share: short, seeded training on the offline digits data set, plot style.

Kept small on purpose: the training loop itself is ``refimpl.tools.train.fit``, tested
in ``tests/test_train.py``.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field

import matplotlib as mpl
import numpy as np
import torch
from torch import nn

from refimpl.tools.data import make_loaders
from refimpl.tools.train import Recipe, fit

CPU = torch.device("cpu")


def seed_everything(seed: int = 0) -> None:
    """Fix every random state the notebooks touch."""
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def plot_style() -> None:
    """White figures with dark ink: readable on the site's light and dark themes alike."""
    mpl.rcParams.update(
        {
            "figure.facecolor": "white",
            "axes.facecolor": "white",
            "savefig.facecolor": "white",
            "figure.dpi": 110,
            "axes.grid": True,
            "grid.alpha": 0.3,
            "axes.spines.top": False,
            "axes.spines.right": False,
            "font.size": 10,
        }
    )


@dataclass
class History:
    """Per-epoch metrics of one short run."""

    train_loss: list[float] = field(default_factory=list)
    train_accuracy: list[float] = field(default_factory=list)
    test_loss: list[float] = field(default_factory=list)
    test_accuracy: list[float] = field(default_factory=list)


def train_on_digits(model: nn.Module, epochs: int = 3, lr: float = 0.1, batch_size: int = 32, seed: int = 0) -> History:
    """Train ``model`` on the digits data set with refimpl's recipe, on the CPU, quietly.

    Args:
        model: a freshly initialised 10-class model for 32x32 images.
        epochs: passes over the 1,437 training images.
        lr: peak learning rate of the one-cycle schedule.
        batch_size: images per batch.
        seed: seeds the data order and augmentation.
    """
    data = make_loaders("digits", batch_size, CPU, seed=seed)
    rows = fit(model, data, Recipe(epochs=epochs, lr=lr, seed=seed), out=None, progress=False)
    return History(
        train_loss=[row["train_loss"] for row in rows],
        train_accuracy=[row["train_acc"] for row in rows],
        test_loss=[row["test_loss"] for row in rows],
        test_accuracy=[row["test_acc"] for row in rows],
    )


def train_steps_on_digits(
    model: nn.Module, steps: int, lr: float = 0.1, batch_size: int = 32, seed: int = 0
) -> list[float]:
    """Like ``train_on_digits``, but for ``steps`` batches, returning the training loss of every step.

    The loss is the training objective (cross-entropy with refimpl's label
    smoothing of 0.1), so a perfect fit does not reach zero.

    Args:
        model: a freshly initialised 10-class model for 32x32 images.
        steps: number of batches (44 make one epoch at batch size 32); a run
            longer than an epoch goes on into the next one.
        lr: peak learning rate of the one-cycle schedule, which spans the ``steps``.
        batch_size: images per batch.
        seed: seeds the data order and augmentation.
    """
    data = make_loaders("digits", batch_size, CPU, seed=seed)
    recipe = Recipe(epochs=-(-steps // len(data[0])), total_steps=steps, lr=lr, seed=seed)
    losses: list[float] = []
    fit(model, data, recipe, out=None, on_step=lambda _, loss: losses.append(loss), progress=False)
    return losses


def digits_test_images() -> tuple[torch.Tensor, torch.Tensor]:
    """All 360 test images of digits, normalised as ``train_on_digits`` feeds them: (N, 3, 32, 32) floats, (N,) labels."""
    from refimpl.tools.data import DeviceLoader, load_dataset, to_tensors

    images, labels = to_tensors(load_dataset("digits", train=False))
    return next(iter(DeviceLoader(images, labels, batch_size=len(labels))))
