"""`basewatch advise --format json`: the advice as data, with `schema_version`."""

from __future__ import annotations

import json
from typing import Any, ClassVar

from basewatch import __version__
from basewatch.advice.advise import Advice
from basewatch.advice.codec import encode_advice


class AdviseJsonReporter:
    name: ClassVar[str] = "json"
    media_type: ClassVar[str] = "application/json"

    def render(self, advice: Advice) -> bytes:
        return (json.dumps(document(advice), indent=2) + "\n").encode()


def document(advice: Advice) -> dict[str, Any]:
    """The advice document (`advice.codec`), under the report's own schema version and with
    the tool named."""
    body = encode_advice(advice)
    del body["schema_version"]
    return {
        "schema_version": "1.0",
        "tool": {"name": "basewatch", "version": __version__},
        **body,
    }
