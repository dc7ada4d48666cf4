"""JSON building blocks the JSON, SARIF, CycloneDX and SPDX reports share.

Standard library only: the cache-warm `--format json` path imports it and must start fast.
"""

from __future__ import annotations

import json
from typing import Any


def dumps(document: Any) -> bytes:
    """Indented UTF-8 JSON with a final newline, keys in insertion order.

    Names read from an image may hold undecodable bytes (kept as lone surrogates); they come out
    as `\\udcXX` escapes rather than failing the whole report.
    """
    text = json.dumps(document, indent=2, ensure_ascii=False) + "\n"
    return text.encode("utf-8", "backslashreplace")
