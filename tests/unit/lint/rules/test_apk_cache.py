from __future__ import annotations

import pytest

from tests.unit.lint.helpers import hits

RULE = "BW113"


@pytest.mark.parametrize(
    "run", ["apk add curl", "apk update && apk add --virtual .deps gcc", "apk --update add git"]
)
def test_fires(run: str) -> None:
    assert len(hits(f"FROM alpine:3.22\nRUN {run}\n", RULE)) == 1


@pytest.mark.parametrize(
    "run",
    [
        "apk add --no-cache curl",
        "apk add curl && rm -rf /var/cache/apk/*",
        "--mount=type=cache,target=/var/cache/apk apk add curl",
        "apk del curl",
    ],
)
def test_does_not_fire(run: str) -> None:
    assert hits(f"FROM alpine:3.22\nRUN {run}\n", RULE) == []
