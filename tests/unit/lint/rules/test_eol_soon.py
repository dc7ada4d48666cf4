from __future__ import annotations

from datetime import date

import pytest

from basewatch.lint.config import LintConfig
from tests.unit.lint.helpers import hits

RULE = "BW107"  # TODAY is 2026-03-01


@pytest.mark.parametrize(
    "text", ["FROM node:20-slim\n", "FROM alpine:3.20\n", "FROM python:3.12-alpine3.20\n"]
)
def test_fires(text: str) -> None:
    assert len(hits(text, RULE)) == 1


@pytest.mark.parametrize(
    "text", ["FROM node:22\n", "FROM debian:bullseye\n", "FROM node:16\n", "FROM alpine:3.22\n"]
)
def test_does_not_fire(text: str) -> None:
    assert hits(text, RULE) == []


def test_window_is_configurable() -> None:
    config = LintConfig(eol_warning_days=10)
    assert hits("FROM node:20\n", RULE, config=config) == []
    (finding,) = hits("FROM node:20\n", RULE, today=date(2026, 4, 20))
    assert "in 10 days" in finding.message
