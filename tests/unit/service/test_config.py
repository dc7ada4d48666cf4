"""`basewatch serve`'s settings: defaults < [serve] in the config file < BASEWATCH_* < flags."""

from __future__ import annotations

from pathlib import Path

import pytest

from basewatch.errors import ConfigError, UsageError
from basewatch.service.config import ServeSettings, parse_duration, parse_listen

VULNDB = Path("/var/cache/bw/vuln.db")


def load(
    environ: dict[str, str] | None = None,
    config: Path | None = None,
    flags: dict[str, str | None] | None = None,
) -> ServeSettings:
    return ServeSettings.load(
        environ=environ or {"HOME": "/home/u"}, default_vulndb=VULNDB, config=config, flags=flags
    )


def test_defaults() -> None:
    s = load()
    assert (s.host, s.port, s.listen) == ("127.0.0.1", 8080, "127.0.0.1:8080")
    assert s.database == "sqlite+pysqlite:////home/u/.local/share/basewatch/service.db"
    assert s.vulndb == VULNDB
    assert (s.poll_interval, s.vulndb_check_interval) == (300.0, 60.0)
    assert s.allowed_registries == frozenset() and s.admin_token == ""


def test_each_source_overrides_the_one_before(tmp_path: Path) -> None:
    config = tmp_path / "serve.toml"
    config.write_text(
        '[serve]\nlisten = "0.0.0.0:9000"\npoll_interval = "2s"\n'
        'allowed_registries = ["127.0.0.1:5000", "ghcr.io"]\nvulndb_check_interval = "1m"\n'
    )
    s = load(config=config)
    assert (s.host, s.port, s.poll_interval, s.vulndb_check_interval) == (
        "0.0.0.0",
        9000,
        2.0,
        60.0,
    )
    assert s.allowed_registries == {"127.0.0.1:5000", "ghcr.io"}
    environ = {"HOME": "/h", "BASEWATCH_POLL_INTERVAL": "5m", "XDG_DATA_HOME": "/data"}
    s = load(environ, config=config)
    assert s.poll_interval == 300.0 and s.port == 9000
    assert s.database == "sqlite+pysqlite:////data/basewatch/service.db"
    s = load(environ, config=config, flags={"poll_interval": "250ms", "listen": "[::1]:8081"})
    assert (s.poll_interval, s.host, s.port, s.listen) == (0.25, "::1", 8081, "[::1]:8081")


def test_postgresql_urls_use_psycopg() -> None:
    s = load(flags={"database": "postgresql://bw@db.internal/basewatch"})
    assert s.database == "postgresql+psycopg://bw@db.internal/basewatch"


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        ({"listen": "8080"}, "--listen: '8080' is not HOST:PORT"),
        ({"listen": "h:99999"}, "is not HOST:PORT"),
        ({"poll_interval": "soon"}, "--poll-interval: 'soon' is not a duration"),
        ({"poll_interval": "0s"}, "must be longer than zero"),
        ({"database": "mysql://x/y"}, "--database: the database must be sqlite"),
    ],
)
def test_bad_flags_name_their_origin(flags: dict[str, str | None], message: str) -> None:
    with pytest.raises(ConfigError, match=message.replace("[", r"\[").replace("(", r"\(")):
        load(flags=flags)


def test_bad_config_files(tmp_path: Path) -> None:
    config = tmp_path / "serve.toml"
    config.write_text('[serve]\npoll = "1s"\n')
    with pytest.raises(ConfigError, match=r"unknown setting\(s\) poll"):
        load(config=config)
    config.write_text("[serve]\nlisten = 8080\n")
    with pytest.raises(ConfigError, match=r"listen in .* expected a non-empty string"):
        load(config=config)
    config.write_text('[serve]\nallowed_registries = "a:1,b"\n')
    assert load(config=config).allowed_registries == {"a:1", "b"}
    config.write_text('[serve]\nallowed_registries = "a:1,b"\ninsecure_registries = ["a:1", "c"]\n')
    with pytest.raises(ConfigError, match=r"insecure_registries in .*: c not in allowed"):
        load(config=config)
    config.write_text('[serve]\nallowed_registries = "a:1,b"\ninsecure_registries = ["a:1"]\n')
    options = load(config=config).registry_options()
    assert options.insecure_registries == {"a:1"}
    config.write_text("[serve\n")
    with pytest.raises(UsageError, match="not valid TOML"):
        load(config=config)


def test_the_admin_token_comes_from_the_environment_only() -> None:
    assert load({"BASEWATCH_ADMIN_TOKEN": "t" * 30}).admin_token == "t" * 30
    assert "t" * 30 not in repr(load({"BASEWATCH_ADMIN_TOKEN": "t" * 30}))


def test_durations_and_listen() -> None:
    assert parse_duration("1.5h", "x") == 5400.0
    assert parse_duration("10", "x") == 10.0
    assert parse_listen("localhost:1", "x") == ("localhost", 1)


def test_alternatives_are_tags_on_allowed_registries(tmp_path: Path) -> None:
    config = tmp_path / "serve.toml"
    config.write_text(
        '[serve]\nallowed_registries = ["127.0.0.1:5000"]\n'
        'alternatives = ["127.0.0.1:5000/debian:bookworm-slim", "127.0.0.1:5000/alpine"]\n'
    )
    assert load(config=config).alternatives == (
        "127.0.0.1:5000/debian:bookworm-slim",
        "127.0.0.1:5000/alpine:latest",
    )
    environ = {"HOME": "/h", "BASEWATCH_ALTERNATIVES": "127.0.0.1:5000/a:1, 127.0.0.1:5000/a:1"}
    assert load(environ, config=config).alternatives == ("127.0.0.1:5000/a:1",)
    for bad, message in (
        ('["ghcr.io/a:1"]', r"registry ghcr.io is not in allowed_registries"),
        ('["127.0.0.1:5000/a@sha256:' + "0" * 64 + '"]', r"name a tag"),
        ("3", r"expected a list of image references"),
        ('["UPPER/Case:1"]', r"UPPER/Case:1"),
    ):
        config.write_text(
            f'[serve]\nallowed_registries = ["127.0.0.1:5000"]\nalternatives = {bad}\n'
        )
        with pytest.raises(ConfigError, match=message):
            load(config=config)
    many = ", ".join(f'"127.0.0.1:5000/a:{n}"' for n in range(21))
    config.write_text(
        f'[serve]\nallowed_registries = ["127.0.0.1:5000"]\nalternatives = [{many}]\n'
    )
    with pytest.raises(ConfigError, match="at most 20"):
        load(config=config)


def test_the_policy_file_is_read_and_checked_when_the_settings_are(tmp_path: Path) -> None:
    assert [c.id for c in load().policies][:2] == ["no-fixable-severe", "no-kev"]  # built-ins
    assert load().policy is None
    policy = tmp_path / "policy.yaml"
    policy.write_text("policies:\n  - id: no-kev\n    action: warn\n")
    config = tmp_path / "serve.toml"
    config.write_text(f'[serve]\npolicy = "{policy}"\n')
    (only,) = load(config=config).policies
    assert (only.id, only.action.value, load(config=config).policy) == ("no-kev", "warn", policy)
    policy.write_text("policies:\n  - id: no-kev\n    action: block\n")
    with pytest.raises(ConfigError, match=rf"^policy in {config} \[serve\]: {policy}:3: "):
        load(config=config)
    with pytest.raises(ConfigError, match=r"^BASEWATCH_POLICY: .*no-such.yaml: no such policy"):
        load({"HOME": "/h", "BASEWATCH_POLICY": str(tmp_path / "no-such.yaml")})
    policy.write_text("policies:\n  - id: no-such-policy\n")
    with pytest.raises(ConfigError, match=r"unknown policy 'no-such-policy'"):
        load({"HOME": "/h", "BASEWATCH_POLICY": str(policy)})
