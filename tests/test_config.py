"""letters.toml loading: defaults, validation, overrides."""

from __future__ import annotations

import pytest

from letters import config
from letters.errors import ConfigError
from tests.conftest import ROOT


def test_sample_workspace_config_loads():
    cfg = config.load(ROOT / "letters.toml")
    assert cfg.columns["defendant_id"] == "Def ID"
    assert cfg.letter.policy == "bilingual"
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
    with pytest.raises(ConfigError, match="default_language must be one of en, es"):
        config.with_overrides(cfg, intake={"default_language": "fr"})
