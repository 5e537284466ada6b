"""The loops: ``train_epoch`` over the training batches, ``evaluate`` over the test batches, and divergence checks.

Both keep their sums on the device and read them back rarely, so a GPU is not
stalled after every batch.
"""

from __future__ import annotations

import itertools
import math
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from tqdm import tqdm

from refimpl.tools.train.step import TrainStep

__all__ = ["EpochStats", "NonFiniteLossError", "divergence", "evaluate", "nonfinite", "train_epoch"]


class NonFiniteLossError(RuntimeError):
    """The run diverged: a non-finite loss or non-finite weights; the message names the step."""


@dataclass
class EpochStats:
    """What one pass over the training batches gave."""

    loss: float  # mean training objective (label smoothing included)
    accuracy: float
    images: int
    seconds: float

    @property
    def images_per_s(self) -> float:
        """Training images per second of the pass."""
        return self.images / self.seconds


def train_epoch(
    step: TrainStep,
    batches: Iterable[tuple[Tensor, Tensor]],
    steps: int,
    scheduler: torch.optim.lr_scheduler.LRScheduler,
    *,
    memory_format: torch.memory_format = torch.contiguous_format,
    first_step: int = 1,
    desc: str = "train",
    log_every: int = 10,
    on_step: Callable[[int, float], None] | None = None,
    progress: bool = True,
) -> EpochStats:
    """Train on ``steps`` batches, with a progress bar of loss, accuracy and images/s.

    The losses stay on the device and are read back every ``log_every``
    steps, so a GPU is not stalled after every step; the first non-finite
    loss is still found exactly.

    Args:
        step: the training step for the whole run, which may hold a CUDA graph;
            its model is in training mode after the call.
        batches: ``(images, labels)`` pairs; the first ``steps`` are used.
        steps: number of batches.
        scheduler: the learning-rate schedule of the step's optimiser, stepped once per batch.
        memory_format: layout the images are moved to (the model's).
        first_step: the global number of the first step, for messages.
        desc: label of the progress bar.
        log_every: steps between read-backs of the loss.
        on_step: called as ``on_step(step, loss)`` for every step, in order, with
            its global number and its loss; the calls come at the read-backs.
        progress: show the progress bar.

    Raises:
        NonFiniteLossError: the loss became NaN or infinite; names the step.
    """
    step.model.train()
    device = step.device
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
                    at = first_step + checked + int(bad[0])
                    raise NonFiniteLossError(f"the loss is {window[bad[0]].item()} at step {at}")
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


def nonfinite(weights: dict[str, Tensor]) -> tuple[list[str], int]:
    """The names of the floating-point tensors that hold a NaN or an infinity, and how many were checked."""
    tensors = {name: t for name, t in weights.items() if t.is_floating_point()}
    finite = torch.stack([torch.isfinite(t).all() for t in tensors.values()]).tolist() if tensors else []
    return [name for name, ok in zip(tensors, finite, strict=True) if not ok], len(tensors)  # one synchronisation


def some(names: list[str]) -> str:
    """The first three of ``names``, and "..." if there are more."""
    return ", ".join(names[:3]) + (", ..." if len(names) > 3 else "")


def divergence(model: nn.Module, train_loss: float, test_loss: float) -> str | None:
    """What shows that an epoch diverged (non-finite losses or weights), or ``None``."""
    bad, checked = nonfinite(model.state_dict())
    losses = (("training loss", train_loss), ("test loss", test_loss))
    found = [f"the {what} is {value}" for what, value in losses if not math.isfinite(value)]
    if bad:
        found.append(f"{len(bad)} of {checked} weight tensors are not finite ({some(bad)})")
    return " and ".join(found) or None
