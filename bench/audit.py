"""What auditors and staff run on a large batch: verify, report, reconcile, show, responses.

    python bench/audit.py [--people 24000] [--no-rerender]

One run: a mailing of ``--people`` generated people (2 workers, issue date 120 days ago so
that responses can be recorded and the deadline has passed), then each command as an office
runs it (``python -m letters ...`` in the mailing's workspace), timed by the wall clock and by
the CPU of the command and every process it started:

- ``responses import`` of one response for every tenth letter (returned, address updates,
  answers), then ``responses list --overdue``;
- ``audit verify``, ``audit report``, ``audit reconcile`` against a court list of every
  docket plus 100 the office never saw, ``audit show`` of one notice;
- ``audit verify --rerender`` with 1 and with 2 workers (unless ``--no-rerender``): the
  ratio of the two is from the same run.

Results go to bench/RESULTS.md (section "Audit, N letters").
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import os
import platform
import resource
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

from bench.mail import records_for  # noqa: E402
from bench.results import record_section  # noqa: E402


def timed(args: list[str], cwd: Path) -> tuple[float, float, str]:
    """Wall seconds, CPU seconds (the command and the processes it waited for) and output."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "letters", *args], cwd=cwd,
                          capture_output=True, text=True)
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode not in (0, 1):
        sys.exit(f"letters {' '.join(args)} exited {done.returncode}:\n{done.stdout}"
                 f"{done.stderr}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu, done.stdout + done.stderr


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--people", type=int, default=24000)
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
        with sqlite3.connect(scratch / "output" / "ledger.sqlite") as db:
            dockets = [r[0] for r in db.execute("select docket_number from letter_cases")]
        court = scratch / "court.csv"
        with open(court, "w", encoding="utf-8", newline="") as fh:
            w = csv.writer(fh)
            w.writerow(["docket_number"])
            w.writerows([d] for d in dockets)
            w.writerows([f"9999CR{i:06d}"] for i in range(100))
        steps = [
            (f"responses import ({len(sent[::10]):,} rows)", ["responses", "import",
                                                              str(responses)]),
            ("responses list --overdue", ["responses", "list", "--overdue"]),
            ("audit verify", ["audit", "verify"]),
            ("audit report", ["audit", "report"]),
            (f"audit reconcile ({len(dockets) + 100:,} dockets)", ["audit", "reconcile",
                                                                    str(court)]),
            ("audit show (one notice)", ["audit", "show", sent[len(sent) // 2]]),
        ]
        if not args.no_rerender:
            steps += [("audit verify --rerender --workers 1",
                       ["audit", "verify", "--rerender", "--workers", "1"]),
                      ("audit verify --rerender --workers 2",
                       ["audit", "verify", "--rerender", "--workers", "2"])]
        for label, command in steps:
            wall, cpu, out = timed(command, scratch)
            rows.append((label, wall, cpu))
            print(f"{label}: {wall:.1f} s wall, {cpu:.1f} s CPU", flush=True)
            if command[:2] == ["audit", "verify"] and "no problems" not in out:
                sys.exit(f"letters {' '.join(command)} found problems:\n{out[-2000:]}")
    finally:
        shutil.rmtree(scratch, ignore_errors=True)

    lines = [f"{args.people:,} generated people, one batch, issue date {issue} (120 days "
             f"before the run). Machine: CPython {platform.python_version()}, "
             f"{os.cpu_count()} cores. Each command run once as `python -m letters ...`; CPU "
             "is the command's and its workers'.",
             "",
             "| command | seconds | CPU seconds |",
             "|---|---:|---:|",
             *(f"| {label} | {wall:.1f} | {cpu:.1f} |" for label, wall, cpu in rows)]
    walls = {label: wall for label, wall, _ in rows}
    one = walls.get("audit verify --rerender --workers 1")
    two = walls.get("audit verify --rerender --workers 2")
    if one and two:
        lines += ["", f"Re-rendering, 2 workers against 1: {one / two:.2f}× faster "
                      f"({args.people / two:.0f} letters/s)."]
    record_section(f"Audit, {args.people:,} letters", "\n".join(lines),
                   command=f"python bench/audit.py --people {args.people}"
                           + (" --no-rerender" if args.no_rerender else ""))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
