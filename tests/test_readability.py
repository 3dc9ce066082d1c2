"""Plain-language measures: syllable, word and sentence counts, and the two formulas."""

from __future__ import annotations

import unicodedata

import pytest

from letters import readability as r


@pytest.mark.parametrize("word, expected", [
    ("the", 1), ("case", 1), ("notice", 2), ("conviction", 3), ("misconduct", 3),
    ("evidence", 3), ("attorney", 3), ("Committee", 3), ("immigration", 4),
])
def test_english_syllables_of_known_words(word, expected):
    assert r.syllables(word, "en") == expected


@pytest.mark.parametrize("word, expected", [
    ("ley", 1), ("usted", 2), ("juicio", 2), ("tribunal", 3), ("condena", 3),
    ("expediente", 4), ("inmigración", 4),
])
def test_spanish_syllables_of_known_words(word, expected):
    assert r.syllables(word, "es") == expected


def test_syllables_ignore_case():
    assert r.syllables("CONVICTION", "en") == r.syllables("conviction", "en") == 3
    assert r.syllables("Inmigración", "es") == 4


def test_syllables_reject_an_unknown_language():
    with pytest.raises(ValueError, match="'fr'"):
        r.syllables("avocat", "fr")


def test_words_skip_numbers_and_identifiers():
    text = "Call (617) 555-0142 by 12/1/2026 about docket 0901CR000001, notice DL-2026-000123-7."
    assert r.words(text) == ["Call", "by", "about", "docket", "notice"]


def test_words_keep_inner_apostrophes_and_split_on_other_marks():
    assert r.words("Don't lose O’Brien's tear-off form.") == [
        "Don't", "lose", "O’Brien's", "tear", "off", "form"]
    assert r.words("'quoted' words") == ["quoted", "words"]
    assert r.words("druglab.notice@example.org") == ["druglab", "notice", "example", "org"]


def test_words_are_unicode_letters_and_nfc():
    assert r.words("¿Dónde está el niño?") == ["Dónde", "está", "el", "niño"]
    decomposed = unicodedata.normalize("NFD", "inmigración")
    assert r.words(decomposed) == ["inmigración"]


@pytest.mark.parametrize("text, expected", [
    ("One sentence.", 1),
    ("One. Two! Three? Four…", 4),
    ("Really?! Yes...", 2),
    ("He said “stop.” Then he left.", 2),
    ("(See the form.) Then mail it.", 2),
    ("Dear Ana Ruiz:", 1),                       # colon at the end of a line
    ("Note: this is one sentence.", 1),          # colon inside a line does not end one
    ("Your rights", 1),                          # heading without a mark
    ("Sincerely,", 1),
    ("Call us. Then write", 2),                  # words after the last mark
    ("A U.S. citizen, e.g. you, can ask Mr. Lee or Sra. Ruiz.", 1),
    ("Write to www.example.org today. Or call 3.5 times.", 2),
    ("Call 555-0142.", 1),
    ("Done. 555-0142.", 1),                      # a mark after no words is no sentence
    ("", 0),
    ("12 34.", 0),
])
def test_sentences(text, expected):
    assert r.sentences(text) == expected


def test_sentences_count_each_line_as_a_block():
    text = "Your rights\n\n  You may ask for a lawyer.  \nYou do not have to answer\nSincerely,\nJordan A. Rivera"
    assert r.sentences(text) == 5


def test_flesch_kincaid_grade_formula():
    # 9 one-syllable words, 2 sentences: 0.39 * 4.5 + 11.8 * 1 - 15.59
    assert r.flesch_kincaid_grade("The cat sat on the mat. The dog ran.") == pytest.approx(-2.035)
    # con-vic-tion ev-i-dence: 2 words, 6 syllables, 1 sentence: 0.39 * 2 + 11.8 * 3 - 15.59
    assert r.flesch_kincaid_grade("Conviction evidence.") == pytest.approx(20.59)


def test_flesch_kincaid_grade_rises_with_sentence_length():
    # Only one-syllable words: the grades differ by 0.39 * (words per sentence, 11 vs 9 / 3).
    short = "You may ask. We will help. You can call."
    long = "You may ask and we will help and you can call."
    assert r.flesch_kincaid_grade(long) - r.flesch_kincaid_grade(short) == pytest.approx(
        0.39 * (11 - 3))


def test_inflesz_formula():
    # us-ted tie-ne de-re-cho a un nue-vo jui-cio: 7 words, 13 syllables, 1 sentence
    assert r.inflesz("Usted tiene derecho a un nuevo juicio.") == pytest.approx(
        206.835 - 62.3 * 13 / 7 - 7)
    # ley (1) usted (2) tribunal (3): 3 words, 6 syllables, 3 sentences
    assert r.inflesz("Ley. Usted. Tribunal.") == pytest.approx(206.835 - 62.3 * 2 - 1)


def test_measure_english():
    text = "Your rights\nYou may ask for a lawyer. Call 555-0142."
    m = r.measure(text, "en")
    assert m == {"lang": "en", "words": 9, "sentences": 3, "syllables": m["syllables"],
                 "grade": pytest.approx(r.flesch_kincaid_grade(text))}
    assert m["syllables"] == sum(r.syllables(w, "en") for w in r.words(text))
    assert "inflesz" not in m


def test_measure_spanish():
    text = "Sus derechos\nUsted puede pedir un abogado."
    m = r.measure(text, "es")
    assert (m["lang"], m["words"], m["sentences"]) == ("es", 7, 2)
    assert m["syllables"] == sum(r.syllables(w, "es") for w in r.words(text))
    assert m["inflesz"] == pytest.approx(r.inflesz(text))
    assert "grade" not in m


@pytest.mark.parametrize("text", ["", "   \n ", "(617) 555-0142. 12/1/2026."])
def test_measures_refuse_text_without_words(text):
    with pytest.raises(ValueError, match="no words"):
        r.measure(text, "en")
    with pytest.raises(ValueError, match="no words"):
        r.inflesz(text)
