"""Smoke training: any model of the registry, on CIFAR-10 or on offline data.

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

What this file holds, top to bottom:

1. ``TrainConfig``, the settings (the command's flags), and the choices they
   lead to: device, precision and layout, model, optimiser and schedule;
2. ``train_epoch`` and ``evaluate``, the loops (also used by
   ``benchmarks/train_throughput.py``);
3. checkpoints: ``save_checkpoint`` and ``load_checkpoint``, random states included;
4. ``train``, which ties them together, and ``resolve_config`` for ``--resume``.

What a run leaves in ``--out DIR``: ``metrics.jsonl``, one line per epoch
(epoch, train loss and accuracy, test loss and accuracy, images per second,
seconds, device), and ``checkpoint.pt``, rewritten atomically after every
epoch. It holds the model, optimiser, scheduler and gradient scaler, the
epoch, the metrics so far and every random state (Python, NumPy, torch, CUDA),
all as tensors and plain containers so that ``torch.load(weights_only=True)``
reads it. Each epoch's data order and augmentation come from (seed, epoch),
so ``--resume`` continues exactly: on the CPU a resumed run ends with the same
metrics as an uninterrupted one. A non-finite loss stops the run with a
message naming the step; the checkpoint of the last finished epoch stays.
"""

from __future__ import annotations

import dataclasses
import itertools
import json
import random
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn
from tqdm import tqdm

from refimpl.tools.data import NUM_CLASSES, make_loaders
from refimpl.tools.registry import create_model, get_spec
from refimpl.tools.results import atomic_open

__all__ = [
    "CheckpointError",
    "NonFiniteLossError",
    "TrainConfig",
    "build_model",
    "evaluate",
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
CHECKPOINT_KEYS = ("config", "epoch", "model", "optimizer", "scheduler", "scaler", "history", "rng")


class CheckpointError(ValueError):
    """A checkpoint is missing, unreadable, not ours, or from a different recipe."""


class NonFiniteLossError(RuntimeError):
    """The training loss became NaN or infinite; the message names the step."""


@dataclass
class TrainConfig:
    """Everything a training run needs; the fields are the command's flags.

    Args:
        model: a name from ``list_models()``.
        small_input: build an ImageNet ResNet with the 3x3 stem for 32x32 images.
        dataset: ``"cifar10"``, ``"digits"`` or ``"fake"``.
        data_root: the folder that holds ``cifar-10-batches-py/``.
        download: fetch CIFAR-10 if it is missing.
        epochs: passes over the training set.
        batch_size: images per step.
        lr: peak learning rate (one-cycle) or initial learning rate (cosine).
        max_steps: at most this many training (and test) batches per epoch, for smoke runs.
        device: ``"auto"`` (CUDA when present), ``"cpu"`` or ``"cuda"``.
        out: folder for ``metrics.jsonl`` and ``checkpoint.pt``; ``None`` gives
            ``runs/MODEL-DATASET``.
        resume: a checkpoint to continue from; ``""`` means ``OUT/checkpoint.pt``.
        seed: seeds the initialisation, the data order and the augmentation.
        compile: wrap the model in ``torch.compile``.
        loader: ``"gpu"`` (the data set on the training device) or
            ``"dataloader"`` (the notes' DataLoader with PIL transforms).
        normalize: ``"imagenet"`` (the notes' statistics) or ``"cifar10"``.
        workers: worker processes of the ``"dataloader"`` loader.
        schedule: ``"onecycle"`` or ``"cosine"``.
        momentum: SGD's (Nesterov) momentum; one-cycle cycles it in 0.85 .. 0.95.
        weight_decay: L2 penalty of SGD.
        label_smoothing: of the cross-entropy loss.
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
    seed: int = 0
    compile: bool = False
    loader: str = "gpu"
    normalize: str = "imagenet"
    workers: int = 2
    schedule: str = "onecycle"
    momentum: float = 0.9
    weight_decay: float = 5e-4
    label_smoothing: float = 0.1


# the settings that decide a run's numbers: a resumed run must keep them
RECIPE = (
    "model", "small_input", "dataset", "normalize", "epochs", "batch_size", "lr", "max_steps", "seed",
    "loader", "workers", "schedule", "momentum", "weight_decay", "label_smoothing",
)  # fmt: skip


def _recipe(config: TrainConfig) -> dict[str, Any]:
    return {name: getattr(config, name) for name in RECIPE}


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


def build_model(name: str, small_input: bool = False, num_classes: int = NUM_CLASSES) -> nn.Module:
    """A freshly initialised model from the registry, for ``num_classes`` classes.

    Raises:
        ValueError: an unknown model, or ``small_input`` for a model without that option.
    """
    spec = get_spec(name)  # an unknown name fails here, with suggestions
    if not small_input:
        return create_model(name, num_classes=num_classes)
    try:
        return create_model(name, num_classes=num_classes, small_input=True)
    except TypeError:  # the builder has no such option
        raise ValueError(
            f"{name} does not take --small-input (it is built for {spec.input_size}x{spec.input_size} images)"
        ) from None


def make_optimizer(
    model: nn.Module, config: TrainConfig, total_steps: int
) -> tuple[torch.optim.SGD, torch.optim.lr_scheduler.LRScheduler]:
    """SGD with Nesterov momentum and weight decay, and its per-step schedule."""
    optimizer = torch.optim.SGD(
        model.parameters(), lr=config.lr, momentum=config.momentum, nesterov=True, weight_decay=config.weight_decay
    )
    if config.schedule == "onecycle":  # warm up for 25% of the steps, then anneal to nearly 0
        scheduler: torch.optim.lr_scheduler.LRScheduler = torch.optim.lr_scheduler.OneCycleLR(
            optimizer, max_lr=config.lr, total_steps=total_steps, pct_start=0.25
        )
    elif config.schedule == "cosine":
        scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=total_steps)
    else:
        raise ValueError(f"unknown schedule {config.schedule!r}; known: onecycle, cosine")
    return optimizer, scheduler


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

    Raises:
        NonFiniteLossError: the loss became NaN or infinite; names the step.
    """
    model.train()
    device = next(model.parameters()).device
    losses = torch.zeros(steps, device=device)  # (steps,), filled as we go
    correct = torch.zeros((), dtype=torch.int64, device=device)
    images, checked = 0, 0
    bar = tqdm(total=steps, desc=desc, unit="step", leave=False, dynamic_ncols=True)
    start = time.perf_counter()
    for i, (x, y) in enumerate(itertools.islice(batches, steps)):
        x = x.to(device, memory_format=memory_format, non_blocking=True)  # (B, 3, H, W)
        y = y.to(device, non_blocking=True)  # (B,)
        with torch.autocast(device.type, dtype=amp_dtype, enabled=amp_dtype is not None):
            logits = model(x)  # (B, classes)
            loss = F.cross_entropy(logits, y, label_smoothing=label_smoothing)
        optimizer.zero_grad(set_to_none=True)
        scaler.scale(loss).backward()  # the scaler is a no-op unless training in float16
        scaler.step(optimizer)
        scaler.update()
        scheduler.step()
        losses[i] = loss.detach()
        correct += (logits.argmax(1) == y).sum()
        images += len(y)
        bar.update()
        if (i + 1) % log_every == 0 or i + 1 == steps:
            window = losses[checked : i + 1].cpu()  # the one synchronisation point
            bad = torch.nonzero(~torch.isfinite(window))
            if len(bad):
                bar.close()
                step = first_step + checked + int(bad[0])
                raise NonFiniteLossError(f"the loss is {window[bad[0]].item()} at step {step}")
            checked = i + 1
            seconds = time.perf_counter() - start
            bar.set_postfix(
                loss=f"{losses[:checked].mean().item():.3f}",
                acc=f"{correct.item() / images:.3f}",
                img_s=f"{images / seconds:.0f}",
            )
    bar.close()
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


def save_checkpoint(path: Path, state: dict[str, Any]) -> None:
    """Write ``state`` with our format mark and the random states, atomically."""
    with atomic_open(path, "wb") as f:
        torch.save({"format": FORMAT, "version": FORMAT_VERSION, **state, "rng": _rng_state()}, f)


def load_checkpoint(path: str | Path) -> dict[str, Any]:
    """Read a training checkpoint with ``torch.load(..., weights_only=True)``.

    Raises:
        CheckpointError: the file is missing, unreadable (truncated, corrupted,
            or holding arbitrary objects), or not a refimpl training checkpoint.
    """
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"no checkpoint at {path}")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # zip, pickle and weights-only errors all mean: not loadable
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
    return state


# --8<-- [end:checkpoint]


def _checkpoint_path(resume: str, out: Path) -> Path:
    return out / CHECKPOINT if resume == "" else Path(resume)


def resolve_config(**given: Any) -> TrainConfig:
    """The settings of a run from the flags given (``None`` meaning not given).

    A new run fills the rest with ``TrainConfig``'s defaults. A resumed run
    takes the rest from its checkpoint, so ``--resume`` alone continues it.
    """
    given = {k: v for k, v in given.items() if v is not None}
    config = TrainConfig(**given)
    if config.resume is None:
        return config
    if config.out is None:
        if config.resume == "":
            raise CheckpointError("--resume without a file needs --out DIR (it reads DIR/checkpoint.pt)")
        config.out = str(Path(config.resume).parent)  # continue in the checkpoint's folder
    saved = load_checkpoint(_checkpoint_path(config.resume, Path(config.out)))["config"]
    return dataclasses.replace(config, **{**saved, **{k: v for k, v in given.items() if k in RECIPE}})


def _write_metrics(path: Path, history: list[dict[str, Any]]) -> None:
    with atomic_open(path) as f:  # rewritten whole: after a resume it holds exactly the checkpoint's epochs
        f.writelines(json.dumps(row) + "\n" for row in history)


def train(config: TrainConfig) -> dict[str, Any]:
    """Train ``config.model``; returns the last epoch's metrics.

    Raises:
        ValueError: a bad setting (unknown model, no CUDA device, ...).
        refimpl.tools.data.DataUnavailableError: CIFAR-10 is missing.
        CheckpointError: ``resume`` names a missing, unreadable or foreign
            checkpoint, or one made with a different recipe.
        NonFiniteLossError: the loss diverged; the checkpoint of the last
            finished epoch is kept.
    """
    out = Path(config.out or f"runs/{config.model}-{config.dataset}")
    checkpoint_path = out / CHECKPOINT
    state = None
    if config.resume is not None:
        state = load_checkpoint(_checkpoint_path(config.resume, out))
        differ = {k: (v, state["config"].get(k)) for k, v in _recipe(config).items() if state["config"].get(k) != v}
        if differ:
            text = ", ".join(f"{k} {new!r} (checkpoint: {old!r})" for k, (new, old) in differ.items())
            raise CheckpointError(f"the resumed run must keep the checkpoint's settings; differs: {text}")
    device = resolve_device(config.device)
    how = {"auto": " (--device auto" + ("" if device.type == "cuda" else ": no CUDA device found") + ")"}
    print(f"device: {_describe(device)}{how.get(config.device, '')}", flush=True)

    torch.manual_seed(config.seed)
    random.seed(config.seed)
    np.random.seed(config.seed)
    model = build_model(config.model, config.small_input)
    if get_spec(config.model).input_size > 32 and not config.small_input:
        print(f"note: {config.model} is built for large images; on 32x32 ones --small-input keeps more resolution")
    amp_dtype, memory_format = fast_settings(device)
    model = model.to(device, memory_format=memory_format)
    forward = torch.compile(model) if config.compile else model  # the checkpoint holds the plain model

    train_batches, test_batches = make_loaders(
        config.dataset, config.batch_size, device, config.loader, config.data_root, config.download,
        config.normalize, config.seed, config.workers, channels_last=memory_format == torch.channels_last,
    )  # fmt: skip
    steps = min(len(train_batches), config.max_steps or len(train_batches))
    if steps == 0:
        raise ValueError(f"--batch-size {config.batch_size} is larger than the training set of {config.dataset}")
    test_steps = min(len(test_batches), config.max_steps or len(test_batches))
    optimizer, scheduler = make_optimizer(model, config, config.epochs * steps)
    scaler = torch.amp.GradScaler(device.type, enabled=amp_dtype == torch.float16)

    history: list[dict[str, Any]] = []
    start_epoch = 0
    if state is not None:
        source = _checkpoint_path(config.resume, out)
        try:
            model.load_state_dict(state["model"])
            optimizer.load_state_dict(state["optimizer"])
            scheduler.load_state_dict(state["scheduler"])
            scaler.load_state_dict(state["scaler"])
            history, start_epoch = state["history"], state["epoch"]
            _set_rng_state(state["rng"])
        except (KeyError, RuntimeError, TypeError, ValueError) as err:  # a damaged or hand-edited checkpoint
            reason = " ".join(str(err).split())  # PyTorch's messages span several lines
            reason = reason if len(reason) < 200 else reason[:200] + "..."
            raise CheckpointError(f"checkpoint {source} does not fit this run: {reason}") from None
        print(f"resuming from {source} after epoch {start_epoch} of {config.epochs}")
    _write_metrics(out / METRICS, history)

    precision = {None: "float32", torch.bfloat16: "bfloat16", torch.float16: "float16"}[amp_dtype]
    for epoch in range(start_epoch, config.epochs):
        train_batches.set_epoch(epoch)
        try:
            stats = train_epoch(
                forward, train_batches, steps, optimizer, scheduler, scaler, amp_dtype, memory_format,
                config.label_smoothing, first_step=epoch * steps + 1, desc=f"epoch {epoch + 1}/{config.epochs}",
            )  # fmt: skip
        except NonFiniteLossError as err:
            kept = f"{checkpoint_path} (epoch {epoch})" if epoch else "none (no epoch finished)"
            raise NonFiniteLossError(f"{err} (epoch {epoch + 1}); training stopped; last good checkpoint: {kept}")
        test_loss, test_acc, test_images = evaluate(forward, test_batches, test_steps, amp_dtype, memory_format)
        history.append(
            {
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
            }
        )
        save_checkpoint(
            checkpoint_path,
            {
                "config": _recipe(config),
                "epoch": epoch + 1,
                "model": model.state_dict(),
                "optimizer": optimizer.state_dict(),
                "scheduler": scheduler.state_dict(),
                "scaler": scaler.state_dict(),
                "history": history,
            },
        )
        _write_metrics(out / METRICS, history)
        tqdm.write(
            f"epoch {epoch + 1}/{config.epochs}: train loss {stats.loss:.3f} acc {stats.accuracy:.1%}, "
            f"test loss {test_loss:.3f} acc {test_acc:.1%}, {stats.images_per_s:,.0f} images/s"
        )

    last = history[-1]
    total = sum(row["seconds"] for row in history)
    print(
        f"{config.model} on {config.dataset}, {config.epochs} epoch{'s'[: config.epochs > 1]} on {last['device']}: "
        f"test accuracy {last['test_acc']:.1%} (loss {last['test_loss']:.3f}, {last['test_images']} images), "
        f"train accuracy {last['train_acc']:.1%}; {total:.0f} s of training\n"
        f"metrics: {out / METRICS}; checkpoint: {checkpoint_path}"
    )
    return last
