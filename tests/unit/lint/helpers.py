"""Lint Dockerfile snippets on a fixed day with the shipped end-of-life table."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date

from basewatch.lint.config import LintConfig
from basewatch.lint.engine import lint_text
from basewatch.lint.model import LintFinding

TODAY = date(2026, 3, 1)


def lint(
    text: str,
    *,
    config: LintConfig | None = None,
    build_args: Mapping[str, str] | None = None,
    target: str | None = None,
    today: date = TODAY,
) -> list[LintFinding]:
    result = lint_text(
        text, "Dockerfile", config=config, build_args=build_args, target=target, today=today
    )
    assert result.errors == ()
    return list(result.findings)


def hits(
    text: str,
    rule: str,
    *,
    config: LintConfig | None = None,
    build_args: Mapping[str, str] | None = None,
    target: str | None = None,
    today: date = TODAY,
) -> list[LintFinding]:
    """The findings of one rule."""
    found = lint(text, config=config, build_args=build_args, target=target, today=today)
    return [f for f in found if f.rule == rule]


# Address-space bound for `run_bounded` lint runs: BuildKit's parser is Go, and its runtime
# reserves about 1.1 GB of address space at import (thread creation fails below that), so
# the bound sits above it; a runaway input still hits it at once.
LINT_MEMORY_MB = 2048
