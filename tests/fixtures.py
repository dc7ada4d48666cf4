"""Where the shared real-data fixtures live, and a skip when they are absent."""

from __future__ import annotations

from pathlib import Path

import pytest

SHARED_FIXTURES = Path(__file__).resolve().parents[1].parent / "shared" / "fixtures"


def shared_fixture(relative: str) -> Path:
    path = SHARED_FIXTURES / relative
    if not path.exists():
        pytest.skip(f"shared fixture {relative} is not present (../shared/fixtures is missing)")
    return path
