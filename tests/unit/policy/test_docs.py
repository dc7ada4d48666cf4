"""Every built-in policy has its documentation page, naming each parameter."""

from __future__ import annotations

from pathlib import Path

import pytest

from basewatch.policy import BUILTINS

ROOT = Path(__file__).resolve().parents[3]
SECTIONS = (
    "## What it checks",
    "## Parameters",
    "## Not evaluated",
    "## Example",
    "## Compared with Docker Scout",
)


@pytest.mark.parametrize("policy_id", list(BUILTINS))
def test_each_policy_has_its_page(policy_id: str) -> None:
    spec = BUILTINS[policy_id]
    page = (ROOT / spec.doc_path).read_text(encoding="utf-8")
    assert page.startswith(f"# `{policy_id}`: ")
    assert f"**Title**: {spec.title}" in page
    for section in SECTIONS:
        assert section in page, section
    for name in spec.parameters:
        assert f"| `{name}`" in page, name
    assert f"- id: {policy_id}" in page


def test_no_page_without_a_policy() -> None:
    pages = {p.stem for p in (ROOT / "docs" / "policies").glob("*.md")}
    assert pages == set(BUILTINS)
