"""Print files for the mail house: the batch's letters combined in presort order.

What a batch hands the mail house, all under ``print/`` and all listed in SHA256SUMS:

- ``<batch>-NNN.pdf``: combined print files of at most ``[mailing] letters_per_print_file``
  letters each. The batch name is in the file name, so the files of two batches never collide
  at the mail house. With ``[mailing] duplex`` every letter has an even number of pages (the
  renderer pads it with a marked blank page), so every letter starts on an odd page, the front
  of a sheet.
- ``manifest.csv``: the placement record, one row per letter: batch, print_file, sequence,
  notice_id, zip, pages, sheets, first_page (in its print file), package, sort_group.
- ``addresses.csv``: per letter, the name and address lines exactly as printed in the window
  (``letters.addresses.block_lines``; a letter to counsel of record carries counsel's name),
  the ZIP (+4 when known), where the letter is, and the Intelligent Mail barcode printed on it
  (``imb``: its 31 digits, blank for a letter printed without one).
- ``JOB.txt``: the job sheet: files, letters, pages, sheets, packages, envelopes by sheet count,
  estimated weight per envelope and the First-Class postage steps crossed.

Presort (simple, not a full USPS presort): each letter belongs to a sort group: its 5-digit ZIP
when the batch has at least ``PACKAGE_MIN`` letters for that ZIP, else its 3-digit ZIP prefix
when the letters left for that prefix are at least ``PACKAGE_MIN``, else "mixed". Letters go in
ZIP order within each level: the 5-digit groups first, then the 3-digit groups, then mixed
(notice ID breaks ties). A new package (numbered through the batch) starts whenever the sort
group changes, the package holds ``[mailing] package_size`` letters, or a new print file starts.

A print file is the letters' retained copies joined at the byte level (``letters.pdfjoin``):
their pages, content streams and fonts copied in as they are, references renumbered, with a
deterministic file ID, so the same batch gives the same bytes; files are joined in parallel
when there are several. A copy the joiner does not recognise as this tool's (it never happens
with the renderer's own) is merged by pikepdf (qpdf) instead. The letters of a batch embed the
same font subsets (``letters.glyphs``), so a print file keeps one copy of each: one subset of
each face (regular, bold) however many letters it has, and every distinct subset carries a tag
of its own, drawn from its content (ReportLab's invariant mode tags them all ``AAAAAA+``;
prepress checks require subsets that differ to differ in name).
"""

from __future__ import annotations

import io
import multiprocessing
import os
import re
from collections import Counter
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from letters import pdfjoin
from letters.exports import private_dir, write_csv
from letters.pdfjoin import subset_tag
from letters.processes import exit_with_parent
from letters.store import read_copy, replace_file

PRINT_MANIFEST_HEADER = ("batch", "print_file", "sequence", "notice_id", "zip", "pages",
                         "sheets", "first_page", "package", "sort_group")
#: Address lines as printed: the window holds at most seven lines (at 7.5 pt).
ADDRESS_LINES = 7
ADDRESS_HEADER = ("batch", "notice_id", *(f"line_{i}" for i in range(1, ADDRESS_LINES + 1)),
                  "zip", "print_file", "first_page", "sheets", "package", "imb")
#: Fewest letters that make a 5-digit or 3-digit group (the USPS minimum for a package).
PACKAGE_MIN = 10
#: First-Class Mail letter weight steps, in ounces; above the last, the piece is a flat.
POSTAGE_STEPS = (1.0, 2.0, 3.0, 3.5)

_SUBSET = re.compile(r"^/([A-Z]{6})\+(.+)$")


def sheets_of(pages: int, duplex: bool) -> int:
    """Sheets of paper a letter of ``pages`` pages takes."""
    return (pages + 1) // 2 if duplex else pages


def postage_step(weight_oz: float) -> str:
    """The First-Class step a piece of this weight falls in."""
    for step in POSTAGE_STEPS:
        if round(weight_oz, 4) <= step:
            return f"First-Class letter, up to {step:g} oz"
    return f"flat (over {POSTAGE_STEPS[-1]:g} oz: too heavy for a letter)"


def sort_groups(rows, minimum: int = PACKAGE_MIN) -> dict[str, tuple[int, str, str]]:
    """notice ID -> (level, key, label) of its sort group (see the module's docstring)."""
    rows = list(rows)
    return dict(zip([r.notice_id for r in rows], _groups_of([r.zip for r in rows], minimum)))


def _groups_of(zips: list[str], minimum: int = PACKAGE_MIN) -> list[tuple[int, str, str]]:
    """Per letter (by position), its sort group as :func:`sort_groups` gives it; letters of a
    group share one tuple."""
    zip5 = Counter(z[:5] for z in zips)
    zip3 = Counter(z[:3] for z in zips if zip5[z[:5]] < minimum)
    made: dict[tuple, tuple[int, str, str]] = {}
    out = []
    for z in zips:
        if zip5[z[:5]] >= minimum:
            key = (0, z[:5])
        elif zip3[z[:3]] >= minimum:
            key = (1, z[:3])
        else:
            key = (2, "")
        group = made.get(key)
        if group is None:
            label = {0: f"5-digit {key[1]}", 1: f"3-digit {key[1]}", 2: "mixed"}[key[0]]
            group = made[key] = (*key, label)
        out.append(group)
    return out


def _rows_at(rows, positions: list[int]) -> list:
    """The rows at these positions: ``rows.take`` when the rows have it (they are read then,
    not held), else by index."""
    take = getattr(rows, "take", None)
    return take(positions) if take is not None else [rows[i] for i in positions]


def _digest(obj, h) -> None:
    """Feed a font object's content to ``h``: names without subset tags, streams as stored,
    the objects it refers to by their content (not their numbers)."""
    import pikepdf

    if isinstance(obj, pikepdf.Stream):
        h.update(b"<stream")
        _digest(obj.stream_dict, h)
        h.update(obj.read_raw_bytes())
    elif isinstance(obj, pikepdf.Dictionary):
        h.update(b"<<")
        for key in sorted(obj.keys()):
            h.update(key.encode())
            _digest(obj[key], h)
        h.update(b">>")
    elif isinstance(obj, pikepdf.Name):
        m = _SUBSET.match(str(obj))
        h.update((f"/+{m.group(2)}" if m else str(obj)).encode())
    elif isinstance(obj, pikepdf.Array):
        # widths and boxes: numbers, written at once (an array holding references is
        # written with their numbers, so two such arrays are never taken for the same)
        h.update(b"[" + obj.unparse(resolved=True) + b"]")
    else:
        h.update(repr(obj).encode())


class _SharedFonts:
    """One copy of each distinct font subset in a print file, tagged by its content.

    Letters of a batch embed byte-identical subsets (``letters.glyphs``): the first copy of
    each is kept and every page's font resources point at it. Each distinct subset gets a tag
    of its own, six capitals drawn from a digest of its content (``/BaseFont`` and its
    descriptor's ``/FontName``), so the same subset carries the same tag in every print file
    and two different subsets never share one in a file.
    """

    def __init__(self, pdf):
        self.pdf = pdf
        self.kept: dict[bytes, object] = {}
        self.tags: set[str] = set()
        self.mine: set[tuple[int, int]] = set()     # the kept fonts, in ``pdf``

    def keep(self, font, foreign: bool = False) -> object:
        """The font to use for ``font`` (of ``pdf``, or of a letter's PDF when ``foreign``):
        the first copy of the same subset, or ``font`` itself (copied in), retagged."""
        import hashlib

        import pikepdf

        if not foreign and font.is_indirect and font.objgen in self.mine:
            return font
        h = hashlib.sha256()
        _digest(font, h)
        key = h.digest()
        same = self.kept.get(key)
        if same is not None:
            return same
        if foreign:
            font = self.pdf.copy_foreign(font)
        self.kept[key] = font
        if font.is_indirect:
            self.mine.add(font.objgen)
        n = int.from_bytes(key[:8], "big") % 26 ** 6
        while subset_tag(n) in self.tags:
            n = (n + 1) % 26 ** 6
        tag = subset_tag(n)
        self.tags.add(tag)
        for holder, entry in ((font, "/BaseFont"), (font.get("/FontDescriptor"), "/FontName")):
            value = holder.get(entry) if holder is not None else None
            m = _SUBSET.match(str(value)) if isinstance(value, pikepdf.Name) else None
            if m is not None:
                holder[entry] = pikepdf.Name(f"/{tag}+{m.group(2)}")
        return font


def _share_fonts(pdf, shared: _SharedFonts | None = None) -> int:
    """Point every page's font resources, and those of its form XObjects, at one copy of each
    distinct subset (``_SharedFonts``); the others, no longer referenced, are not written.
    Returns the number of distinct subsets kept."""
    shared = shared or _SharedFonts(pdf)
    done: set[tuple[int, int]] = set()
    for page in pdf.pages:
        _share_fonts_in(page.obj.get("/Resources"), shared, done)
    return len(shared.kept)


def _share_fonts_in(resources, shared: _SharedFonts, done: set) -> None:
    """``_share_fonts`` for one resource dictionary and the forms it holds, depth first.
    Names in sorted order: pikepdf gives a dictionary's keys as a set, whose order varies from
    run to run, and the first of two subsets with the same tag keeps it. (A function of the
    module, not a closure calling itself: that is a reference cycle, which kept the merged
    document until the garbage collector's next full pass.)"""
    import pikepdf

    if resources is None or (resources.is_indirect and resources.objgen in done):
        return
    if resources.is_indirect:
        done.add(resources.objgen)
    table = resources.get("/Font")
    if table is not None and not (table.is_indirect and table.objgen in done):
        if table.is_indirect:
            done.add(table.objgen)
        for name in sorted(table.keys()):
            table[name] = shared.keep(table[name])
    forms = resources.get("/XObject")
    for name in sorted(forms.keys()) if forms is not None else ():
        form = forms[name]
        if form.get("/Subtype") == pikepdf.Name.Form and not (
                form.is_indirect and form.objgen in done):
            if form.is_indirect:
                done.add(form.objgen)
            _share_fonts_in(form.get("/Resources"), shared, done)


def _copied(pdf, value):
    """``value`` of a letter's PDF, for ``pdf``: indirect objects copied in (with what they
    refer to), direct arrays and dictionaries rebuilt around them."""
    import pikepdf

    if not isinstance(value, pikepdf.Object):  # a number or a boolean, as Python's
        return value
    if value.is_indirect:
        return pdf.copy_foreign(value)
    if isinstance(value, pikepdf.Array):
        return pikepdf.Array([_copied(pdf, v) for v in value])
    if isinstance(value, pikepdf.Dictionary):
        return pikepdf.Dictionary({k: _copied(pdf, v) for k, v in value.items()})
    return value


def _pages_of(merged, src, shared: _SharedFonts) -> list:
    """``src``'s pages made in ``merged`` (not yet in its page tree), their fonts pointed at
    ``shared``'s copies: a letter's fonts are compared by content and copied in only when new,
    instead of every letter's being copied and dropped."""
    import pikepdf

    fonts: dict[tuple[int, int], object] = {}
    inherited = {k: src.Root.Pages[k] for k in ("/Resources", "/MediaBox", "/CropBox",
                                                 "/Rotate") if k in src.Root.Pages}
    out = []
    for page in src.pages:
        obj = page.obj
        new = pikepdf.Dictionary({k: _copied(merged, v) for k, v in inherited.items()
                                  if k not in obj and k != "/Resources"})
        for key, value in obj.items():
            if key not in ("/Parent", "/Resources"):
                new[key] = _copied(merged, value)
        kept = pikepdf.Dictionary()
        for key, value in obj.get("/Resources", inherited.get("/Resources", {})).items():
            if key != "/Font":
                kept[key] = _copied(merged, value)
                continue
            table = pikepdf.Dictionary()
            for name, font in value.items():
                if not font.is_indirect:
                    table[name] = _copied(merged, font)
                    continue
                if font.objgen not in fonts:
                    fonts[font.objgen] = shared.keep(font, foreign=True)
                table[name] = fonts[font.objgen]
            kept[key] = table
        new.Resources = kept
        out.append(merged.make_indirect(new))
    return out


def _merge_print_file(job: tuple[str, list[tuple[str, str]]]) -> str:
    """One combined print file from letter copies (path and the SHA-256 the ledger recorded:
    a copy changed since is refused, ``store.read_copy``), deterministic bytes (runs in a
    worker): the letters' bytes joined as they are (``letters.pdfjoin``), or, for a copy laid
    out otherwise, merged by pikepdf."""
    target, sources = job
    copies = [read_copy(path, sha256) for path, sha256 in sources]
    joined = pdfjoin.join(copies)
    replace_file(Path(target), joined if joined is not None else _merged(copies))
    return target


def _merged(copies: list[bytes]) -> bytes:
    """The letters' PDFs merged by pikepdf (qpdf): pages copied in, fonts shared."""
    import pikepdf

    merged = pikepdf.Pdf.new()
    shared = _SharedFonts(merged)
    opened = [pikepdf.open(io.BytesIO(data)) for data in copies]
    try:
        pages = [page for src in opened for page in _pages_of(merged, src, shared)]
        # the page tree made at once (one page appended at a time costs qpdf a scan each)
        tree = merged.Root.Pages
        for page in pages:
            page.Parent = tree
        tree.Kids, tree.Count = pikepdf.Array(pages), len(pages)
        _share_fonts(merged, shared)  # those of the pages' form XObjects
        buf = io.BytesIO()
        # Letter streams are already compressed: copy them as they are (decoding and
        # recompressing them made merging nine times slower for no smaller file).
        merged.save(buf, deterministic_id=True, compress_streams=False,
                    stream_decode_level=pikepdf.StreamDecodeLevel.none)
    finally:
        for src in opened:
            src.close()
    return buf.getvalue()


@dataclass
class PrintJob:
    """What the batch hands the mail house: the files written and the job sheet's facts."""

    files: list[str] = field(default_factory=list)          # relative to the batch folder
    print_files: int = 0
    letters: int = 0
    pages: int = 0
    sheets: int = 0
    packages: int = 0
    duplex: bool = False
    #: sheets per envelope -> envelopes
    envelopes: dict[int, int] = field(default_factory=dict)
    #: sheets per envelope -> estimated weight of the envelope, in ounces
    weights: dict[int, float] = field(default_factory=dict)

    def heaviest(self) -> tuple[float, str]:
        if not self.weights:
            return 0.0, ""
        w = self.weights[max(self.weights)]
        return w, postage_step(w)


def window(recipient: dict, notice_id: str, upper_case: bool) -> tuple[list[str], str]:
    """The window's lines and the ZIP (+4) of a letter, from the ledger's recipient data (its
    JSON, decoded), the same way ``letters.pdf.address_lines`` prints them."""
    from letters.addresses import block_lines
    from letters.compose import nfc_recipient
    from letters.model import recipient_from_dict

    r = nfc_recipient(recipient_from_dict(recipient))
    name = r.deliver_to["name"] if r.deliver_to else r.full_name
    lines = block_lines(name, r.address, upper_case=upper_case)
    if len(lines) > ADDRESS_LINES:
        raise ValueError(f"notice {notice_id}: {len(lines)} address lines, more than the "
                         f"window's {ADDRESS_LINES}")
    return lines, r.address.zip


def write_print_files(folder: Path, rows, mailing, workers: int, *, batch: str) -> PrintJob:
    """Combined PDFs in presort order for the mail house, their manifest, the address file and
    the job sheet; ``mailing`` is the ``[mailing]`` configuration, ``rows`` the batch's letters
    with their windows (``letters.mailing.SentLetters``)."""
    # Positions, not rows, are sorted: a batch's rows are read a print file at a time.
    zips, ids = [], []
    for r in rows:
        zips.append(r.zip)
        ids.append(r.notice_id)
    group_of = _groups_of(zips)
    order = sorted(range(len(ids)), key=lambda i: (*group_of[i][:2], zips[i], ids[i]))
    print_dir = private_dir(folder / "print")
    job = PrintJob(duplex=mailing.duplex, letters=len(ids))
    per_file = mailing.letters_per_print_file
    files = [(f"{batch}-{n:03d}.pdf", order[start:start + per_file])
             for n, start in enumerate(range(0, len(order), per_file), start=1)]

    def placed():
        """(print file, sequence, row, first page, package, sort group) in print order."""
        package, in_package = 0, 0
        for name, positions in files:
            page, last_group = 1, None  # a package never crosses a print file
            for seq, r in enumerate(_rows_at(rows, positions), start=1):
                group = group_of[positions[seq - 1]][2]
                if group != last_group or in_package >= mailing.package_size:
                    package, in_package, last_group = package + 1, 0, group
                in_package += 1
                yield name, seq, r, page, package, group
                page += r.pages

    jobs: dict[str, list[str]] = {}
    manifest = []
    package = 0
    for name, seq, r, page, package, group in placed():
        sheets = sheets_of(r.pages, mailing.duplex)
        manifest.append((batch, name, seq, r.notice_id, r.zip, r.pages, sheets, page,
                         package, group))
        job.envelopes[sheets] = job.envelopes.get(sheets, 0) + 1
        job.pages += r.pages
        job.sheets += sheets
        jobs.setdefault(name, []).append((str(folder / r.file), r.sha256))
    job.files += [f"print/{name}" for name in jobs]
    jobs = [(str(print_dir / name), paths) for name, paths in jobs.items()]

    def windows():
        for name, seq, r, page, package, group in placed():
            sheets = sheets_of(r.pages, mailing.duplex)
            lines = list(r.window) + [""] * (ADDRESS_LINES - len(r.window))
            yield (batch, r.notice_id, *lines, r.window_zip, name, page, sheets, package,
                   getattr(r, "imb", None) or "")

    job.print_files, job.packages = len(jobs), package
    job.envelopes = dict(sorted(job.envelopes.items()))
    job.weights = {s: round(s * mailing.sheet_weight_oz + mailing.envelope_weight_oz, 4)
                   for s in job.envelopes}
    if workers > 1 and len(jobs) > 1:
        ctx = multiprocessing.get_context("forkserver" if os.name == "posix" else "spawn")
        with ProcessPoolExecutor(max_workers=workers, mp_context=ctx,
                                 initializer=exit_with_parent,
                                 initargs=(os.getpid(),)) as pool:
            list(pool.map(_merge_print_file, jobs))
    else:
        for j in jobs:
            _merge_print_file(j)
    write_csv(print_dir / "manifest.csv", PRINT_MANIFEST_HEADER, manifest)
    write_csv(print_dir / "addresses.csv", ADDRESS_HEADER, windows())
    replace_file(print_dir / "JOB.txt", job_sheet(job, batch, manifest, mailing).encode("utf-8"))
    job.files += ["print/manifest.csv", "print/addresses.csv", "print/JOB.txt"]
    return job


def job_sheet(job: PrintJob, batch: str, manifest: list[tuple], mailing) -> str:
    """The job sheet for the mail house (plain text, deterministic)."""
    by_file: dict[str, list[tuple]] = {}
    for m in manifest:
        by_file.setdefault(m[1], []).append(m)
    out = [f"Print job: batch {batch}",
           "Printing:  " + ("duplex (both sides of each sheet)" if job.duplex
                            else "simplex (one side of each sheet)"),
           "Paper:     US Letter, tri-folded into a #10 double-window envelope",
           f"Totals:    {job.letters} letters, {job.pages} pages, {job.sheets} sheets, "
           f"{job.packages} packages (at most {mailing.package_size} letters each), "
           f"{job.print_files} print files",
           "",
           "Files (in this order; manifest.csv places each letter, addresses.csv lists what "
           "each window shows):"]
    for name, entries in by_file.items():
        pages = sum(m[5] for m in entries)
        sheets = sum(m[6] for m in entries)
        out.append(f"  print/{name}  {len(entries)} letters, {pages} pages, {sheets} sheets, "
                   f"packages {entries[0][8]}-{entries[-1][8]}")
    groups = Counter(m[9].split(" ")[0] for m in manifest)
    out += ["", "Sort groups (letters): " + ", ".join(
        f"{k} {groups[k]}" for k in ("5-digit", "3-digit", "mixed") if groups[k])]
    out += ["", f"Envelopes by sheets (weight: {mailing.sheet_weight_oz:g} oz a sheet + "
                f"{mailing.envelope_weight_oz:g} oz the envelope; estimates, weigh a sample):",
            "  sheets  envelopes  weight    postage"]
    for sheets, count in job.envelopes.items():
        w = job.weights[sheets]
        out.append(f"  {sheets:>6}  {count:>9}  {w:>5.2f} oz  {postage_step(w)}")
    crossed = []
    for step in POSTAGE_STEPS:
        over = sum(c for s, c in job.envelopes.items() if round(job.weights[s], 4) > step)
        if over:
            crossed.append(f"  over {step:g} oz: {over} envelopes")
    out += ["", "Postage steps crossed (First-Class letter: 1, 2, 3 oz; over 3.5 oz it is a "
                "flat):", *(crossed or ["  none: every envelope is 1 oz or less"])]
    return "\n".join(out) + "\n"
