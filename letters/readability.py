"""Plain-language measures of a letter's text: Flesch-Kincaid grade and Szigriszt-Pazos (INFLESZ).

The court wants notices that the people who get them can read. These measures put a number on
that for each language of the letter: the Flesch-Kincaid grade level for English (a US school
grade; lower is easier) and the Szigriszt-Pazos perspicuity index, read on the INFLESZ scale,
for Spanish (0-100; higher is easier, 65 and above is "fairly easy").

Formulas::

    Flesch-Kincaid grade = 0.39 * words / sentences + 11.8 * syllables / words - 15.59
    INFLESZ              = 206.835 - 62.3 * syllables / words - words / sentences

Counting rules. They are fixed, so that two versions of a letter, or two batches, compare:

* **Input.** Plain text, one block per line: a heading, a paragraph, a list item or a
  signature line each on its own line. The caller removes markup and leaves out what is not
  prose to be read: the cases table and postal addresses.
* **Words** are runs of letters of any script; an apostrophe between letters stays inside the
  word (``don't``, ``O'Brien``). A whitespace-separated chunk that holds a digit is a number
  or an identifier (docket number, phone number, date, notice ID) and has no words. Any other
  character splits words: ``tear-off`` is two words, an e-mail address is its letter runs.
  Text is NFC-normalised first, so accented letters typed as two code points count once.
* **Syllables** of a word are its hyphenation points in the language's pyphen dictionary
  (``en_US`` or ``es``) plus one. This undercounts some words slightly (pyphen leaves at
  least two letters at each end of a word), the same way for every version.
* **Sentences.** A sentence is a stretch of words that ends with ``.``, ``!``, ``?`` or
  ``…`` (a run of them, possibly followed by closing quotes or brackets) before a space or
  the end of the line, or with ``:`` at the end of a line (``Dear Ana Ruiz:``). A period
  after a single letter (initials, ``U.S.``, ``e.g.``) or after a common title abbreviation
  (``Mr.``, ``Dr.``, ``Sra.``, ...) does not end a sentence; neither does a period inside a
  chunk (``www.example.org``, ``3.5``). Words at the end of a line with no end mark
  (a heading, a list item, ``Sincerely,``) count as one more sentence. Marks with no word
  since the last sentence end do not count.

Pure functions; each pyphen dictionary is loaded once per process.
"""

from __future__ import annotations

import functools
import re
import unicodedata

#: pyphen dictionary used for each language of the letters.
PYPHEN_LANGUAGES = {"en": "en_US", "es": "es"}

#: Abbreviations (lower case, without the period) whose period does not end a sentence.
ABBREVIATIONS = frozenset({
    "mr", "mrs", "ms", "dr", "dra", "jr", "sr", "sra", "srta", "st", "ud", "uds", "vs",
})

_LETTERS = r"[^\W\d_]+"
_WORD = re.compile(rf"{_LETTERS}(?:['\u2019]{_LETTERS})*")
_DIGIT = re.compile(r"\d")
_CLOSERS = "\"'\u201d\u2019)\\]\u00bb"
# A run of end marks, then closing quotes/brackets, then a space or the end of the line.
_END = re.compile(rf"[.!?\u2026]+[{_CLOSERS}]*(?=\s|$)")
_COLON_AT_END = re.compile(rf":[{_CLOSERS}]*\s*$")
_LETTERS_AT_END = re.compile(rf"{_LETTERS}$")


@functools.lru_cache(maxsize=None)
def _dictionary(lang: str):
    try:
        name = PYPHEN_LANGUAGES[lang]
    except KeyError:
        raise ValueError(f"no syllable dictionary for language {lang!r}; "
                         f"known: {', '.join(sorted(PYPHEN_LANGUAGES))}") from None
    import pyphen  # only the readability checks need it

    return pyphen.Pyphen(lang=name)


def syllables(word: str, lang: str) -> int:
    """Syllables of one word in ``lang`` ("en" or "es"): pyphen hyphenation points + 1.

    pyphen finds no break in "lawyer", so it counts as one syllable (see the module's rules).

    >>> syllables("conviction", "en"), syllables("lawyer", "en")
    (3, 1)
    >>> syllables("tribunal", "es"), syllables("inmigración", "es")
    (3, 4)
    """
    return len(_dictionary(lang).positions(word.lower())) + 1


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


def _sentences_in_block(block: str) -> int:
    block = block.strip()
    ends = [m.end() for m in _END.finditer(block) if _ends_sentence(block, m)]
    colon = _COLON_AT_END.search(block)
    if colon:
        ends.append(colon.start() + 1)
    count, start = 0, 0
    for end in sorted(ends):
        if words(block[start:end]):
            count += 1
        start = end
    if words(block[start:]):
        count += 1  # a heading, list item or line that does not end with a mark
    return count


def sentences(text: str) -> int:
    """How many sentences ``text`` has (see the module's counting rules).

    >>> sentences("Your rights\\nDear Ana Ruiz:\\nCall us at 555-0142. Mr. Lee, a U.S. lawyer, can help!")
    4
    """
    return sum(_sentences_in_block(block) for block in text.splitlines())


def _counts(text: str, lang: str) -> tuple[int, int, int]:
    found = words(text)
    if not found:
        raise ValueError("the text has no words to measure")
    n_sentences = sentences(text)  # at least 1 when there are words
    n_syllables = sum(syllables(w, lang) for w in found)
    return len(found), n_sentences, n_syllables


def _grade(n_words: int, n_sentences: int, n_syllables: int) -> float:
    return 0.39 * n_words / n_sentences + 11.8 * n_syllables / n_words - 15.59


def _inflesz(n_words: int, n_sentences: int, n_syllables: int) -> float:
    return 206.835 - 62.3 * n_syllables / n_words - n_words / n_sentences


def flesch_kincaid_grade(text: str) -> float:
    """Flesch-Kincaid grade level of English ``text`` (lower is easier).

    Six one-syllable words in one sentence: 0.39 * 6 + 11.8 * 1 - 15.59 = -1.45.

    >>> round(flesch_kincaid_grade("The cat sat on the mat."), 2)
    -1.45
    """
    return _grade(*_counts(text, "en"))


def inflesz(text: str) -> float:
    """Szigriszt-Pazos perspicuity (INFLESZ scale) of Spanish ``text`` (higher is easier).

    Seven words, 13 syllables (us-ted tie-ne de-re-cho a un nue-vo jui-cio), one sentence:
    206.835 - 62.3 * 13 / 7 - 7 = 84.135.

    >>> round(inflesz("Usted tiene derecho a un nuevo juicio."), 3)
    84.135
    """
    return _inflesz(*_counts(text, "es"))


def measure(text: str, lang: str) -> dict:
    """Counts and the measure for ``lang``: ``grade`` (Flesch-Kincaid) for "en",
    ``inflesz`` for "es".

    >>> measure("You may ask for a lawyer. You do not have to answer.", "en")["sentences"]
    2
    >>> sorted(measure("Usted puede pedir un abogado.", "es"))
    ['inflesz', 'lang', 'sentences', 'syllables', 'words']
    """
    n_words, n_sentences, n_syllables = _counts(text, lang)
    result = {"lang": lang, "words": n_words, "sentences": n_sentences,
              "syllables": n_syllables}
    if lang == "es":
        result["inflesz"] = _inflesz(n_words, n_sentences, n_syllables)
    else:
        result["grade"] = _grade(n_words, n_sentences, n_syllables)
    return result
