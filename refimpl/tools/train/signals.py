"""Ctrl-C and SIGTERM: they stop a run between its saves, never in the middle of one.

SIGTERM is what a job scheduler sends before it kills a job. Either signal
stops a run with ``TrainingInterrupted``, which names the last epoch saved: the
epoch in progress is lost, and a resumed run trains it again from its start. A
signal that arrives while an epoch's files are written waits until both are
written.
"""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Iterator
from pathlib import Path
from types import FrameType

__all__ = ["Stopped", "TrainingInterrupted", "saving", "stop_on_signals"]


class Stopped(KeyboardInterrupt):
    """SIGINT (Ctrl-C) or SIGTERM (what a job scheduler sends) arrived while a run was going.

    Attributes:
        signum: the signal's number (``signal.SIGINT`` or ``signal.SIGTERM``).
    """

    def __init__(self, signum: int = signal.SIGINT) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


class TrainingInterrupted(KeyboardInterrupt):
    """Training was interrupted (Ctrl-C or SIGTERM); says which epoch was saved last, and where.

    The epoch in progress is not saved: a resumed run trains it again from its start.

    Attributes:
        epoch: the last finished epoch (0 if none).
        epochs: the epochs the run was to train.
        checkpoint: the checkpoint that holds ``epoch``, or ``None``.
        folder: the run folder, or ``None`` (``fit`` with ``out=None``).
        signum: the signal that stopped it (``signal.SIGINT`` for Ctrl-C or a plain ``KeyboardInterrupt``).
    """

    def __init__(
        self, epoch: int, epochs: int, checkpoint: Path | None, folder: Path | None, signum: int = signal.SIGINT
    ) -> None:
        where = f"; checkpoint: {checkpoint}" if checkpoint is not None else "; no checkpoint"
        super().__init__(f"interrupted after epoch {epoch} of {epochs}{where}")
        self.epoch, self.epochs, self.checkpoint, self.folder = epoch, epochs, checkpoint, folder
        self.signum = signum


class _StopSignals:
    """SIGINT and SIGTERM raise ``Stopped``, except inside ``hold()``, which lets a save finish first.

    Installed only in the main thread (the only one Python delivers signals to),
    and only over the default handlers: a signal the parent ignores (a
    background job's SIGINT) stays ignored, and a notebook kernel's own handler stays.
    """

    def __init__(self) -> None:
        self.holding = False
        self.pending: int | None = None

    def handler(self, signum: int, frame: FrameType | None) -> None:
        """The signal handler: raise ``Stopped``, or keep the signal for the end of ``hold()``."""
        if self.holding:
            self.pending = signum  # raised when the save is complete
            return
        raise Stopped(signum)

    @contextlib.contextmanager
    def hold(self) -> Iterator[None]:
        """The block runs to its end; a signal that arrives meanwhile is raised after it."""
        self.holding = True
        try:
            yield
        finally:
            self.holding = False
        if self.pending is not None:
            signum, self.pending = self.pending, None
            raise Stopped(signum)


_SIGNALS: _StopSignals | None = None  # the active one, while a run is going in the main thread
_DEFAULT_HANDLERS = {signal.SIGINT: signal.default_int_handler, signal.SIGTERM: signal.SIG_DFL}


@contextlib.contextmanager
def stop_on_signals() -> Iterator[None]:
    """Turn SIGINT and SIGTERM into ``Stopped`` for the block (see ``_StopSignals``); nests."""
    global _SIGNALS
    if _SIGNALS is not None or threading.current_thread() is not threading.main_thread():
        yield
        return
    _SIGNALS = _StopSignals()
    installed = {}
    try:
        for signum, default in _DEFAULT_HANDLERS.items():
            if signal.getsignal(signum) is default:
                installed[signum] = signal.signal(signum, _SIGNALS.handler)
        yield
    finally:
        for signum, previous in installed.items():
            signal.signal(signum, previous)
        _SIGNALS = None


def saving() -> contextlib.AbstractContextManager[None]:
    """Hold SIGINT and SIGTERM back while a checkpoint and its metrics are written."""
    return _SIGNALS.hold() if _SIGNALS is not None else contextlib.nullcontext()
