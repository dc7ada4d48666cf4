"""`--fix`: digest pinning that keeps every other byte, against dict and OCI-layout resolvers."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from basewatch.errors import DockerfileSyntaxError, ResolveError
from basewatch.lint.fix import (
    DictResolver,
    DigestResolver,
    OciLayoutResolver,
    pin_digests,
    unified_diff,
)

PY = "sha256:" + "1" * 64
ALP = "sha256:" + "2" * 64
RESOLVER = DictResolver({"python:3.12-slim": PY, "docker.io/library/alpine:3.22": ALP})


def test_pins_and_keeps_every_other_byte() -> None:
    text = (
        "# syntax=docker/dockerfile:1\r\n"
        "ARG BASE=python:3.12-slim\r\n"
        "FROM   --platform=$BUILDPLATFORM   python:3.12-slim   AS build   \r\n"
        "FROM ${BASE} AS arg\r\n"
        "from alpine:3.22\r\n"
        "FROM build\r\n"
        "FROM scratch\r\n"
        "FROM alpine\r\n"
        "RUN echo python:3.12-slim\r\n"
    )
    result = pin_digests(text, RESOLVER)
    expected = text.replace("   python:3.12-slim   AS", f"   python:3.12-slim@{PY}   AS").replace(
        "from alpine:3.22", f"from alpine:3.22@{ALP}"
    )
    assert result.text == expected
    assert [(c.line, c.new) for c in result.changes] == [
        (3, f"python:3.12-slim@{PY}"),
        (5, f"alpine:3.22@{ALP}"),
    ]
    assert any("${BASE} is built from ARGs: left alone" in m for m in result.messages)
    assert any("alpine has no tag" in m for m in result.messages)
    assert pin_digests(result.text, RESOLVER).changes == ()  # idempotent


def test_continuation_and_escape_directive() -> None:
    text = "# escape=`\nFROM `\n  --platform=linux/amd64 `\n  alpine:3.22 AS a\nRUN x\n"
    result = pin_digests(text, RESOLVER)
    assert result.text == text.replace("alpine:3.22", f"alpine:3.22@{ALP}")
    backslash = "FROM \\\n# a comment\n  alpine:3.22\n"
    assert pin_digests(backslash, RESOLVER).text == backslash.replace(
        "alpine:3.22", f"alpine:3.22@{ALP}"
    )


def test_unresolvable_references_are_reported() -> None:
    result = pin_digests("FROM node:22\nFROM alpine:3.22\n", RESOLVER)
    assert len(result.changes) == 1
    # a failed lookup is an error (the CLI exits 3), not a note
    assert result.messages == ()
    assert result.failures == ("Dockerfile:1: node:22 not pinned: no digest known for node:22",)

    class Counting:
        calls = 0

        def resolve(self, reference: str) -> str:
            Counting.calls += 1
            raise ResolveError(f"{reference}: connection refused")

    failed = pin_digests("FROM a.test/x:1\nFROM a.test/x:1 AS b\n", Counting())
    assert Counting.calls == 1 and len(failed.failures) == 2  # looked up once, both reported

    class Bad:
        def resolve(self, reference: str) -> str:
            return "md5:abc"

    assert isinstance(Bad(), DigestResolver)
    assert "resolver returned" in pin_digests("FROM node:22\n", Bad()).failures[0]


def test_byte_order_mark() -> None:
    text = "\ufeffFROM alpine:3.22\n"
    assert pin_digests(text, RESOLVER).text == f"\ufeffFROM alpine:3.22@{ALP}\n"


def test_diff() -> None:
    text = "FROM alpine:3.22\nRUN true\n"
    diff = unified_diff(text, pin_digests(text, RESOLVER).text, "Dockerfile")
    assert f"+FROM alpine:3.22@{ALP}\n" in diff and "-FROM alpine:3.22\n" in diff


def test_syntax_errors_raise() -> None:
    with pytest.raises(DockerfileSyntaxError):
        pin_digests("RUN <<EOF\n", RESOLVER)


def _blob(layout: Path, data: bytes) -> tuple[str, int]:
    digest = hashlib.sha256(data).hexdigest()
    path = layout / "blobs" / "sha256" / digest
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return f"sha256:{digest}", len(data)


def make_layout(layout: Path, names: dict[str, str]) -> dict[str, str]:
    """An OCI layout whose index lists one image index per annotation set; returns digests."""
    (layout / "oci-layout").parent.mkdir(parents=True, exist_ok=True)
    (layout / "oci-layout").write_text('{"imageLayoutVersion": "1.0.0"}')
    entries = []
    digests = {}
    for key, annotation in names.items():
        config, config_size = _blob(
            layout, json.dumps({"architecture": "amd64", "key": key}).encode()
        )
        manifest = {
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": {
                "mediaType": "application/vnd.oci.image.config.v1+json",
                "digest": config,
                "size": config_size,
            },
            "layers": [],
        }
        m_digest, m_size = _blob(layout, json.dumps(manifest).encode())
        index = {
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.index.v1+json",
            "manifests": [
                {
                    "mediaType": manifest["mediaType"],
                    "digest": m_digest,
                    "size": m_size,
                    "platform": {"os": "linux", "architecture": "amd64"},
                }
            ],
        }
        i_digest, i_size = _blob(layout, json.dumps(index).encode())
        entries.append(
            {
                "mediaType": index["mediaType"],
                "digest": i_digest,
                "size": i_size,
                "annotations": {annotation: key},
            }
        )
        digests[key] = i_digest
    (layout / "index.json").write_text(json.dumps({"schemaVersion": 2, "manifests": entries}))
    return digests


def test_oci_layout_resolver(tmp_path: Path) -> None:
    python = make_layout(tmp_path / "python", {"3.12-slim": "org.opencontainers.image.ref.name"})
    mixed = make_layout(
        tmp_path / "mixed",
        {
            "docker.io/library/alpine:3.22": "io.containerd.image.name",
            "registry.example.test/team/base:1": "org.opencontainers.image.ref.name",
        },
    )
    resolver = OciLayoutResolver([tmp_path / "python", tmp_path / "mixed"])
    text = "FROM python:3.12-slim\nFROM alpine:3.22\nFROM registry.example.test/team/base:1\n"
    result = pin_digests(text, resolver)
    assert result.text == (
        f"FROM python:3.12-slim@{python['3.12-slim']}\n"
        f"FROM alpine:3.22@{mixed['docker.io/library/alpine:3.22']}\n"
        f"FROM registry.example.test/team/base:1@{mixed['registry.example.test/team/base:1']}\n"
    )
    with pytest.raises(ResolveError):
        resolver.resolve("python:3.11")
    with pytest.raises(ResolveError, match="not an OCI layout"):
        OciLayoutResolver([tmp_path / "nothing"])
