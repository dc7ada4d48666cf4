from __future__ import annotations

from pathlib import Path

import pytest

from basewatch.errors import ConfigError
from basewatch.lint.config import LintConfig, PinPolicy, load_config
from basewatch.models import Severity


def test_defaults_without_files(tmp_path: Path) -> None:
    assert load_config(directory=tmp_path) == LintConfig()


def test_basewatch_toml(tmp_path: Path) -> None:
    (tmp_path / ".basewatch.toml").write_text(
        "[lint]\n"
        'disable = ["BW105", "full-variant"]\n'
        'severity = { bw103 = "LOW" }\n'
        'trusted-registries = ["registry.example.test"]\n'
        'pin-digests = "all"\n'
        "eol-warning-days = 30\n"
    )
    config = load_config(directory=tmp_path)
    assert config.disabled == {"BW105", "full-variant"}
    assert config.severities == {"BW103": Severity.LOW}
    assert config.trusted_registries == ("registry.example.test",)
    assert config.pin_digests is PinPolicy.ALL
    assert config.eol_warning_days == 30


def test_pyproject(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text(
        '[project]\nname = "x"\n[tool.basewatch.lint]\npin-digests = "none"\n'
    )
    assert load_config(directory=tmp_path).pin_digests is PinPolicy.NONE
    (tmp_path / "pyproject.toml").write_text('[project]\nname = "x"\n')
    assert load_config(directory=tmp_path) == LintConfig()


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("[lint]\nfoo = 1\n", "unknown lint setting"),
        ("[lint]\nseverity = { BW101 = 'huge' }\n", "unknown severity"),
        ("[lint]\npin-digests = 'some'\n", "pin-digests"),
        ("[lint]\neol-warning-days = -1\n", "eol-warning-days"),
        ("[lint]\ndisable = 'BW101'\n", "disable"),
        ("[lint]\ntrusted-registries = [1]\n", "trusted-registries"),
        ("lint = 3\n", "must be a table"),
        ("[lint\n", "not valid TOML"),
    ],
)
def test_errors_name_the_key(tmp_path: Path, body: str, message: str) -> None:
    path = tmp_path / "c.toml"
    path.write_text(body)
    with pytest.raises(ConfigError, match=message):
        load_config(path)
