"""The letter HTML subset: parsing, whitespace, and errors with template and line."""

from __future__ import annotations

import pytest

from letters.compose import Run, TemplateError, check_template_source, parse


def test_blocks_and_inline_styles():
    blocks = parse("<h1>Title</h1>\n<p>Plain <b>bold <i>both</i></b> <u>under</u><br>next</p>"
                   "<hr><pagebreak><ul class='checkboxes'><li>☐ one</li></ul>")
    assert [b.kind for b in blocks] == ["h1", "p", "hr", "pagebreak", "list"]
    assert blocks[1].runs == [Run("Plain "), Run("bold ", bold=True),
                              Run("both", bold=True, italic=True), Run(" "),
                              Run("under", underline=True), Run("\n"), Run("next")]
    assert blocks[4].cls == "checkboxes" and blocks[4].items == [[Run("☐ one")]]


def test_whitespace_collapses_like_html():
    (p,) = parse("<p>\n   Dear   Ana\n   Ruiz:  </p>")
    assert p.runs == [Run("Dear Ana Ruiz:")]


def test_table_header_and_rows():
    (t,) = parse("<table class='cases'><thead><tr><th>Docket</th><th>Court</th></tr></thead>"
                 "<tbody><tr><td>X1</td><td>BMC</td></tr><tr><td>X2</td><td></td></tr></tbody>"
                 "</table>")
    assert t.header == [[[Run("Docket")], [Run("Court")]]]
    assert t.rows == [[[Run("X1")], [Run("BMC")]], [[Run("X2")], []]]


def test_entities_become_literal_text():
    (p,) = parse("<p>Smith &amp; Sons &lt;b&gt;Jr&lt;/b&gt; {{ 7*7 }}</p>")
    assert p.runs == [Run("Smith & Sons <b>Jr</b> {{ 7*7 }}")]


@pytest.mark.parametrize("html,message", [
    ("<p><img src='/etc/hostname'></p>", "tag <img> is not in the letter HTML subset"),
    ("<p><font size=40>x</font></p>", "tag <font> is not in the letter HTML subset"),
    ("<p style='color:red'>x</p>", 'attribute style="color:red" is not allowed on <p>'),
    ("<p class='huge'>x</p>", 'attribute class="huge" is not allowed on <p>'),
    ("<p><p>x</p></p>", "<p> inside another block"),
    ("stray text", "text outside a block: 'stray text'"),
    ("<p>open", "a block is not closed at the end of the template"),
    ("<li>x</li>", "<li> outside <ul> or <ol>"),
])
def test_outside_the_subset_is_an_error(html, message):
    with pytest.raises(TemplateError) as exc:
        parse(html, "en/notice.html")
    assert str(exc.value).startswith("en/notice.html: rendered line 1: " + message)


def test_unknown_tag_in_template_source_names_file_and_line(tmp_path):
    from jinja2 import Environment, FileSystemLoader

    (tmp_path / "t.html").write_text("<h1>ok</h1>\n{# <blink> in a comment is fine #}\n"
                                     "<p>{{ '<x>' }} fine</p>\n<p><marquee>no</marquee></p>\n",
                                     encoding="utf-8")
    env = Environment(loader=FileSystemLoader(str(tmp_path)))
    with pytest.raises(TemplateError) as exc:
        check_template_source(env, "t.html")
    assert str(exc.value).startswith(f"{tmp_path / 't.html'}:4: tag <marquee> is not in the "
                                     "letter HTML subset")
