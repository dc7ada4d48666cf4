"""`basewatch db update` refreshes the end-of-life table from a (local) endoflife.date API."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from basewatch.cli.main import main
from basewatch.vulndb.eol import CACHE_FILE, PRODUCTS, load_eol_table
from tests.unit.vulndb.test_eol import eol_api

FAIL = {"on": False}


def _answer(product: str) -> tuple[int, object]:
    if FAIL["on"] or product not in PRODUCTS:
        return 500, None
    return 200, [{"cycle": "99", "eol": "2030-01-01", "codename": f"{product}-x"}]


@pytest.fixture
def api() -> Iterator[str]:
    try:
        with eol_api(_answer) as url:
            yield url
    finally:
        FAIL["on"] = False


def test_refresh_then_a_failed_refresh_keeps_the_table(
    api: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert main(["db", "update", "--eol-only", "--eol-base-url", api]) == 0
    saved = tmp_path / "basewatch" / CACHE_FILE
    table = load_eol_table(saved)
    assert {c.product for c in table.cycles} == set(PRODUCTS)
    assert table.find("debian", "99") is not None
    before = saved.read_bytes()
    FAIL["on"] = True
    assert main(["db", "update", "--eol-only", "--eol-base-url", api]) == 0
    assert "end-of-life dates not refreshed" in capsys.readouterr().err
    assert saved.read_bytes() == before
