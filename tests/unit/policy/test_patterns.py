"""Reference globs are normalised as Docker normalises names."""

from __future__ import annotations

import pytest

from basewatch.policy.patterns import normalize_pattern, parse_base_reference, reference_forms

DIGEST = "sha256:" + "d" * 64


@pytest.mark.parametrize(
    ("pattern", "normalised"),
    [
        ("debian:12", "docker.io/library/debian:12"),
        ("debian:*-slim", "docker.io/library/debian:*-slim"),
        ("debian", "docker.io/library/debian"),
        ("myorg/*", "docker.io/myorg/*"),
        ("docker.io/*", "docker.io/*"),
        ("index.docker.io/library/alpine:*", "docker.io/library/alpine:*"),
        ("registry-1.docker.io/myorg/app", "docker.io/myorg/app"),
        ("Registry.Example.com/base/*", "registry.example.com/base/*"),
        ("localhost:5000/base/*", "localhost:5000/base/*"),
        ("registry:debian:12", "docker.io/library/debian:12"),
        ("*", "*"),
        ("*-slim", "*-slim"),
        ("*/base/*", "*/base/*"),
    ],
)
def test_normalize_pattern(pattern: str, normalised: str) -> None:
    assert normalize_pattern(pattern) == normalised
    assert normalize_pattern(normalised) == normalised  # idempotent


def test_reference_forms() -> None:
    def forms(text: str) -> tuple[str, ...]:
        reference = parse_base_reference(text)
        assert reference is not None
        return reference_forms(reference)

    assert forms("debian:12") == ("docker.io/library/debian:12", "docker.io/library/debian")
    assert forms("debian") == ("docker.io/library/debian:latest", "docker.io/library/debian")
    assert forms(f"registry.example.com/base/python:3.12@{DIGEST}") == (
        "registry.example.com/base/python:3.12",
        f"registry.example.com/base/python@{DIGEST}",
        "registry.example.com/base/python",
    )
    assert parse_base_reference("oci:/tmp/layout") is None
