from __future__ import annotations

import pytest

from basewatch.lint.config import LintConfig
from tests.unit.lint.helpers import hits

RULE = "BW105"


@pytest.mark.parametrize(
    "text",
    [
        "FROM registry.example.test/team/app:1\n",
        "FROM localhost:5000/base:1\n",
        "FROM registry.example.test:443/x:1\n",
        "FROM python:3.12\nCOPY --from=registry.example.test/tools:1 /bin/t /bin/t\n",
    ],
)
def test_fires(text: str) -> None:
    assert len(hits(text, RULE)) == 1


@pytest.mark.parametrize(
    "text",
    [
        "FROM python:3.12\n",
        "FROM docker.io/library/node:22\n",
        "FROM someone/tool:1\n",
        "FROM python:3.12 AS b\nFROM python:3.12\nCOPY --from=b /a /a\nCOPY --from=0 /a /a\n",
        "FROM python:3.12\nCOPY --from=busybox:1.36 /bin/busybox /bin/\n",
    ],
)
def test_does_not_fire_for_the_default_list(text: str) -> None:
    assert hits(text, RULE) == []


def test_configured_list_with_path_prefixes() -> None:
    config = LintConfig(trusted_registries=("registry.example.test/team", "docker.io/library"))
    assert hits("FROM registry.example.test/team/app:1\n", RULE, config=config) == []
    assert hits("FROM python:3.12\n", RULE, config=config) == []
    assert len(hits("FROM registry.example.test/other/app:1\n", RULE, config=config)) == 1
    assert len(hits("FROM someone/tool:1\n", RULE, config=config)) == 1
    # a prefix is a path prefix, not a string prefix
    assert len(hits("FROM registry.example.test/teamwork/x:1\n", RULE, config=config)) == 1
