from __future__ import annotations

import pytest

from tests.unit.lint.helpers import hits

RULE = "BW104"
DIGEST = "sha256:" + "d" * 64


@pytest.mark.parametrize(
    "text", [f"FROM python@{DIGEST}\n", f"FROM registry.example.test/a/b@{DIGEST} AS x\n"]
)
def test_fires(text: str) -> None:
    assert len(hits(text, RULE)) == 1


@pytest.mark.parametrize(
    "text", [f"FROM python:3.12@{DIGEST}\n", "FROM python:3.12\n", "FROM python\n"]
)
def test_does_not_fire(text: str) -> None:
    assert hits(text, RULE) == []
