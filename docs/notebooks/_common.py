"""Helpers the notebooks share: short, seeded training on the offline digits data set, plot style.

Kept small on purpose: the training loop itself is ``refimpl.tools.train``'s, tested
in ``tests/test_train.py``.
"""

from __future__ import annotations

import os
import random
from dataclasses import dataclass, field

os.environ.setdefault("TQDM_DISABLE", "1")  # no progress bars in the executed pages; read when tqdm loads

import matplotlib as mpl  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402
from torch import nn  # noqa: E402

from refimpl.tools.data import make_loaders  # noqa: E402
from refimpl.tools.train import TrainConfig, evaluate, make_optimizer, train_epoch  # noqa: E402

CPU = torch.device("cpu")


def seed_everything(seed: int = 0) -> None:
    """Fix every random state the notebooks touch."""
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def plot_style() -> None:
    """White figures with dark ink: readable on the site's light and dark themes alike."""
    mpl.rcParams.update({
        "figure.facecolor": "white", "axes.facecolor": "white", "savefig.facecolor": "white",
        "figure.dpi": 110, "axes.grid": True, "grid.alpha": 0.3, "axes.spines.top": False,
        "axes.spines.right": False, "font.size": 10,
    })  # fmt: skip


@dataclass
class History:
    """Per-epoch metrics of one short run."""

    train_loss: list[float] = field(default_factory=list)
    train_accuracy: list[float] = field(default_factory=list)
    test_loss: list[float] = field(default_factory=list)
    test_accuracy: list[float] = field(default_factory=list)


def train_on_digits(
    model: nn.Module, epochs: int = 3, lr: float = 0.1, batch_size: int = 32, seed: int = 0
) -> History:
    """Train ``model`` on the digits data set with refimpl's recipe, on the CPU, quietly.

    Args:
        model: a freshly initialised 10-class model for 32x32 images.
        epochs: passes over the 1,437 training images.
        lr: peak learning rate of the one-cycle schedule.
        batch_size: images per batch.
        seed: seeds the data order and augmentation.
    """
    config = TrainConfig(model="notebook", dataset="digits", epochs=epochs, lr=lr, batch_size=batch_size, seed=seed)
    train_loader, test_loader = make_loaders("digits", batch_size, CPU, seed=seed)
    steps = len(train_loader)
    optimizer, scheduler = make_optimizer(model, config, epochs * steps)
    scaler = torch.amp.GradScaler("cpu", enabled=False)
    history = History()
    for epoch in range(epochs):
        train_loader.set_epoch(epoch)
        stats = train_epoch(
            model, train_loader, steps, optimizer, scheduler, scaler, label_smoothing=config.label_smoothing
        )
        loss, accuracy, _ = evaluate(model, test_loader, len(test_loader))
        history.train_loss.append(stats.loss)
        history.train_accuracy.append(stats.accuracy)
        history.test_loss.append(loss)
        history.test_accuracy.append(accuracy)
    return history


def train_steps_on_digits(
    model: nn.Module, steps: int, lr: float = 0.1, batch_size: int = 32, seed: int = 0
) -> list[float]:
    """Like ``train_on_digits``, but for ``steps`` batches, returning the training loss of every step.

    The loss is the training objective (cross-entropy with refimpl's label
    smoothing of 0.1), so a perfect fit does not reach zero.

    Args:
        model: a freshly initialised 10-class model for 32x32 images.
        steps: number of batches (45 make one epoch at batch size 32).
        lr: peak learning rate of the one-cycle schedule, which spans the ``steps``.
        batch_size: images per batch.
        seed: seeds the data order and augmentation.
    """
    train_loader, _ = make_loaders("digits", batch_size, CPU, seed=seed)
    epochs = -(-steps // len(train_loader))
    config = TrainConfig(model="notebook", dataset="digits", epochs=epochs, lr=lr, batch_size=batch_size, seed=seed)
    optimizer, scheduler = make_optimizer(model, config, steps)
    scaler = torch.amp.GradScaler("cpu", enabled=False)
    losses: list[float] = []
    for epoch in range(epochs):
        train_loader.set_epoch(epoch)
        batches = iter(train_loader)
        for _ in range(min(len(train_loader), steps - len(losses))):
            stats = train_epoch(
                model, batches, 1, optimizer, scheduler, scaler, label_smoothing=config.label_smoothing
            )
            losses.append(stats.loss)
    return losses


def digits_test_images() -> tuple[torch.Tensor, torch.Tensor]:
    """All 360 test images of digits, normalised as ``train_on_digits`` feeds them: (N, 3, 32, 32) floats, (N,) labels."""
    from refimpl.tools.data import DeviceLoader, load_dataset, to_tensors

    images, labels = to_tensors(load_dataset("digits", train=False))
    return next(iter(DeviceLoader(images, labels, batch_size=len(labels))))
