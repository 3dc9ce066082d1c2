"""Processes around one batch: the same batch started twice at once is refused with the pid of
the run that has it (never a raw IntegrityError), and rendering workers end with the mailing
that started them, even after kill -9 of the main process alone."""

from __future__ import annotations

import datetime as dt
import gc
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from letters import config, engines
from letters.cli import cli
from letters.errors import BatchBusy
from letters.ledger import Ledger
from letters.processes import batch_lock
from letters.records import read_for
from letters.sample import write as write_sample
from tests.conftest import ROOT, copy_workspace

BUSY_HINT = ("  Let it finish: running the same command again afterwards resumes the batch, or "
             "says that it is complete.")


def workspace(path: Path, people: int) -> Path:
    copy_workspace(path)
    with open(path / "r.csv", "w", encoding="utf-8", newline="") as fh:
        write_sample(fh, people, 5, with_bad_rows=False)
    return path


def run(*args):
    return CliRunner().invoke(cli, [str(a) for a in args], catch_exceptions=False)


def letters_command(*extra) -> list[str]:
    return [sys.executable, "-m", "letters", "mail", "r.csv", "--batch", "b", "--date",
            "2026-12-01", "--out", "out", *extra]


def environment(**extra) -> dict[str, str]:
    """The test's environment, with this checkout first on the path of a child `letters`."""
    path = os.pathsep.join([str(ROOT), *filter(None, [os.environ.get("PYTHONPATH")])])
    return {**os.environ, "PYTHONPATH": path, **extra}


def pdfs(ws: Path) -> int:
    folder = ws / "out" / "b" / "letters"
    return len([p for p in folder.iterdir() if p.suffix == ".pdf"]) if folder.is_dir() else 0


def wait_for_letters(ws: Path, proc: subprocess.Popen, count: int) -> None:
    deadline = time.monotonic() + 60
    while pdfs(ws) < count:
        assert proc.poll() is None, "the mailing ended before the test could act"
        assert time.monotonic() < deadline, "the mailing wrote no letter in 60 s"
        time.sleep(0.02)


# --- the batch lock -----------------------------------------------------------------------------

def test_a_batch_locked_by_another_process_is_refused_before_the_ledger(tmp_path, monkeypatch):
    ws = workspace(tmp_path, 3)
    monkeypatch.chdir(ws)
    folder = ws / "out" / "b"
    folder.mkdir(parents=True)
    with batch_lock(folder, "b"):
        refused = run("mail", "r.csv", "--batch", "b", "--out", "out", "--workers", "1")
        assert refused.exit_code == 2
        assert refused.stderr == (f"Error: batch b is being mailed by another process "
                                  f"(pid {os.getpid()})\n{BUSY_HINT}\n")
        assert not (ws / "out" / "ledger.sqlite").exists()  # stopped before the ledger
    assert (folder / ".lock").read_text() == f"{os.getpid()}\n"
    done = run("mail", "r.csv", "--batch", "b", "--out", "out", "--workers", "1")
    assert done.exit_code == 0, done.output
    assert run("audit", "verify", "--out", "out").exit_code == 0  # .lock is no stray file


def test_a_lock_file_taken_away_before_it_was_locked_is_not_the_one_held(tmp_path,
                                                                         monkeypatch):
    """A run refused before its batch was opened takes the batch's folder and lock file away
    while it still holds the lock. A run that opened the file just before and locks it just
    after must not hold a lock on a file no longer there: it locks the one there now."""
    from letters import processes

    folder = tmp_path / "b"
    folder.mkdir()
    (folder / ".lock").write_text("")
    try_lock, calls = processes._try_lock, []

    def replaced_first(fd):  # the other run's cleanup, then a new run's file, in between
        calls.append(fd)
        if len(calls) == 1:
            (folder / ".lock").unlink()
            (folder / ".lock").write_text("")
        return try_lock(fd)

    monkeypatch.setattr(processes, "_try_lock", replaced_first)
    with batch_lock(folder, "b") as path:
        assert len(calls) == 2
        assert path.read_text() == f"{os.getpid()}\n"  # the file there now is the one held
        monkeypatch.setattr(processes, "_try_lock", try_lock)
        with pytest.raises(BatchBusy):
            with batch_lock(folder, "b"):
                pass


def test_the_same_batch_started_twice_at_once(tmp_path):
    # enough letters that the first run is still going when the second has started (about
    # 2 s for Python and the imports): the first is killed once the second has answered
    ws = workspace(tmp_path, 1500)
    first = subprocess.Popen(letters_command("--workers", "2"), cwd=ws, env=environment(),
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_for_letters(ws, first, 1)
        second = subprocess.run(letters_command("--workers", "1"), cwd=ws, env=environment(),
                                capture_output=True, text=True, timeout=120)
        assert first.poll() is None, "the first run ended before the second tried: no overlap"
    finally:
        first.kill()
        first.wait()
    assert second.returncode == 2
    assert second.stdout == ""
    assert second.stderr == (f"Error: batch b is being mailed by another process "
                             f"(pid {first.pid})\n{BUSY_HINT}\n")


def test_a_batch_another_process_opened_meanwhile_is_no_integrity_error(tmp_path, monkeypatch):
    """Two folders, one ledger (or two machines, one PostgreSQL): no file lock is shared, and the
    ledger's unique batch name decides. The second run looked before the first opened it."""
    ws = workspace(tmp_path, 3)
    monkeypatch.chdir(ws)
    common = ["mail", "r.csv", "--batch", "b", "--ledger", "ledger.sqlite", "--workers", "1"]
    assert run(*common, "--out", "a").exit_code == 0
    looked = []
    real = Ledger.batch

    def before_the_first_opened_it(self, name):
        looked.append(name)
        # the run looks twice before opening the batch: planning, then the ledger check
        return None if len(looked) <= 2 else real(self, name)
    monkeypatch.setattr(Ledger, "batch", before_the_first_opened_it)
    second = run(*common, "--out", "other")
    assert second.exit_code == 2
    assert second.stderr.splitlines()[-2:] == ["Error: batch b is being mailed by another "
                                               "process", BUSY_HINT]
    assert "Integrity" not in second.output


def test_recording_a_letter_another_process_recorded_is_refused(tmp_path):
    ws = workspace(tmp_path, 2)
    from letters import config
    from letters.mailing import mail

    result = mail(config.load(ws / "letters.toml"), ws / "r.csv", batch="b",
                  issue_date=dt.date(2026, 12, 1), out_dir=ws / "out", workers=1)
    with Ledger(result.ledger_url) as ledger:
        batch = ledger.batch("b")
        row = ledger.letters(batch.id)[0]
        again = {k: getattr(row, k) for k in ("notice_id", "defendant_id", "languages",
                                              "language_requested", "pages", "sha256", "bytes",
                                              "file", "zip", "recipient", "follow_up_of")}
        with pytest.raises(BatchBusy) as busy:
            ledger.record_letters(batch, [{**again, "cases": []}])
        assert busy.value.message == "batch b is being mailed by another process"
        assert len(ledger.letters(batch.id)) == 2


# --- workers ------------------------------------------------------------------------------------

def tagged(tag: str) -> dict[int, str]:
    """Live processes (not zombies) whose environment carries LETTERS_TEST_TAG=tag: pid -> name."""
    found = {}
    marker = f"LETTERS_TEST_TAG={tag}".encode()
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/environ", "rb") as fh:
                env = fh.read().split(b"\0")
            with open(f"/proc/{entry}/stat", encoding="ascii", errors="replace") as fh:
                stat = fh.read()
        except OSError:  # ended meanwhile, or not ours
            continue
        name, state = stat[stat.index("(") + 1:stat.rindex(")")], stat[stat.rindex(")") + 2]
        if marker in env and state != "Z":
            found[int(entry)] = name
    return found


def assert_all_end(tag: str, what: str) -> None:
    """Every process tagged ``tag`` ends within 5 s (and is killed if not, then fails)."""
    deadline = time.monotonic() + 5
    while tagged(tag) and time.monotonic() < deadline:
        time.sleep(0.05)
    left = tagged(tag)
    for pid in left:  # leave nothing running whatever the outcome
        os.kill(pid, signal.SIGKILL)
    assert left == {}, f"still running 5 s after {what} was killed: {left}"


def test_workers_end_when_the_mailing_is_killed(tmp_path):
    """kill -9 of the main process alone: its workers (children of the forkserver, which lives
    on while they do) stop writing letters and end within seconds."""
    ws = workspace(tmp_path, 300)
    tag = f"{os.getpid()}-{tmp_path.name}"
    proc = subprocess.Popen(letters_command("--workers", "2"), cwd=ws,
                            env=environment(LETTERS_TEST_TAG=tag),
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_for_letters(ws, proc, 4)
        helpers = set(tagged(tag)) - {proc.pid}
        assert len(helpers) >= 3, helpers  # the forkserver and two workers, at least
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    assert_all_end(tag, "the mailing")
    written = pdfs(ws)
    time.sleep(0.5)
    assert pdfs(ws) == written < 300


def test_a_process_started_otherwise_watches_the_pid_it_was_given(tmp_path):
    """Without multiprocessing's pipe to its creator (a process not started by multiprocessing),
    the watch checks the given pid every half second."""
    main = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    watcher = subprocess.Popen(
        [sys.executable, "-c", "import time\nfrom letters.processes import exit_with_parent\n"
         f"exit_with_parent({main.pid})\nprint('watching', flush=True)\ntime.sleep(60)"],
        env=environment(), stdout=subprocess.PIPE, text=True)
    try:
        assert watcher.stdout.readline() == "watching\n"
        time.sleep(0.6)
        assert watcher.poll() is None  # the main process lives: so does the worker
        main.kill()
        main.wait()
        assert watcher.wait(timeout=5) == 1
    finally:
        main.kill()
        watcher.kill()
        watcher.stdout.close()


def test_a_worker_is_killed_when_its_own_parent_ends():
    """Linux (like the /proc scan above): a worker asks for SIGKILL when its parent ends."""
    code = ("import ctypes, signal\nfrom letters.processes import _set_parent_death_signal\n"
            "_set_parent_death_signal()\nvalue = ctypes.c_int()\n"
            "ctypes.CDLL(None).prctl(2, ctypes.byref(value))  # PR_GET_PDEATHSIG\n"
            "print(value.value == signal.SIGKILL)")
    done = subprocess.run([sys.executable, "-c", code], env=environment(),
                          capture_output=True, text=True, timeout=60)
    assert done.stdout == "True\n", done.stderr


def test_a_rendering_worker_collects_less_and_freezes_what_it_keeps():
    """A rendering worker's collector (letters.processes): young collections every 10,000
    objects; after the 1st and the 10th letter, garbage is collected and what is alive frozen
    (garbage is never frozen with it)."""
    code = ("import gc, weakref\nfrom letters.processes import collect_less, letter_done\n"
            "class Node: pass\n"
            "collect_less()\nprint(gc.get_threshold()[0])\n"
            "def garbage():\n    n = Node(); n.me = n; return weakref.ref(n)\n"
            "gc.disable()  # only letter_done collects here\n"
            "kept = [Node() for _ in range(100)]\n"
            "dead = garbage()\nletter_done()\n"
            "print(dead() is None, gc.get_freeze_count() >= 100)\n"
            "frozen = gc.get_freeze_count()\n"
            "for _ in range(8):\n    more = garbage(); letter_done()\n"
            "print(more() is not None, gc.get_freeze_count() == frozen)\n"
            "letter_done()\nprint(more() is None, gc.get_freeze_count() > frozen)\n")
    done = subprocess.run([sys.executable, "-c", code], env=environment(),
                          capture_output=True, text=True, timeout=60)
    assert done.stdout.split("\n") == ["10000", "True True", "True True", "True True", ""], \
        done.stderr


def test_a_mailing_in_this_process_leaves_its_collector_alone(tmp_path, monkeypatch):
    """One worker renders in the caller's process, and a Dask worker the mailing did not start
    is someone else's: the collector there is theirs."""
    ws = workspace(tmp_path, 3)
    monkeypatch.chdir(ws)
    before = gc.get_threshold(), gc.get_freeze_count()
    done = run("mail", "r.csv", "--batch", "b", "--out", "out", "--workers", "1")
    assert done.exit_code == 0, done.output
    cfg = config.load(ws / "letters.toml")
    person = read_for(cfg, ws / "r.csv").recipients[0]
    (result,) = engines.render_chunk(engines.workspace_fingerprint(cfg), cfg, "",
                                     [(person, "AAA-AAA-AAA", dt.date(2026, 12, 1), None)])
    assert result["ok"]
    assert (gc.get_threshold(), gc.get_freeze_count()) == before


def test_rerendering_workers_end_when_the_audit_is_killed(tmp_path):
    """`audit verify --rerender` renders in workers as `mail` does: kill -9 of the audit alone
    ends them within seconds too."""
    ws = workspace(tmp_path, 300)
    done = subprocess.run(letters_command("--workers", "2"), cwd=ws, env=environment(),
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout + done.stderr
    tag = f"{os.getpid()}-{tmp_path.name}-audit"
    temp = tmp_path / "temp"  # the audits' temporary folder
    temp.mkdir()
    proc = subprocess.Popen([sys.executable, "-m", "letters", "audit", "verify", "--rerender",
                             "--workers", "2", "--out", "out"], cwd=ws,
                            env=environment(LETTERS_TEST_TAG=tag, TMPDIR=str(temp)),
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 60
        while len(set(tagged(tag)) - {proc.pid}) < 3:  # the forkserver and two workers
            assert proc.poll() is None, "the audit ended before the test could act"
            assert time.monotonic() < deadline, "no re-rendering workers in 60 s"
            time.sleep(0.02)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    assert_all_end(tag, "the audit")
    # its workspace (the batch's templates and settings) stayed behind; the next audit that
    # re-renders removes it, and keeps none of its own
    # (multiprocessing's own folder, pymp-*, is left to it)
    ours = lambda: sorted(p.name for p in temp.glob("letters-audit-*"))  # noqa: E731
    (left,) = ours()
    assert left.startswith(f"letters-audit-{proc.pid}-")
    stranger = temp / "letters-audit-notes"  # not named as a workspace is: left alone
    stranger.mkdir()
    again = subprocess.run([sys.executable, "-m", "letters", "audit", "verify", "--rerender",
                            "--workers", "1", "--out", "out"], cwd=ws,
                           env=environment(TMPDIR=str(temp)), capture_output=True, text=True,
                           timeout=600)
    assert again.returncode == 0, again.stdout + again.stderr
    assert ours() == [stranger.name]
