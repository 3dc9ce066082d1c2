"""Notice IDs: stable, typable, and a check symbol that catches every single slip."""

from __future__ import annotations

from letters import notice


def sample_ids(n=300):
    return [notice.notice_id("batch-2026", f"D{i:07d}") for i in range(n)]


def test_stable_and_distinct_per_batch_and_defendant():
    assert notice.notice_id("b", "D1") == notice.notice_id("b", "D1")
    assert notice.notice_id("b", "D1") != notice.notice_id("c", "D1")
    assert notice.notice_id("b", "D1") != notice.notice_id("b", "D1", attempt=1)
    ids = sample_ids()
    assert len(set(ids)) == len(ids)


def test_shape_and_alphabet():
    for nid in sample_ids(50):
        assert len(nid) == 11 and nid[3] == nid[7] == "-"
        assert not set(nid.replace("-", "")) & set("01ILOUZ")
        assert notice.is_valid(nid) and notice.is_valid(nid.lower().replace("-", " "))


def test_every_single_substitution_is_caught():
    for nid in sample_ids():
        s = notice.compact(nid)
        for i in range(len(s)):
            for c in notice.ALPHABET:
                if c != s[i]:
                    assert not notice.is_valid(s[:i] + c + s[i + 1:]), (nid, i, c)


def test_every_adjacent_transposition_is_caught():
    for nid in sample_ids():
        s = notice.compact(nid)
        for i in range(len(s) - 1):
            if s[i] != s[i + 1]:
                assert not notice.is_valid(s[:i] + s[i + 1] + s[i] + s[i + 2:]), (nid, i)


def test_suggestions_one_edit_away_include_the_original():
    nid = notice.notice_id("b", "D42")
    s = notice.compact(nid)
    typo = s[:4] + ("2" if s[4] != "2" else "3") + s[5:]
    assert not notice.is_valid(typo)
    suggestions = notice.one_edit_away(typo)
    assert nid in suggestions
    assert all(notice.is_valid(x) for x in suggestions)
    swapped = s[:2] + s[3] + s[2] + s[4:]
    if swapped != s:
        assert nid in notice.one_edit_away(swapped)
