from __future__ import annotations

import pytest

from tests.unit.lint.helpers import hits

RULE = "BW110"


@pytest.mark.parametrize(
    "text",
    [
        "FROM alpine:3.22\nADD https://example.test/a.tgz /a\n",
        "FROM alpine:3.22\nADD --chown=1 http://example.test/a /a\n",
        'FROM alpine:3.22\nADD ["https://example.test/a", "/a"]\n',
    ],
)
def test_fires(text: str) -> None:
    assert len(hits(text, RULE)) == 1


@pytest.mark.parametrize(
    "text",
    [
        "FROM alpine:3.22\nADD --checksum=sha256:" + "e" * 64 + " https://example.test/a /a\n",
        "FROM alpine:3.22\nADD app.tar.gz /app\n",
        "FROM alpine:3.22\nCOPY https.txt /a\n",
    ],
)
def test_does_not_fire(text: str) -> None:
    assert hits(text, RULE) == []
