"""What auditors and staff run on a large batch: verify, report, reconcile, show, responses.

    python bench/audit.py [--people 24000] [--rounds 2] [--no-rerender]

One run: a mailing of ``--people`` generated people (2 workers, issue date 120 days ago so
that responses can be recorded and the deadline has passed), then each command as an office
runs it (``python -m letters ...`` in the mailing's workspace), timed by the wall clock and by
the CPU of the command and every process it started:

- ``responses import`` of one response for every tenth letter (returned, address updates,
  answers), then ``responses list --overdue``;
- ``audit verify``, ``audit report``, ``audit reconcile`` against a court list of every
  docket plus 100 the office never saw, ``audit show`` of one notice;
- ``audit verify --rerender`` with 1 and with 2 workers (unless ``--no-rerender``), in
  ``--rounds`` rounds that alternate which goes first (best of each): the ratio of the two
  is from the same run. With 1 worker the command re-renders in its own process, with the
  interpreter's default collector; pool workers tune theirs (``letters.processes``), so the
  ratio holds a little more than the parallelism: compare the CPU columns too.

CPU is read from /proc for the command and every process under it (the rendering workers
are started by a fork server, which ``getrusage`` does not see: ``bench.mail.ProcSampler``),
every 0.1 s: a process's last 0.1 s may be missed, which shows on the shortest commands.

Results go to bench/RESULTS.md (section "Audit, N letters").
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import datetime as dt
import os
import platform
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT))

from bench.mail import ProcSampler, records_for  # noqa: E402
from bench.results import record_section  # noqa: E402


def timed(args: list[str], cwd: Path, ok=(0,)) -> tuple[float, float, str]:
    """Wall seconds, CPU seconds (the command and every process under it) and output; an
    exit code not in ``ok`` stops the bench."""
    with ProcSampler() as usage:
        t0 = time.perf_counter()
        done = subprocess.run([sys.executable, "-m", "letters", *args], cwd=cwd,
                              capture_output=True, text=True)
        wall = time.perf_counter() - t0
    if done.returncode not in ok:
        sys.exit(f"letters {' '.join(args)} exited {done.returncode}:\n{done.stdout}"
                 f"{done.stderr}")
    return wall, usage.workers_cpu, done.stdout + done.stderr


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--people", type=int, default=24000)
    ap.add_argument("--rounds", type=int, default=2,
                    help="Rounds of the two re-renderings, alternating which goes first.")
    ap.add_argument("--no-rerender", action="store_true",
                    help="Leave out audit verify --rerender (minutes at 24,000 letters).")
    args = ap.parse_args()
    issue = dt.date.today() - dt.timedelta(days=120)
    data = HERE / "data"
    data.mkdir(exist_ok=True)
    records = records_for(args.people, data)
    scratch = Path(tempfile.mkdtemp(prefix="letters-bench-audit-"))
    rows: list[tuple[str, float, float]] = []
    try:
        for name in ("letters.toml", "templates", "locale"):
            src = ROOT / name
            (shutil.copytree if src.is_dir() else shutil.copy)(src, scratch / name)
        wall, cpu, _ = timed(["mail", str(records), "--batch", "big", "--date",
                              issue.isoformat(), "--allow-past-date", "--workers", "2"], scratch)
        rows.append((f"mail {args.people:,} people, 2 workers (to make the batch)", wall, cpu))
        with open(scratch / "output" / "big" / "manifest.csv", encoding="utf-8") as fh:
            sent = [r["notice_id"] for r in csv.DictReader(fh) if r["notice_id"]]
        responses = scratch / "responses.csv"
        kinds = [("returned-undeliverable", "", "no such number"),
                 ("address-update", "12 Main St, Boston, MA 02108", ""),
                 ("counsel-requested", "", "")]
        with open(responses, "w", encoding="utf-8", newline="") as fh:
            w = csv.writer(fh)
            w.writerow(["notice_id", "kind", "received", "new_address", "reason"])
            for i, nid in enumerate(sent[::10]):
                kind, address, reason = kinds[i % 3]
                w.writerow([nid, kind, (issue + dt.timedelta(days=20)).isoformat(), address,
                            reason])
        # closed before the commands run: an open connection would leave the ledger's WAL
        # beside it, which an auditor's copy does not have
        with contextlib.closing(sqlite3.connect(scratch / "output" / "ledger.sqlite")) as db:
            dockets = [r[0] for r in db.execute("select docket_number from letter_cases")]
        court = scratch / "court.csv"
        with open(court, "w", encoding="utf-8", newline="") as fh:
            w = csv.writer(fh)
            w.writerow(["docket_number"])
            w.writerows([d] for d in dockets)
            w.writerows([f"9999CR{i:06d}"] for i in range(100))
        steps = [  # (label, command, exit codes expected)
            (f"responses import ({len(sent[::10]):,} rows)", ["responses", "import",
                                                              str(responses)], (0,)),
            ("responses list --overdue", ["responses", "list", "--overdue"], (0,)),
            ("audit verify", ["audit", "verify"], (0,)),
            ("audit report", ["audit", "report"], (0,)),
            # 1: it finds the 100 dockets the office never saw
            (f"audit reconcile ({len(dockets) + 100:,} dockets)", ["audit", "reconcile",
                                                                    str(court)], (1,)),
            ("audit show (one notice)", ["audit", "show", sent[len(sent) // 2]], (0,)),
        ]
        for label, command, ok in steps:
            wall, cpu, out = timed(command, scratch, ok)
            rows.append((label, wall, cpu))
            print(f"{label}: {wall:.1f} s wall, {cpu:.1f} s CPU", flush=True)
            if command[:2] == ["audit", "verify"] and "no problems" not in out:
                sys.exit(f"letters {' '.join(command)} found problems:\n{out[-2000:]}")
        if not args.no_rerender:
            rerenders: dict[int, list[tuple[float, float]]] = {1: [], 2: []}
            for n in range(args.rounds):
                for workers in ((1, 2) if n % 2 == 0 else (2, 1)):
                    wall, cpu, out = timed(["audit", "verify", "--rerender", "--workers",
                                            str(workers)], scratch)
                    if "no problems" not in out:
                        sys.exit(f"audit verify --rerender found problems:\n{out[-2000:]}")
                    rerenders[workers].append((wall, cpu))
                    print(f"rerender, {workers} workers: {wall:.1f} s wall, {cpu:.1f} s CPU",
                          flush=True)
            for workers, runs in rerenders.items():
                wall, cpu = min(runs)
                rows.append((f"audit verify --rerender --workers {workers}"
                             + (f" (best of {len(runs)})" if len(runs) > 1 else ""), wall, cpu))
    finally:
        shutil.rmtree(scratch, ignore_errors=True)

    lines = [f"{args.people:,} generated people, one batch, issue date {issue} (120 days "
             f"before the run). Machine: CPython {platform.python_version()}, "
             f"{os.cpu_count()} cores. Each command run as `python -m letters ...`; CPU is the "
             "command's and its workers' (from /proc, every 0.1 s).",
             "",
             "| command | seconds | CPU seconds |",
             "|---|---:|---:|",
             *(f"| {label} | {wall:.1f} | {cpu:.1f} |" for label, wall, cpu in rows)]
    walls = {label.split(" (best")[0]: wall for label, wall, _ in rows}
    one = walls.get("audit verify --rerender --workers 1")
    two = walls.get("audit verify --rerender --workers 2")
    if one and two:
        lines += ["", f"Re-rendering, 2 workers against 1 (whole command): {one / two:.2f}× "
                      "faster."]
    record_section(f"Audit, {args.people:,} letters", "\n".join(lines),
                   command=f"python bench/audit.py --people {args.people} --rounds "
                           f"{args.rounds}" + (" --no-rerender" if args.no_rerender else ""))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
