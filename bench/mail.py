"""Mailing throughput: `letters mail` with 1 and 2 workers, beside render-only and WeasyPrint.

    python bench/mail.py [--people 24000] [--compare 1000] [--rounds 2] [--only dask]
    python bench/mail.py --only beside --before COMMIT [--people 2000] [--rounds 2]

One run, on generated people (no damaged rows), issue date fixed:

1. the full mailing of ``--people`` people with 2 workers (the job an office runs: intake,
   notice IDs, rendering, durable copies, ledger, print files, sums, root);
2. side by side on ``--compare`` people, in ``--rounds`` alternating rounds (best of each):
   - render-only: compose + render in one process, PDFs kept in memory (pure rendering);
   - `mail` with 1 worker and with 2 workers, each into a fresh folder and ledger;
3. WeasyPrint rendering the same letter's HTML (the template output, both languages, with a
   small print stylesheet), if WeasyPrint is installed in the bench environment (it is not a
   dependency of letters).

4. the Dask engine beside the local pool on the same ``--compare`` people, 2 workers each, in
   alternating rounds: `mail --engine dask` starting its own local cluster (as the command
   does), and on a cluster already running (``--scheduler``: the rendering alone, without the
   cluster's start).

The full mailing reports CPU seconds (the main process and its rendering workers) per letter
and the peak resident memory of the main process and of a worker. Ratios come from the same
run. Results go to bench/RESULTS.md (sections "Mail" and "Mail on Dask"); ``--only dask`` runs
and records the Dask comparison alone, ``--only full --people N`` the full mailing of N people
alone (section "Mail, N people").

``--only beside --before COMMIT`` runs the whole mailing of ``--people`` people with this code
and with the code of COMMIT (unpacked by ``git archive`` into a temporary folder), each as the
command an office runs (``python -m letters mail``, 2 workers, each side's own letters.toml,
templates and catalogs, the environment as it was before this script imported letters), in
``--rounds`` rounds that alternate which side goes first, and reports the CPU per letter of
each and their ratio (section "Mail beside an earlier design, N people").
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import platform
import shutil
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
#: The environment before letters is imported (which sets ARROW_DEFAULT_MEMORY_POOL): what
#: ``--only beside`` gives each side's command, so an earlier version runs as it did.
ENVIRONMENT = dict(os.environ)

from bench.results import record_section  # noqa: E402
from letters import config, sample  # noqa: E402
from letters.compose import Composer  # noqa: E402
from letters.glyphs import batch_charset  # noqa: E402
from letters.mailing import mail  # noqa: E402
from letters.pdf import register_fonts, render  # noqa: E402
from letters.records import read_for  # noqa: E402

ISSUE = dt.date(2026, 12, 1)
CSS = """
@page { size: letter; margin: 1in; @bottom-right { content: "Page " counter(page) " of "
        counter(pages); font-size: 8pt; } }
body { font-family: "DejaVu Sans", sans-serif; font-size: 10.5pt; line-height: 1.35; }
h1 { font-size: 15pt; } h2 { font-size: 12pt; }
table { border-collapse: collapse; width: 100%; font-size: 8.5pt; }
th, td { border: 0.5pt solid #555; padding: 3pt 4pt; vertical-align: top; }
thead { display: table-header-group; }
p.box { border: 0.8pt solid black; padding: 7pt; }
p.small { font-size: 8.5pt; }
pagebreak { display: block; page-break-after: always; }
"""


def records_for(people: int, folder: Path) -> Path:
    path = folder / f"mail-{people}.csv"
    if not path.exists():
        with open(path, "w", encoding="utf-8", newline="") as fh:
            sample.write(fh, people, seed=24, with_bad_rows=False)
    return path


def render_only(cfg, records: Path) -> tuple[float, int]:
    t0 = time.perf_counter()
    intake = read_for(cfg, records)
    composer = Composer(cfg)
    charset = batch_charset(cfg, intake.recipients, composer)  # as a batch renders
    n = 0
    for r in intake.recipients:
        doc = composer.compose(r, notice_id=f"N{r.defendant_id}", issue_date=ISSUE)
        doc.charset = charset
        render(doc)
        n += 1
    return time.perf_counter() - t0, n


class ProcSampler:
    """CPU seconds and peak resident memory of this process and of its descendants (the
    rendering workers, started by a fork server, are not this process's children, so
    ``getrusage`` does not see them): /proc is read every ``every`` seconds. A worker's CPU
    is its last reading, at most ``every`` seconds before it ended."""

    def __init__(self, every: float = 0.1):
        import threading

        self.every = every
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.cpu: dict[int, float] = {}
        self.before: dict[int, float] = {}
        self.main_peak = 0.0
        self.worker_peak = 0.0
        self.tick = os.sysconf("SC_CLK_TCK")

    @staticmethod
    def _stat(pid: int):
        with open(f"/proc/{pid}/stat") as fh:
            fields = fh.read().rsplit(")", 1)[1].split()
        return int(fields[1]), (int(fields[11]) + int(fields[12]))  # ppid, utime + stime

    @staticmethod
    def _rss(pid: int) -> float:
        with open(f"/proc/{pid}/status") as fh:
            for line in fh:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
        return 0.0

    def _descendants(self) -> list[int]:
        parents = {}
        for entry in os.listdir("/proc"):
            if entry.isdigit():
                try:
                    parents[int(entry)] = self._stat(int(entry))[0]
                except (OSError, IndexError, ValueError):
                    pass
        me, found, frontier = os.getpid(), [], [os.getpid()]
        while frontier:
            parent = frontier.pop()
            kids = [p for p, pp in parents.items() if pp == parent and p != me]
            found += kids
            frontier += kids
        return found

    def sample(self) -> None:
        self.main_peak = max(self.main_peak, self._rss(os.getpid()))
        for pid in self._descendants():
            try:
                cpu = self._stat(pid)[1] / self.tick
                self.worker_peak = max(self.worker_peak, self._rss(pid))
            except (OSError, IndexError, ValueError):
                continue
            self.cpu[pid] = cpu

    def _run(self) -> None:
        while not self.stop.wait(self.every):
            self.sample()

    def __enter__(self):
        import resource

        self.sample()
        self.before = dict(self.cpu)
        self.self_before = resource.getrusage(resource.RUSAGE_SELF)
        self.thread.start()
        return self

    def __exit__(self, *exc):
        import resource

        self.stop.set()
        self.thread.join()
        after = resource.getrusage(resource.RUSAGE_SELF)
        self.main_cpu = (after.ru_utime + after.ru_stime - self.self_before.ru_utime
                         - self.self_before.ru_stime)
        self.workers_cpu = sum(c - self.before.get(pid, 0.0) for pid, c in self.cpu.items())
        return False


def mail_run(cfg, records: Path, workers: int, scratch: Path, name: str, *,
             engine: str = "local", scheduler: str = "") -> tuple[float, int, int, str]:
    out = scratch / name
    shutil.rmtree(out, ignore_errors=True)
    t0 = time.perf_counter()
    result = mail(cfg, records, batch="bench", issue_date=ISSUE, allow_past_date=True,
                  out_dir=out, workers=workers, engine=engine, scheduler=scheduler)
    elapsed = time.perf_counter() - t0
    shutil.rmtree(out, ignore_errors=True)
    return elapsed, result.letters, result.pages, result.root


def dask_comparison(cfg, records: Path, people: int, rounds: int, scratch: Path) -> str:
    """The Dask engine beside the local pool, 2 workers each, alternating rounds, best of each."""
    import logging

    from distributed import LocalCluster

    local, own, running = [], [], []
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
                      dashboard_address="127.0.0.1:0", silence_logs=logging.ERROR) as cluster:
        for _ in range(rounds):
            t, n, _, root = mail_run(cfg, records, 2, scratch, "pool")
            local.append(t)
            t, _, _, root_own = mail_run(cfg, records, 2, scratch, "dask", engine="dask")
            own.append(t)
            t, _, _, root_running = mail_run(cfg, records, 2, scratch, "dask-running",
                                             engine="dask", scheduler=cluster.scheduler_address)
            running.append(t)
            assert root == root_own == root_running, "the engines made different batches"
    t_local, t_own, t_running = min(local), min(own), min(running)
    return "\n".join([
        f"Machine: {platform.python_implementation()} {platform.python_version()}, "
        f"{os.cpu_count()} cores. {people:,} generated people, issue date fixed; every run "
        "made the same batch root.",
        "",
        f"Side by side, {rounds} alternating rounds, best of each, 2 workers each:",
        "",
        "| run | seconds | letters/s | over the local pool |",
        "|---|---:|---:|---:|",
        f"| letters mail, local pool | {t_local:.1f} | {n / t_local:.1f} | |",
        f"| letters mail --engine dask (starts its own local cluster) | {t_own:.1f} | "
        f"{n / t_own:.1f} | {100 * (t_own / t_local - 1):+.1f}% |",
        f"| letters mail --engine dask --scheduler (a cluster already running) | "
        f"{t_running:.1f} | {n / t_running:.1f} | {100 * (t_running / t_local - 1):+.1f}% |",
        "",
        "Aim: at most +15% over the local pool on one machine.",
        f"All rounds (s): local pool {', '.join(f'{x:.1f}' for x in local)}; dask, own "
        f"cluster {', '.join(f'{x:.1f}' for x in own)}; dask, running cluster "
        f"{', '.join(f'{x:.1f}' for x in running)}.",
    ])


def weasyprint_rate(cfg, records: Path, letters: int = 20) -> str:
    try:
        import weasyprint
    except Exception as exc:  # ImportError, or OSError when pango is missing
        return f"WeasyPrint not available in this environment ({type(exc).__name__})."
    intake = read_for(cfg, records)
    composer = Composer(cfg)
    people = intake.recipients[:letters]
    htmls = []
    for r in people:
        parts = [composer.html(r, lang, notice_id=f"N{r.defendant_id}", issue_date=ISSUE)
                 for lang in composer.languages(r, "bilingual")]
        htmls.append(f"<html><head><style>{CSS}</style></head><body>"
                     + "<pagebreak></pagebreak>".join(parts) + "</body></html>")
    weasyprint.HTML(string=htmls[0]).write_pdf()  # warm up fonts
    t0 = time.perf_counter()
    for h in htmls:
        weasyprint.HTML(string=h).write_pdf()
    w = time.perf_counter() - t0
    register_fonts()
    t0 = time.perf_counter()
    for r in people:
        render(composer.compose(r, notice_id=f"N{r.defendant_id}", issue_date=ISSUE))
    ours = time.perf_counter() - t0
    return (f"WeasyPrint {weasyprint.__version__} on the same {letters} bilingual letters' HTML: "
            f"{letters / w:.1f} letters/s; letters (ReportLab) in the same run: "
            f"{letters / ours:.1f} letters/s (time per letter, WeasyPrint / letters: "
            f"{w / ours:.2f}×).")


def full_mailing_lines(people: int, t_full: float, n_full: int, pages_full: int,
                       usage: ProcSampler) -> list[str]:
    cpu = usage.main_cpu + usage.workers_cpu
    return [
        f"Machine: {platform.python_implementation()} {platform.python_version()}, "
        f"{os.cpu_count()} cores. Issue date fixed; generated people, bilingual letters.",
        "",
        "| people | workers | seconds | letters/s | pages | CPU s (main + workers) | "
        "CPU ms per letter | peak RSS, main | peak RSS, a worker |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
        f"| {n_full:,} | 2 | {t_full:.0f} | {n_full / t_full:.1f} | {pages_full:,} | "
        f"{cpu:.0f} ({usage.main_cpu:.0f} + {usage.workers_cpu:.0f}) | "
        f"{1000 * cpu / n_full:.1f} | {usage.main_peak:.0f} MB | {usage.worker_peak:.0f} MB |",
        "",
        "The whole job: intake, IDs, rendering, durable copies, ledger, print files, sums and "
        "root. CPU and memory read from /proc every 0.1 s (main-process memory sampled, not "
        "its exact peak); a worker is any process the mailing starts: the rendering workers, "
        "then those that join the print files.",
    ]


def full_only(cfg, people: int, data: Path) -> None:
    scratch = Path(tempfile.mkdtemp(prefix="letters-bench-"))
    try:
        full = records_for(people, data)
        with ProcSampler() as usage:
            t_full, n_full, pages_full, _ = mail_run(cfg, full, 2, scratch, "full")
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    body = full_mailing_lines(people, t_full, n_full, pages_full, usage)
    record_section(f"Mail, {people:,} people", "\n".join(body),
                   command=f"python bench/mail.py --only full --people {people}")
    print("\n".join(body))


def beside(commit: str, people: int, rounds: int, data: Path) -> str:
    """The whole mailing, this code beside the code of ``commit``, alternating."""
    import subprocess

    repo = HERE.parent

    def git(*args) -> str:
        return subprocess.run(["git", "-C", str(repo), *args], check=True, capture_output=True,
                              text=True).stdout.strip()

    records = records_for(people, data)
    scratch = Path(tempfile.mkdtemp(prefix="letters-bench-"))
    before = scratch / "before"
    try:
        # the earlier code as files (git archive): the repository's worktrees are not touched
        archive = subprocess.run(["git", "-C", str(repo), "archive", commit],
                                 capture_output=True)
        if archive.returncode != 0:
            raise SystemExit(f"--before {commit}: git cannot give that commit's files: "
                             f"{archive.stderr.decode(errors='replace').strip()}")
        archive = archive.stdout
        before.mkdir()
        subprocess.run(["tar", "-x", "-C", str(before)], input=archive, check=True)
        sides = {f"this code ({git('describe', '--always', '--dirty')})": repo,
                 f"before ({git('log', '-1', '--format=%h %ad', '--date=short', commit)})":
                 before}
        runs: dict[str, list[tuple[float, float, int]]] = {k: [] for k in sides}
        order = list(sides.items())
        for n in range(rounds):
            for label, root in (order if n % 2 == 0 else order[::-1]):  # ABBA
                work = scratch / "work"
                shutil.rmtree(work, ignore_errors=True)
                work.mkdir()
                shutil.copy(root / "letters.toml", work)
                for folder in ("templates", "locale"):
                    shutil.copytree(root / folder, work / folder)
                t0 = time.perf_counter()
                with ProcSampler() as usage:
                    done = subprocess.run(
                        [sys.executable, "-m", "letters", "mail", str(records), "--batch", "b",
                         "--date", ISSUE.isoformat(), "--allow-past-date", "--workers", "2",
                         "--accept-sample-signoffs"],
                        cwd=work, env={**ENVIRONMENT, "PYTHONPATH": str(root)},
                        capture_output=True, text=True)
                elapsed = time.perf_counter() - t0
                if done.returncode != 0:
                    raise SystemExit(f"{label}: letters mail exited {done.returncode}:\n"
                                     f"{done.stderr[-2000:]}")
                letters = sum(1 for _ in (work / "output" / "b" / "letters").rglob("*.pdf"))
                runs[label].append((elapsed, usage.workers_cpu, letters))
                print(f"{label}: {elapsed:.1f} s, CPU {usage.workers_cpu:.1f} s, "
                      f"{letters} letters", flush=True)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    lines = [
        f"Machine: {platform.python_implementation()} {platform.python_version()}, "
        f"{os.cpu_count()} cores. {people:,} generated people, issue date fixed, 2 workers; "
        f"{rounds} alternating rounds, best of each.",
        "",
        "| code | seconds | CPU s (command + workers) | CPU ms per letter | letters |",
        "|---|---:|---:|---:|---:|",
    ]
    best = {}
    for label, results in runs.items():
        elapsed = min(r[0] for r in results)
        cpu = min(r[1] for r in results)
        letters = results[0][2]
        best[label] = cpu / letters
        lines.append(f"| {label} | {elapsed:.1f} | {cpu:.1f} | {1000 * cpu / letters:.1f} | "
                     f"{letters:,} |")
    this, other = best.values()
    lines += [
        "",
        f"CPU per letter, before / this code: {other / this:.2f}×.",
        "All rounds (seconds, CPU s): " + "; ".join(
            f"{label} " + ", ".join(f"{e:.1f} / {c:.1f}" for e, c, _ in results)
            for label, results in runs.items()) + ".",
        "",
        "Each side is `python -m letters mail` run from a fresh workspace of its own "
        "letters.toml, templates and catalogs (so the letters' text is each version's); CPU "
        "read from /proc every 0.1 s (a process's last 0.1 s may be missed).",
    ]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--people", type=int, default=24000)
    parser.add_argument("--compare", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--only", choices=["all", "dask", "full", "beside"], default="all",
                        help="dask: only the Dask engine beside the local pool; full: only "
                             "the full mailing of --people people (CPU and memory); beside: "
                             "the full mailing of --people people beside the code of --before")
    parser.add_argument("--before", metavar="COMMIT",
                        help="with --only beside: the earlier code to compare with")
    args = parser.parse_args()
    if args.only == "beside" and not args.before:
        parser.error("--only beside needs --before COMMIT")

    cfg = config.load(HERE.parent / "letters.toml")
    data = HERE / "data"
    data.mkdir(exist_ok=True)
    if args.only == "full":
        full_only(cfg, args.people, data)
        return
    if args.only == "beside":
        body = beside(args.before, args.people, args.rounds, data)
        record_section(f"Mail beside an earlier design, {args.people:,} people", body,
                       command=f"python bench/mail.py --only beside --before {args.before} "
                               f"--people {args.people} --rounds {args.rounds}")
        print(body)
        return
    scratch = Path(tempfile.mkdtemp(prefix="letters-bench-"))
    compare = records_for(args.compare, data)
    try:
        dask = dask_comparison(cfg, compare, args.compare, args.rounds, scratch)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    command = (f"python bench/mail.py --compare {args.compare} --rounds {args.rounds} "
               + ("--only dask" if args.only == "dask" else f"--people {args.people}"))
    record_section("Mail on Dask", dask, command=command)
    print(dask)
    if args.only == "dask":
        return
    scratch = Path(tempfile.mkdtemp(prefix="letters-bench-"))
    try:
        full = records_for(args.people, data)
        with ProcSampler() as usage:
            t_full, n_full, pages_full, _ = mail_run(cfg, full, 2, scratch, "full")

        renders, ones, twos = [], [], []
        for _ in range(args.rounds):  # alternate, keep the best of each
            t, n_render = render_only(cfg, compare)
            renders.append(t)
            t, n1, _, _ = mail_run(cfg, compare, 1, scratch, "w1")
            ones.append(t)
            t, n2, _, _ = mail_run(cfg, compare, 2, scratch, "w2")
            twos.append(t)
        t_render, t1, t2 = min(renders), min(ones), min(twos)
        weasy = weasyprint_rate(cfg, compare)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)

    lines = [
        *full_mailing_lines(args.people, t_full, n_full, pages_full, usage),
        "",
        f"Side by side on {args.compare:,} people, {args.rounds} alternating rounds, best of each:",
        "",
        "| run | seconds | letters/s |",
        "|---|---:|---:|",
        f"| render only (compose + render, 1 process, nothing written) | {t_render:.1f} | "
        f"{n_render / t_render:.1f} |",
        f"| letters mail, 1 worker | {t1:.1f} | {n1 / t1:.1f} |",
        f"| letters mail, 2 workers | {t2:.1f} | {n2 / t2:.1f} |",
        "",
        f"Pipeline over pure rendering (1 worker / render only): {100 * (t1 / t_render - 1):+.1f}% "
        "(aim: at most +15%).",
        f"2 workers over 1 worker: {t1 / t2:.2f}× (aim: at least 1.8×).",
        f"All rounds (s): render only {', '.join(f'{x:.1f}' for x in renders)}; 1 worker "
        f"{', '.join(f'{x:.1f}' for x in ones)}; 2 workers {', '.join(f'{x:.1f}' for x in twos)}.",
        "",
        weasy,
    ]
    record_section("Mail", "\n".join(lines), command=f"python bench/mail.py --people "
                   f"{args.people} --compare {args.compare} --rounds {args.rounds}")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
