"""The ``train`` command's run, for Python too: its settings, its model and its data, trained by ``run_training``.

``TrainConfig`` holds the command's flags (a ``Recipe`` and what builds the
model, the data and the device), ``resolve_config`` turns the flags given and a
resumed run's checkpoint into one, ``build_model`` builds the model (random, or
from published weights or a file, for fine-tuning) and ``train`` opens the run
folder and trains through ``run_training``, as ``fit`` does.
``refimpl.tools.cli`` parses the flags into these and turns their errors into
one-line messages and exit codes.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from refimpl.modelspec import ModelSpec, Preprocessing
from refimpl.tools.data import NUM_CLASSES, make_loaders
from refimpl.tools.registry import create_model, get_spec
from refimpl.tools.train import distributed
from refimpl.tools.train.checkpoint import CheckpointError, check_kept, load_checkpoint
from refimpl.tools.train.fitting import run_training, seed_all
from refimpl.tools.train.run_folder import CHECKPOINT, METRICS, RunFolder, RunFolderError, open_run_folder
from refimpl.tools.train.settings import FOLLOWED_ON_RESUME, KEPT_ON_RESUME, RULES, Recipe
from refimpl.tools.train.signals import stop_on_signals
from refimpl.tools.train.step import describe_device, fast_settings, resolve_device, step_settings

__all__ = ["TrainConfig", "build_model", "resolve_config", "train"]


@dataclass(frozen=True)
class TrainConfig(Recipe):
    """Everything a run of ``python -m refimpl train`` needs: a ``Recipe``, and the flags that build the rest.

    Args:
        model: a name from ``list_models()``.
        weights: start from these weights, for fine-tuning: a published
            checkpoint's name (``create_model``'s: ``"DEFAULT"``,
            ``"IMAGENET1K_V1"``, timm's tags) or a checkpoint file (see
            ``refimpl.tools.weights.load_weights_file``); the classifier is new
            where the checkpoint's has other classes. ``None``: random weights.
        small_input: give a model built for 224x224 images the 3x3 stem for 32x32 ones.
        dataset: ``"cifar10"``, ``"digits"``, ``"fake"`` or ``"folder"`` (your
            own images in ``data_root``, see ``refimpl.tools.folder``).
        data_root: the folder that holds ``cifar-10-batches-py/``, or ``train/``
            and ``val/`` for ``"folder"``.
        image_size: the side of the images the model sees. ``None``: the data's
            own 32 for the 32x32 data sets, which a larger size upsamples (an
            ImageNet model sees objects at the scale it learnt, for
            (size / 32)^2 times the compute); for a folder, the crop of the
            weights, else the model's input size.
        download: fetch CIFAR-10 if it is missing.
        batch_size: images per step, at least 2 (batch normalisation needs two).
        device: ``"auto"`` (CUDA when present), ``"cpu"`` or ``"cuda"``.
        out: folder for ``metrics.jsonl`` and ``checkpoint.pt``; ``None`` gives
            ``runs/MODEL-DATASET``. A folder that holds a run is refused unless
            the run is resumed or ``overwrite`` is set.
        resume: a checkpoint to continue from; ``""`` means ``OUT/checkpoint.pt``.
        overwrite: start over in a folder that holds another run; its files
            stay until this run's first epoch replaces them.
        compile: wrap the model in ``torch.compile``.
        loader: ``"device"`` (``DeviceLoader``: the data set kept and augmented
            on the training device, GPU or CPU) or ``"dataloader"``
            (``WorkerLoader``: the notes' DataLoader with PIL transforms in
            worker processes).
        normalize: ``"imagenet"`` (the notes' statistics), ``"cifar10"`` or
            ``"weights"`` (the statistics the published weights expect; the
            command's default with ``--weights``).
        workers: worker processes of the ``"dataloader"`` loader.
        cuda_graph: capture the whole training step (forward, backward,
            optimiser) in a CUDA graph and replay it; ``None``: on CUDA in
            bfloat16 without ``compile``, off otherwise. CUDA only.
        fused: the fused SGD kernel; ``None``: on CUDA, off on the CPU.
        sync_bn: under torchrun on CUDA, batch normalisation pools its
            statistics over the processes (``nn.SyncBatchNorm``); refused on
            the CPU and for one process.

    The fields of ``Recipe`` come first (``epochs``, ``lr``, ``schedule``,
    ``seed``, ...); ``seed`` also seeds the initialisation, the data order and
    the augmentation.

    Raises:
        ValueError: a setting its rule in ``RULES`` refuses (a ``batch_size``
            of 1, which batch normalisation cannot train with, ...).
    """

    model: str = "resnet20"
    weights: str | None = None
    small_input: bool = False
    dataset: str = "cifar10"
    data_root: str = "."
    image_size: int | None = None
    download: bool = False
    batch_size: int = 64
    device: str = "auto"
    out: str | None = None
    resume: str | None = None
    overwrite: bool = False
    compile: bool = False
    loader: str = "device"
    normalize: str = "imagenet"
    workers: int = 2
    cuda_graph: bool | None = None
    fused: bool | None = None
    sync_bn: bool = False


def _recorded(config: TrainConfig) -> dict[str, Any]:
    """What a checkpoint of the command records as the run's settings; ``total_steps`` (no flag) only if set.

    The data's folder is recorded whole, so that ``--resume`` finds it from any working folder.
    """
    kept = {name: getattr(config, name) for name in KEPT_ON_RESUME}
    kept["data_root"] = os.path.abspath(os.path.expanduser(config.data_root))
    return kept if config.total_steps is None else {**kept, "total_steps": config.total_steps}


def _names_file(weights: str) -> bool:
    """Whether ``--weights`` names a checkpoint file (a path, or a file's name), else a published checkpoint."""
    path = Path(weights).expanduser()
    return path.is_file() or os.sep in weights or path.suffix in (".pt", ".pth", ".bin", ".ckpt")


def _check_file(weights: str) -> None:
    if not Path(weights).expanduser().is_file():
        raise ValueError(f"no checkpoint file {weights} (--weights takes a published checkpoint's name or a file)")


def _checked_spec(name: str, small_input: bool, weights: str | None) -> ModelSpec:
    """The model's spec, once its options are checked: before any work, in one line each."""
    spec = get_spec(name)  # an unknown name fails here, with suggestions
    if small_input and not spec.small_input:  # asked of the spec: a TypeError inside a builder stays one
        size = spec.input_size
        raise ValueError(f"{name} does not take --small-input (it is built for {size}x{size} images)")
    if small_input and weights is not None:
        raise ValueError("--weights needs the model's own stem, which --small-input replaces: drop one of them")
    return spec


def build_model(
    name: str, small_input: bool = False, num_classes: int = NUM_CLASSES, weights: str | None = None
) -> nn.Module:
    """A model from the registry for ``num_classes`` classes, freshly initialised or from ``weights``.

    Args:
        name: a name from ``list_models()``.
        small_input: the 3x3 stem for 32x32 images (random weights only).
        num_classes: outputs of the classifier.
        weights: see ``TrainConfig.weights``; the classifier is new where the
            checkpoint's has other classes, every other weight loads strictly.

    Raises:
        ValueError: an unknown model or weights name, a path to no file, or
            ``small_input`` for a model without that option or with weights.
        refimpl.tools.weights.WeightsUnavailableError: a published checkpoint
            neither cached nor downloadable (the message names the file to put
            in place); ``BadCheckpointError``, one that fails its checks or does
            not fit (naming the first keys that differ).
    """
    spec = _checked_spec(name, small_input, weights)
    options = {"small_input": True} if small_input else {}
    if weights is None:
        return spec.builder(num_classes=num_classes, **options)
    if not _names_file(weights):
        return create_model(name, weights=weights, num_classes=num_classes)
    _check_file(weights)
    from refimpl.tools.weights import load_weights_file

    model = spec.builder(num_classes=num_classes)
    note = load_weights_file(model, spec, weights)
    if note:
        print(f"note: {note}", flush=True)
    return model


def _preprocessing(config: TrainConfig) -> tuple[Preprocessing, bool]:
    """What the weights expect (ImageNet's defaults without published ones), and whether they are published."""
    spec = get_spec(config.model)
    if config.weights is None or _names_file(config.weights):
        return Preprocessing(), False
    from refimpl.tools.weights import checkpoint_preprocessing

    return checkpoint_preprocessing(spec, config.weights), True


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
    implied = {}  # defaults that follow from other flags
    if "weights" in given and "normalize" not in given:
        implied["normalize"] = "weights"  # the statistics the weights were trained with
    if given.get("dataset") == "folder" and "loader" not in given:
        implied["loader"] = "dataloader"  # images of many sizes: decoded in workers
    config = TrainConfig(**{**implied, **given})
    if config.resume is None:
        return config, None
    if config.out is None:
        if config.resume == "":
            raise CheckpointError("--resume without a file needs --out DIR (it reads DIR/checkpoint.pt)")
        config = dataclasses.replace(config, out=str(Path(config.resume).parent))  # the checkpoint's folder
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
    saved = {k: v for k, v in recorded.items() if k in KEPT_ON_RESUME or (k in FOLLOWED_ON_RESUME and k not in given)}
    config = dataclasses.replace(config, **{**saved, **{k: v for k, v in given.items() if k in KEPT_ON_RESUME}})
    return config, checkpoint


def _quiet(*args: object, **kwargs: object) -> None:
    """``print`` on every rank but the first: one process speaks for the run."""


@contextlib.contextmanager
def _shared_run_folder(
    out: Path, checkpoint: dict[str, Any] | None, overwrite: bool, ranks: distributed.Ranks | None
) -> Iterator[RunFolder | None]:
    """The run folder on rank 0 (locked, checked), ``None`` on the others; a refusal stops every rank."""
    if ranks is None:
        with open_run_folder(out, checkpoint, overwrite) as folder:
            yield folder
        return
    with contextlib.ExitStack() as stack:
        folder, problem = None, None
        if ranks.main:
            try:
                folder = stack.enter_context(open_run_folder(out, checkpoint, overwrite))
            except RunFolderError as err:
                problem = str(err)
        problem = distributed.broadcast_problem(problem)
        if problem is not None:
            raise RunFolderError(problem)
        yield folder


def train(config: TrainConfig, checkpoint: dict[str, Any] | None = None) -> dict[str, Any]:
    """Train ``config.model`` as ``python -m refimpl train`` does; returns the last epoch's metrics.

    Opens (and locks) the run folder, builds the model, the data and the
    device, checks that a resumed run keeps its checkpoint's settings, and
    trains through ``refimpl.tools.train.run_training``, as ``fit`` does.

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
            another run (see ``refimpl.tools.train.run_folder``).
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
        check_kept(checkpoint["config"], {k: v for k, v in _recorded(config).items() if k not in FOLLOWED_ON_RESUME})
    device = resolve_device(config.device)
    ranks = distributed.from_environment()  # set by torchrun
    if ranks is not None and config.batch_size % ranks.world_size:
        raise ValueError(
            f"--batch-size {config.batch_size} (the global batch) does not divide among {ranks.world_size} processes"
        )
    if ranks is not None and config.cuda_graph:
        raise ValueError(
            "--cuda-graph is not supported with more than one process: DDP's gradient all-reduce would have to be "
            "recorded in the graph; drop --cuda-graph"
        )
    if config.sync_bn and (ranks is None or device.type != "cuda"):
        why = "a single process has no others to pool with" if ranks is None else "the CPU's gloo backend has none"
        raise ValueError(
            f"--sync-bn pools batch statistics over torchrun's processes on CUDA GPUs; {why}: drop --sync-bn"
        )
    if ranks is None:
        return _train(config, checkpoint, out, source, device, ranks)
    try:
        return _train(config, checkpoint, out, source, device, ranks)
    finally:
        distributed.stop()


def _train(
    config: TrainConfig,
    checkpoint: dict[str, Any] | None,
    out: Path,
    source: Path | None,
    device: torch.device,
    ranks: distributed.Ranks | None,
) -> dict[str, Any]:
    say = print if ranks is None or ranks.main else _quiet
    if ranks is not None:
        device = distributed.start(ranks, device)
    amp_dtype, memory_format = fast_settings(device)
    step_settings(device, amp_dtype, config.compile, config.cuda_graph, config.fused)  # refused before any work
    spec = _checked_spec(config.model, config.small_input, config.weights)
    prep, published = _preprocessing(config)  # an unknown weights name fails here
    if checkpoint is None and config.weights is not None and _names_file(config.weights):
        _check_file(config.weights)  # before any work; a resumed run reads its checkpoint instead
    if config.normalize == "weights" and config.weights is None:
        raise ValueError("--normalize weights needs --weights (the statistics of which weights?)")
    folder_data = config.dataset == "folder"
    if folder_data and config.loader == "device":
        raise ValueError(
            "--dataset folder needs --loader dataloader (its default): images of many sizes are decoded in "
            "DataLoader workers, not kept on the device as one tensor"
        )
    image_size = config.image_size or ((prep.crop_size if published else spec.input_size) if folder_data else None)
    # SIGTERM stops the run as Ctrl-C does; the run folder opens before any work: it may be refused
    with stop_on_signals(), _shared_run_folder(out, checkpoint, config.overwrite, ranks) as folder:
        how = {"auto": " (--device auto" + ("" if device.type == "cuda" else ": no CUDA device found") + ")"}
        processes = "" if ranks is None else f", {ranks.describe()}"
        say(f"device: {describe_device(device)}{how.get(config.device, '')}{processes}", flush=True)
        data = make_loaders(
            config.dataset,
            config.batch_size,
            device,
            loader=config.loader,
            root=config.data_root,
            download=config.download,
            normalize=(prep.mean, prep.std) if config.normalize == "weights" else config.normalize,
            seed=config.seed,
            num_workers=config.workers,
            channels_last=memory_format == torch.channels_last,
            image_size=image_size,
            resize_size=prep.resize_size if published and image_size == prep.crop_size else None,
            interpolation=prep.interpolation if published else "bilinear",
            rank=0 if ranks is None else ranks.rank,
            world_size=1 if ranks is None else ranks.world_size,
        )
        if len(data[0]) == 0:
            batches = data[0]
            images = len(batches.dataset) if hasattr(batches, "dataset") else len(batches.labels)
            where = config.data_root if config.dataset == "folder" else config.dataset
            raise ValueError(f"--batch-size {config.batch_size} is larger than the {images} training images of {where}")
        classes = list(data[0].classes)
        settings = {**_recorded(config), "classes": classes}
        if checkpoint is not None:
            check_kept(checkpoint["config"], {"classes": classes})
        seed_all(config.seed)  # the initial weights
        # a resumed run's weights come from its checkpoint: no published file is read again
        weights = config.weights if checkpoint is None else None
        model = build_model(config.model, config.small_input, len(classes), weights).to(device)
        if config.sync_bn:  # the same state_dict keys: checkpoints load either way
            model = nn.SyncBatchNorm.convert_sync_batchnorm(model)
        if spec.small_input and not config.small_input and weights is None and image_size is None:
            say(f"note: {config.model} is built for large images; on 32x32 ones --small-input keeps more resolution")
        if checkpoint is not None:
            say(f"resuming from {source} after epoch {checkpoint['epoch']} of {config.epochs}")
        history = run_training(
            model=model,
            data=data,
            recipe=config,
            folder=folder,
            compile=config.compile,
            resume=checkpoint,
            settings=settings,
            cuda_graph=config.cuda_graph,
            fused=config.fused,
            ranks=ranks,
        )

    last = history[-1]
    total = sum(row["seconds"] for row in history)
    say(
        f"{config.model} on {config.dataset}, {config.epochs} epoch{'s'[: config.epochs > 1]} on {last['device']}: "
        f"test accuracy {last['test_acc']:.1%} (loss {last['test_loss']:.3f}, {last['test_images']} images), "
        f"train accuracy {last['train_acc']:.1%}; {total:.0f} s of training\n"
        f"metrics: {out / METRICS}; checkpoint: {out / CHECKPOINT}"
    )
    return last
