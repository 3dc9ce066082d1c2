"""letters.toml loading: defaults, validation, overrides."""

from __future__ import annotations

import pytest

from letters import config
from letters.errors import ConfigError
from tests.conftest import ROOT


def test_sample_workspace_config_loads():
    cfg = config.load(ROOT / "letters.toml")
    assert cfg.columns["defendant_id"] == "Def ID"
    assert cfg.letter.policy == "preferred+english"
    assert cfg.registry.letter_codes == ["en", "es", "pt"]
    assert cfg.letter.fallback == ["en", "es"]
    assert cfg.output_dir == ROOT / "output"


def test_defaults_without_a_file(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    cfg = config.load()
    assert cfg.source is None and cfg.intake.encoding == "utf-8"


def test_invalid_toml_names_the_file(tmp_path):
    path = tmp_path / "letters.toml"
    path.write_text("[intake\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="not valid TOML"):
        config.load(path)


def test_two_columns_cannot_share_a_header():
    with pytest.raises(ConfigError, match="city and county both name the header 'Town'"):
        config.from_dict({"columns": {"city": "Town", "county": "Town"}})


def test_overrides_are_validated():
    cfg = config.from_dict({})
    assert config.with_overrides(cfg, intake={"encoding": "cp1252"}).intake.encoding == "cp1252"
    assert cfg.intake.encoding == "utf-8"
    with pytest.raises(ConfigError, match="default_language must be one of en$"):
        config.with_overrides(cfg, intake={"default_language": "fr"})


def test_language_declarations_are_validated_together():
    with pytest.raises(ConfigError) as err:
        config.from_dict({
            "languages": {"es": {"locale": "xx_YY"}, "zh": {"letter": False},
                          "pt": {"aliases": ["Spanish"], "readability": "fog"},
                          "fr": {"aliases": ["spanish"]}},
            "letter": {"policy": "bilingual", "fallback": ["de"], "taglines": ["zh", "ko"]}})
    text = str(err.value)
    assert "[languages.es] locale 'xx_YY' is not a locale Babel knows" in text
    assert "[languages.zh] the font DejaVuSans cannot draw its name (U+4E2D 中" in text
    assert "[languages.pt] readability must be one of flesch-kincaid, inflesz, flesch-pt" in text
    assert "alias 'spanish' is also an alias of [languages.pt]" in text
    assert "[letter] policy must be one of preferred, preferred+english, all" in text
    assert "[letter] fallback 'de' is not a letter language" in text
    assert "[letter] taglines 'ko' has no [languages.ko] table" in text


def test_a_tagline_the_font_cannot_draw_is_a_configuration_error(tmp_path):
    po = tmp_path / "locale" / "zh" / "LC_MESSAGES" / "taglines.po"
    po.parent.mkdir(parents=True)
    po.write_text('msgid ""\nmsgstr ""\n"Content-Type: text/plain; charset=UTF-8\\n"\n\n'
                  'msgid "This letter is important."\nmsgstr "这封信很重要。"\n',
                  encoding="utf-8")
    with pytest.raises(ConfigError, match=r"\[languages.zh\] the font DejaVuSans cannot draw "
                                          r"its tagline \(U\+8FD9 这"):
        config.from_dict({"languages": {"zh": {"letter": False, "name": "Chinese"}},
                          "letter": {"taglines": ["zh"]}}, root=tmp_path)
