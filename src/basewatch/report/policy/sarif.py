"""`basewatch policy --format sarif`: SARIF 2.1.0 for code-scanning dashboards (GitHub, GitLab...).

- One rule per policy that has results: every failing policy, and a passing one whose items
  exceptions all cover. The rule id is the policy id; its `helpUri` and `help` point at the
  policy's documentation page (`docs/policies/<id>.md`, under `docs_base` when given).
- One result per failing item, level `error` when the policy blocks the run (action `fail`),
  `warning` when its action is `warn`. Items an exception covers are results too, with an
  `external` suppression carrying the exception's reason: dashboards show them as dismissed
  instead of reopening them.
- Policies that were not evaluated are tool execution notifications (descriptor
  `basewatch/policy-not-evaluated`, level warning), listed first, then the evaluation's
  warnings; `executionSuccessful` is false when a policy was not evaluated. See `_invocation`
  for why they are not results.

Every result is located on the image: GitHub code scanning rejects a whole log when one result
lacks `physicalLocation.artifactLocation.uri`, and a policy verdict has no file of its own. The
URI is the image's repository without tag or digest (`registry.example.com/team/app`, escaped
as a relative URI reference), so a new tag of the same image keeps its alerts.

Fingerprints: `partialFingerprints["basewatchPolicy/v1"]` is a hash of the policy id, the
image's repository and the item's identity (its `id`, a purl without its version, and its
package): an alert stays the same alert from run to run and tag to tag while the same item
fails the same policy on the same repository.
"""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, ClassVar, assert_never
from urllib.parse import quote

from basewatch import __version__
from basewatch.policy.builtin import normalize_repository
from basewatch.policy.model import Action
from basewatch.report.common import TOOL_NAME
from basewatch.report.jsondoc import dumps
from basewatch.report.policy import doc_url, not_evaluated, ordered, result_of
from basewatch.report.policy.json import json_value
from basewatch.report.sarif import SARIF_VERSION, SCHEMA_URI
from basewatch.report.text import markdown_escape

if TYPE_CHECKING:
    from basewatch.models import ImageInfo
    from basewatch.policy.model import Item, PolicyRun, Verdict

FINGERPRINT_KEY = "basewatchPolicy/v1"
# The notification descriptor of "this policy was not evaluated", so a consumer can find it.
NOT_EVALUATED_ID = "basewatch/policy-not-evaluated"


class PolicySarifReporter:
    """Renders one SARIF 2.1.0 log with one run. `now` pins the invocation's end time (the
    current time by default); `docs_base` is where the policy documentation is published
    (relative `docs/policies/<id>.md` links without it)."""

    name: ClassVar[str] = "sarif"
    media_type: ClassVar[str] = "application/sarif+json"

    def __init__(self, *, now: datetime | None = None, docs_base: str = "") -> None:
        self._now = now
        self._docs_base = docs_base

    def render(self, run: PolicyRun) -> bytes:
        now = self._now or datetime.now(UTC).replace(microsecond=0)
        return dumps(sarif_log(run, now=now, docs_base=self._docs_base))


def sarif_log(run: PolicyRun, *, now: datetime, docs_base: str = "") -> dict[str, Any]:
    """The log as plain JSON values: rules and results in report order (blocking policies
    first), each policy's failing items before the ones exceptions cover."""
    with_results = [v for v in ordered(run.report.verdicts) if v.items or v.excepted]
    rules = [_rule(v, docs_base) for v in with_results]
    results = []
    for index, verdict in enumerate(with_results):
        results += [_result(verdict, index, item, run, suppressed=False) for item in verdict.items]
        results += [
            _result(verdict, index, item, run, suppressed=True) for item in verdict.excepted
        ]
    sarif_run: dict[str, Any] = {
        "tool": {
            "driver": {
                "name": TOOL_NAME,
                "version": __version__,
                "semanticVersion": __version__,
                "rules": rules,
            }
        },
        "invocations": [_invocation(run, now)],
        "results": results,
        "properties": _run_properties(run),
    }
    return {"$schema": SCHEMA_URI, "version": SARIF_VERSION, "runs": [sarif_run]}


def level(action: Action) -> str:
    """A failing item's level: `error` when it fails the run, `warning` when it only warns."""
    match action:
        case Action.FAIL:
            return "error"
        case Action.WARN:
            return "warning"
        case _:
            assert_never(action)


def fingerprint(policy_id: str, image: ImageInfo, item: Item) -> str:
    """The stable identity of a failing item across runs (see the module docstring)."""
    parts = [policy_id, _repository(image), *_item_identity(item)]
    key = "\0".join(parts).encode("utf-8", "surrogatepass")
    return hashlib.sha256(key).hexdigest()[:32]


def _item_identity(item: Item) -> tuple[str, str]:
    """(id, package): a purl id loses its version and qualifiers, so that an upgrade which
    does not fix the item keeps its alert; without an id, the subject stands for it."""
    ident = item.data.get("id")
    text = ident if isinstance(ident, str) and ident else item.subject
    if text.startswith("pkg:"):
        # In a purl, an `@` in the name is escaped (%40): the first literal one starts the version.
        text = text.partition("?")[0].partition("#")[0].partition("@")[0]
    package = item.data.get("package")
    return text, package if isinstance(package, str) else ""


def _rule(verdict: Verdict, docs_base: str) -> dict[str, Any]:
    url = doc_url(verdict.id, docs_base)
    effect = (
        "a failure fails the run (action fail)"
        if verdict.action is Action.FAIL
        else "a failure is reported and does not fail the run (action warn)"
    )
    parameters = {name: json_value(v) for name, v in verdict.parameters.items()}
    shown = ", ".join(f"{name}: {json.dumps(v)}" for name, v in parameters.items()) or "none"
    title = _one_line(verdict.title)
    return {
        "id": verdict.id,
        "shortDescription": {"text": title},
        "fullDescription": {"text": f"basewatch policy {verdict.id}: {title}; {effect}."},
        "helpUri": url,
        "help": {
            "text": f"{title}\n\nbasewatch policy {verdict.id}; {effect}.\n"
            f"Parameters: {shown}\nDocumentation: {url}",
            "markdown": f"**{markdown_escape(title)}**\n\n"
            f"basewatch policy `{verdict.id}`; {effect}.\n\n"
            f"Parameters: {markdown_escape(shown)}\n\n"
            f"Documentation: [{markdown_escape(verdict.id)}]({url})",
        },
        "defaultConfiguration": {"level": level(verdict.action)},
        "properties": {
            "tags": ["security", "policy", "container-image"],
            "precision": "very-high",
            "action": verdict.action.value,
            "parameters": parameters,
        },
    }


def _result(
    verdict: Verdict, rule_index: int, item: Item, run: PolicyRun, *, suppressed: bool
) -> dict[str, Any]:
    subject = _one_line(item.subject)
    message = f"{subject}: fails policy {verdict.id} ({_one_line(verdict.title)})"
    message += "." if verdict.action is Action.FAIL else ", which only warns."
    result: dict[str, Any] = {
        "ruleId": verdict.id,
        "ruleIndex": rule_index,
        "kind": "fail",
        "level": level(verdict.action),
        "message": {"text": message},
        "locations": [_location(run.image)],
        "partialFingerprints": {FINGERPRINT_KEY: fingerprint(verdict.id, run.image, item)},
    }
    if suppressed:
        result["suppressions"] = [
            {
                "kind": "external",
                "status": "accepted",
                "justification": item.excepted_by or "a policy exception",
                "properties": {"source": run.policy_file or "policy exceptions"},
            }
        ]
    result["properties"] = {
        "policy": verdict.id,
        "action": verdict.action.value,
        "blocking": verdict.blocking and not suppressed,
        "data": {key: json_value(value) for key, value in item.data.items()},
        "aliases": list(item.aliases),
    }
    return result


def _location(image: ImageInfo) -> dict[str, Any]:
    name = _image_name(image)
    return {
        "physicalLocation": {
            "artifactLocation": {
                "uri": _uri(_repository(image)),
                "description": {"text": f"the container image {name}"},
            }
        },
        "message": {"text": f"in {name}"},
    }


def _invocation(run: PolicyRun, now: datetime) -> dict[str, Any]:
    unknown = not_evaluated(run.report)
    # Not evaluated is a fact about this run, not about the image: as results (level "note")
    # they would open a GitHub alert per policy that an offline run opens and the next online
    # run closes as "fixed", though nothing was fixed, and they would count among the image's
    # problems. SARIF's place for "the tool could not do part of its job" is the invocation's
    # notifications, where `scan` also puts what it did not check; `executionSuccessful` false
    # keeps a dashboard from showing the run as a clean one. People reading the job log or the
    # PR comment see them first in the table and Markdown reports.
    invocation: dict[str, Any] = {
        "executionSuccessful": not unknown,
        "endTimeUtc": now.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
    }
    notifications = [
        {
            "descriptor": {"id": NOT_EVALUATED_ID},
            "level": "warning",
            "message": {"text": f"policy {v.id} ({_one_line(v.title)}) not evaluated: {v.reason}"},
            "properties": {"policy": v.id},
        }
        for v in unknown
    ]
    notifications += [{"level": "warning", "message": {"text": w}} for w in run.report.warnings]
    if notifications:
        invocation["toolExecutionNotifications"] = notifications
    return invocation


def _run_properties(run: PolicyRun) -> dict[str, Any]:
    image = run.image
    base = run.base
    return {
        "result": result_of(run.report),
        "notEvaluated": [v.id for v in not_evaluated(run.report)],
        "policyFile": run.policy_file,
        "image": {
            "reference": image.reference,
            "manifestDigest": image.manifest_digest,
            "configDigest": image.config_digest,
            "platform": image.platform,
            "base": None
            if base is None
            else {
                "reference": base.reference,
                "digest": base.digest,
                "method": base.method.value,
                "confidence": base.confidence.value,
            },
        },
        "database": None
        if run.database is None
        else {"sources": [{"name": n, "updatedAt": u} for n, u in run.database.sources]},
    }


def _repository(image: ImageInfo) -> str:
    """The image without tag or digest: what stays the same from release to release."""
    if image.reference:
        return normalize_repository(image.reference)
    return image.manifest_digest or image.config_digest or "image"


def _uri(text: str) -> str:
    """`text` as a relative URI reference: no leading slash, reserved bytes escaped (`:` too,
    as a first segment holding one would read as a URI scheme)."""
    return quote(text.lstrip("/"), safe="/!$&'()*+,;=@~") or "image"


def _image_name(image: ImageInfo) -> str:
    return image.reference or image.manifest_digest or image.config_digest or "the image"


def _one_line(text: str) -> str:
    return " ".join(text.split())
