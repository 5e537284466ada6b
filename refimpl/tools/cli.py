"""``python -m refimpl``: list the models, print a summary, verify against the references, train.

The ``train`` command's run is here too, for Python: ``TrainConfig`` (its
flags: a ``Recipe`` and what builds the model, the data and the device),
``resolve_config`` (the flags and a resumed run's checkpoint) and ``train``,
which builds them and trains through ``refimpl.tools.train.run_training``.

Exit codes: 0 success, 1 a verification failed or training diverged, 2 bad arguments, an unknown
model, a model that does not fit the image size, missing or unreadable data, an unusable checkpoint
or run folder (also one that cannot be written, a full disk), 130 training interrupted (Ctrl-C), 143
training stopped by SIGTERM (128 + the signal's number, as a shell reports it).

The codes keep these meanings when the output goes nowhere: a reader that stops early (``| head -1``)
or a closed stdout or stderr leaves the work to go on, its output discarded.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import errno
import io
import os
import signal
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, NoReturn

import torch
from torch import nn

from refimpl.modelspec import ModelSpec, Preprocessing
from refimpl.tools.data import DATASETS, NUM_CLASSES, DataUnavailableError, make_loaders
from refimpl.tools.errors import first_line, worker_error
from refimpl.tools.registry import create_model, get_spec, list_models
from refimpl.tools.train import (
    CHECKPOINT,
    MAX_LR,
    METRICS,
    RULES,
    CheckpointError,
    NonFiniteLossError,
    Recipe,
    Rule,
    RunFolderError,
    TrainingInterrupted,
    describe_device,
    fast_settings,
    load_checkpoint,
    open_run_folder,
    resolve_device,
    run_training,
    step_settings,
    stop_on_signals,
)
from refimpl.tools.train.checkpoint import check_kept
from refimpl.tools.train.fitting import seed_all
from refimpl.tools.train.settings import FOLLOWED_ON_RESUME, KEPT_ON_RESUME, POSITIVE
from refimpl.tools.weights import WeightsUnavailableError

__all__ = ["TrainConfig", "build_model", "build_parser", "console", "main", "resolve_config", "train"]


class _Parser(argparse.ArgumentParser):
    """An argument parser whose errors are one line (no usage block) and exit 2."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message} (see '{self.prog} --help')\n")


def _argument(rule: Rule) -> Callable[[str], Any]:
    """An argparse type: the text as ``rule.kind`` where ``rule`` accepts it, else a one-line error.

    The same rules check ``TrainConfig`` and a checkpoint's settings (``refimpl.tools.train.RULES``).
    """

    def parse(text: str) -> Any:
        try:
            value = rule.kind(text)
        except ValueError:
            value = None
        if value is None or rule.problem(value) is not None:
            raise argparse.ArgumentTypeError(f"expected {rule.what}, got {text!r}")
        return value

    return parse


_positive = _argument(POSITIVE)


def _table(rows: list[list[str]], right: set[int] = frozenset()) -> str:
    """Rows as a plain text table, the first row being the header; columns in ``right`` right-aligned."""
    from refimpl.tools.inspection import format_table

    align = "".join("r" if i in right else "l" for i in range(len(rows[0])))
    return format_table(rows[0], rows[1:], align)


def _cmd_list(args: argparse.Namespace) -> int:
    from refimpl.tools.inspection import model_zoo_table, zoo_rows

    print(model_zoo_table(zoo_rows(list_models())))
    return 0


def _cmd_summary(args: argparse.Namespace) -> int:
    from refimpl.tools.inspection import count_parameters, summary

    spec = get_spec(args.name)
    input_size = tuple(args.input_size or (3, spec.input_size, spec.input_size))
    model = spec.builder()
    try:
        stats = summary(model, (args.batch_size, *input_size), depth=args.depth)
    except RuntimeError as err:  # torchinfo wraps the model's own error
        cause = err.__cause__ or err
        reason = first_line(cause)
        if isinstance(cause, MemoryError) or "out of memory" in reason or "can't allocate memory" in reason:
            message = f"out of memory for a batch of {args.batch_size} at {input_size}; lower --batch-size"
        else:
            message = f"input size {input_size} does not fit {args.name}: {reason}"
        print(f"{args.prog}: error: {message}", file=sys.stderr)
        return 2
    print(stats)
    print(f"Exact parameter count: {count_parameters(model):,}. Mult-adds are MACs (FLOPs / 2).")
    return 0


def _cmd_verify(args: argparse.Namespace) -> int:
    from refimpl.tools.verify import verify

    names = args.names or list_models()
    for name in names:
        get_spec(name)  # fail on a typo before any work
    rows = [["model", "reference", "params", "reference params", "max |diff|", "status"]]
    failed = unfit = 0
    for name in names:
        result = verify(name, image_size=args.image_size)
        diff = "-" if result.max_abs_diff is None else f"{result.max_abs_diff:.2e}"
        status = result.status + (f" ({result.detail})" if result.detail else "")
        rows.append([name, result.reference, f"{result.params:,}", result.reference_params, diff, status])
        print(f"{name}: {status}", file=sys.stderr, flush=True)  # progress while the table grows
        failed += result.status == "FAIL"
        unfit += result.status == "unfit"  # --image-size too small for it: the argument's fault, not the model's
    print(_table(rows, right={2, 3, 4}))
    verified = len(names) - failed - unfit
    print(
        f"{verified} of {len(names)} verified"
        + (f", {failed} FAILED" if failed else "")
        + (f", {unfit} not run: --image-size {args.image_size} does not fit" if unfit else "")
    )
    return 1 if failed else 2 if unfit else 0


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
    amp_dtype, memory_format = fast_settings(device)
    step_settings(device, amp_dtype, config.compile, config.cuda_graph, config.fused)  # refused before any work
    spec = _checked_spec(config.model, config.small_input, config.weights)
    prep, published = _preprocessing(config)  # an unknown weights name fails here
    if checkpoint is None and config.weights is not None and _names_file(config.weights):
        _check_file(config.weights)  # before any work; a resumed run reads its checkpoint instead
    if config.normalize == "weights" and config.weights is None:
        raise ValueError("--normalize weights needs --weights (the statistics of which weights?)")
    folder_data = config.dataset == "folder"
    image_size = config.image_size or ((prep.crop_size if published else spec.input_size) if folder_data else None)
    # SIGTERM stops the run as Ctrl-C does; the run folder opens before any work: it may be refused
    with stop_on_signals(), open_run_folder(out, checkpoint, config.overwrite) as folder:
        how = {"auto": " (--device auto" + ("" if device.type == "cuda" else ": no CUDA device found") + ")"}
        print(f"device: {describe_device(device)}{how.get(config.device, '')}", flush=True)
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
        )
        if len(data[0]) == 0:
            raise ValueError(f"--batch-size {config.batch_size} is larger than the training set of {config.dataset}")
        classes = list(data[0].classes)
        settings = {**_recorded(config), "classes": classes}
        if checkpoint is not None:
            check_kept(checkpoint["config"], {"classes": classes})
        seed_all(config.seed)  # the initial weights
        # a resumed run's weights come from its checkpoint: no published file is read again
        weights = config.weights if checkpoint is None else None
        model = build_model(config.model, config.small_input, len(classes), weights).to(device)
        if spec.small_input and not config.small_input and weights is None and image_size is None:
            print(f"note: {config.model} is built for large images; on 32x32 ones --small-input keeps more resolution")
        if checkpoint is not None:
            print(f"resuming from {source} after epoch {checkpoint['epoch']} of {config.epochs}")
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
        )

    last = history[-1]
    total = sum(row["seconds"] for row in history)
    print(
        f"{config.model} on {config.dataset}, {config.epochs} epoch{'s'[: config.epochs > 1]} on {last['device']}: "
        f"test accuracy {last['test_acc']:.1%} (loss {last['test_loss']:.3f}, {last['test_images']} images), "
        f"train accuracy {last['train_acc']:.1%}; {total:.0f} s of training\n"
        f"metrics: {out / METRICS}; checkpoint: {out / CHECKPOINT}"
    )
    return last


def _stopped(signum: int) -> tuple[str, int]:
    """How a stop by ``signum`` is told ("interrupted", "terminated (SIGTERM)") and its exit code."""
    if signum == signal.SIGTERM:
        return "terminated (SIGTERM)", 128 + signal.SIGTERM
    return "interrupted", 130


def _interrupted(err: TrainingInterrupted) -> str:
    """What a ``TrainingInterrupted`` means, and what to type next."""
    folder, checkpoint = err.folder, err.checkpoint
    how, _ = _stopped(err.signum)
    if checkpoint is None or folder is None:  # the command always has a folder: no checkpoint was saved
        return f"{how} in epoch 1 of {err.epochs}, before any was saved; run the same command again to start over"
    resume = (
        f"--resume --out {folder}" if checkpoint == folder / CHECKPOINT else f"--resume {checkpoint} --out {folder}"
    )
    return (
        f"{how} after epoch {err.epoch} of {err.epochs} (epoch {err.epoch + 1} starts over); "
        f"resume with: python -m refimpl train {resume}"
    )


def _cmd_train(args: argparse.Namespace) -> int:
    given = {f.name: getattr(args, f.name) for f in dataclasses.fields(TrainConfig) if hasattr(args, f.name)}
    try:
        config, checkpoint = resolve_config(**given)  # a resumed run's checkpoint is read here, once
        train(config, checkpoint)
    except (DataUnavailableError, CheckpointError, RunFolderError, NonFiniteLossError, WeightsUnavailableError) as err:
        print(f"{args.prog}: error: {worker_error(err)}", file=sys.stderr)
        return 1 if isinstance(err, NonFiniteLossError) else 2
    except (torch.cuda.OutOfMemoryError, RuntimeError) as err:
        if not isinstance(err, torch.cuda.OutOfMemoryError) and "can't allocate memory" not in str(err):
            raise  # the CPU allocator's out-of-memory error is a plain RuntimeError
        batch = f"--batch-size {config.batch_size}"
        print(f"{args.prog}: error: out of memory at {batch}; try a smaller --batch-size", file=sys.stderr)
        return 2
    except TrainingInterrupted as err:  # Ctrl-C or SIGTERM in training: the run folder is consistent
        print(f"{args.prog}: {_interrupted(err)}", file=sys.stderr)
        return _stopped(err.signum)[1]
    except KeyboardInterrupt as err:  # before training began: nothing was written
        how, code = _stopped(getattr(err, "signum", signal.SIGINT))
        print(f"{args.prog}: {how} before training began; nothing was saved", file=sys.stderr)
        return code
    return 0


def _add_train_arguments(p: argparse.ArgumentParser) -> None:
    d = TrainConfig()  # flags left out are None: defaults for a new run, the checkpoint's for --resume
    p.add_argument("--model", help=f"a model name from 'list' (default: {d.model})")
    p.add_argument(
        "--weights",
        metavar="NAME_OR_FILE",
        help="fine-tune from published weights (DEFAULT, IMAGENET1K_V1, ...: see 'list') or a checkpoint file; "
        "the classifier is new for the data set's classes (default: random weights)",
    )
    p.add_argument(
        "--small-input",
        action="store_true",
        default=None,
        help="3x3 stem for 32x32 images, for the models built for 224x224 ones",
    )
    p.add_argument(
        "--dataset",
        choices=DATASETS,
        help=f"digits and fake need no network; folder: your own images (default: {d.dataset})",
    )
    p.add_argument(
        "--data-root",
        help="folder that holds cifar-10-batches-py/, or for --dataset folder train/CLASS/IMAGE and "
        "val/CLASS/IMAGE (default: .)",
    )
    p.add_argument(
        "--image-size",
        type=_argument(RULES["image_size"]),
        help="side of the images the model sees (default: 32 for the 32x32 data sets; for a folder, the weights' "
        "crop or the model's input); 224 lets ImageNet weights see CIFAR-10 at the scale they learnt, for 49x "
        "the compute of 32",
    )
    p.add_argument("--download", action="store_true", default=None, help="download CIFAR-10 if it is missing")
    p.add_argument("--epochs", type=_argument(RULES["epochs"]), help=f"default: {d.epochs}")
    p.add_argument("--batch-size", type=_argument(RULES["batch_size"]), help=f"at least 2 (default: {d.batch_size})")
    p.add_argument(
        "--lr", type=_argument(RULES["lr"]), help=f"peak learning rate, at most {MAX_LR:g} (default: {d.lr})"
    )
    p.add_argument(
        "--max-steps",
        type=_argument(RULES["max_steps"]),
        help="at most this many training (and test) batches per epoch",
    )
    p.add_argument("--device", choices=["auto", "cpu", "cuda"], help="default: auto, CUDA when present")
    p.add_argument(
        "--out",
        metavar="DIR",
        help="for metrics.jsonl and checkpoint.pt (default: runs/MODEL-DATASET); "
        "a folder that holds a run needs --resume or --overwrite",
    )
    p.add_argument(
        "--resume",
        nargs="?",
        const="",
        metavar="CHECKPOINT",
        help="continue a run with its own settings (default file: DIR/checkpoint.pt)",
    )
    p.add_argument(
        "--overwrite",
        action="store_true",
        default=None,
        help="start over in a folder that holds a run; its files stay until this run's first epoch replaces them",
    )
    p.add_argument("--seed", type=_argument(RULES["seed"]), help=f"0 to 2**32 - 1 (default: {d.seed})")
    p.add_argument("--compile", action="store_true", default=None, help="wrap the model in torch.compile")
    p.add_argument(
        "--cuda-graph",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="record the whole training step in a CUDA graph and replay it (default: on CUDA in bfloat16, "
        "without --compile)",
    )
    p.add_argument(
        "--fused",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="SGD's fused kernel (default: on CUDA)",
    )
    p.add_argument(
        "--loader",
        choices=["device", "dataloader"],
        help="device: the data set kept and augmented on the training device, GPU or CPU; "
        f"dataloader: the notes' DataLoader with PIL transforms in worker processes (default: {d.loader})",
    )
    p.add_argument(
        "--normalize",
        choices=["imagenet", "cifar10", "weights"],
        help="channel statistics; weights: those the --weights expect (default: weights with --weights, else imagenet)",
    )
    p.add_argument("--schedule", choices=["onecycle", "cosine"], help=f"default: {d.schedule}")
    p.add_argument(
        "--workers", type=_argument(RULES["workers"]), help=f"DataLoader worker processes (default: {d.workers})"
    )


def build_parser() -> argparse.ArgumentParser:
    """The command-line parser (also rendered in the docs)."""
    parser = _Parser(prog="python -m refimpl", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True, metavar="{list,summary,verify,train}")

    p = sub.add_parser("list", help="every model with its parameters and GMACs")
    p.set_defaults(func=_cmd_list)

    p = sub.add_parser("summary", help="the torchinfo summary of one model")
    p.add_argument("name", help="a model name from 'list'")
    p.add_argument(
        "--input-size",
        nargs=3,
        type=_positive,
        metavar=("C", "H", "W"),
        help="input shape without the batch (default: 3 224 224, or 3 32 32 for CIFAR models)",
    )
    p.add_argument("--batch-size", type=_positive, default=1, help="batch size of the summary input (default: 1)")
    p.add_argument("--depth", type=_positive, default=3, help="levels of nested modules shown (default: 3)")
    p.set_defaults(func=_cmd_summary)

    p = sub.add_parser("verify", help="compare with torchvision, timm or the paper; exit 1 on a mismatch")
    p.add_argument("names", nargs="*", metavar="NAME", help="models to verify (default: all)")
    p.add_argument("--image-size", type=_positive, help="side of the random test images (default: the model's own)")
    p.set_defaults(func=_cmd_verify)

    p = sub.add_parser("train", help="smoke-train a model on CIFAR-10, or offline on digits or fake data")
    _add_train_arguments(p)
    p.set_defaults(func=_cmd_train)
    return parser


class _Discarding:
    """A text stream that goes on working when its reader is gone.

    A reader that stops early (``| head -1``) makes the next write raise
    ``BrokenPipeError``; the stream's descriptor then points at ``os.devnull``,
    so the rest of the output, and Python's flush at exit, go nowhere quietly,
    and the command's exit code keeps its meaning. A name that is not UTF-8
    (a folder named in EUC-KR) is written as its original bytes.
    """

    def __init__(self, stream: IO[str]) -> None:
        self._stream = stream
        if hasattr(stream, "reconfigure"):
            stream.reconfigure(errors="surrogateescape")

    def _discard(self) -> None:
        with contextlib.suppress(OSError, ValueError):
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, self._stream.fileno())
            os.close(devnull)

    def _guarded(self, call: Callable[[], Any]) -> Any:
        try:
            return call()
        except OSError as err:
            if err.errno not in (errno.EPIPE, errno.EBADF):  # a reader gone, a stream closed
                raise
            self._discard()
            with contextlib.suppress(OSError):
                return call()  # into os.devnull now, to empty the buffer
            return None

    def write(self, text: str) -> int:
        self._guarded(lambda: self._stream.write(text))
        return len(text)

    def flush(self) -> None:
        self._guarded(self._stream.flush)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stream, name)


def _guard_streams() -> None:
    """stdout and stderr that never stop the command: closed (``2>&-``) or with their reader gone."""
    for name in ("stdout", "stderr"):
        stream = getattr(sys, name)
        if stream is None or _closed(stream):  # Python sets None for a descriptor closed at start
            setattr(sys, name, open(os.devnull, "w"))  # noqa: SIM115  (open for the process's life)
        elif not isinstance(stream, _Discarding):
            setattr(sys, name, _Discarding(stream))


def _closed(stream: IO[str]) -> bool:
    """Whether ``stream``'s descriptor is closed (a stream without one, in memory, is open)."""
    try:
        os.fstat(stream.fileno())
    except io.UnsupportedOperation:  # no descriptor: a stream in memory
        return False
    except (OSError, ValueError):
        return True
    return False


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    args.prog = parser.prog
    try:
        return args.func(args)
    except ValueError as err:  # unknown model or weights: one line, no traceback
        print(f"{parser.prog}: error: {err}", file=sys.stderr)
        return 2


def console() -> NoReturn:
    """Entry point of the ``refimpl`` console script and of ``python -m refimpl``."""
    _guard_streams()
    sys.exit(main())
