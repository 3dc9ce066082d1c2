"""Retained copies: write-once files, written so that a crash never leaves half a letter.

A copy is written to a temporary file in the same folder, flushed and fsynced, renamed into
place, and the folder is fsynced; only then may the ledger record it. Copies are read-only;
folders are readable by their owner only. A copy that already exists is never overwritten:
writing the same bytes again is accepted (a resumed run), different bytes are an error.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
from collections.abc import Iterable
from pathlib import Path

from letters.errors import LettersError
from letters.exports import private_dir


class CopyConflict(LettersError):
    """A retained copy exists with other content than the letter just rendered."""


class CopyDamaged(LettersError):
    """A retained copy no longer has the bytes the ledger recorded for it."""


def read_copy(path: str | os.PathLike, sha256: str) -> bytes:
    """A retained copy's bytes, checked against the SHA-256 the ledger recorded for it: what
    goes to the mail house is what the ledger says was sent, or nothing."""
    data = Path(path).read_bytes()
    digest = hashlib.sha256(data).hexdigest()
    if digest != sha256:
        raise CopyDamaged(
            f"{path}: the retained copy no longer has the bytes the ledger recorded (sha256 "
            f"{sha256[:12]}…, now {digest[:12]}…); it is not printed and the batch's print "
            "files are not finished. Run `letters audit verify` and restore the copy from a "
            "backup, then run the same command again.")
    return data


def sha256_file(path: str | os.PathLike, chunk: int = 1 << 20) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(chunk):
            h.update(block)
    return h.hexdigest()


def fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_once(path: str | os.PathLike, data: bytes, *, mode: int = 0o400,
               sync_dir: bool = True) -> str:
    """Durably write ``data`` to ``path`` unless the same bytes are already there; return SHA-256.

    With ``sync_dir=False`` the caller must ``fsync_dir`` the folder before it relies on the
    file (a batch of copies then shares one folder sync).
    """
    path = Path(path)
    digest = hashlib.sha256(data).hexdigest()
    if path.exists():
        existing = sha256_file(path)
        if existing != digest:
            raise CopyConflict(f"{path}: a retained copy with other content already exists "
                               f"(sha256 {existing[:12]}…, new {digest[:12]}…); it is never "
                               "overwritten")
        return digest
    private_dir(path.parent)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException as exc:
        with contextlib.suppress(OSError):  # the original error is the one to report
            tmp.unlink(missing_ok=True)
        name_the_file(exc, path)
        raise
    if sync_dir:
        fsync_dir(path.parent)
    return digest


def remove_stale_temporaries(folder: str | os.PathLike) -> int:
    """Delete temporary files an interrupted run left behind; return how many."""
    folder = Path(folder)
    if not folder.is_dir():
        return 0
    stale = list(folder.glob(".*.tmp"))
    for p in stale:
        p.unlink(missing_ok=True)
    return len(stale)


def name_the_file(exc: BaseException, path: str | os.PathLike) -> None:
    """Give an OSError that names no file (a full disk reports itself at write or fsync) the
    file that was being written, so that its message can say which."""
    if isinstance(exc, OSError) and exc.filename is None:
        exc.filename = str(path)


def replace_file(path: str | os.PathLike, data: bytes | Iterable[bytes]) -> None:
    """Atomically replace a derived file (manifest, sums, print file); owner-only. ``data``:
    the bytes, or their parts in order (a large file need not be held whole)."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as fh:
            if isinstance(data, (bytes, bytearray, memoryview)):
                fh.write(data)
            else:
                for part in data:
                    fh.write(part)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException as exc:
        with contextlib.suppress(OSError):  # the original error is the one to report
            tmp.unlink(missing_ok=True)
        name_the_file(exc, path)
        raise
