from __future__ import annotations

import pytest

from tests.unit.lint.helpers import hits

RULE = "BW109"


@pytest.mark.parametrize(
    "text",
    [
        "FROM python:3.12\n",
        "FROM python:3.12\nUSER root\n",
        "FROM python:3.12\nUSER app\nUSER 0:0\n",
        "FROM python:3.12 AS base\nUSER root\nFROM base\nRUN true\n",  # inherited
        "FROM node:22 AS build\nUSER node\nFROM scratch\nCOPY --from=build /a /a\n",
        "ARG U=root\nFROM alpine:3.22\nUSER ${U}\n",
        "FROM registry.example.test/windows/servercore:ltsc2022\nUSER ContainerAdministrator\n",
    ],
)
def test_fires(text: str) -> None:
    assert len(hits(text, RULE)) == 1


@pytest.mark.parametrize(
    "text",
    [
        "FROM python:3.12\nUSER 10001\n",
        "FROM python:3.12\nUSER root\nRUN x\nUSER app:app\n",
        "FROM python:3.12 AS base\nUSER app\nFROM base\n",  # inherited
        "FROM python:3.12\nUSER root\nFROM alpine:3.22\nUSER nobody\n",  # only the final one
        "FROM gcr.example.test/distroless/static:nonroot\n",
        "ARG U\nFROM alpine:3.22\nUSER ${U}\n",  # unknowable
    ],
)
def test_does_not_fire(text: str) -> None:
    assert hits(text, RULE) == []


def test_points_at_the_user_instruction() -> None:
    (finding,) = hits("FROM python:3.12\nUSER  root\n", RULE)
    assert (finding.line, finding.column) == (2, 7)
