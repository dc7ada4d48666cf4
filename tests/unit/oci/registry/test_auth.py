from __future__ import annotations

import base64
import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from basewatch.clock import FixedClock
from basewatch.errors import RegistryError
from basewatch.oci.registry.auth import (
    ChainedCredentials,
    Challenge,
    Credentials,
    DockerConfigCredentials,
    StaticCredentials,
    TokenCache,
    credentials_from_authorization,
    normalize_registry_key,
    parse_challenges,
    token_lifetime,
)


def test_parses_bearer_challenge() -> None:
    header = (
        'Bearer realm="https://auth.docker.io/token",service="registry.docker.io",'
        'scope="repository:library/debian:pull"'
    )
    (challenge,) = parse_challenges(header)
    assert challenge.scheme == "bearer"
    assert challenge.param("realm") == "https://auth.docker.io/token"
    assert challenge.param("service") == "registry.docker.io"
    assert challenge.param("scope") == "repository:library/debian:pull"


def test_parses_basic_and_several_challenges() -> None:
    challenges = parse_challenges('Basic realm="Registry Realm", Bearer realm="https://a/t"')
    assert [c.scheme for c in challenges] == ["basic", "bearer"]
    assert challenges[1].param("realm") == "https://a/t"
    assert parse_challenges("") == []
    assert parse_challenges('Bearer realm="a\\"b"') == [Challenge("bearer", (("realm", 'a"b'),))]


def test_secrets_stay_out_of_repr() -> None:
    creds = Credentials("bob", "hunter2")
    assert "hunter2" not in repr(creds)
    assert "hunter2" not in str(creds)
    assert creds.basic_header() == "Basic " + base64.b64encode(b"bob:hunter2").decode()


@pytest.mark.parametrize(
    ("key", "normal"),
    [
        ("https://index.docker.io/v1/", "docker.io"),
        ("docker.io", "docker.io"),
        ("registry-1.docker.io", "docker.io"),
        ("http://localhost:5000/v2/", "localhost:5000"),
        ("GHCR.io", "ghcr.io"),
    ],
)
def test_normalizes_config_keys(key: str, normal: str) -> None:
    assert normalize_registry_key(key) == normal


def write_config(tmp_path: Path, config: dict[str, object]) -> Path:
    """Docker's config directory `tmp_path`, holding `config` as its config.json."""
    tmp_path.mkdir(parents=True, exist_ok=True)
    (tmp_path / "config.json").write_text(json.dumps(config))
    return tmp_path


def test_auths_entries(tmp_path: Path) -> None:
    auth = base64.b64encode(b"alice:pa:ss").decode()
    path = write_config(
        tmp_path,
        {
            "auths": {
                "https://index.docker.io/v1/": {"auth": auth},
                "ghcr.io": {"username": "carol", "password": "tok"},
            }
        },
    )
    store = DockerConfigCredentials(path)
    assert store.get("docker.io") == Credentials("alice", "pa:ss")
    assert store.get("ghcr.io") == Credentials("carol", "tok")
    assert store.get("quay.io") is None


def test_identity_tokens(tmp_path: Path) -> None:
    user_only = base64.b64encode(b"alice:").decode()
    path = write_config(
        tmp_path,
        {
            "auths": {
                "registry.example.test": {"auth": user_only, "identitytoken": "refresh-1"},
                "other.example.test": {"identitytoken": "refresh-2"},
            },
            "credHelpers": {"helper.example.test": "acr"},
        },
    )
    answer = json.dumps({"Username": "<token>", "Secret": "refresh-3"})
    store = DockerConfigCredentials(path, runner=lambda helper, server: answer)
    assert store.get("registry.example.test") == Credentials("alice", "", "refresh-1")
    assert store.get("other.example.test") == Credentials("<token>", "", "refresh-2")
    # a credential helper says an identity token with the user name "<token>"
    assert store.get("helper.example.test") == Credentials("<token>", "", "refresh-3")
    assert "refresh-1" not in repr(store.get("registry.example.test"))


def test_cred_helpers_and_store(tmp_path: Path) -> None:
    calls: list[tuple[str, str]] = []

    def runner(helper: str, server: str) -> str:
        calls.append((helper, server))
        if server == "nowhere.test":
            return ""
        return json.dumps({"ServerURL": server, "Username": f"u-{helper}", "Secret": "sec"})

    path = write_config(
        tmp_path,
        {"credHelpers": {"ghcr.io": "gh"}, "credsStore": "desktop", "auths": {}},
    )
    store = DockerConfigCredentials(path, runner=runner)
    assert store.get("ghcr.io") == Credentials("u-gh", "sec")
    assert store.get("docker.io") == Credentials("u-desktop", "sec")
    assert store.get("nowhere.test") is None
    assert calls == [
        ("gh", "ghcr.io"),
        ("desktop", "https://index.docker.io/v1/"),
        ("desktop", "nowhere.test"),
    ]


def test_helper_printing_garbage_is_an_error(tmp_path: Path) -> None:
    path = write_config(tmp_path, {"credsStore": "odd"})
    store = DockerConfigCredentials(path, runner=lambda helper, server: "not json")
    with pytest.raises(RegistryError, match="not JSON"):
        store.get("docker.io")


def test_missing_or_broken_config_means_no_credentials(tmp_path: Path) -> None:
    assert DockerConfigCredentials(tmp_path / "absent").get("docker.io") is None
    (tmp_path / "config.json").write_text("{")
    assert DockerConfigCredentials(tmp_path).get("docker.io") is None


def test_the_config_directory_is_the_callers_not_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    given = write_config(
        tmp_path / "given", {"auths": {"r.test": {"username": "a", "password": "b"}}}
    )
    elsewhere = write_config(
        tmp_path / "env", {"auths": {"r.test": {"username": "x", "password": "y"}}}
    )
    monkeypatch.setenv("DOCKER_CONFIG", str(elsewhere))
    monkeypatch.setenv("HOME", str(elsewhere))
    store = DockerConfigCredentials(given)
    assert store.path == given / "config.json"
    assert store.get("r.test") == Credentials("a", "b")


def test_token_lifetime_takes_sane_numbers_only() -> None:
    assert token_lifetime(300) == 300.0
    assert token_lifetime(None) == 60.0  # the distribution spec's default
    assert token_lifetime("300") == 60.0
    assert token_lifetime(float("nan")) == 60.0
    assert token_lifetime(-5) == 0.0
    assert token_lifetime(10**8) == 86400.0


def test_tokens_expire_by_the_injected_clock() -> None:
    clock = FixedClock(datetime(2026, 1, 1, tzinfo=UTC))
    cache = TokenCache(clock)
    cache.put("repository:app:pull", "t1", lifetime=60.0)
    assert cache.get("repository:app:pull") == "t1"
    assert cache.get("repository:other:pull") is None
    clock.advance(49.0)  # renewed 10 s before it expires
    assert cache.get("repository:app:pull") == "t1"
    clock.advance(1.0)
    assert cache.get("repository:app:pull") is None
    cache.put("s", "short", lifetime=5.0)  # kept one second at least
    clock.advance(0.5)
    assert cache.get("s") == "short"
    cache.drop("s")
    assert cache.get("s") is None


def test_static_credentials_apply_to_their_registry_only() -> None:
    static = StaticCredentials(Credentials("x", "y"), "ghcr.io")
    chained = ChainedCredentials(static, StaticCredentials(Credentials("any", "z")))
    assert chained.get("ghcr.io") == Credentials("x", "y")
    assert chained.get("docker.io") == Credentials("any", "z")


# --- Authorization values as Harbor's scanner API hands them over ---------------------------

SECRET = "pa:ss-w0rd-S3CRET"


def basic(raw: bytes) -> str:
    return "Basic " + base64.b64encode(raw).decode()


@pytest.mark.parametrize(
    "value",
    [
        basic(f"robot$proj+scanner:{SECRET}".encode()),
        "basic " + base64.b64encode(f"robot$proj+scanner:{SECRET}".encode()).decode(),
        "  BASIC   " + base64.b64encode(f"robot$proj+scanner:{SECRET}".encode()).decode() + "\n",
    ],
)
def test_basic_authorization_gives_user_and_password(value: str) -> None:
    creds = credentials_from_authorization(value)
    # the password keeps its colons: only the first one ends the user
    assert creds == Credentials("robot$proj+scanner", SECRET)
    assert not creds.registry_token
    assert creds.basic_header() == basic(f"robot$proj+scanner:{SECRET}".encode())
    assert SECRET not in repr(creds)


def test_basic_authorization_takes_utf8_and_an_empty_password() -> None:
    assert credentials_from_authorization(basic("jürgen:päss".encode())) == Credentials(
        "jürgen", "päss"
    )
    assert credentials_from_authorization(basic(b"bob:")) == Credentials("bob", "")


@pytest.mark.parametrize("scheme", ["Bearer", "bearer", "BEARER", "  Bearer"])
def test_bearer_authorization_gives_a_registry_token_only(scheme: str) -> None:
    token = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJyb2JvdCJ9.c2lnbmF0dXJl-_+/="
    creds = credentials_from_authorization(f"{scheme} {token}\r\n")
    assert creds.registry_token == token
    assert (creds.username, creds.password, creds.identity_token) == ("", "", "")
    assert token not in repr(creds)
    assert token not in str(creds)
    assert "registry_token=<hidden>" in repr(creds)


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("", "empty"),
        ("   \t\n", "empty"),
        ("Basic", "carries no credentials"),
        ("Bearer", "carries no token"),
        ("Bearer   ", "carries no token"),
        (f"Digest {SECRET}", "neither Basic nor Bearer"),
        (f"Token {SECRET}", "neither Basic nor Bearer"),
        (SECRET, "neither Basic nor Bearer"),  # a bare secret: its "scheme" is the secret
        ("Basic " + SECRET, "not valid base64"),
        ("Basic " + base64.b64encode(f"u:{SECRET}".encode()).decode()[:-2], "not valid base64"),
        ("Basic " + base64.b64encode(b"u:" + SECRET.encode() + b"\xff").decode(), "UTF-8"),
        (basic(SECRET.replace(":", "").encode()), "no colon"),
        (basic(f":{SECRET}".encode()), "name no user"),
        (f"Bearer {SECRET}\nX-Injected: 1", "control characters or line breaks"),
        (f"Bearer {SECRET}\r\nX-Injected: 1", "control characters or line breaks"),
        (f"Bearer {SECRET}\x00", "control characters or line breaks"),
        (f"Bearer {SECRET}\x7f", "control characters or line breaks"),
        (f"Bearer \t{SECRET}", "control characters or line breaks"),
        (f"Bearer {SECRET} more", "spaces or characters that are not ASCII"),
        (f"Bearer {SECRET}é", "spaces or characters that are not ASCII"),
        ("Bearer " + SECRET + "x" * (16 << 10), "longer than 16384"),
        (basic(SECRET.encode() * 1000), "longer than 16384"),
    ],
)
def test_bad_authorization_values_are_refused_without_the_secret(value: str, message: str) -> None:
    with pytest.raises(ValueError, match=message) as info:
        credentials_from_authorization(value)
    error = info.value
    encoded = value.strip().partition(" ")[2].strip()  # what follows the scheme, as given
    for text in (str(error), repr(error), *map(str, error.args)):
        assert SECRET not in text
        assert SECRET.replace(":", "") not in text
        assert not encoded or encoded not in text
    # no chained exception whose message quotes bytes of the secret
    assert error.__cause__ is None
    assert error.__suppress_context__ or error.__context__ is None


def test_a_value_just_under_the_cap_is_read() -> None:
    token = "t" * ((16 << 10) - len("Bearer "))
    assert credentials_from_authorization("Bearer " + token).registry_token == token
