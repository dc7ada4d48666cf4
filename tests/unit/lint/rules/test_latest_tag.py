from __future__ import annotations

import pytest

from tests.unit.lint.helpers import hits

RULE = "BW102"
DIGEST = "sha256:" + "b" * 64


@pytest.mark.parametrize(
    "text",
    [
        "FROM python:latest\n",
        "FROM node:LATEST AS x\n",
        f"FROM alpine:latest@{DIGEST}\n",
        "ARG TAG=latest\nFROM debian:${TAG}\n",
    ],
)
def test_fires(text: str) -> None:
    assert len(hits(text, RULE)) == 1


@pytest.mark.parametrize(
    "text",
    ["FROM python\n", "FROM python:3.12\n", "FROM latest:1\n", "FROM scratch\n"],
)
def test_does_not_fire(text: str) -> None:
    assert hits(text, RULE) == []
