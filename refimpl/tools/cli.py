"""``python -m refimpl``: list the models, print a summary, verify against the references, train.

The ``train`` command's run, for Python too (``TrainConfig``,
``resolve_config``, ``build_model``, ``train``), is in
``refimpl.tools.train.command``; here are its flags and its exit codes.

Exit codes: 0 success, 1 a verification failed, training diverged or another process of a torchrun
run stopped, 2 bad arguments, an unknown model, a model that does not fit the image size, missing or
unreadable data, an unusable checkpoint or run folder (also one that cannot be written, a full disk),
130 training interrupted (Ctrl-C), 143 training stopped by SIGTERM (128 + the signal's number, as a
shell reports it).

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
from typing import IO, Any, NoReturn

import torch

from refimpl.tools.data import DATASETS, DataUnavailableError
from refimpl.tools.errors import first_line, worker_error
from refimpl.tools.registry import get_spec, list_models
from refimpl.tools.train import (
    CHECKPOINT,
    MAX_LR,
    RULES,
    CheckpointError,
    NonFiniteLossError,
    Rule,
    RunFolderError,
    TrainingInterrupted,
)
from refimpl.tools.train.command import TrainConfig, resolve_config, train
from refimpl.tools.train.distributed import RankLostError
from refimpl.tools.train.settings import POSITIVE
from refimpl.tools.weights import WeightsUnavailableError

__all__ = ["build_parser", "console", "main"]


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
    except (
        DataUnavailableError,
        CheckpointError,
        RunFolderError,
        NonFiniteLossError,
        WeightsUnavailableError,
        RankLostError,
    ) as err:
        print(f"{args.prog}: error: {worker_error(err)}", file=sys.stderr)
        return 1 if isinstance(err, NonFiniteLossError | RankLostError) else 2
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
        "--sync-bn",
        action="store_true",
        default=None,
        help="under torchrun on CUDA: batch normalisation pools its statistics over the processes",
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
