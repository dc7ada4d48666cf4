from __future__ import annotations

import pytest

from tests.unit.lint.helpers import hits

RULE = "BW115"


@pytest.mark.parametrize(
    "text",
    [
        "FROM golang:1.23 AS build\nRUN go build -o /app .\n"
        "FROM alpine:3.22\nCOPY --from=build /app /app\n",
        "FROM rust:1.80 AS build\nFROM python:3.12-alpine\nCOPY --from=0 /x /x\n",
        "FROM alpine:3.22\nRUN wget https://example.test/tool-x86_64-unknown-linux-gnu.tar.gz\n",
        "FROM alpine:3.22\nRUN pip download --platform manylinux2014_x86_64 pkg\n",
        "FROM alpine:3.22 AS base\nFROM base\nCOPY --from=debian:bookworm /lib/x.so /lib/\n",
    ],
)
def test_fires(text: str) -> None:
    (finding,) = hits(text, RULE)
    assert "basewatch compat" in finding.message


@pytest.mark.parametrize(
    "text",
    [
        "FROM golang:1.23 AS build\nRUN CGO_ENABLED=0 go build -o /app .\n"
        "FROM alpine:3.22\nCOPY --from=build /app /app\n",
        "FROM golang:1.23-alpine AS build\nFROM alpine:3.22\nCOPY --from=build /app /app\n",
        "FROM golang:1.23 AS build\nFROM debian:bookworm-slim\nCOPY --from=build /app /app\n",
        "FROM rust:1.80 AS build\nRUN cargo build --target x86_64-unknown-linux-musl\n"
        "FROM alpine:3.22\nCOPY --from=build /app /app\n",
        "FROM alpine:3.22\nRUN wget https://example.test/tool-x86_64-unknown-linux-musl.tgz\n",
    ],
)
def test_does_not_fire(text: str) -> None:
    assert hits(text, RULE) == []
