"""File writing that a reader never sees half done, and folders that one process at a time writes.

What this file holds:

- ``atomic_open``: a file opened under a temporary name next to its target,
  renamed over the target when the block succeeds (result files, training
  metrics and checkpoints are all written through it). The file gets the
  permissions the umask gives a new file, and the temporary file is removed
  on every exit path that runs Python code; ``remove_stale`` clears those a
  killed process left behind.
- ``lock_folder``: an exclusive OS lock (``flock``) on a folder, held for a
  block; the operating system releases it when the process dies, however.

Neither follows a link it did not make: the temporary file is created anew
(``O_EXCL``), ``os.replace`` replaces a link at the target rather than the
file it points to, and the lock file is opened with ``O_NOFOLLOW``, so a
planted ``.lock`` link is refused instead of truncating what it points to.
"""

from __future__ import annotations

import contextlib
import errno
import os
import stat
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any

try:
    import fcntl
except ImportError:  # Windows: folders are not locked there
    fcntl = None  # type: ignore[assignment]

__all__ = ["FolderLockedError", "LockLinkError", "atomic_open", "lock_folder", "remove_stale"]

LOCK = ".lock"  # the lock file of a locked folder
NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)  # not on Windows, which has no flock either


def _umask() -> int:
    """The process's umask, read without changing it where the system allows."""
    with contextlib.suppress(OSError, ValueError):
        for line in Path("/proc/self/status").read_text().splitlines():  # Linux
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    mask = os.umask(0o022)  # elsewhere: set and restore at once
    os.umask(mask)
    return mask


def _temporary_prefix(path: Path) -> str:
    return f".{path.name}."


@contextmanager
def atomic_open(path: str | os.PathLike[str], mode: str = "w") -> Iterator[IO[Any]]:
    """Open a temporary file next to ``path``; it replaces ``path`` when the block succeeds.

    A reader never sees half a file, and a failure (or an interruption) inside
    the block leaves the old file as it was and removes the temporary file.
    The new file's permissions follow the umask, as ``open`` would give them
    (``tempfile`` alone creates 0600 files). A process killed during the
    write leaves its temporary file, ``.NAME.*.tmp``; ``remove_stale`` clears it.

    Args:
        path: the file to write; its folder is created if missing.
        mode: ``"w"`` for text or ``"wb"`` for bytes.

    Yields:
        The open temporary file.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    # same folder as the target: os.replace is only atomic within one file system
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=_temporary_prefix(path), suffix=".tmp")
    try:
        os.chmod(tmp, 0o666 & ~_umask())
        with os.fdopen(fd, mode) as f:
            yield f
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):  # the original error matters, not this one
            os.unlink(tmp)
        raise


def remove_stale(folder: Path, names: tuple[str, ...]) -> list[Path]:
    """Remove the temporary files ``atomic_open`` left in ``folder`` for ``names``; returns them.

    Only safe while no other process writes these files (hold ``lock_folder``).
    """
    removed = []
    for name in names:
        for tmp in folder.glob(f"{_temporary_prefix(Path(name))}*.tmp"):
            if not tmp.is_file() or tmp.is_symlink():  # only what atomic_open makes: a plain file
                continue
            with contextlib.suppress(FileNotFoundError):
                tmp.unlink()
                removed.append(tmp)
    return removed


class LockLinkError(OSError):
    """The folder's lock file is a link (or not a plain file), which the lock never follows."""

    def __init__(self, path: Path) -> None:
        super().__init__(f"{path} is a link or not a plain file; the lock never follows one (remove it)")
        self.path = path


class FolderLockedError(RuntimeError):
    """Another process holds the folder's lock; ``holder`` says which (pid and command)."""

    def __init__(self, folder: Path, holder: str) -> None:
        super().__init__(f"{folder} is locked by another process ({holder})")
        self.folder, self.holder = folder, holder


def _command() -> str:
    argv = list(sys.argv) or ["python"]
    if argv[0].endswith("__main__.py"):  # python -m PACKAGE
        argv[0] = f"python -m {Path(argv[0]).parent.name}"
    return " ".join(argv)


def _open_lock(path: Path) -> int:
    """Open (or create) the lock file without following a link; a link or a non-file is refused."""
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT | NOFOLLOW, 0o666)
    except OSError as err:
        if err.errno == errno.ELOOP or path.is_symlink():  # O_NOFOLLOW's refusal of a link
            raise LockLinkError(path) from None
        raise
    if not stat.S_ISREG(os.fstat(fd).st_mode):  # a FIFO or a device planted under the name
        os.close(fd)
        raise LockLinkError(path)
    return fd


@contextmanager
def lock_folder(folder: str | os.PathLike[str]) -> Iterator[None]:
    """Hold an exclusive lock on ``folder`` (which must exist) for the block, without waiting.

    The lock is ``flock`` on ``FOLDER/.lock``, which holds the pid and the
    command of its holder and is removed when the block ends. The operating
    system releases the lock when the process dies, also by SIGKILL; the next
    holder reuses the file left behind. Not locked on systems without ``fcntl``.

    Raises:
        FolderLockedError: another process holds the lock.
        LockLinkError: ``FOLDER/.lock`` is a link or not a plain file (never followed).
        OSError: the lock file cannot be created (a read-only folder, ...).
    """
    folder = Path(folder)
    if fcntl is None:
        yield
        return
    path = folder / LOCK
    while True:
        fd = _open_lock(path)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 4096, 0).decode(errors="replace").strip() or "pid unknown"
            os.close(fd)
            raise FolderLockedError(folder, holder) from None
        except BaseException:
            os.close(fd)
            raise
        try:  # the previous holder may have removed the file between our open and our lock
            current = os.stat(path).st_ino == os.fstat(fd).st_ino
        except FileNotFoundError:
            current = False
        if current:
            break
        os.close(fd)
    try:
        os.ftruncate(fd, 0)
        # surrogateescape: an argument that is not UTF-8 (a folder named in EUC-KR) keeps its bytes
        os.pwrite(fd, f"pid {os.getpid()}: {_command()}\n".encode(errors="surrogateescape"), 0)
        yield
    finally:
        with contextlib.suppress(OSError):
            os.unlink(path)  # while still locked: a waiting process then retries on a new file
        os.close(fd)
