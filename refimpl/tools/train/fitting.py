"""``fit``, and ``run_training``, the one driver that ``fit`` and the command both train through.

A run stops, with a message naming the step and the last good checkpoint,
which stays, when a training loss is not finite (checked every ``log_every``
steps), or when an epoch ends with a non-finite training or test loss or
non-finite weights (checked before its checkpoint is written). The first epoch
of an ``--overwrite`` run removes the earlier run's ``metrics.jsonl`` once its
own checkpoint is written in full, just before that takes the earlier one's
place, so the two files never come from different runs.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import random
import signal
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import torch
from torch import Tensor, nn
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DataLoader
from tqdm import tqdm

from refimpl.tools.data import DeviceLoader
from refimpl.tools.errors import os_reason
from refimpl.tools.files import atomic_open
from refimpl.tools.train.checkpoint import CheckpointError, restore, resumed_settings, save_checkpoint
from refimpl.tools.train.distributed import RankLostError, Ranks, lost_a_rank, mean_over_ranks, peer_reason
from refimpl.tools.train.loop import EpochStats, NonFiniteLossError, divergence, evaluate, train_epoch
from refimpl.tools.train.run_folder import RunFolder, RunFolderError, open_run_folder, write_metrics
from refimpl.tools.train.settings import Recipe
from refimpl.tools.train.signals import Stopped, TrainingInterrupted, saving, stop_on_signals
from refimpl.tools.train.step import TrainStep, describe_device, fast_settings, make_optimizer, step_settings

__all__ = ["Loader", "fit", "run_training", "seed_all"]


class Loader(Protocol):
    """What ``fit`` needs of a loader: ``(images, labels)`` batches and their number.

    A loader may also have ``set_epoch(epoch)``, as ``make_loaders``' loaders
    do; ``fit`` then calls it before each epoch.
    """

    def __iter__(self) -> Iterator[tuple[Tensor, Tensor]]: ...

    def __len__(self) -> int: ...


def seed_all(seed: int) -> None:
    """Seed Python's, NumPy's and torch's random state."""
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


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
            runs while this one goes (see ``refimpl.tools.train.run_folder``);
            ``None`` writes nothing.
        compile: run the model through ``torch.compile`` (the checkpoint holds
            the plain model's weights).
        resume: a checkpoint from ``load_checkpoint`` to continue from, made
            with the same model, data and recipe; training goes on after its
            epoch, with its random states.
        overwrite: let ``out`` hold another run, which this one replaces when
            its first epoch is written; without it such a folder is refused.
        settings: what the checkpoint records as the run's settings
            (``"config"``). Default: the recipe.
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
    opened = contextlib.nullcontext() if out is None else open_run_folder(out, resume, overwrite)
    with stop_on_signals(), opened as folder:
        return run_training(
            model=model,
            data=data,
            recipe=recipe,
            folder=folder,
            compile=compile,
            resume=resume,
            settings=settings,
            on_step=on_step,
            progress=progress,
            cuda_graph=cuda_graph,
            fused=fused,
        )


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


def run_training(
    *,
    model: nn.Module,
    data: tuple[Loader, Loader],
    recipe: Recipe,
    folder: RunFolder | None,
    compile: bool = False,
    resume: dict[str, Any] | None = None,
    settings: dict[str, Any] | None = None,
    on_step: Callable[[int, float], None] | None = None,
    progress: bool = True,
    cuda_graph: bool | None = None,
    fused: bool | None = None,
    ranks: Ranks | None = None,
) -> list[dict[str, Any]]:
    """Train epoch by epoch in an open run folder (or none); ``fit`` and the command both end here.

    Args:
        model: the model, on its training device.
        data: the (train, test) loaders.
        recipe: the optimisation settings.
        folder: the run folder from ``open_run_folder``, locked for the run;
            ``None`` writes nothing.
        compile: run the model through ``torch.compile``.
        resume: a checkpoint from ``load_checkpoint`` to continue from.
        settings: what the checkpoint records as the run's settings; ``None``:
            the recipe (a resumed run's: the checkpoint's, which the recipe must keep).
        on_step: called as ``on_step(step, loss)`` for every training step.
        progress: show a progress bar per epoch and a line after it.
        cuda_graph: replay each training step from a CUDA graph; ``None`` picks (``step_settings``).
        fused: SGD's fused kernel; ``None`` picks.
        ranks: this process's place among those ``torchrun`` started (see
            ``refimpl.tools.train.distributed``): the model is wrapped in
            DistributedDataParallel, the training metrics are averaged over the
            ranks, and only rank 0 shows progress (it alone should get a ``folder``).

    Returns:
        The metrics of every epoch, as ``fit`` returns them.

    Raises:
        ValueError: a loader has no batch, or batches of one image for a model with batch normalisation.
        CheckpointError: ``resume`` does not fit the run, or its epoch is beyond the recipe's epochs.
        RunFolderError: a checkpoint or the metrics cannot be written.
        NonFiniteLossError: the run diverged; the message names the step and the last good checkpoint.
        TrainingInterrupted: Ctrl-C or SIGTERM; it names the last epoch saved.
    """
    train_batches, test_batches = data
    device = next(model.parameters()).device
    amp_dtype, memory_format = fast_settings(device)
    model.to(memory_format=memory_format)  # channels_last on CUDA: cuDNN then needs no transposes
    if ranks is not None:
        if cuda_graph:
            raise ValueError(
                "--cuda-graph is not supported with more than one process: DDP's gradient all-reduce would have to "
                "be recorded in the graph; drop --cuda-graph"
            )
        cuda_graph = False
        progress = progress and ranks.main
    cuda_graph, fused = step_settings(device, amp_dtype, compile, cuda_graph, fused)
    forward: nn.Module = model
    share = None  # images per process and step, under torchrun
    if ranks is not None:  # the gradients are averaged over the ranks in the backward pass
        forward = DistributedDataParallel(model, device_ids=[device] if device.type == "cuda" else None)
        global_batch = getattr(train_batches, "batch_size", None) or train_batches.batch_sampler.batch_size
        share = global_batch // ranks.world_size
    forward = torch.compile(forward) if compile else forward
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
    # what the checkpoint records as the run's settings: a resumed one keeps what it recorded (the command's flags)
    config = dataclasses.asdict(recipe) if settings is None else settings
    if resume is None:
        seed_all(recipe.seed)
    else:
        if settings is None:
            config = resumed_settings(resume, config)
        history, start_epoch = restore(resume, model, optimizer, scheduler, scaler)
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
                    step,
                    train_batches,
                    epoch_steps,
                    scheduler,
                    memory_format=memory_format,
                    first_step=epoch * steps + 1,
                    desc=f"epoch {epoch + 1}/{epochs}",
                    log_every=recipe.log_every,
                    on_step=on_step,
                    progress=progress,
                )
            except NonFiniteLossError as err:
                raise NonFiniteLossError(
                    f"{err} (epoch {epoch + 1}); training stopped; last good checkpoint: {last_good()}"
                ) from None
            if ranks is not None:  # the ranks' shards of the global batches, as one process would report them
                loss, accuracy = mean_over_ranks([stats.loss, stats.accuracy], device)
                stats = EpochStats(loss, accuracy, stats.images * ranks.world_size, stats.seconds)
            tested = forward if ranks is None else model  # every rank tests alone, on the whole test set
            test_loss, test_acc, test_images = evaluate(tested, test_batches, test_steps, amp_dtype, memory_format)
            diverged = divergence(model, stats.loss, test_loss)  # before anything is written
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
                "device": describe_device(device),
                "precision": precision,
                "channels_last": memory_format == torch.channels_last,
                "cuda_graph": cuda_graph,
                # under torchrun: the global batch was split, the learning rate was not scaled (the batch is the same)
                **({} if ranks is None else {"processes": ranks.world_size, "batch_per_process": share}),
            }
            with saving():  # Ctrl-C or SIGTERM now waits for both files and the epoch's record: they agree
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
                    _save_epoch(folder, state, last_good)
                    saved = folder.checkpoint
                history.append(row)
            if progress:
                tqdm.write(
                    f"epoch {epoch + 1}/{epochs}: train loss {stats.loss:.3f} acc {stats.accuracy:.1%}, "
                    f"test loss {test_loss:.3f} acc {test_acc:.1%}, {stats.images_per_s:,.0f} images/s"
                )
    except KeyboardInterrupt as err:  # Ctrl-C, or SIGTERM through stop_on_signals
        signum = err.signum if isinstance(err, Stopped) else signal.SIGINT
        where = None if folder is None else folder.path
        raise TrainingInterrupted(len(history), epochs, saved, where, signum) from None
    except RuntimeError as err:
        if ranks is None or not lost_a_rank(err):
            raise
        raise RankLostError(
            f"another process of the run stopped ({peer_reason(err)}); training stopped in epoch "
            f"{len(history) + 1}; last good checkpoint: {last_good()}"
        ) from None
    return history


def _save_epoch(folder: RunFolder, state: dict[str, Any], last_good: Callable[[], str]) -> None:
    """Write an epoch's checkpoint, then the metrics of every epoch so far (from the checkpoint's history).

    A run that records its class names (the command's) writes them beside, as
    ``classes.json``.

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
        save_checkpoint(path, state, replaces=folder.metrics if folder.replaces else None)
        folder.replaces = False
        path = folder.metrics
        write_metrics(path, state["history"])
        if "classes" in state["config"]:  # what the model's outputs mean, for whoever uses it
            path = folder.classes
            with atomic_open(path, "w") as file:
                json.dump(state["config"]["classes"], file, ensure_ascii=False)
    except OSError as err:
        why = f"cannot write {path}: {os_reason(err)}; training stopped in epoch {epoch}"
        raise RunFolderError(f"{why}; last good checkpoint: {last_good()}") from None
