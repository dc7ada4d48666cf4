from __future__ import annotations

import pytest

from basewatch.lint.reference import parse_reference, registry_matches

DIGEST = "sha256:" + "f" * 64


@pytest.mark.parametrize(
    ("text", "registry", "repository", "tag", "digest"),
    [
        ("python", "docker.io", "library/python", "", ""),
        ("python:3.12-slim", "docker.io", "library/python", "3.12-slim", ""),
        ("team/app:1", "docker.io", "team/app", "1", ""),
        ("localhost:5000/app", "localhost:5000", "app", "", ""),
        ("localhost/app:2", "localhost", "app", "2", ""),
        ("Registry.Example.Test/a/b/c:v1", "registry.example.test", "a/b/c", "v1", ""),
        (f"python:3.12@{DIGEST}", "docker.io", "library/python", "3.12", DIGEST),
        (f"python@{DIGEST}", "docker.io", "library/python", "", DIGEST),
        # Docker Hub's other names are Docker Hub, as for pulling (registry.reference)
        ("index.docker.io/library/python:3", "docker.io", "library/python", "3", ""),
        ("docker.io/python", "docker.io", "library/python", "", ""),
    ],
)
def test_parse(text: str, registry: str, repository: str, tag: str, digest: str) -> None:
    ref = parse_reference(text)
    assert ref is not None
    assert (ref.registry, ref.repository, ref.tag, ref.digest) == (
        registry,
        repository,
        tag,
        digest,
    )


@pytest.mark.parametrize(
    "text",
    ["", "${BASE}", "Python:3", "python:", "python@sha256:xyz", "a//b", "python:-x", " python"],
)
def test_invalid(text: str) -> None:
    assert parse_reference(text) is None


def test_registry_matches() -> None:
    ref = parse_reference("registry.example.test/team/app:1")
    assert ref is not None
    assert registry_matches(ref, "registry.example.test")
    assert registry_matches(ref, "registry.example.test/team/")
    assert not registry_matches(ref, "registry.example.test/te")
    assert not registry_matches(ref, "")
    official = parse_reference("python:3")
    assert official is not None and official.official and official.name == "python"
    assert registry_matches(official, "docker.io/library")
