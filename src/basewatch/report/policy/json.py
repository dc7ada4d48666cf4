"""`basewatch policy --format json`: every verdict as data, described by
`basewatch/schemas/policy.schema.json`.

Standard library only, like `report.scan.json`. `not_evaluated` and `result` come first, so a
reader that stops early still sees what was not checked and whether the run failed. Policies
come in the order every policy report uses (`report.policy.ordered`). Parameters are written as
JSON values (a severity as its name, a list of patterns as a list, a date as YYYY-MM-DD).
Bump `SCHEMA_VERSION` (and the schema) whenever a field changes meaning or disappears.
"""

from __future__ import annotations

import datetime as dt
import json
import math
from collections.abc import Mapping
from enum import Enum
from typing import TYPE_CHECKING, Any, ClassVar

from basewatch import __version__
from basewatch.codec import database_sources
from basewatch.report.common import TOOL_NAME
from basewatch.report.jsondoc import dumps
from basewatch.report.policy import doc_path, not_evaluated, ordered, result_of

if TYPE_CHECKING:
    from basewatch.models import BaseImage, DatabaseInfo, ImageInfo
    from basewatch.policy.model import Item, PolicyRun, Verdict

SCHEMA_VERSION = "1.0"
SCHEMA_RESOURCE = "schemas/policy.schema.json"


class PolicyJsonReporter:
    """`basewatch policy --format json`: the verdicts as basewatch models them."""

    name: ClassVar[str] = "json"
    media_type: ClassVar[str] = "application/json"

    def render(self, run: PolicyRun) -> bytes:
        return dumps(policy_document(run))


def policy_document(run: PolicyRun) -> dict[str, Any]:
    """The document as plain JSON values."""
    report = run.report
    return {
        "schema_version": SCHEMA_VERSION,
        "tool": {"name": TOOL_NAME, "version": __version__},
        # Near the top: a reader that stops at the first policies must still see it.
        "not_evaluated": [v.id for v in not_evaluated(report)],
        "result": result_of(report),
        "image": _image(run.image, run.base),
        "database": _database(run.database),
        "policy_file": run.policy_file,
        "warnings": list(report.warnings),
        "policies": [encode_verdict(v) for v in ordered(report.verdicts)],
    }


def encode_verdict(verdict: Verdict) -> dict[str, Any]:
    return {
        "id": verdict.id,
        "title": verdict.title,
        "status": verdict.status.value,
        "action": verdict.action.value,
        "blocking": verdict.blocking,
        "reason": verdict.reason,
        "parameters": {name: json_value(v) for name, v in verdict.parameters.items()},
        "items": [_item(i) for i in verdict.items],
        "excepted": [{**_item(i), "reason": i.excepted_by} for i in verdict.excepted],
        "documentation": doc_path(verdict.id),
    }


def _item(item: Item) -> dict[str, Any]:
    return {
        "subject": item.subject,
        "data": {key: json_value(value) for key, value in item.data.items()},
        "aliases": list(item.aliases),
    }


def json_value(value: object) -> Any:
    """`value` as JSON can hold it: enums by value, sequences as lists, dates in ISO 8601, a
    float that JSON cannot spell (NaN, infinity) as null, anything else as its text."""
    match value:
        case None | bool() | int() | str() if not isinstance(value, Enum):
            return value
        case float():
            return value if math.isfinite(value) else None
        case Enum():
            return json_value(value.value)
        case dt.date():  # a datetime too
            return value.isoformat()
        case Mapping():
            return {str(k): json_value(v) for k, v in value.items()}
        case list() | tuple() | set() | frozenset():
            items = [json_value(v) for v in value]
            return sorted(items, key=str) if isinstance(value, set | frozenset) else items
        case _:
            return str(value)


def _image(image: ImageInfo, base: BaseImage | None) -> dict[str, Any]:
    return {
        "reference": image.reference,
        "manifest_digest": image.manifest_digest,
        "config_digest": image.config_digest,
        "platform": image.platform,
        "base": None
        if base is None
        else {
            "reference": base.reference,
            "digest": base.digest,
            "method": base.method.value,
            "confidence": base.confidence.value,
        },
    }


def _database(database: DatabaseInfo | None) -> dict[str, Any] | None:
    if database is None:
        return None
    return {"path": database.path, "sources": database_sources(database)}


def load_schema() -> dict[str, Any]:
    """The JSON Schema (draft 2020-12) every `basewatch policy --format json` document
    satisfies."""
    from importlib import resources

    text = resources.files("basewatch").joinpath(SCHEMA_RESOURCE).read_text(encoding="utf-8")
    schema: dict[str, Any] = json.loads(text)
    return schema
