"""How a check turns what it found into a verdict: exceptions applied, the reason written.

Checks collect the items that would fail them and call `conclude`; the items an exception
covers are set apart before the reason is written, so the reason always describes what
still counts. A failing verdict always has at least one item.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Callable, Iterable, Sequence

from basewatch.policy.model import (
    Action,
    Item,
    PolicyConfig,
    PolicyException,
    Status,
    Verdict,
)


def plural(n: int, word: str, words: str = "") -> str:
    """ "1 package", "3 packages" (`words` for irregular plurals)."""
    return f"{n:,} {word if n == 1 else (words or word + 's')}"


def apply_exceptions(
    policy: str, exceptions: Iterable[PolicyException], items: Iterable[Item], today: dt.date
) -> tuple[tuple[Item, ...], tuple[Item, ...]]:
    """(items that still fail, items an exception covers, with its reason). Expired exceptions
    and exceptions for another policy cover nothing."""
    active = [e for e in exceptions if e.policy in ("", policy) and not e.expired(today)]
    failing: list[Item] = []
    excepted: list[Item] = []
    for item in items:
        cover = next((e for e in active if e.covers(item)), None)
        if cover is None:
            failing.append(item)
        else:
            excepted.append(dataclasses.replace(item, excepted_by=cover.reason))
    return tuple(failing), tuple(excepted)


def not_evaluated(config: PolicyConfig, title: str, reason: str) -> Verdict:
    return Verdict(
        id=config.id,
        title=title,
        status=Status.NOT_EVALUATED,
        action=config.action,
        reason=reason,
        parameters=dict(config.parameters),
    )


def conclude(
    config: PolicyConfig,
    title: str,
    today: dt.date,
    items: Sequence[Item],
    *,
    passed: str,
    failed: Callable[[Sequence[Item]], str],
    notes: Sequence[str] = (),
    action: Action | None = None,
) -> Verdict:
    """FAIL with the items no exception covers, else PASS; `notes` (what was not checked...)
    end the reason either way. `action` overrides the configured one for a failing verdict.

    `passed` is the reason when nothing fails; when exceptions cover every failing item, the
    reason describes those items (`failed`) and says they are covered."""
    failing, excepted = apply_exceptions(config.id, config.exceptions, items, today)
    covered = "an exception" if len(excepted) == 1 else "exceptions"
    if failing:
        reason = failed(failing)
        if excepted:
            reason += f" ({len(excepted):,} more covered by {covered})"
    elif excepted:
        reason = f"{failed(excepted)}, covered by {covered}"
    else:
        reason = passed
    reason = "; ".join((reason, *notes))
    return Verdict(
        id=config.id,
        title=title,
        status=Status.FAIL if failing else Status.PASS,
        action=action if failing and action is not None else config.action,
        reason=reason,
        items=failing,
        excepted=excepted,
        parameters=dict(config.parameters),
    )
