"""The parse cache: letters composed with it are the letters composed without it, errors too."""

from __future__ import annotations

import dataclasses
import datetime as dt

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from letters import compose, config
from letters.compose import Block, Composer, Run, TemplateError, parse, parse_whole
from letters.records import read_for
from tests.conftest import ROOT

ISSUE = dt.date(2026, 12, 1)


@pytest.fixture(scope="module")
def sample():
    cfg = config.load(ROOT / "letters.toml")
    return cfg, read_for(cfg, ROOT / "examples" / "records.csv").recipients


@pytest.fixture
def cache(monkeypatch):
    """The cache on and empty; emptied again after the test."""
    monkeypatch.setattr(compose, "PARSE_CACHE", True)
    compose.clear_caches()
    yield compose._parse_piece
    compose.clear_caches()


def composed(cfg, people) -> list[str]:
    """Each person's letter document (versions, blocks, form, cross-references, taglines,
    and the rest), as text to compare."""
    composer = Composer(cfg)
    return [repr(composer.compose(r, notice_id=f"N{r.defendant_id}", issue_date=ISSUE))
            for r in people]


def test_sample_letters_are_the_same_cold_warm_and_without_the_cache(sample, cache,
                                                                      monkeypatch):
    cfg, people = sample
    assert len(people) > 100
    monkeypatch.setattr(compose, "PARSE_CACHE", False)
    reference = composed(cfg, people)
    assert cache.cache_info().currsize == 0  # nothing went through the cache
    monkeypatch.setattr(compose, "PARSE_CACHE", True)
    cold = composed(cfg, people)
    after_cold = cache.cache_info()
    warm = composed(cfg, people)
    after_warm = cache.cache_info()
    # the cache did the work: most pieces of the warm pass were found (the sample has more
    # distinct pieces than the cache keeps, so some were evicted and parsed again)
    assert after_cold.misses > 0 and after_cold.hits > 5 * after_cold.misses
    assert after_warm.hits - after_cold.hits > 5 * (after_warm.misses - after_cold.misses)
    for i, (ref, c, w) in enumerate(zip(reference, cold, warm)):
        assert c == ref, f"cold cache: {people[i].defendant_id}"
        assert w == ref, f"warm cache: {people[i].defendant_id}"
    assert len(cold) == len(warm) == len(reference) == len(people)


def test_sample_html_is_parsed_from_pieces(sample, cache):
    """The sample's HTML takes the cached path (not the whole-HTML fallback)."""
    cfg, people = sample
    composer = Composer(cfg)
    for r in people[:20]:
        for lang in composer.languages(r):
            html = composer.html(r, lang, notice_id="N1", issue_date=ISSUE)
            pieces = compose._parse_pieces(html)
            assert pieces is not None
            assert pieces == parse_whole(html)


def test_blocks_from_the_cache_are_not_shared(cache):
    html = ("<p class='field'><b>Name:</b> Ana</p><ul><li>a</li></ul>"
            "<table class='cases'><thead><tr><th>H</th></tr></thead>"
            "<tbody><tr><td>x</td></tr></tbody></table>")
    first = parse(html)
    p, lst, table = first
    p.alt = "Nombre:"
    p.runs.append(Run("changed"))
    lst.items[0].append(Run("changed"))
    lst.alt_items.append("changed")
    table.header[0][0].append(Run("changed"))
    table.rows[0].append([Run("changed")])
    table.rows.append([])
    assert cache.cache_info().hits == 0
    again = parse(html)
    assert cache.cache_info().hits > 0
    assert again == parse_whole(html) != first


def test_copy_block_copies_every_field():
    # a field added to Block must be copied by _copy_block (and this test updated)
    assert [f.name for f in dataclasses.fields(Block)] == [
        "kind", "runs", "cls", "ordered", "items", "header", "rows", "alt", "alt_items"]
    b = Block("table", [Run("r")], "cases", True, [[Run("i")]], [[[Run("h")]]], [[[Run("c")]]],
              "alt", ["x"])
    c = compose._copy_block(b)
    assert c == b and c is not b
    assert c.runs is not b.runs and c.items[0] is not b.items[0]
    assert c.header[0] is not b.header[0] and c.header[0][0] is not b.header[0][0]
    assert c.rows[0] is not b.rows[0] and c.rows[0][0] is not b.rows[0][0]
    assert c.alt_items is not b.alt_items


def outcome(fn, html, template="en/notice.html"):
    try:
        return fn(html, template)
    except TemplateError as exc:
        return ("error", str(exc), exc.hint)
    except Exception as exc:  # noqa: BLE001 - whatever the parser raises, the same
        return ("exception", type(exc), str(exc))


GOOD = ("<h1>Notice</h1>\n\n<p class=\"box\"><b>Read this.</b></p>\n"
        "<p class=\"greeting\">Dear Ana:</p>\n<ul>\n<li>one</li>\n<li>two</li>\n</ul>\n"
        "<table class=\"cases\">\n<thead><tr><th>Case</th></tr></thead>\n"
        "<tbody><tr><td>X1<br>Court</td></tr></tbody>\n</table>\n<hr>\n<pagebreak>\n"
        "<p>Last.</p>\n")

BAD = [
    # an error in a later block: its line is the line in the whole HTML
    GOOD + "<p><img src='x'></p>\n",
    GOOD + "<p style='color:red'>x</p>",
    GOOD + "<p class='huge'>x</p>",
    GOOD + "<p><p>x</p></p>",
    GOOD + "stray text",
    GOOD + "<p>open",
    GOOD + "<li>x</li>",
    GOOD + "</ul>",
    GOOD + "<td>x</td>",
    GOOD + "<p>a</b></p>",
    GOOD.replace("<p>Last.</p>", "<p>Last.</h1>"),
    GOOD.replace("<hr>", "<hr class='x'>"),
    GOOD.replace("<li>two</li>", "<li>two<p>x</p></li>"),
    GOOD.replace("Dear Ana:", "Dear <font>Ana</font>:"),
    # state that crosses a block boundary: accepted today, with what it carries over
    "<p><b>bold</p>\n<p>still bold</p>",
    "<p><i>x</p><p>y</i></p>",
    "<ul><li>a</ul><p>b</p>",
    "<ul><li>a</ul>text after",
    "<table class='cases'><tr><td>x</table><td>y</td>",
    "<table class='cases'><thead><tr><th>h</th></tr></table>"
    "<table class='cases'><tr><td>x</td></tr></table>",
    "<table class='cases'><tbody><tr><td>x</td></tr></table><p>y</p>",
    "<ul><li>a<ul><li>b</li></ul></li></ul><p>c</p>",
    "<ol><li>a</li></ol></ol>",
    # not simple HTML: parsed whole
    "<p>a</p><!-- </p><p>hidden</p> --><p>b</p>",
    "<p>a</p><!DOCTYPE html><p>b</p>",
    "<p class=box>a</p><p>b</p>",
    "<p class=\"a>b\">x</p>",
    "<P>upper</P><p>x</p>",
    "<p>a < b</p><p>c</p>",
    "<p>a &amp; b &lt;c&gt; &#233;&eacute</p><p>x&amp</p>",
    "<p>x</p><script>alert(1)</script>",
    "<p>x</p><style>p{}</style>",
    "<p>x</p></p>",
    "<br><p>x</p>",
    "<p/><p>x</p>",
    "<p>x<br/>y</p><hr/><pagebreak/>",
    "<h1>a</h1 ><h2>b</h2>",
    "",
    "   \n",
    "\n<p>a</p>\n\n",
    "<p>a</p>trailing",
    "<p>a</p>&amp;",
    "<p>a</p><",
    "<p>a</p><p",
    "<p>a</p></",
]


@pytest.mark.parametrize("html", BAD)
def test_odd_or_broken_html_gives_what_the_whole_parse_gives(html, cache):
    expected = outcome(parse_whole, html)
    assert outcome(parse, html) == expected  # cold
    assert outcome(parse, html) == expected  # warm
    assert outcome(parse, GOOD) == outcome(parse_whole, GOOD)
    assert outcome(parse, html) == expected  # after the good pieces were cached


def test_an_error_in_a_block_has_the_same_message_as_before(cache):
    html = GOOD + "\n<p>ok</p>\n<p>text <img src='/etc/passwd'> more</p>\n<p>after</p>\n"
    parse(GOOD)  # the pieces before the error come from the cache
    with pytest.raises(TemplateError) as exc:
        parse(html, "es/notice.html")
    line = html[:html.index("<img")].count("\n") + 1
    assert line == 18  # the line in the whole HTML, not in its piece
    assert str(exc.value) == (f"es/notice.html: rendered line {line}: tag <img> is not in the "
                              "letter HTML subset")
    assert outcome(parse_whole, html, "es/notice.html") == outcome(parse, html, "es/notice.html")


def test_a_letter_with_a_bad_value_is_refused_as_before(sample, cache, monkeypatch):
    """A composed letter whose HTML breaks the subset fails with the same error either way."""
    cfg, people = sample
    composer = Composer(cfg)
    r = people[0]
    html = composer.html(r, "en", notice_id="N1", issue_date=ISSUE)
    broken = html.replace("</h2>", "</h2>\n<blink>x</blink>", 2)
    errors = []
    for on in (False, True, True):
        monkeypatch.setattr(compose, "PARSE_CACHE", on)
        parse(html, "en/notice.html")
        errors.append(outcome(parse, broken))
    assert errors[0][0] == "error"
    assert "tag <blink> is not in the letter HTML subset" in errors[0][1]
    assert errors[0] == errors[1] == errors[2]


_TOKENS = st.sampled_from([
    "<p>", "</p>", "<p class=\"box\">", "<p class='field'>", "<p class=\"huge\">", "<h1>",
    "</h1>", "<h2>", "</h2>", "<ul>", "</ul>", "<ul class=\"checkboxes\">", "<ol>", "</ol>",
    "<li>", "</li>", "<table class=\"cases\">", "<table>", "</table>", "<thead>", "</thead>",
    "<tbody>", "</tbody>", "<tr>", "</tr>", "<td>", "</td>", "<th>", "</th>", "<hr>", "<hr/>",
    "<pagebreak>", "<b>", "</b>", "<i>", "</i>", "<em>", "</em>", "<u>", "</u>", "<strong>",
    "</strong>", "<br>", "<br/>", "<img>", "</font>", "<!-- c -->", "<!--", "-->", "<", ">",
    "&amp;", "&lt;p&gt;", "&", " ", "  ", "\n", "\t", "text", "Ana", "\u00e9", "'", "\"",
])


@settings(max_examples=400, deadline=None)
@given(st.lists(_TOKENS, max_size=40))
def test_any_token_soup_gives_what_the_whole_parse_gives(tokens):
    html = "".join(tokens)
    saved = compose.PARSE_CACHE
    compose.PARSE_CACHE = True
    try:
        expected = outcome(parse_whole, html)
        assert outcome(parse, html) == expected
        assert outcome(parse, html) == expected
    finally:
        compose.PARSE_CACHE = saved


class _Recorder(compose.HTMLParser):
    """Every call a parser makes to its handlers, in order."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.calls = []

    def handle_starttag(self, tag, attrs):
        self.calls.append(("start", tag, attrs))

    def handle_startendtag(self, tag, attrs):
        self.calls.append(("startend", tag, attrs))

    def handle_endtag(self, tag):
        self.calls.append(("end", tag))

    def handle_data(self, data):
        self.calls.append(("data", data))


_TEXT = st.lists(st.sampled_from(list("ab é\n\t>'\"=;#&") + [
    "&amp;", "&lt;", "&gt;", "&eacute;", "&eacute", "&#233;", "&#xE9;", "&bogus;", "&#;"]),
    max_size=12).map("".join)
_VALUE = st.lists(st.sampled_from(list("ab x=/") + ["&amp;", "&#233;", "&lt"]),
                  max_size=6).map("".join)
_TAG = st.builds(
    lambda name, attrs, space, kind: (
        f"</{name}{space}>" if kind == "end" else
        "<" + name + "".join(f'{sep}{a}={q}{v}{q}' for sep, a, q, v in attrs) + space
        + ("/>" if kind == "startend" else ">")),
    st.sampled_from(["p", "b", "br", "h1", "td", "table", "li", "x1"]),
    st.lists(st.tuples(st.sampled_from([" ", "\n", "  "]), st.sampled_from(["class", "id"]),
                       st.sampled_from(['"', "'"]), _VALUE), max_size=2),
    st.sampled_from(["", " ", "\n"]),
    st.sampled_from(["start", "end", "startend"]))


@settings(max_examples=400, deadline=None)
@given(st.lists(st.one_of(_TEXT, _TAG), max_size=8).map("".join))
def test_simple_html_gives_the_calls_the_html_parser_gives(html):
    """The parse cache reads simple HTML with its own small tokenizer: for any simple HTML
    (text, entities, attributes, self-closing tags, spaces inside tags) it makes the handler
    calls Python's HTML parser makes, in the same order with the same values."""
    if compose._SIMPLE_HTML.fullmatch(html) is None:
        html = html.replace("<", "")  # a tag end like '</x >' with attributes: not simple
    assert compose._SIMPLE_HTML.fullmatch(html) is not None
    reference = _Recorder()
    reference.feed(html)
    compose.HTMLParser.close(reference)
    fast = _Recorder()
    compose._feed_simple(fast, html)
    assert fast.calls == reference.calls
