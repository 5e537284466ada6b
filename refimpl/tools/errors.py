"""An exception in one line: the words the tools quote from an error they caught.

The tools' messages are one line each (what failed, why, what to do), and the
"why" is often an exception from PyTorch, torchvision or the operating system,
whose own message may run to paragraphs or repeat a path the message names
already. These functions are the only ways the tools shorten one.
"""

from __future__ import annotations

import os

__all__ = ["first_line", "first_sentence", "os_reason", "worker_error"]


def first_line(err: BaseException) -> str:
    """The first line of ``err``'s message, or its type's name when the message is empty."""
    text = str(err).strip()
    return text.splitlines()[0] if text else type(err).__name__


def first_sentence(err: BaseException, width: int = 120) -> str:
    """``err`` in one short line: its type and its first sentence, cut to ``width`` characters.

    For errors whose message runs to paragraphs (PyTorch's load errors), where
    the type says as much as the words.
    """
    text = " ".join(str(err).split()).split(". ")[0]
    text = text if len(text) <= width else text[: width - 3] + "..."
    return f"{type(err).__name__}: {text}" if text else type(err).__name__


def os_reason(err: OSError) -> str:
    """The system's words for an ``OSError`` (``"Permission denied"``), without the path Python adds to them."""
    return os.strerror(err.errno) if err.errno else str(err)


def worker_error(err: BaseException) -> str:
    """``err``'s own message, also when a ``DataLoader`` worker raised it.

    The main process gets a worker's error as the same type, with "Caught X in
    DataLoader worker process 0" and the worker's traceback as its message,
    whose last line is the original one (``module.X: message``).
    """
    text = str(err).strip()
    if not text.startswith("Caught "):
        return text
    last = text.splitlines()[-1]
    name = type(err).__name__
    return last.split(f"{name}: ", 1)[1] if f"{name}: " in last else last
