from __future__ import annotations

import pytest

from tests.unit.lint.helpers import hits

RULE = "BW101"


@pytest.mark.parametrize(
    "text",
    [
        "FROM python\n",
        "FROM docker.io/library/node AS build\nFROM build\n",
        "FROM registry.example.test:5000/team/base\n",
        "ARG BASE=ubuntu\nFROM ${BASE}\n",
        "from alpine\n",
    ],
)
def test_fires(text: str) -> None:
    assert len(hits(text, RULE)) == 1


@pytest.mark.parametrize(
    "text",
    [
        "FROM python:3.12-slim\n",
        "FROM scratch\n",
        "FROM python@sha256:" + "a" * 64 + "\n",
        "FROM golang:1.22 AS build\nFROM build\n",
        "ARG BASE\nFROM ${BASE}\n",  # no value: nothing to say
        "FROM localhost:5000/app:1\n",
    ],
)
def test_does_not_fire(text: str) -> None:
    assert hits(text, RULE) == []


def test_position_is_the_image_word() -> None:
    (finding,) = hits("# c\nFROM   python AS x\n", RULE)
    assert (finding.line, finding.column) == (2, 8)


def test_build_arg_overrides_the_default() -> None:
    text = "ARG BASE=python:3.12\nFROM $BASE\n"
    assert hits(text, RULE) == []
    assert len(hits(text, RULE, build_args={"BASE": "python"})) == 1
