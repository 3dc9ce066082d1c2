"""Processes that work on one batch: one mailing per batch at a time.

**The batch lock.** ``letters mail`` holds an advisory lock (``flock``) on
``<out>/<batch>/.lock`` from before the ledger opens the batch until the run ends; the file
holds the pid of the process that holds it. A second run of the same batch stops at once with
:class:`~letters.errors.BatchBusy` naming that pid. The operating system releases the lock when
the process ends, however it ends (``kill -9`` included), so a lock never needs removing by hand
and the file stays. Processes on other machines (a shared PostgreSQL ledger) are kept apart by
the ledger itself (:meth:`letters.ledger.Ledger.open_batch`).
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path
from typing import Iterator

from letters.errors import BatchBusy

try:
    import fcntl
except ImportError:  # Windows
    fcntl = None

LOCK_NAME = ".lock"


@contextlib.contextmanager
def batch_lock(folder: str | os.PathLike, batch: str) -> Iterator[Path]:
    """Hold the lock of the batch whose folder is ``folder`` (it must exist), or raise
    :class:`BatchBusy` at once if another process holds it."""
    path = Path(folder) / LOCK_NAME
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)  # not truncated: it names the holder
    try:
        if not _try_lock(fd):
            raise BatchBusy(batch, _holder(fd))
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode("ascii"))
        yield path
    finally:
        os.close(fd)  # releases the lock


def _try_lock(fd: int) -> bool:
    if fcntl is not None:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return False
        return True
    import msvcrt

    try:
        msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)
    except OSError:
        return False
    return True


def _holder(fd: int) -> int | None:
    try:
        return int(os.pread(fd, 32, 0).decode("ascii").strip())
    except (ValueError, OSError, AttributeError):
        return None

