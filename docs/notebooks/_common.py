"""Helpers the notebooks share: seeded training on the offline digits data set, plot style, figures with alt text,
and what a cell says in both of the site's languages.

Kept small on purpose: the training loop itself is ``refimpl.tools.train.fit``, tested
in ``tests/test_train.py``. The notebooks train on ``DEVICE``: a GPU when one is
present, else the CPU.
"""

from __future__ import annotations

import base64
import html
import io
import random
from collections.abc import Iterator
from dataclasses import dataclass, field

import matplotlib as mpl
import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from refimpl.tools.data import make_loaders
from refimpl.tools.train import Recipe, fit

DEVICE = torch.device("cuda" if torch.cuda.is_available() else "cpu")


def seed_everything(seed: int = 0) -> None:
    """Fix every random state the notebooks touch."""
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def plot_style() -> None:
    """White figures with dark ink, sized for a phone's column (390 px) as much as for a laptop's.

    A figure of 6 x 3.6 inches at 110 dpi is 660 pixels wide; shown 390 pixels
    wide, its 11-point text is still about 7 pixels high.
    """
    mpl.rcParams.update(
        {
            "figure.facecolor": "white",
            "axes.facecolor": "white",
            "savefig.facecolor": "white",
            "figure.dpi": 110,
            "figure.figsize": (6, 3.6),
            "axes.grid": True,
            "grid.alpha": 0.3,
            "axes.spines.top": False,
            "axes.spines.right": False,
            "font.size": 11,
            "axes.titlesize": 11,
            "legend.fontsize": 9.5,
            "legend.framealpha": 0.9,
        }
    )


class Bilingual:
    """One output in English and in Korean, from the same numbers: the notebook shows the English.

    The site's Korean edition (``docs/ko/``) renders the same stored run and shows
    the Korean, which the output carries in its metadata (``refimpl``); see
    ``docs/hooks/notebooks.py``.
    """

    def __init__(self, mime: str, en: str, **korean: str) -> None:
        self.mime, self.en, self.korean = mime, en, korean

    def _repr_mimebundle_(self, include=None, exclude=None) -> tuple[dict, dict]:
        return {self.mime: self.en}, {"refimpl": self.korean}


def say(en: str, ko: str) -> Bilingual:
    """Markdown written from a run's numbers (a table, a conclusion), in English and in Korean."""
    return Bilingual("text/markdown", en, ko=ko)


def say_html(en: str, ko: str) -> Bilingual:
    """HTML written from a run's numbers, in English and in Korean."""
    return Bilingual("text/html", en, ko=ko)


def show(fig, alt: str, ko: str) -> Bilingual:
    """``fig`` as an SVG image with ``alt`` for its text alternative: sharp at any width, a phone's included.

    Args:
        fig: a finished matplotlib figure; closed here, so it is not drawn twice.
        alt: what the figure shows, for a reader who cannot see it (a screen reader, a failed image).
        ko: ``alt`` in Korean; the Korean edition puts it in place of ``alt`` (the image is stored once).
    """
    import matplotlib.pyplot as plt

    buffer = io.StringIO()
    fig.savefig(buffer, format="svg", bbox_inches="tight")
    plt.close(fig)
    data = base64.b64encode(buffer.getvalue().encode()).decode()
    img = f'<img class="nb-figure" src="data:image/svg+xml;base64,{data}" alt="{html.escape(alt)}">'
    return Bilingual("text/html", img, alt_ko=html.escape(ko))


def band(ax, x: np.ndarray, runs: np.ndarray, color: str, label: str) -> None:
    """The runs' median as a line and their range (minimum to maximum) as a shaded band; ``runs``: (seeds, len(x))."""
    ax.fill_between(x, runs.min(0), runs.max(0), color=color, alpha=0.25, lw=0)
    ax.plot(x, np.median(runs, 0), color=color, lw=1.6, label=label)


@dataclass
class History:
    """Per-epoch metrics of one short run."""

    train_loss: list[float] = field(default_factory=list)
    train_accuracy: list[float] = field(default_factory=list)
    test_loss: list[float] = field(default_factory=list)
    test_accuracy: list[float] = field(default_factory=list)
    step_loss: list[float] = field(default_factory=list)  # the training objective of every step


class Shrunk:
    """A loader whose batches are average-pooled by ``factor``: 32x32 digits become 16x16 (or 8x8).

    The digits are 8x8 images upsampled to 32x32, so 16x16 keeps all they hold
    at a quarter of the arithmetic of every convolution.
    """

    def __init__(self, loader, factor: int) -> None:
        self.loader, self.factor = loader, factor

    def set_epoch(self, epoch: int) -> None:
        self.loader.set_epoch(epoch)

    def __len__(self) -> int:
        return len(self.loader)

    def __iter__(self) -> Iterator[tuple[Tensor, Tensor]]:
        for images, labels in self.loader:
            yield (F.avg_pool2d(images, self.factor) if self.factor > 1 else images), labels


def digits_loaders(batch_size: int = 32, size: int = 32, seed: int = 0) -> tuple[Shrunk, Shrunk]:
    """The (train, test) loaders of digits at ``size`` x ``size`` pixels (32, 16 or 8); training batches augmented."""
    return tuple(Shrunk(loader, 32 // size) for loader in make_loaders("digits", batch_size, DEVICE, seed=seed))


def train(model: nn.Module, data: tuple, recipe: Recipe) -> History:
    """Train ``model`` on ``data`` (the train and test loaders) with ``recipe``, on ``DEVICE``, quietly."""
    history = History()
    rows = fit(
        model.to(DEVICE),
        data,
        recipe,
        out=None,
        on_step=lambda _, loss: history.step_loss.append(loss),
        progress=False,
    )
    history.train_loss = [row["train_loss"] for row in rows]
    history.train_accuracy = [row["train_acc"] for row in rows]
    history.test_loss = [row["test_loss"] for row in rows]
    history.test_accuracy = [row["test_acc"] for row in rows]
    return history


def train_on_digits(
    model: nn.Module,
    epochs: int = 3,
    lr: float = 0.1,
    batch_size: int = 32,
    seed: int = 0,
    size: int = 32,
    label_smoothing: float = 0.1,
    max_steps: int | None = None,
) -> History:
    """Train ``model`` on the digits data set with refimpl's recipe, on ``DEVICE``, quietly.

    The recipe (``refimpl.tools.train.Recipe``): SGD with Nesterov momentum,
    a one-cycle learning rate that warms up over the first quarter of the
    steps to ``lr`` and then anneals to nearly 0, weight decay 5e-4, label
    smoothing 0.1 unless told otherwise.

    Args:
        model: a freshly initialised 10-class model.
        epochs: passes over the 1,437 training images.
        lr: peak learning rate of the one-cycle schedule.
        batch_size: images per batch.
        seed: seeds the data order and augmentation (the initial weights come
            from the random state when the model was built: seed before that).
        size: image side in pixels (32, 16 or 8).
        label_smoothing: of the loss; 0 lets the training loss go to 0.
        max_steps: at most this many batches an epoch (a smoke run); ``None``: all.
    """
    recipe = Recipe(epochs=epochs, lr=lr, seed=seed, log_every=1, label_smoothing=label_smoothing, max_steps=max_steps)
    return train(model, digits_loaders(batch_size, size, seed), recipe)


def digits_test_images(size: int = 32) -> tuple[torch.Tensor, torch.Tensor]:
    """All 360 test images of digits, as ``train_on_digits`` feeds them: (N, 3, size, size) floats, (N,) labels."""
    from refimpl.tools.data import DeviceLoader, load_dataset, to_tensors

    images, labels = to_tensors(load_dataset("digits", train=False))
    return next(iter(Shrunk(DeviceLoader(images, labels, batch_size=len(labels), device=DEVICE), 32 // size)))
