"""Synthetic case exports, deterministic for a seed. No row describes a real person.

The export looks like one from a case-management system: office-style headers (mapped in the
sample ``letters.toml``), several rows per person, Massachusetts courts and counties, names with
diacritics, about a third of people preferring Spanish under assorted spellings, a few people in
custody (a Department of Correction facility and a commitment number) and a few reached in care
of someone else, and, unless ``bad_rows=False``, a fixed set of deliberately damaged rows documented in ``examples/README.md``.

    python -m letters.sample 320 --seed 7 > examples/records.csv
"""

from __future__ import annotations

import csv
import io
import random
import sys
from typing import Iterator, TextIO

#: Headers as the sample office's system exports them; ``letters.toml`` maps them.
HEADERS = ("Def ID", "First Name", "Middle Name", "Last Name", "Suffix", "Street", "Apt",
           "City", "State", "ZIP", "Pref Lang", "Docket No.", "Court", "County", "Offense",
           "Disp Date", "Arresting Agency", "Disposition", "Lab", "Chemist", "Case Status",
           "Large Print", "Care Of", "Facility", "Inmate Number")

COURTS = (  # (court, county, two-digit court code used in docket numbers)
    ("Boston Municipal Court, Central Division", "Suffolk", "01"),
    ("Boston Municipal Court, Roxbury Division", "Suffolk", "02"),
    ("Boston Municipal Court, Dorchester Division", "Suffolk", "07"),
    ("Chelsea District Court", "Suffolk", "14"),
    ("Lawrence District Court", "Essex", "18"),
    ("Lynn District Court", "Essex", "13"),
    ("Salem District Court", "Essex", "36"),
    ("Lowell District Court", "Middlesex", "11"),
    ("Cambridge District Court", "Middlesex", "52"),
    ("Framingham District Court", "Middlesex", "49"),
    ("Brockton District Court", "Plymouth", "15"),
    ("Plymouth District Court", "Plymouth", "59"),
    ("Quincy District Court", "Norfolk", "56"),
    ("Dedham District Court", "Norfolk", "54"),
    ("New Bedford District Court", "Bristol", "33"),
    ("Fall River District Court", "Bristol", "32"),
    ("Springfield District Court", "Hampden", "23"),
    ("Holyoke District Court", "Hampden", "17"),
    ("Worcester District Court", "Worcester", "62"),
    ("Fitchburg District Court", "Worcester", "16"),
    ("Northampton District Court", "Hampshire", "45"),
    ("Greenfield District Court", "Franklin", "41"),
    ("Pittsfield District Court", "Berkshire", "27"),
    ("Barnstable District Court", "Barnstable", "72"),
    ("Suffolk Superior Court", "Suffolk", "84"),
    ("Essex Superior Court", "Essex", "77"),
    ("Hampden Superior Court", "Hampden", "79"),
)

CITIES = (
    ("Boston", "02118"), ("Dorchester", "02124"), ("Roxbury", "02119"), ("Chelsea", "02150"),
    ("Lawrence", "01841"), ("Lynn", "01902"), ("Lowell", "01852"), ("Cambridge", "02139"),
    ("Brockton", "02301"), ("Quincy", "02169"), ("New Bedford", "02740"), ("Fall River", "02720"),
    ("Springfield", "01109"), ("Holyoke", "01040"), ("Worcester", "01604"), ("Fitchburg", "01420"),
    ("Northampton", "01060"), ("Greenfield", "01301"), ("Pittsfield", "01201"), ("Hyannis", "02601"),
    ("Framingham", "01702"), ("Salem", "01970"), ("Revere", "02151"), ("Providence", "02903"),
)

STREETS = ("Main", "Washington", "Broadway", "Elm", "Maple", "Pleasant", "Union", "Centre",
           "Columbia", "Blue Hill", "Essex", "Common", "Water", "High", "School", "Walnut",
           "Chestnut", "Tremont", "Hancock", "Dudley", "Belmont", "Summer", "Pine", "Oak")
STREET_KINDS = ("St", "Ave", "Rd", "Street", "Avenue", "Way", "Pl", "Ter")

OFFENSES = (
    "Possession of a Class A substance",
    "Possession of a Class B substance",
    "Possession of a Class B substance with intent to distribute",
    "Distribution of a Class B substance",
    "Possession of a Class D substance with intent to distribute",
    "Distribution of a Class A substance",
    "Trafficking in cocaine, 14 to 28 grams",
    "Possession of a Class E substance",
    "Drug violation near a school or park",
    "Conspiracy to violate the drug laws",
)
AGENCIES = ("Boston Police", "State Police", "Lawrence Police", "Springfield Police",
            "Brockton Police", "Lowell Police", "Worcester Police", "New Bedford Police")

FIRST_PLAIN = ("James", "John", "Robert", "Michael", "William", "David", "Richard", "Joseph",
               "Thomas", "Charles", "Mary", "Patricia", "Jennifer", "Linda", "Elizabeth",
               "Barbara", "Susan", "Jessica", "Sarah", "Karen", "Kevin", "Brian", "Anthony",
               "Lisa", "Nancy", "Tyrone", "Keisha", "Jamal", "Aaliyah", "Sean", "Kathleen")
FIRST_HISPANIC = ("José", "María", "Jesús", "Andrés", "Inés", "Raúl", "Ramón", "Martín",
                  "Sofía", "Lucía", "Ángel", "Óscar", "Julián", "Rocío", "Joaquín", "Carlos",
                  "Luis", "Juan", "Ana", "Rosa", "Miguel", "Pedro", "Yesenia", "Héctor", "Noemí")
FIRST_OTHER = ("João", "Conceição", "Zoë", "Renée", "Chloé", "François", "Siobhán", "Seán",
               "Thảo", "Minh", "Đức", "Björn", "Łukasz", "Ngọc", "Anh")
LAST_PLAIN = ("Smith", "Johnson", "Williams", "Brown", "Jones", "Miller", "Davis", "Wilson",
              "Anderson", "Taylor", "Thomas", "Moore", "Jackson", "Martin", "Lee", "Thompson",
              "White", "Harris", "Clark", "Lewis", "Walker", "Hall", "Young", "King", "O'Brien",
              "Sullivan", "Kelly", "Walsh", "Doherty", "Murphy", "Nguyen", "Tran", "Pierre")
LAST_HISPANIC = ("Hernández", "Rodríguez", "González", "Martínez", "Pérez", "Sánchez",
                 "Ramírez", "Gómez", "Díaz", "Vázquez", "Peña", "Núñez", "Muñoz", "Ortiz",
                 "Rivera", "Torres", "Flores", "Cruz", "Reyes", "Morales", "Jiménez", "Báez",
                 "Santana", "Méndez", "Colón")
LAST_OTHER = ("Nguyễn", "Trần", "Lê", "Phạm", "Conceição", "Gonçalves", "Müller",
              "Ó Súilleabháin", "Kowalczyk", "Lefèvre", "Đặng")
MIDDLE = ("", "", "", "A.", "J.", "Lee", "Marie", "Luis", "del Carmen", "Ann", "R.")
SUFFIXES = ("", "", "", "", "", "", "", "", "Jr.", "Sr.", "III")
DISPOSITIONS = ("Pleaded guilty", "Pleaded guilty", "Convicted after trial",
                "Admitted to sufficient facts", "Continued without a finding")
#: The two state labs of the Massachusetts drug-lab cases, and their chemists (public record).
LABS = (("Hinton lab, Boston", "Annie Dookhan"), ("Amherst lab", "Sonja Farak"))
STATUSES = ("dismissed", "dismissed", "may_retry", "under_review", "")
#: Massachusetts Department of Correction facilities and their mailing addresses (public; check
#: the Department's current list before a real mailing). A person in custody gets the letter
#: there, with their commitment number.
FACILITIES = (
    ("Souza-Baranowski Correctional Center", "PO Box 8000", "Shirley", "01464"),
    ("MCI Norfolk", "PO Box 43", "Norfolk", "02056"),
    ("MCI Shirley", "PO Box 1218", "Shirley", "01464"),
    ("MCI Concord", "PO Box 9106", "Concord", "01742"),
    ("MCI Framingham", "PO Box 9007", "Framingham", "01701"),
    ("North Central Correctional Institution", "PO Box 466", "Gardner", "01440"),
    ("Old Colony Correctional Center", "1 Administration Rd", "Bridgewater", "02324"),
)
PT_SPELLINGS = ("pt", "Portuguese", "Português", "por", "PT-BR")
TAGLINE_SPELLINGS = {"vi": ("Vietnamese", "vie"), "ht": ("Haitian Creole", "Kreyol")}
ES_SPELLINGS = ("es", "Spanish", "SPANISH", "español", "spa", "ES", "Español")
EN_SPELLINGS = ("en", "English", "ENGLISH", "", "", "eng")


def _docket(rng: random.Random, code: str) -> str:
    return f"{rng.randint(3, 12):02d}{code}CR{rng.randint(1, 9999):06d}"


def _date(rng: random.Random) -> str:
    y, m, d = rng.randint(2003, 2012), rng.randint(1, 12), rng.randint(1, 28)
    return f"{m}/{d}/{y}" if rng.random() < 0.5 else f"{y}-{m:02d}-{d:02d}"


def person_rows(rng: random.Random, number: int) -> list[list[str]]:
    """All export rows for one synthetic person."""
    hispanic = rng.random() < 0.45
    if hispanic:
        first = rng.choice(FIRST_HISPANIC)
        last = rng.choice(LAST_HISPANIC)
        if rng.random() < 0.3:
            last = f"{last} {rng.choice(LAST_HISPANIC)}"
    elif rng.random() < 0.2:
        first, last = rng.choice(FIRST_OTHER), rng.choice(LAST_OTHER)
    else:
        first, last = rng.choice(FIRST_PLAIN), rng.choice(LAST_PLAIN)
    spanish = hispanic and rng.random() < 0.72
    language = rng.choice(ES_SPELLINGS if spanish else EN_SPELLINGS)
    city, zipcode = rng.choice(CITIES)
    state = "RI" if city == "Providence" else ("Massachusetts" if rng.random() < 0.05 else "MA")
    street = f"{rng.randint(1, 999)} {rng.choice(STREETS)} {rng.choice(STREET_KINDS)}"
    apt = rng.choice(("", "", "", f"Apt {rng.randint(1, 30)}", f"Unit {rng.randint(1, 9)}B",
                      "2nd Floor"))
    if rng.random() < 0.1:
        zipcode = f"{zipcode}{rng.randint(1000, 9999)}"  # bare ZIP+4, accepted
    # Columns added later draw from their own generator, so the people stay as they were.
    more = random.Random(f"letters-sample-{number}-{first}")
    if {first, last} & {"João", "Conceição", "Gonçalves"} and more.random() < 0.7:
        language = more.choice(PT_SPELLINGS)
    elif {first, last} & {"Thảo", "Minh", "Ngọc", "Nguyễn", "Trần"} and more.random() < 0.4:
        language = more.choice(TAGLINE_SPELLINGS["vi"])
    elif last == "Pierre" and more.random() < 0.5:
        language = more.choice(TAGLINE_SPELLINGS["ht"])
    large_print = "Y" if more.random() < 0.02 else ""
    person = [f"D{number:07d}", first, rng.choice(MIDDLE), last, rng.choice(SUFFIXES),
              street, apt, city, state, zipcode, language]
    # a few people in custody, and a few reached in care of someone else
    where = random.Random(f"letters-sample-address-{number}")
    care_of, custody = "", ["", ""]
    draw = where.random()
    if draw < 0.03:
        name, box, city, zipcode = where.choice(FACILITIES)
        person[5:10] = [box, "", city, "MA", zipcode]
        custody = [name, f"W{where.randint(10000, 99999)}"]
    elif draw < 0.06:
        care_of = f"{where.choice(FIRST_PLAIN + FIRST_HISPANIC)} {where.choice(LAST_PLAIN)}"
    n_cases = rng.choices((1, 2, 3, 4, 6), weights=(55, 25, 12, 6, 2))[0]
    rows = []
    for _ in range(n_cases):
        court, county, code = rng.choice(COURTS)
        lab, chemist = more.choice(LABS)
        status = more.choice(STATUSES)
        if lab == LABS[1][0]:
            status = "dismissed"  # the court ordered the Amherst cases dismissed (CPCS v. AG)
        rows.append(person + [_docket(rng, code), court, county, rng.choice(OFFENSES),
                              _date(rng), rng.choice(AGENCIES), more.choice(DISPOSITIONS),
                              lab, chemist, status, large_print, care_of, *custody])
    return rows


def bad_rows(start: int) -> list[list[str]]:
    """The deliberately damaged rows documented in examples/README.md, in that order."""
    base = ["", "Jordan", "", "Ellis", "", "40 Hancock St", "", "Quincy", "MA", "02169", "en",
            "", "Quincy District Court", "Norfolk", "Possession of a Class B substance",
            "2008-05-14", "State Police", "Pleaded guilty", "Hinton lab, Boston",
            "Annie Dookhan", "dismissed", "", "", "", ""]

    def row(n: int, docket: str, **changes) -> list[str]:
        r = list(base)
        r[0] = f"D{start + n:07d}"
        r[11] = docket
        for key, value in changes.items():
            r[HEADERS.index(key.replace("_", " "))] = value
        return r

    return [
        # 1. ZIP whose leading zero Excel stripped
        row(1, "0856CR000101", ZIP="2169"),
        # 2. a third configured language: a Portuguese + English letter
        row(2, "0856CR000102", **{"Pref_Lang": "Portuguese"}),
        # 3-4. one person at two different addresses
        row(3, "0856CR000103"),
        row(3, "0956CR000104", Street="12 Water St", City="Lynn", ZIP="01902"),
        # 5. surname missing
        row(5, "0856CR000105", **{"Last_Name": ""}),
        # 6. a state that does not exist
        row(6, "0856CR000106", State="XX"),
        # 7. a date no calendar has
        row(7, "0856CR000107", **{"Disp_Date": "31/31/2009"}),
        # 8-9. an exact duplicate row: merged, not rejected
        row(8, "0856CR000108"),
        row(8, "0856CR000108"),
        # 10. whitespace damage and an ampersand: cleaned and kept literally
        row(10, "0856CR000110", **{"First_Name": "  Ana   Lucía ", "Apt": "c/o Ramos & Vega"}),
        # 11. the surname NA, which must not become a missing value
        row(11, "0856CR000111", **{"First_Name": "Jin", "Last_Name": "NA"}),
        # 12. a language the office writes no letters in: English + Spanish with taglines
        row(12, "0856CR000112", **{"Pref_Lang": "Polski", "First_Name": "Łukasz",
                                   "Last_Name": "Kowalczyk"}),
    ]


def generate(people: int, seed: int = 1, *, with_bad_rows: bool = True) -> Iterator[list[str]]:
    """Yield the header, then export rows for ``people`` synthetic people."""
    rng = random.Random(seed)
    yield list(HEADERS)
    bad = bad_rows(people) if with_bad_rows and people >= 20 else []
    insert_at = {people * k // (len(bad) + 1): k - 1 for k in range(1, len(bad) + 1)}
    for n in range(1, people + 1):
        yield from person_rows(rng, n)
        if n in insert_at:
            yield bad[insert_at[n]]


def write(out: TextIO, people: int, seed: int = 1, *, with_bad_rows: bool = True) -> int:
    """Write a sample export as CSV to ``out``; return the number of data rows."""
    writer = csv.writer(out, lineterminator="\n")
    count = -1
    for row in generate(people, seed, with_bad_rows=with_bad_rows):
        writer.writerow(row)
        count += 1
    return count


def main(argv: list[str] | None = None) -> None:
    import argparse

    parser = argparse.ArgumentParser(prog="python -m letters.sample", description=__doc__.split("\n")[0])
    parser.add_argument("people", type=int)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--clean", action="store_true", help="leave out the damaged rows")
    args = parser.parse_args(argv)
    out = io.TextIOWrapper(sys.stdout.buffer, encoding="utf-8", newline="")
    write(out, args.people, args.seed, with_bad_rows=not args.clean)
    out.flush()


if __name__ == "__main__":
    main()
