from __future__ import annotations

import pytest

from basewatch.lint.config import LintConfig, PinPolicy
from tests.unit.lint.helpers import hits

RULE = "BW103"
DIGEST = "sha256:" + "c" * 64
MULTI = "FROM golang:1.23 AS build\nFROM debian:bookworm-slim AS base\nFROM base\n"


@pytest.mark.parametrize(
    "text",
    [
        "FROM python:3.12-slim\n",
        "FROM golang:1.23 AS build\nFROM debian:bookworm-slim\n",
        "ARG V=3.12\nFROM python:${V}\n",
    ],
)
def test_fires_on_the_final_stage(text: str) -> None:
    (finding,) = hits(text, RULE)
    assert finding.line == text.count("\n")


@pytest.mark.parametrize(
    "text",
    [
        f"FROM python:3.12-slim@{DIGEST}\n",
        "FROM scratch\n",
        "FROM python\n",  # BW101's business
        f"FROM golang:1.23 AS build\nFROM debian:bookworm-slim@{DIGEST}\n",
    ],
)
def test_does_not_fire(text: str) -> None:
    assert hits(text, RULE) == []


def test_final_follows_from_stage_chains() -> None:
    (finding,) = hits(MULTI, RULE)
    assert finding.line == 2


def test_policy() -> None:
    assert len(hits(MULTI, RULE, config=LintConfig(pin_digests=PinPolicy.ALL))) == 2
    assert hits(MULTI, RULE, config=LintConfig(pin_digests=PinPolicy.NONE)) == []


def test_target_changes_the_final_stage() -> None:
    (finding,) = hits(MULTI, RULE, target="build")
    assert finding.line == 1
