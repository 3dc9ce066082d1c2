"""The test suite reads only what the repository holds: files opened elsewhere are recorded.

An audit hook (``sys.addaudithook``) sees every ``open`` and directory listing of the test
process. A path outside the allowed places is recorded with the test that was running; the
fixtures in ``conftest.py`` fail that test, and the session if something outside any test did
it. Allowed: the repository, the temporary folder (``tmp_path`` lives there), the Python
installation with its site-packages, and the system folders libraries read (/usr, /etc, ...).
"""

from __future__ import annotations

import os
import site
import sys
import sysconfig
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

SYSTEM_DIRS = ("/usr", "/etc", "/proc", "/sys", "/dev")
#: Start-up files libraries look for in the home folder (pdb for doctests, ReportLab), whether
#: or not they exist: not test data.
HOME_FILES = (".pdbrc", ".reportlab_settings", ".reportlab_mods")
EVENTS = ("open", "os.listdir", "os.scandir")


def allowed_roots(*extra: str | os.PathLike) -> tuple[str, ...]:
    """The folders a test may read from, each as given and as resolved (symlinks followed)."""
    paths = [ROOT, tempfile.gettempdir(), sys.prefix, sys.base_prefix, sys.exec_prefix,
             sys.base_exec_prefix, *site.getsitepackages(), site.getusersitepackages(),
             *sysconfig.get_paths().values(), *SYSTEM_DIRS,
             *(Path.home() / name for name in HOME_FILES), *extra]
    roots = {os.path.abspath(p) for p in paths} | {os.path.realpath(p) for p in paths}
    return tuple(sorted(roots))


def is_outside(path: str, roots: tuple[str, ...]) -> bool:
    """Is ``path`` (absolute or relative to the working folder) outside every one of ``roots``?

    >>> is_outside("/work/shared/vectors/roots.json", ("/work/letters", "/tmp"))
    True
    >>> is_outside("/tmp/pytest-of-x/test0/r.csv", ("/work/letters", "/tmp"))
    False
    >>> is_outside("/work/letters-old/x", ("/work/letters",))
    True
    """
    def inside(p: str) -> bool:
        return any(p == r or p.startswith(r.rstrip(os.sep) + os.sep) for r in roots)

    absolute = os.path.abspath(path)
    return not inside(absolute) and not inside(os.path.realpath(absolute))


class Recorder:
    """Collects (path, test) for every file or folder opened outside ``roots``."""

    def __init__(self, roots: tuple[str, ...]):
        self.roots = roots
        self.outside: list[tuple[str, str]] = []

    def allow(self, *paths: str | os.PathLike) -> None:
        self.roots = tuple(sorted(set(self.roots) | set(allowed_roots(*paths))))

    def hook(self, event: str, args: tuple) -> None:
        if event not in EVENTS or not args:
            return
        try:
            path = args[0]
            if path is None or isinstance(path, int):  # a file descriptor: opened before
                return
            path = os.fsdecode(path)
            if is_outside(path, self.roots):
                test = os.environ.get("PYTEST_CURRENT_TEST", "")
                self.outside.append((os.path.abspath(path), test))
        except Exception:  # an audit hook that raises breaks the open it watches
            pass

    def take(self) -> list[tuple[str, str]]:
        """The paths recorded so far, forgetting them."""
        found, self.outside = self.outside, []
        return found
