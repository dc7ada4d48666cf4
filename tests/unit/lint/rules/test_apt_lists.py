from __future__ import annotations

import pytest

from tests.unit.lint.helpers import hits

RULE = "BW114"


@pytest.mark.parametrize(
    "text",
    [
        "FROM debian:bookworm\nRUN apt-get update && apt-get install -y a\n",
        "FROM debian:bookworm AS base\nRUN apt-get update && apt-get install -y a\nFROM base\n",
    ],
)
def test_fires(text: str) -> None:
    assert len(hits(text, RULE)) == 1


@pytest.mark.parametrize(
    "text",
    [
        "FROM debian:bookworm\nRUN apt-get update && apt-get install -y a "
        "&& rm -rf /var/lib/apt/lists/*\n",
        "FROM debian:bookworm\nRUN --mount=type=cache,target=/var/lib/apt/lists "
        "apt-get update && apt-get install -y a\n",
        # a build stage: its lists never ship
        "FROM debian:bookworm AS build\nRUN apt-get update && apt-get install -y gcc\n"
        "FROM debian:bookworm-slim\nCOPY --from=build /a /a\n",
    ],
)
def test_does_not_fire(text: str) -> None:
    assert hits(text, RULE) == []
