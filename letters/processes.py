"""Processes that work on one batch: one mailing per batch at a time, and rendering workers
that end with the process that started them.

**The batch lock.** ``letters mail`` holds an advisory lock (``flock``) on
``<out>/<batch>/.lock`` from before the ledger opens the batch until the run ends; the file
holds the pid of the process that holds it. A second run of the same batch stops at once with
:class:`~letters.errors.BatchBusy` naming that pid. The operating system releases the lock when
the process ends, however it ends (``kill -9`` included), so a lock never needs removing by hand
and the file stays. Processes on other machines (a shared PostgreSQL ledger) are kept apart by
the ledger itself (:meth:`letters.ledger.Ledger.open_batch`).

**Workers.** A rendering worker must not outlive the mailing: after ``kill -9`` of the main
process, workers left running would go on writing letters beside a resumed run.
:func:`exit_with_parent` (a pool initializer) ends the worker as soon as the main process is
gone. Workers are forked by multiprocessing's forkserver, which is their parent and itself
lives on while they do (they hold the pipe that tells it the main process has ended), so
``PR_SET_PDEATHSIG`` alone never fires in that case; what works is the pipe multiprocessing
gives each child to its creator (``multiprocessing.parent_process().sentinel``), which reads
end-of-file the moment the main process ends. A thread waits on it and calls ``os._exit``.
Where that pipe is missing, the thread checks every half second that the main process is alive.
``PR_SET_PDEATHSIG`` (Linux) is set as well, for when the forkserver itself is killed.

**The collector in a rendering worker.** Python's cyclic garbage collector took 1.3 to 1.6 ms
of a worker's 11 to 12 ms per letter (timed with ``gc.callbacks`` over 1,200 letters in one
process): every 700 new objects it looks through the young ones, and now and then through
everything the process holds, most of which is the renderer's caches, kept for the whole run.
Set as below it takes about 0.7 ms. :func:`collect_less`
(called once when a worker starts) lets 10,000 objects come before a young collection, and
:func:`letter_done` (after each letter) moves what is alive after the 1st, 10th, 100th,
1,000th and 10,000th letter out of the collector's sight (``gc.freeze``), after a full
collection so that no garbage is kept with it. What is frozen and later dropped (a cache
entry pushed out) is still freed when nothing refers to it. Output does not depend on when
the collector runs. Only processes a mailing starts to render its letters do this (the local
pool's, a local Dask cluster's); a caller's own process, and Dask workers someone else runs,
are left as they are.
"""

from __future__ import annotations

import contextlib
import ctypes
import gc
import multiprocessing
import os
import signal
import sys
import threading
import time
from pathlib import Path
from typing import Iterator

from letters.errors import BatchBusy

try:
    import fcntl
except ImportError:  # Windows
    fcntl = None

LOCK_NAME = ".lock"
PR_SET_PDEATHSIG = 1  # <linux/prctl.h>
POLL_SECONDS = 0.5


@contextlib.contextmanager
def batch_lock(folder: str | os.PathLike, batch: str) -> Iterator[Path]:
    """Hold the lock of the batch whose folder is ``folder`` (it must exist), or raise
    :class:`BatchBusy` at once if another process holds it."""
    path = Path(folder) / LOCK_NAME
    while True:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)  # not truncated: it names the holder
        if not _try_lock(fd):
            holder = _holder(fd)
            os.close(fd)
            raise BatchBusy(batch, holder)
        if _same_file(fd, path):
            break
        # a run refused before its batch was opened took the file away (and with it, maybe,
        # the folder) between this one's opening and locking it: lock the one there now
        os.close(fd)
    try:
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode("ascii"))
        yield path
    finally:
        os.close(fd)  # releases the lock


def _same_file(fd: int, path: Path) -> bool:
    """Whether ``path`` still names the file open as ``fd``."""
    try:
        there, held = os.stat(path), os.fstat(fd)
    except FileNotFoundError:
        return False
    return (there.st_dev, there.st_ino) == (held.st_dev, held.st_ino)


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


def exit_with_parent(parent_pid: int) -> None:
    """Make this process (a pool worker) exit as soon as process ``parent_pid`` has ended."""
    _set_parent_death_signal()
    parent = multiprocessing.parent_process()
    try:
        sentinel = parent.sentinel if parent is not None and parent.pid == parent_pid else None
    except ValueError:  # no sentinel: multiprocessing did not start this process
        sentinel = None
    if sentinel is not None:
        watch = _wait_for_sentinel
        args: tuple = (sentinel,)
    else:
        watch = _poll_pid
        args = (parent_pid, os.getppid())
    threading.Thread(target=watch, args=args, name="exit-with-parent", daemon=True).start()


def _wait_for_sentinel(sentinel) -> None:
    from multiprocessing.connection import wait

    wait([sentinel])  # ready (end of file) once the creating process has ended
    os._exit(1)


def _poll_pid(pid: int, ppid: int) -> None:
    while _alive(pid) and os.getppid() == ppid:
        time.sleep(POLL_SECONDS)
    os._exit(1)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # the pid now belongs to another user's process
        return False
    return True


def _set_parent_death_signal() -> None:
    """Linux: SIGKILL this process when its parent (the forkserver) ends."""
    if not sys.platform.startswith("linux"):
        return
    try:
        libc = ctypes.CDLL(None, use_errno=True)  # the running program, libc included
        libc.prctl(PR_SET_PDEATHSIG, int(signal.SIGKILL), 0, 0, 0)
    except (OSError, AttributeError):
        pass


#: Young objects before the collector looks at them (Python's default: 700).
YOUNG_OBJECTS = 10_000
#: After which of its letters a rendering process freezes what it holds (``letter_done``).
_FREEZE_AFTER = frozenset({1, 10, 100, 1_000, 10_000})
_letters_done = 0


def collect_less() -> None:
    """Set the collector of a rendering process (see the module's text)."""
    _gen0, gen1, gen2 = gc.get_threshold()
    gc.set_threshold(YOUNG_OBJECTS, gen1, gen2)


def letter_done() -> None:
    """Count a letter rendered by this process; after the 1st, 10th, 100th ... collect and
    freeze what is alive (the renderer's caches, by then mostly filled)."""
    global _letters_done
    _letters_done += 1
    if _letters_done in _FREEZE_AFTER:
        gc.collect()
        gc.freeze()
