"""The suite is self-contained: a test that opens a file outside the repository fails."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from tests import fileaudit
from tests.conftest import ROOT

# A path outside every allowed place wherever the repository is cloned (a sibling folder
# would be inside the temporary folder when the clone is): the attempt to open it is what
# counts, not whether it exists.
OUTSIDE = Path("/letters-outside-the-repository") / "vectors" / "rfc6962" / "roots.json"


def test_allowed_and_outside_paths():
    roots = fileaudit.allowed_roots()
    assert not fileaudit.is_outside(str(ROOT / "tests" / "data" / "rfc6962" / "roots.json"), roots)
    assert not fileaudit.is_outside(os.path.join(tempfile.gettempdir(), "x", "r.csv"), roots)
    assert not fileaudit.is_outside(os.__file__, roots)  # the Python installation
    assert fileaudit.is_outside(str(OUTSIDE), roots)
    # a sibling whose name starts like the repository's is not inside it
    assert fileaudit.is_outside(str(ROOT) + "-other/tests/data/x", (str(ROOT),))


def test_recorder_notes_the_path_and_the_test():
    recorder = fileaudit.Recorder((str(ROOT),))
    recorder.hook("open", (str(OUTSIDE), "r", 0))
    recorder.hook("open", (str(ROOT / "README.md"), "r", 0))
    recorder.hook("open", (3, "r", 0))  # a file descriptor
    recorder.hook("os.scandir", (str(OUTSIDE.parent),))
    recorder.hook("socket.connect", (None, ("localhost", 5432)))
    test = os.environ["PYTEST_CURRENT_TEST"]
    assert recorder.take() == [(str(OUTSIDE), test), (str(OUTSIDE.parent), test)]
    assert recorder.take() == []


def _run(pytester, monkeypatch, **files):
    """Run a pytest session, under this suite's conftest, on ``files`` (name -> source)."""
    pytester.makeconftest(
        "import os\n"
        "os.environ.pop('PYTEST_CURRENT_TEST', None)  # the outer run's test, inherited\n"
        "from tests.conftest import *  # noqa: F401,F403\n")
    pytester.makepyfile(**files)
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(
        filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])))
    return pytester.runpytest_subprocess("-p", "no:cacheprovider")


def test_a_test_that_reads_outside_the_repository_fails(pytester, monkeypatch):
    result = _run(pytester, monkeypatch, test_reads=f"""
        from pathlib import Path

        def test_reads_its_tmp_path(tmp_path):
            (tmp_path / "x.txt").write_text("ok")
            assert (tmp_path / "x.txt").read_text() == "ok"

        def test_reads_outside():
            try:
                Path({str(OUTSIDE)!r}).read_bytes()
            except OSError:
                pass  # missing or not: the attempt is what counts
        """)
    result.assert_outcomes(passed=2, errors=1)
    result.stdout.fnmatch_lines([
        "*ERROR at teardown of test_reads_outside*",
        f"*opened outside the repository and the temporary folder: {OUTSIDE} *"])


def test_reading_outside_while_collecting_fails_the_session(pytester, monkeypatch):
    result = _run(pytester, monkeypatch, test_collects=f"""
        import os

        try:  # a folder listing at import time, the way vectors used to be found
            VECTORS = sorted(os.listdir({str(OUTSIDE.parent)!r}))
        except OSError:
            VECTORS = []

        def test_nothing():
            pass
        """)
    result.assert_outcomes(passed=1)
    assert result.ret == 1
    result.stdout.fnmatch_lines([
        "Opened outside the repository and the temporary folder:",
        f"  {OUTSIDE.parent}  (outside any test: collection or a module import)"])
