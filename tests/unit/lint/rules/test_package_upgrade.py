from __future__ import annotations

import pytest

from tests.unit.lint.helpers import hits

RULE = "BW111"


@pytest.mark.parametrize(
    "run",
    [
        "apt-get update && apt-get upgrade -y",
        "apt-get -y dist-upgrade",
        "sudo apt full-upgrade",
        "apk upgrade --no-cache",
        "apk update; apk upgrade",
        "DEBIAN_FRONTEND=noninteractive apt-get -qq upgrade",
        "dnf -y upgrade",
        "<<EOF\nset -e\napt-get update\napt-get upgrade -y\nEOF",
    ],
)
def test_fires(run: str) -> None:
    assert len(hits(f"FROM debian:bookworm\nRUN {run}\n", RULE)) == 1


@pytest.mark.parametrize(
    "run",
    [
        "apt-get update && apt-get install -y curl",
        "apk add --no-cache --upgrade busybox",
        "apk upgrade openssl",  # one package, on purpose
        "echo apt-get upgrade",
        "pip install --upgrade pip",
        "yum update openssl",
    ],
)
def test_does_not_fire(run: str) -> None:
    assert hits(f"FROM debian:bookworm\nRUN {run}\n", RULE) == []
