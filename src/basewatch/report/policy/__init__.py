"""`basewatch policy` reports: table, JSON, SARIF, Markdown (formats.py picks one).

What they share lives here, so that the four outputs of one run agree: the order verdicts come
in (what was not evaluated first, then what blocks the run, then what only warns, then what
passed), the word each verdict gets, the run's result and each policy's documentation page.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, assert_never

from basewatch.policy.model import Action, Status
from basewatch.policy.outcome import plural

if TYPE_CHECKING:
    from collections.abc import Iterable

    from basewatch.policy.model import PolicyReport, Verdict

# Where each policy is documented, relative to the repository (as `PolicySpec.doc_path`).
DOCS_DIR = "docs/policies"


def doc_path(policy_id: str) -> str:
    """The policy's documentation page, relative to the repository."""
    return f"{DOCS_DIR}/{policy_id}.md"


def doc_url(policy_id: str, docs_base: str = "") -> str:
    """Where a report links the policy's page: under `docs_base` (where the docs are published)
    when given, else the repository-relative path."""
    if not docs_base:
        return doc_path(policy_id)
    return f"{docs_base.rstrip('/')}/{policy_id}.md"


def _rank(verdict: Verdict) -> int:
    match verdict.status:
        case Status.NOT_EVALUATED:
            return 0
        case Status.FAIL:
            return 1 if verdict.blocking else 2
        case Status.PASS:
            return 3
        case _:
            assert_never(verdict.status)


def ordered(verdicts: Iterable[Verdict]) -> list[Verdict]:
    """Not evaluated first, then blocking failures, then failures that only warn, then passes;
    within each group, the order the policies were evaluated in."""
    return sorted(verdicts, key=_rank)


def not_evaluated(report: PolicyReport) -> list[Verdict]:
    return [v for v in report.verdicts if v.status is Status.NOT_EVALUATED]


def failed(report: PolicyReport) -> list[Verdict]:
    """Failing verdicts, blocking ones first."""
    return ordered(v for v in report.verdicts if v.status is Status.FAIL)


def passed(report: PolicyReport) -> list[Verdict]:
    return [v for v in report.verdicts if v.status is Status.PASS]


def result_of(report: PolicyReport) -> str:
    """`fail` when some verdict blocks the run, else `pass` (whatever was not evaluated)."""
    return "fail" if report.failed else "pass"


def label(verdict: Verdict) -> str:
    """What the verdict does to the run, in one word or two: `fail` (it blocks the run), `warn`
    (it failed, but its action is `warn`), `pass`, `not evaluated`."""
    match verdict.status:
        case Status.NOT_EVALUATED:
            return "not evaluated"
        case Status.PASS:
            return "pass"
        case Status.FAIL:
            match verdict.action:
                case Action.FAIL:
                    return "fail"
                case Action.WARN:
                    return "warn"
                case _:
                    assert_never(verdict.action)
        case _:
            assert_never(verdict.status)


def result_summary(report: PolicyReport) -> str:
    """One sentence of counts: "2 policies fail the run (no-kev, non-root); 1 failed as a
    warning (license); 2 passed; 3 not evaluated"."""
    if not report.verdicts:
        return "no policy applies to this image"
    failing = failed(report)
    blocking = [v.id for v in failing if v.blocking]
    warning = [v.id for v in failing if not v.blocking]
    parts = []
    if blocking:
        verb = "fails" if len(blocking) == 1 else "fail"
        parts.append(f"{plural(len(blocking), 'policy', 'policies')} {verb} the run")
        parts[-1] += f" ({', '.join(blocking)})"
    if warning:
        parts.append(f"{len(warning):,} failed as a warning ({', '.join(warning)})")
    parts.append(f"{len(passed(report)):,} passed")
    unknown = not_evaluated(report)
    if unknown:
        parts.append(f"{len(unknown):,} not evaluated")
    return "; ".join(parts)
