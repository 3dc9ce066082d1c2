"""Proofs: render a few letters, watermarked and with provisional notice IDs, for reading."""

from __future__ import annotations

import datetime as dt
import hashlib
import re
from dataclasses import dataclass, field
from pathlib import Path

from letters import imb
from letters.compose import Composer, provisional_notice_id
from letters.config import Config
from letters.errors import LettersError
from letters.exports import private_dir
from letters.records import Intake
from letters.store import replace_file


@dataclass
class ProofResult:
    written: list[Path] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)


def safe_file_stem(defendant_id: str) -> str:
    """A file name stem for any ID: letters, digits, '-' and '_' only, and never two IDs alike.

    >>> safe_file_stem("D0000123")
    'D0000123'
    >>> safe_file_stem("../../etc/passwd")
    'etc-passwd-3754d6cb'
    """
    safe = re.sub(r"[^A-Za-z0-9_-]+", "-", defendant_id).strip("-")[:40]
    if safe != defendant_id or not safe:
        digest = hashlib.sha256(defendant_id.encode("utf-8")).hexdigest()[:8]
        safe = f"{safe}-{digest}" if safe else digest
    return safe


def write_proofs(cfg: Config, intake: Intake, out: Path, *, first: int | None = None,
                 defendant_ids: list[str] | None = None, langs: list[str] | None = None,
                 issue_date: dt.date) -> ProofResult:
    from letters.pdf import render

    result = ProofResult()
    if defendant_ids:
        chosen = []
        for did in defendant_ids:
            r = intake.recipients.find(did)
            if r is None:
                rejected = any(x.defendant_id == did for x in intake.rejects)
                result.problems.append(
                    f"defendant {did}: " + ("its rows were rejected (see validate)" if rejected
                                            else "not in the records"))
            else:
                chosen.append(r)
    else:
        chosen = intake.recipients[: first or 5]
    composer = Composer(cfg)
    private_dir(out)
    for recipient in chosen:
        if langs == ["all"]:
            languages = composer.languages(recipient, "all")
        elif langs:
            languages = [lang for lang in langs if lang in composer.registry.letter_codes]
            if not languages:
                result.problems.append(f"none of {', '.join(langs)} is a letter language")
                break
        else:
            languages = None
        try:
            doc = composer.compose(recipient, notice_id=provisional_notice_id(recipient),
                                   issue_date=issue_date, languages=languages, proof=True)
            if cfg.imb.mailer_id:  # where the barcode goes; serial 0 is never mailed
                doc.imb = imb.value(cfg.imb.barcode_id, cfg.imb.service_type,
                                    cfg.imb.mailer_id, 0, recipient.address.zip)
            rendered = render(doc)
        except LettersError as exc:
            result.problems.append(str(exc))
            continue
        suffix = "-".join(v.lang for v in doc.versions)
        path = out / f"PROOF-{safe_file_stem(recipient.defendant_id)}-{suffix}.pdf"
        replace_file(path, rendered.pdf)
        result.written.append(path)
    return result
