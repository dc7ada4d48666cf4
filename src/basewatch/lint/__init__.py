"""Dockerfile linting for base images: parse with BuildKit's grammar, run rules, pin digests.

Public API:

- `lint_text(text, path, config=..., build_args=..., target=..., today=...) -> LintResult`
- `lint_file(path, ...)`, `LintConfig` / `load_config`, `RULES` (every rule, by id)
- `pin_digests(text, resolver) -> FixResult` and the `DigestResolver` protocol
"""

from __future__ import annotations

from basewatch.lint.config import LintConfig, PinPolicy, load_config
from basewatch.lint.engine import lint_file, lint_text
from basewatch.lint.fix import DigestResolver, FixResult, pin_digests
from basewatch.lint.model import LintFinding, LintResult, RuleInfo
from basewatch.lint.rules import RULES

__all__ = [
    "RULES",
    "DigestResolver",
    "FixResult",
    "LintConfig",
    "LintFinding",
    "LintResult",
    "PinPolicy",
    "RuleInfo",
    "lint_file",
    "lint_text",
    "load_config",
    "pin_digests",
]
