"""The Dockerfile corpus (tests/lint_corpus): no crash, and output identical to the golden files.

Regenerate after an intended change, then review the diff:
    .venv/bin/python -m tests.unit.lint.test_corpus
"""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import pytest

from basewatch.lint.engine import lint_text, merge
from basewatch.lint.model import LintResult
from basewatch.lint.parse import decode
from basewatch.report.formats import LintFormat, lint_renderer
from basewatch.report.lint.text import render_text
from tests.unit.report.test_scan_sarif import validator

CORPUS = Path(__file__).parents[2] / "lint_corpus"
GOLDEN = CORPUS / "golden"
DAY = date(2026, 11, 27)
FILES = sorted(CORPUS.glob("*.Dockerfile"))


def lint_corpus_file(path: Path) -> LintResult:
    return lint_text(decode(path.read_bytes()), path.name, today=DAY)


def golden_text(path: Path) -> str:
    result = lint_corpus_file(path)
    return render_text(result) + "".join(f"error: {e}\n" for e in result.errors)


def test_corpus_is_big_enough() -> None:
    assert len(FILES) >= 20


@pytest.mark.parametrize("path", FILES, ids=[p.stem for p in FILES])
def test_matches_golden(path: Path) -> None:
    expected = GOLDEN / f"{path.stem}.txt"
    assert expected.exists(), f"{expected} is missing: run python -m tests.unit.lint.test_corpus"
    assert golden_text(path) == expected.read_text(encoding="utf-8")
    assert golden_text(path) == golden_text(path)  # stable run to run


def test_whole_corpus_as_sarif_validates() -> None:
    result = merge([lint_corpus_file(p) for p in FILES])
    assert len(result.errors) == 5  # the junk files, and only them
    assert all("junk" in e or "empty" in e for e in result.errors)
    document = json.loads(lint_renderer(LintFormat.SARIF).render(result))
    assert [e.message for e in validator().iter_errors(document)] == []


def main() -> None:
    GOLDEN.mkdir(exist_ok=True)
    for path in FILES:
        (GOLDEN / f"{path.stem}.txt").write_text(golden_text(path), encoding="utf-8")
        print(f"wrote {GOLDEN / path.stem}.txt")


if __name__ == "__main__":
    main()


class _AnyResolver:
    """A digest for any reference: the sha256 of its text."""

    def resolve(self, reference: str) -> str:
        import hashlib

        return "sha256:" + hashlib.sha256(reference.encode()).hexdigest()


@pytest.mark.parametrize("path", FILES, ids=[p.stem for p in FILES])
def test_fix_changes_only_the_image_words(path: Path) -> None:
    import re

    from basewatch.errors import LintError
    from basewatch.lint.fix import pin_digests

    data = path.read_bytes()
    text = decode(data)
    try:
        fixed = pin_digests(text, _AnyResolver(), path.name)
    except LintError:
        return  # the junk files
    assert re.sub(r"@sha256:[0-9a-f]{64}", "", fixed.text).encode(
        "utf-8", "surrogateescape"
    ) == re.sub(rb"@sha256:[0-9a-f]{64}", b"", data)
    before, after = text.split("\n"), fixed.text.split("\n")
    assert len(before) == len(after)
    changed = [i + 1 for i, (a, b) in enumerate(zip(before, after, strict=True)) if a != b]
    assert changed == [c.line for c in fixed.changes]
    assert pin_digests(fixed.text, _AnyResolver(), path.name).changes == ()
