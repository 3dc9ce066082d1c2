"""The Babel/Jinja seam: lookup order, strict undefined, caching, catalogs from .po files."""

from __future__ import annotations

import datetime as dt
import shutil

import pytest
from click.testing import CliRunner

from letters import config, i18n
from letters.cli import cli
from letters.compose import Composer, TemplateError
from tests.conftest import ROOT, row, write_records
from tests.test_pdf import person


@pytest.fixture
def workspace(tmp_path):
    """A copy of the sample workspace's templates and locale, to edit freely."""
    shutil.copytree(ROOT / "templates", tmp_path / "templates")
    shutil.copytree(ROOT / "locale", tmp_path / "locale")
    shutil.copy(ROOT / "letters.toml", tmp_path / "letters.toml")
    i18n.clear_caches()
    yield tmp_path
    i18n.clear_caches()


def compose(ws, recipient=None, **kw):
    cfg = config.load(ws / "letters.toml")
    return Composer(cfg).compose(recipient or person(), notice_id="N-1",
                                 issue_date=dt.date(2026, 12, 1), **kw)


def test_language_folder_overrides_the_english_template(workspace):
    (workspace / "templates" / "es").mkdir(exist_ok=True)
    (workspace / "templates" / "es" / "notice.html").write_text(
        "<h1>Versión propia</h1><p>{{ recipient.full_name }}</p>", encoding="utf-8")
    doc = compose(workspace)
    es, en = doc.versions
    assert es.lang == "es" and es.blocks[0].text() == "Versión propia"
    assert en.lang == "en" and en.blocks[0].text() != "Versión propia"


def test_missing_field_names_template_line_and_recipient(workspace):
    path = workspace / "templates" / "en" / "notice.html"
    path.write_text("<h1>Hi</h1>\n<p>{{ recipient.extra.shoe_size }}</p>\n", encoding="utf-8")
    with pytest.raises(TemplateError) as exc:
        compose(workspace, languages=["en"])
    assert str(exc.value).startswith(f"{path}:2: 'dict object' has no attribute 'shoe_size' "
                                     "(recipient D9)")


def test_unknown_tag_in_template_names_file_and_line(workspace):
    path = workspace / "templates" / "en" / "notice.html"
    path.write_text("<h1>Hi</h1>\n<p>ok</p>\n<p><blink>no</blink></p>\n", encoding="utf-8")
    with pytest.raises(TemplateError, match=rf"^{path}:3: tag <blink> is not in the letter HTML"):
        compose(workspace, languages=["en"])


def test_sandbox_refuses_unsafe_template_code(workspace):
    path = workspace / "templates" / "en" / "notice.html"
    path.write_text("<p>{{ recipient.__class__.__mro__ }}</p>\n", encoding="utf-8")
    with pytest.raises(TemplateError):
        compose(workspace, languages=["en"])


def test_catalog_is_read_from_the_po_file_not_a_compiled_mo(workspace):
    assert not list((workspace / "locale").rglob("*.mo"))
    t = i18n.load_translations(workspace / "locale", "es")
    assert t.ugettext("Page %(page)s of %(pages)s") == "Página %(page)s de %(pages)s"


def test_templates_compiled_and_fonts_registered_once_per_process(workspace, monkeypatch):
    from jinja2.sandbox import SandboxedEnvironment
    from reportlab.pdfbase import ttfonts

    from letters import pdf

    compiles = []
    original = SandboxedEnvironment._parse
    monkeypatch.setattr(SandboxedEnvironment, "_parse",
                        lambda self, *a, **k: compiles.append(a[1]) or original(self, *a, **k))
    fonts = []
    original_font = ttfonts.TTFont.__init__
    monkeypatch.setattr(ttfonts.TTFont, "__init__",
                        lambda self, *a, **k: fonts.append(a[0]) or original_font(self, *a, **k))
    cfg = config.load(workspace / "letters.toml")
    composer = Composer(cfg)

    def letters(n):
        for i in range(n):
            doc = composer.compose(person(defendant_id=f"D{i}", language=("es", "en")[i % 2]),
                                   notice_id=f"N-{i}", issue_date=dt.date(2026, 12, 1))
            pdf.render(doc)

    letters(2)  # the first letters of a process compile what they use
    assert {"notice.html", "form.html", "crossref.html", "tagline.html"} == set(compiles)
    assert compiles.count("notice.html") == 2  # once per language (es, en)
    assert len(fonts) in (0, 4)  # 0 when an earlier test in this process registered them
    compiles.clear()
    fonts.clear()
    letters(6)
    assert compiles == [] and fonts == []


def test_preview_command_writes_watermarked_proofs_with_safe_names(workspace, monkeypatch):
    monkeypatch.chdir(workspace)
    from tests.pdftools import page_texts

    path = write_records(workspace / "r.csv", [row(defendant_id="../../etc/passwd"),
                                               row(defendant_id="D2", language="en")])
    result = CliRunner().invoke(cli, ["preview", str(path), "--date", "2026-12-01"],
                                catch_exceptions=False)
    assert result.exit_code == 0, result.output
    written = result.output.split()
    preview = workspace / "output" / "preview"
    assert written == [str(preview / "PROOF-etc-passwd-3754d6cb-es-en.pdf"),
                       str(preview / "PROOF-D2-en.pdf")]
    pages = page_texts((preview / "PROOF-etc-passwd-3754d6cb-es-en.pdf").read_bytes(), raw=True)
    # rotated text comes back letter-spaced; a draft mark, not "proof" (legal evidence)
    assert all("DRAFT–DONOTMAIL" in p.replace(" ", "") for p in pages if "Page " in p)
    assert all("BORRADOR–NOENVIAR" in p.replace(" ", "") for p in pages if "Página" in p)
    assert any("Page " in p for p in pages) and any("Página" in p for p in pages)
    one = CliRunner().invoke(cli, ["preview", str(path), "--id", "D2", "--lang", "es",
                                   "--lang", "en", "--date", "2026-12-01"],
                             catch_exceptions=False)
    assert one.output.split() == [str(preview / "PROOF-D2-es-en.pdf")]
    missing = CliRunner().invoke(cli, ["preview", str(path), "--id", "nobody"])
    assert missing.exit_code == 1
    assert missing.output == "Error: defendant nobody: not in the records\n"


def test_translated_messages_are_filled_in_once_per_values_and_escaped_by_type(tmp_path):
    """A message filled in with the same values is translated once per environment, and a
    value's type is part of what is the same: text is escaped, Markup goes in as it is."""
    from markupsafe import Markup

    (tmp_path / "templates" / "en").mkdir(parents=True)
    (tmp_path / "templates" / "en" / "t.html").write_text(
        '<p>{{ _("Dear %(name)s,", name=name) }} '
        '{{ ngettext("%(num)s case", "%(num)s cases", n) }}</p>', encoding="utf-8")
    (tmp_path / "locale").mkdir()
    env = i18n.environment(tmp_path / "templates", tmp_path / "locale", "en")
    template = env.get_template("t.html")
    plain = template.render(name="Tom & <Jerry>", n=2)
    assert plain == "<p>Dear Tom &amp; &lt;Jerry&gt;, 2 cases</p>"
    assert template.render(name=Markup("<b>Tom</b>"), n=1) == "<p>Dear <b>Tom</b>, 1 case</p>"
    assert template.render(name="Tom & <Jerry>", n=2) == plain
    assert template.render(name=Markup("Tom & <Jerry>"), n=True) == \
        "<p>Dear Tom & <Jerry>, True case</p>"  # equal to the text above, not the same


def test_translations_called_directly_render_as_through_the_sandbox(tmp_path):
    """The environment calls its own translation functions without the sandbox's checks: in
    loops, blocks, macros, with and without values and autoescaping, the output is what Jinja's
    sandbox gives calling the same functions, and anything else is still checked."""
    from jinja2.sandbox import SecurityError

    (tmp_path / "templates" / "en").mkdir(parents=True)
    (tmp_path / "templates" / "en" / "base.html").write_text(
        "{% block body %}{% endblock %}", encoding="utf-8")
    (tmp_path / "templates" / "en" / "t.html").write_text(
        '{% extends "base.html" %}{% macro m(x) %}{{ _("Case %(x)s", x=x) }}{% endmacro %}'
        "{% block body %}{% for c in cases %}{% set k = loop.index %}"
        "{% trans c=c, k=k %}Row {{ k }}: {{ c }}{% endtrans %} {{ m(c) }} "
        '{{ ngettext("%(num)s day", "%(num)s days", k) }} {{ pgettext("x", "May") }} '
        "{% autoescape false %}{{ _('a & b') }}{% endautoescape %}{% endfor %}"
        "{% endblock %}", encoding="utf-8")
    (tmp_path / "locale").mkdir()
    env = i18n.environment(tmp_path / "templates", tmp_path / "locale", "en")
    template = env.get_template("t.html")
    cases = ["<A>", "B & C", "<A>"]
    direct = template.render(cases=cases)
    assert direct.count("Row 3: &lt;A&gt;") == 1 and "a & b" in direct

    direct_calls = dict(env.direct)
    env.direct.clear()  # every call through the sandbox, as Jinja makes them
    try:
        assert env.get_template("t.html").render(cases=cases) == direct
    finally:
        env.direct.update(direct_calls)
    (tmp_path / "templates" / "en" / "bad.html").write_text(
        "{{ cases.__class__.__mro__ }}{{ cases.pop.__self__.clear() }}", encoding="utf-8")
    with pytest.raises(SecurityError):
        env.get_template("bad.html").render(cases=cases)


def test_a_tagline_is_made_once_unless_it_prints_something_about_the_person(workspace):
    """A tagline that prints only the office's hotline is the same on every letter: it is
    rendered once per language per composer. One whose template reads the person is
    rendered for each letter, and says what it says about each."""

    def taglines_of(names):
        composer = Composer(config.load(workspace / "letters.toml"))
        renders = []
        original = composer._render
        composer._render = lambda lang, name, *a, **k: (
            renders.append(lang) if name == i18n.TAGLINE_TEMPLATE else None) or \
            original(lang, name, *a, **k)
        docs = [composer.compose(person(defendant_id=f"D{i}", first_name=name),
                                 notice_id=f"N-{i}", issue_date=dt.date(2026, 12, 1))
                for i, name in enumerate(names)]
        return [[t.text for t in doc.taglines] for doc in docs], renders

    texts, renders = taglines_of(["Ana", "Rosa", "Inés"])
    assert len(texts[0]) >= 5 and texts[0] == texts[1] == texts[2]
    assert sorted(renders) == sorted(set(renders)) and len(renders) == len(texts[0])

    template = workspace / "templates" / "en" / "tagline.html"
    template.write_text(template.read_text(encoding="utf-8").replace(
        "</p>", " {{ recipient.first_name }}</p>"), encoding="utf-8")
    i18n.clear_caches()  # templates are compiled once per process
    texts, renders = taglines_of(["Ana", "Rosa"])
    assert all(t.endswith(" Ana") for t in texts[0]) and all(t.endswith(" Rosa") for t in texts[1])
    assert len(renders) == 2 * len(texts[0])


@pytest.mark.parametrize("tag", ['{% include "tagline-name.html" %}',
                                 '{% import "tagline-name.html" as m with context %}{{ m.who() }}'])
def test_a_tagline_that_uses_another_template_is_made_for_each_letter(workspace, tag):
    """What another template reads is not seen in the tagline's own: a tagline that includes
    or imports one is rendered for each letter, so it says what it says about each person."""
    (workspace / "templates" / "en" / "tagline-name.html").write_text(
        "{% macro who() %}{{ recipient.first_name }}{% endmacro %}"
        if "import" in tag else "{{ recipient.first_name }}", encoding="utf-8")
    template = workspace / "templates" / "en" / "tagline.html"
    template.write_text(template.read_text(encoding="utf-8").replace("</p>", f" {tag}</p>"),
                        encoding="utf-8")
    composer = Composer(config.load(workspace / "letters.toml"))
    texts = [[t.text for t in composer.compose(person(defendant_id=f"D{i}", first_name=name),
                                                notice_id=f"N-{i}",
                                                issue_date=dt.date(2026, 12, 1)).taglines]
             for i, name in enumerate(["Ana", "Rosa"])]
    assert texts[0] and all(t.endswith(" Ana") for t in texts[0])
    assert all(t.endswith(" Rosa") for t in texts[1])


def test_a_tagline_template_that_is_not_utf8_is_a_template_error(workspace):
    template = workspace / "templates" / "en" / "tagline.html"
    template.write_bytes(template.read_bytes().replace(b"important", b"importante \xe9"))
    with pytest.raises(TemplateError):
        compose(workspace)
