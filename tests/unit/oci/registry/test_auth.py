from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest

from basewatch.errors import RegistryError
from basewatch.oci.registry.auth import (
    ChainedCredentials,
    Challenge,
    Credentials,
    DockerConfigCredentials,
    StaticCredentials,
    normalize_registry_key,
    parse_challenges,
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
    path = tmp_path / "config.json"
    path.write_text(json.dumps(config))
    return path


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
    assert DockerConfigCredentials(tmp_path / "absent.json").get("docker.io") is None
    (tmp_path / "bad.json").write_text("{")
    assert DockerConfigCredentials(tmp_path / "bad.json").get("docker.io") is None


def test_docker_config_env(tmp_path: Path) -> None:
    write_config(tmp_path, {"auths": {"r.test": {"username": "a", "password": "b"}}})
    store = DockerConfigCredentials(environ={"DOCKER_CONFIG": str(tmp_path)})
    assert store.get("r.test") == Credentials("a", "b")


def test_static_credentials_apply_to_their_registry_only() -> None:
    static = StaticCredentials(Credentials("x", "y"), "ghcr.io")
    chained = ChainedCredentials(static, StaticCredentials(Credentials("any", "z")))
    assert chained.get("ghcr.io") == Credentials("x", "y")
    assert chained.get("docker.io") == Credentials("any", "z")
