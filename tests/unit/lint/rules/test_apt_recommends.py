from __future__ import annotations

import pytest

from tests.unit.lint.helpers import hits

RULE = "BW112"


@pytest.mark.parametrize(
    "run",
    [
        "apt-get update && apt-get install -y curl",
        "apt-get install -y \\\n    curl",
        "apt install -y curl",
    ],
)
def test_fires(run: str) -> None:
    assert len(hits(f"FROM debian:bookworm\nRUN {run}\n", RULE)) == 1


@pytest.mark.parametrize(
    "run",
    [
        "apt-get install -y --no-install-recommends curl",
        "apt-get -o APT::Install-Recommends=false install -y curl",
        "apt-get update",
        "apk add --no-cache curl",
        "echo 'apt-get install curl' > /notes",
    ],
)
def test_does_not_fire(run: str) -> None:
    assert hits(f"FROM debian:bookworm\nRUN {run}\n", RULE) == []
