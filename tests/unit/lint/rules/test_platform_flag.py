from __future__ import annotations

import pytest

from tests.unit.lint.helpers import hits

RULE = "BW116"


@pytest.mark.parametrize(
    "text",
    ["FROM --platform=linux/amd64 python:3.12\n", "FROM --platform=linux/arm64/v8 alpine AS x\n"],
)
def test_fires(text: str) -> None:
    (finding,) = hits(text, RULE)
    assert finding.column == 6


@pytest.mark.parametrize(
    "text",
    [
        "FROM --platform=$BUILDPLATFORM golang:1.23 AS build\n",
        "FROM --platform=${TARGETPLATFORM} alpine:3.22\n",
        "FROM python:3.12\n",
    ],
)
def test_does_not_fire(text: str) -> None:
    assert hits(text, RULE) == []
