"""What the mail house gets: print files named by batch, letters that each start on the front
of a sheet when printed on both sides, packages, font subsets with tags of their own, the
address file and the job sheet."""

from __future__ import annotations

import csv
import dataclasses
import datetime as dt
import json
import re
import subprocess
from collections import Counter
from pathlib import Path

import pikepdf
import pytest
from pypdf import PdfReader

from letters import config
from letters.addresses import block_lines
from letters.audit import verify
from letters.ledger import Ledger
from letters.mailing import mail
from letters.model import recipient_from_dict
from letters.printshop import POSTAGE_STEPS, postage_step, sheets_of, sort_groups
from tests.conftest import ROOT

ISSUE = dt.date(2026, 12, 1)
PER_FILE = 120
PACKAGE = 20
BLANK = {"en": "This page intentionally left blank.",
         "es": "Esta página se dejó en blanco intencionalmente.",
         "pt": "Esta página foi deixada em branco intencionalmente."}


def read_csv(path: Path) -> list[dict]:
    with open(path, encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


def pdftotext(path: Path, page: int) -> str:
    out = subprocess.run(["pdftotext", "-layout", "-f", str(page), "-l", str(page), str(path),
                          "-"], capture_output=True, text=True, check=True)
    return out.stdout


@pytest.fixture(scope="module")
def duplex_batch(tmp_path_factory):
    out = tmp_path_factory.mktemp("printhouse")
    cfg = config.load(ROOT / "letters.toml")
    assert cfg.mailing.duplex  # the bundled configuration prints both sides, as mail houses do
    cfg = dataclasses.replace(cfg, mailing=dataclasses.replace(
        cfg.mailing, letters_per_print_file=PER_FILE, package_size=PACKAGE))
    result = mail(cfg, ROOT / "examples" / "records.csv", batch="2026-12-notice",
                  issue_date=ISSUE, allow_past_date=True, out_dir=out, workers=2)
    folder = out / "2026-12-notice"
    with Ledger(result.ledger_url, create=False) as ledger:
        rows = ledger.letters(ledger.batch("2026-12-notice").id)
    return cfg, out, folder, result, rows


def test_duplex_sample_every_letter_starts_on_an_odd_page_files_carry_the_batch_subsets_unique(
        duplex_batch):
    cfg, out, folder, result, rows = duplex_batch
    printed = read_csv(folder / "print" / "manifest.csv")
    assert len(printed) == len(rows) == result.letters == 325
    names = sorted({p["print_file"] for p in printed})
    assert names == ["2026-12-notice-001.pdf", "2026-12-notice-002.pdf",
                     "2026-12-notice-003.pdf"]
    assert sorted(p.name for p in (folder / "print").glob("*.pdf")) == names
    by_notice = {r.notice_id: r for r in rows}
    langs = {r.notice_id: r.languages.split(",")[0] for r in rows}
    blanks = Counter()
    sizes = {}
    for name in names:
        entries = [p for p in printed if p["print_file"] == name]
        assert [int(p["sequence"]) for p in entries] == list(range(1, len(entries) + 1))
        assert all(p["batch"] == "2026-12-notice" for p in entries)
        path = folder / "print" / name
        reader = PdfReader(path)
        assert len(reader.pages) == sum(int(p["pages"]) for p in entries)
        page = 1
        for p in entries:
            pages = int(p["pages"])
            # from the manifest: an even number of pages, on half as many sheets, starting on
            # an odd page (the front of a sheet), right after the letter before it
            assert pages % 2 == 0 and int(p["sheets"]) == pages // 2, p
            assert int(p["first_page"]) == page and page % 2 == 1, p
            assert pages == by_notice[p["notice_id"]].pages
            # from the PDF: the letter's first page carries its notice ID, and so does the page
            # before it belong to the letter before
            first = reader.pages[page - 1].extract_text()
            assert p["notice_id"] in first and "1" in first
            last = pdftotext(path, page + pages - 1)
            assert p["notice_id"] in last
            lang = langs[p["notice_id"]]
            if BLANK[lang] in last:
                blanks[lang] += 1
                # the blank back keeps the footer: the notice ID and the last page number
                assert f"{pages}" in last.split(BLANK[lang])[1]
                assert len(last.split()) < 20, last  # nothing else on it
            page += pages
        # the mail house's check: one subset of each font in the file, each with a tag of
        # its own, embedded, with a Unicode map (pdffonts lists every font object once)
        fonts = subprocess.run(["pdffonts", str(path)], capture_output=True, text=True,
                               check=True).stdout.splitlines()[2:]
        subsets = [line.split()[0] for line in fonts]
        assert all(re.fullmatch(r"[A-Z]{6}\+DejaVuSans(-Bold)?", s) for s in subsets), subsets
        faces = Counter(s.split("+")[1] for s in subsets)
        assert faces == {"DejaVuSans": 1, "DejaVuSans-Bold": 1}, subsets
        assert all(line.split()[-5:-2] == ["yes", "yes", "yes"] for line in fonts), fonts
        programs = set()
        with pikepdf.open(path) as pdf:  # every page draws with those two
            for pg in pdf.pages:
                for font in pg.Resources.Font.values():
                    programs.add(font.objgen)
        assert len(programs) == 2
        sizes[name] = (path.stat().st_size, len(entries))
        with pikepdf.open(path) as pdf:  # the descriptors were renamed with their fonts
            for obj in pdf.objects:
                if isinstance(obj, pikepdf.Dictionary) and obj.get("/Type") == pikepdf.Name.Font \
                        and "/FontDescriptor" in obj:
                    assert str(obj.FontDescriptor.FontName) == str(obj.BaseFont)
        check = subprocess.run(["qpdf", "--check", str(path)], capture_output=True, text=True)
        assert check.returncode == 0, check.stdout + check.stderr
    # padding happened, in the letter's first language
    assert blanks["en"] > 0 and blanks["es"] > 0, blanks
    # the fonts are in a print file once, not once per letter: a print file is smaller than
    # its letters' retained copies put together by more than the subsets they repeat
    for name, (size, count) in sizes.items():
        copies = sum((folder / by_notice[p["notice_id"]].file).stat().st_size
                     for p in printed if p["print_file"] == name)
        assert size < copies / 3, (name, size, copies)
    # every file the batch wrote is covered by SHA256SUMS, and the audit finds nothing
    sums = (folder / "SHA256SUMS").read_text(encoding="utf-8")
    for rel in [*(f"print/{n}" for n in names), "print/manifest.csv", "print/addresses.csv",
                "print/JOB.txt"]:
        assert f"  {rel}\n" in sums
    assert verify(out, result.ledger_url)[0] == []


def test_packages_hold_one_sort_group_and_never_cross_a_file(duplex_batch):
    cfg, out, folder, result, rows = duplex_batch
    printed = read_csv(folder / "print" / "manifest.csv")
    groups = sort_groups(rows)
    assert [p["sort_group"] for p in printed] == [groups[p["notice_id"]][2] for p in printed]
    levels = ("5-digit", "3-digit", "mixed")
    keys = [(levels.index(p["sort_group"].split()[0]), p["zip"], p["notice_id"])
            for p in printed]
    assert keys == sorted(keys)
    zips = Counter(p["zip"][:5] for p in printed)
    for p in printed:
        if p["sort_group"].startswith("5-digit"):
            assert p["sort_group"] == f"5-digit {p['zip'][:5]}" and zips[p["zip"][:5]] >= 10
    packages: dict[int, list[dict]] = {}
    for p in printed:
        packages.setdefault(int(p["package"]), []).append(p)
    assert list(packages) == list(range(1, len(packages) + 1))
    for number, members in packages.items():
        assert len(members) <= PACKAGE
        assert len({m["sort_group"] for m in members}) == 1
        assert len({m["print_file"] for m in members}) == 1
    # a package is cut only when full, at a new group, or at a new file
    for a, b in zip(printed, printed[1:]):
        if a["package"] != b["package"]:
            assert (len(packages[int(a["package"])]) == PACKAGE
                    or a["sort_group"] != b["sort_group"] or a["print_file"] != b["print_file"])


def test_address_file_and_job_sheet_agree_with_the_manifest(duplex_batch):
    cfg, out, folder, result, rows = duplex_batch
    printed = read_csv(folder / "print" / "manifest.csv")
    addresses = read_csv(folder / "print" / "addresses.csv")
    assert [a["notice_id"] for a in addresses] == [p["notice_id"] for p in printed]
    by_notice = {r.notice_id: r for r in rows}
    counsel = 0
    for a, p in zip(addresses, printed):
        for key in ("batch", "print_file", "first_page", "sheets", "package"):
            assert a[key] == p[key], (key, a, p)
        # the barcode printed on the letter, as the ledger records it
        assert a["imb"] == (by_notice[a["notice_id"]].imb or "") and a["imb"]
        lines = [a[f"line_{i}"] for i in range(1, 8) if a[f"line_{i}"]]
        person = recipient_from_dict(json.loads(by_notice[a["notice_id"]].recipient))
        name = person.deliver_to["name"] if person.deliver_to else person.full_name
        counsel += bool(person.deliver_to)
        assert lines == block_lines(name, person.address, upper_case=cfg.address.upper_case)
        assert lines[0].startswith(name.upper().split()[0])
        assert a["zip"].startswith(p["zip"][:5])
        # exactly as printed: each line is on the letter's first page
        first = pdftotext(folder / "print" / a["print_file"], int(a["first_page"]))
        text = " ".join(first.split())
        for line in lines:
            assert " ".join(line.split()) in text, (line, a["notice_id"])
    assert counsel == result.to_counsel  # the sample has none: the deliver_to path is untested here

    job = (folder / "print" / "JOB.txt").read_text(encoding="utf-8")
    pages = sum(int(p["pages"]) for p in printed)
    sheets = sum(int(p["sheets"]) for p in printed)
    packages = len({p["package"] for p in printed})
    assert (f"{len(printed)} letters, {pages} pages, {sheets} sheets, {packages} packages"
            in job)
    assert "duplex" in job and "2026-12-notice" in job
    for name in sorted({p["print_file"] for p in printed}):
        entries = [p for p in printed if p["print_file"] == name]
        assert (f"print/{name}  {len(entries)} letters, "
                f"{sum(int(p['pages']) for p in entries)} pages" in job)
    envelopes = Counter(int(p["sheets"]) for p in printed)
    for n, count in envelopes.items():
        weight = n * cfg.mailing.sheet_weight_oz + cfg.mailing.envelope_weight_oz
        step = re.escape(postage_step(weight))
        assert re.search(rf"^\s+{n}\s+{count}\s+{weight:.2f} oz  {step}$", job, re.M), n
    for step in POSTAGE_STEPS:
        over = sum(c for n, c in envelopes.items()
                   if round(n * cfg.mailing.sheet_weight_oz + cfg.mailing.envelope_weight_oz, 4)
                   > step)
        assert (f"over {step:g} oz: {over} envelopes" in job) == bool(over)
    # the main facts are in the run's summary too
    assert result.print_job.sheets == sheets and result.print_job.packages == packages
    assert result.print_job.envelopes == dict(sorted(envelopes.items()))


def test_postage_steps_and_sheets():
    assert sheets_of(5, True) == 3 and sheets_of(6, True) == 3 and sheets_of(5, False) == 5
    assert postage_step(5 * 0.16 + 0.2) == "First-Class letter, up to 1 oz"
    assert postage_step(1.01) == "First-Class letter, up to 2 oz"
    assert postage_step(3.5) == "First-Class letter, up to 3.5 oz"
    assert postage_step(3.51).startswith("flat")


def test_same_batch_same_print_bytes_and_simplex_has_no_blank_pages(tmp_path):
    from letters.sample import write as write_sample

    records = tmp_path / "r.csv"
    with open(records, "w", encoding="utf-8", newline="") as fh:
        write_sample(fh, 14, 5, with_bad_rows=False)
    cfg = config.load(ROOT / "letters.toml")
    digests = []
    for run in ("a", "b"):
        mail(cfg, records, batch="d", issue_date=ISSUE, allow_past_date=True,
             out_dir=tmp_path / run, workers=1)
        digests.append({p.name: p.read_bytes()
                        for p in (tmp_path / run / "d" / "print").iterdir()})
    assert digests[0] == digests[1]
    assert set(digests[0]) == {"d-001.pdf", "manifest.csv", "addresses.csv", "JOB.txt"}

    simplex = dataclasses.replace(cfg, mailing=dataclasses.replace(cfg.mailing, duplex=False))
    mail(simplex, records, batch="s", issue_date=ISSUE, allow_past_date=True,
         out_dir=tmp_path / "c", workers=1)
    printed = read_csv(tmp_path / "c" / "s" / "print" / "manifest.csv")
    assert any(int(p["pages"]) % 2 for p in printed)  # odd page counts stay as they are
    assert all(p["sheets"] == p["pages"] for p in printed)
    for p in printed:
        path = tmp_path / "c" / "s" / "print" / p["print_file"]
        last = pdftotext(path, int(p["first_page"]) + int(p["pages"]) - 1)
        assert not any(text in last for text in BLANK.values())
    assert "simplex" in (tmp_path / "c" / "s" / "print" / "JOB.txt").read_text(encoding="utf-8")


@pytest.mark.parametrize("workers", [1, 2])
def test_a_copy_changed_since_the_ledger_recorded_it_is_never_printed(tmp_path, workers):
    """Print files are made from the retained copies on disk (a resumed batch's earlier
    letters too): one whose bytes no longer match the ledger's SHA-256 stops the print files,
    named, in this process or in a worker, and no print file holds it."""
    from letters.mailing import SentLetters
    from letters.printshop import write_print_files
    from letters.store import CopyDamaged

    from letters.sample import write as write_sample

    records = tmp_path / "r.csv"
    with open(records, "w", encoding="utf-8", newline="") as fh:
        write_sample(fh, 4, 5, with_bad_rows=False)
    cfg = config.load(ROOT / "letters.toml")
    cfg = dataclasses.replace(cfg, mailing=dataclasses.replace(
        cfg.mailing, letters_per_print_file=2))
    result = mail(cfg, records, batch="b", issue_date=ISSUE, allow_past_date=True,
                  out_dir=tmp_path, workers=1)
    folder = tmp_path / "b"
    with Ledger(result.ledger_url, create=False) as ledger:
        rows = SentLetters(ledger.letters(ledger.batch("b").id))
    assert len(rows) == 4
    for copy in (folder / "print").glob("*.pdf"):
        copy.unlink()
    damaged = folder / list(rows)[3].file
    data = bytearray(damaged.read_bytes())
    data[data.index(b"/Producer")] ^= 1  # still a PDF, no longer the one sent
    damaged.chmod(0o600)
    damaged.write_bytes(bytes(data))
    with pytest.raises(CopyDamaged, match=re.escape(damaged.name)) as caught:
        write_print_files(folder, rows, cfg.mailing, workers, batch="b")
    assert "no longer has the bytes the ledger recorded" in str(caught.value)
    printed = [p.name for p in (folder / "print").glob("*.pdf")]
    assert len(printed) <= 1  # the other file's two letters may have been joined
