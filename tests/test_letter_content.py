"""What the notice must say, in English and in Spanish (and Portuguese where it matters): each
point the court required, read back from the rendered PDF. A Spanish letter prints no English
data value, and the gate refuses one that would."""

from __future__ import annotations

import dataclasses
import datetime as dt
import re

import pytest

from letters import config, i18n
from letters.compose import Composer
from letters.mailing import mail
from letters.model import Address, Case, Recipient
from letters.pdf import render
from tests.conftest import ROOT, row, write_records
from tests.pdftools import page_texts

ISSUE = dt.date(2026, 12, 1)
CFG = config.load(ROOT / "letters.toml")


def person(language="es", **kw) -> Recipient:
    cases = (
        Case("0301CR000101", "Lowell District Court", "Middlesex",
             "Possession of a Class B substance", "2004-05-06", 2,
             disposition="Pleaded guilty", lab="Hinton lab, Boston", chemist="Annie Dookhan",
             case_status="dismissed"),
        Case("0701CR000202", "Boston Municipal Court, Central Division", "Suffolk",
             "Distribution of a Class A substance", "2008-11-30", 3,
             disposition="Convicted after trial", lab="Amherst lab", chemist="Sonja Farak",
             case_status="may_retry"),
        Case("1102CR000303", "Lawrence District Court", "Essex",
             "Possession of a Class E substance", "", 4,
             disposition="Admitted to sufficient facts", lab="Hinton lab, Boston",
             chemist="Annie Dookhan"),
    )
    base = dict(defendant_id="D9", first_name="María", middle_name="", last_name="Peña",
                suffix="", address=Address("12 Water St", "Apt 3", "Lynn", "MA", "01902"),
                language=language, cases=cases, source_rows=(2, 3, 4))
    base.update(kw)
    return Recipient(**base)


def flat(text: str) -> str:
    return " ".join(text.split())


def versions(cfg=CFG, recipient=None, **kw):
    """The rendered text of each version (the form excluded), keyed by language."""
    doc = Composer(cfg).compose(recipient or person(), notice_id="TEST-0001",
                                issue_date=ISSUE, **kw)
    out = render(doc)
    # each page without its footer (notice ID, "Page X of Y"), so text reads across pages
    footer = re.compile(r"\S+( \S+)?: TEST-0001\s+\S+ \d+ \S+ \d+\s*$")
    pages = [footer.sub("", p.rstrip()) for p in page_texts(out.pdf)]
    starts = sorted(out.version_pages.items(), key=lambda kv: kv[1])
    text = {}
    for i, (lang, start) in enumerate(starts):
        end = starts[i + 1][1] - 1 if i + 1 < len(starts) else len(pages) - 1
        text[lang] = flat(" ".join(pages[start - 1:end]))
    text["form"] = flat(pages[-1])
    return doc, text


def say(lang: str, message: str, context: str | None = None, **params) -> str:
    """A message of the letter in ``lang``, as the catalog has it (one line, no markup)."""
    text = i18n.gettext(CFG.locale_dir, lang, message, context=context, **params)
    return flat(re.sub(r"</?b>", "", text))


def data(lang: str, context: str, value: str) -> str:
    return i18n.data_lookup(CFG.locale_dir, lang)(context, value)


@pytest.fixture(scope="module")
def letter():
    return versions()


@pytest.mark.parametrize("lang", ["es", "en"])
def test_no_harsher_result_near_the_right_to_ask(letter, lang):
    _, text = letter
    message = ("<b>Limits if you are charged again.</b> If the court cancels a conviction and you "
               "are charged again in that case, it cannot be for a more serious crime. If you "
               "are found guilty again, your sentence cannot be harsher than before. A new guilty "
               "plea or guilty finding can still cause other problems, for example with "
               "immigration. Ask a lawyer.")
    said = say(lang, message)
    assert said in text[lang]
    ask = say(lang, ASK)
    assert 0 < text[lang].index(said) - text[lang].index(ask) < 2000


ASK = ("You can ask the court to cancel (vacate) a conviction in a case listed here. You can ask "
       "if you were found guilty at a trial. You can ask if you pleaded guilty. You can also ask "
       "if you admitted there was enough evidence to find you guilty, even if you did not say "
       "\"guilty.\" This includes a case that was \"continued without a finding,\" even if it was "
       "later dismissed.")


@pytest.mark.parametrize("lang", ["es", "en"])
def test_a_direct_route_to_a_defence_lawyer(letter, lang):
    _, text = letter
    counsel = data(lang, "counsel", CFG.counsel.name)
    assert say(lang, "The public defender agency can give you a lawyer for free if you "
                     "qualify.") in text[lang]
    # its contact card: name, phone and website
    card = " ".join([counsel, say(lang, "Phone: <b>%(phone)s</b>", phone=CFG.counsel.phone),
                     say(lang, "Website: %(website)s", website=CFG.counsel.website)])
    assert flat(card) in text[lang]
    assert say(lang, "You do not need to contact us first.") in text[lang]
    if lang == "es":
        assert "Defensoría Pública" in text[lang]


@pytest.mark.parametrize("lang", ["es", "en"])
def test_who_we_are_and_what_happens_to_an_answer(letter, lang):
    _, text = letter
    assert say(lang, "We are the prosecutor's office. We are not your lawyer, and we cannot give "
                     "you legal advice. If you already have a lawyer, show them this "
                     "letter.") in text[lang]
    assert say(lang, "If you answer us, we will keep your answer and any papers you send. The "
                     "court may see them. Do not tell us what happened in your case. Talk about "
                     "that only with your own lawyer. What you tell your own lawyer is "
                     "private.") in text[lang]
    assert "only to respond to this notice" not in text["en"]
    if lang == "es":
        assert "asesoría legal" in text[lang] and "confidencial" in text[lang]


def table_rows(doc, lang):
    version = next(v for v in doc.versions if v.lang == lang)
    table = next(b for b in version.blocks if b.kind == "table")
    return [[flat("".join(r.text for r in cell)) for cell in row] for row in table.rows]


@pytest.mark.parametrize("lang", ["es", "en"])
def test_each_case_names_its_lab_chemist_and_how_it_ended(letter, lang):
    doc, text = letter
    rows = table_rows(doc, lang)
    for case, cells in zip(doc.recipient.cases, rows):
        assert case.docket_number in cells[0]
        assert data(lang, "offense", case.offense) == cells[1]
        assert cells[2].startswith(data(lang, "disposition", case.disposition))
        assert cells[3] == flat(data(lang, "lab", case.lab) + " " +
                                say(lang, "Chemist: %(chemist)s", chemist=case.chemist))
        for word in cells[3].split():
            assert word in text[lang]  # and it is printed
    # two labs, and "the substance": never an assumption that it was a drug
    assert "Annie Dookhan" in text[lang] and "Sonja Farak" in text[lang]
    assert "drug evidence" not in text["en"] and "substances" in text["en"]
    if lang == "es":
        assert "sustancias" in text[lang] and "evidencia de drogas" not in text[lang]


@pytest.mark.parametrize("lang", ["es", "en"])
def test_who_can_act_and_what_each_right_means(letter, lang):
    _, text = letter
    for message in (
            "<b>If you pleaded guilty or admitted there was enough evidence,</b> you may ask to "
            "take back your plea. You must show a reasonable chance that you would not have "
            "done so if you had known about the lab's problems.",
            "<b>If you were found guilty at a trial,</b> you may ask for a new trial.",
            "<b>Why it can matter:</b> A cancelled conviction can help you get a job or a place "
            "to live. It can also matter for immigration."):
        assert say(lang, message) in text[lang]
    # the presumption is the court's for the chemist it names (Dookhan), not for every lab
    presumed = say(lang, "<b>If %(chemist)s tested the substance in your case,</b> you do not "
                         "have to prove what the chemist did. The court accepts that the "
                         "wrongdoing affected your case.", chemist="Annie Dookhan")
    assert presumed in text[lang]
    assert text[lang].count(say(lang, "<b>If %(chemist)s tested the substance in your case,</b> "
                                      "you do not have to prove what the chemist did. The court "
                                      "accepts that the wrongdoing affected your case.",
                                chemist="Sonja Farak")) == 0


def test_no_presumption_line_without_a_presumed_chemist_and_nothing_to_ask_when_all_final():
    amherst = tuple(dataclasses.replace(c, lab="Amherst lab", chemist="Sonja Farak",
                                        case_status="dismissed") for c in person().cases)
    doc, text = versions(recipient=person("en", cases=amherst))
    assert "tested the substance in your case" not in text["en"]
    assert "Every case listed here is already cancelled. You do not need to ask the court to " \
           "cancel them." in text["en"]
    assert say("en", ASK) not in text["en"]
    # a case without a decision among decided ones: the dash is explained
    mixed = person("en")
    _, text = versions(recipient=mixed)
    assert "— We have not made a decision about this case yet." in text["en"]


@pytest.mark.parametrize("lang", ["es", "en"])
def test_what_the_office_decided_per_case(letter, lang):
    doc, text = letter
    rows = table_rows(doc, lang)
    for key, cells in zip(("dismissed", "may_retry", None), rows):
        if key is None:
            assert cells[4] == "—"
            continue
        status = CFG.case_status[key]
        label, meaning = data(lang, "case_status", status.label), \
            data(lang, "case_status", status.meaning)
        assert cells[4] == label and f"{label} {flat(meaning)}" in text[lang]
    unused = CFG.case_status["under_review"]
    assert data(lang, "case_status", unused.label) not in text[lang]


@pytest.mark.parametrize("lang", ["es", "en"])
def test_deadline_only_for_the_office_the_order_and_the_hotline(letter, lang):
    _, text = letter
    assert say(lang, "This date is only for answering our office. It is not a court deadline. "
                     "You can ask the court for help after this date too.") in text[lang]
    assert CFG.letter.court_order in text[lang]
    hours = {"en": "Monday to Friday, 9:00 AM – 5:00 PM",
             "es": "de lunes a viernes, 9:00 a.m. – 5:00 p.m."}[lang]
    languages = {"en": "English, Spanish, and Portuguese",
                 "es": "inglés, español y portugués"}[lang]
    assert hours in text[lang] and languages in text[lang] and CFG.office.hotline in text[lang]
    phone = say(lang, "<b>By phone:</b> Call %(hotline)s, %(hours)s. We speak %(languages)s. For "
                      "other languages, we will get you a free interpreter.",
                hotline=CFG.office.hotline, hours=hours, languages=languages)
    assert phone in text[lang]


def test_an_earlier_letter_is_mentioned_when_configured():
    plain = versions()[1]
    second = config.with_overrides(CFG, letter={"earlier_letter": True})
    _, text = versions(second)
    for lang in ("es", "en"):
        line = say(lang, "You may have received a letter about your case before. This letter "
                         "replaces it.")
        assert line in text[lang] and line not in plain[lang]


def body(text: str) -> str:
    """A version's text without what is English by design: the postal return and mail-to
    addresses (the name the post office delivers to), the court order's citation (a case name)
    and the pointer to the English version."""
    for line in (CFG.office.name, *CFG.office.address, CFG.letter.court_order):
        text = text.replace(line, "")
    return re.sub(r"This letter in English starts on page \d+\.", "", text)


def test_the_spanish_letter_prints_no_english_data_value(letter):
    doc, text = letter
    values = Composer(CFG).data_values(doc.recipient)
    assert len(values) >= 12
    checked = 0
    for context, value in values:
        translated = data("es", context, value)
        assert translated, (context, value)
        if translated != value and context != "county":  # county names are proper names
            assert flat(value) not in body(text["es"]), (context, value)
            checked += 1
    assert checked >= 10
    # the signer's title in Spanish, the reviewed wording
    assert "Fiscal de Distrito" in text["es"] and "District Attorney" not in body(text["es"])
    assert "Estimado(a) María Peña:" in text["es"]
    assert "No quiero hacer nada por ahora." in text["form"]


def test_the_gate_refuses_an_untranslated_offense(tmp_path):
    records = write_records(tmp_path / "r.csv", [
        row(defendant_id="S1"), row(defendant_id="S2", offense="Possession of a Class Z gadget")])
    out = tmp_path / "out"
    with pytest.raises(i18n.TranslationGateError) as err:
        mail(CFG, records, batch="b", issue_date=ISSUE, allow_past_date=True, out_dir=out, workers=1)
    assert "missing from the catalog: 'Possession of a Class Z gadget'" in str(err.value)
    assert "locale/es/LC_MESSAGES/data.po" in str(err.value)
    assert not out.exists()
    # an English reader's letter prints the value as it is: no translation is needed
    english = write_records(tmp_path / "e.csv", [
        row(defendant_id="E1", language="en", offense="Possession of a Class Z gadget")])
    assert mail(CFG, english, batch="e", issue_date=ISSUE, allow_past_date=True, out_dir=out, workers=1).letters == 1


def test_portuguese_letter_in_portuguese_to_the_last_word():
    doc, text = versions(recipient=person("pt"))
    assert list(text)[:2] == ["pt", "en"] or set(text) >= {"pt", "en"}
    assert "Promotor Distrital" in text["pt"] or "Promotora Distrital" in text["pt"]
    for context, value in Composer(CFG).data_values(doc.recipient):
        translated = data("pt", context, value)
        if translated != value and context != "county":
            assert flat(value) not in body(text["pt"]), (context, value)
