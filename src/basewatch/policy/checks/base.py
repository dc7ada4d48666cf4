"""Policies about the base image: `base-up-to-date`, `supported-base` and `approved-base`."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass

from basewatch.models import BaseImage
from basewatch.policy.facts import Facts
from basewatch.policy.model import Action, Item, PolicyConfig, Verdict
from basewatch.policy.outcome import conclude, not_evaluated, plural
from basewatch.policy.patterns import (
    first_match,
    normalize_pattern,
    parse_base_reference,
    reference_forms,
)
from basewatch.policy.spec import (
    Parameter,
    PolicySpec,
    parameters,
    parse_bool,
    parse_days,
    text_list,
)
from basewatch.vulndb.eol import release_cycle

_RECORD_BASE = (
    "record it in the catalog or build the image with the "
    "org.opencontainers.image.base.name annotation"
)
BASE_UNKNOWN = f"the image's base is unknown: {_RECORD_BASE}"


def _named_base(facts: Facts) -> BaseImage | str:
    """The base, or why there is none to judge (the history only guesses where it ends)."""
    base = facts.inventory.base
    if base is None:
        return BASE_UNKNOWN
    if not base.reference:
        return (
            f"the image's base is not known by name (its first {plural(base.layers, 'layer')}"
            f" were guessed from the history): {_RECORD_BASE}"
        )
    return base


def _short(digest: str) -> str:
    algorithm, _, value = digest.partition(":")
    return f"{algorithm}:{value[:12]}" if value else digest


# --- base-up-to-date --------------------------------------------------------------------------


def _base_up_to_date(config: PolicyConfig, facts: Facts) -> Verdict:
    title = UP_TO_DATE.title
    base = _named_base(facts)
    if isinstance(base, str):
        return not_evaluated(config, title, base)
    if not base.digest:
        return not_evaluated(
            config, title, f"the digest of {base.reference} the image was built on is unknown"
        )
    parsed = parse_base_reference(base.reference)
    if parsed is not None and parsed.digest and not parsed.tag:
        return not_evaluated(
            config, title, f"the base {base.reference} is named by digest alone: no tag to follow"
        )
    if facts.base_now is None:
        why = facts.base_now_why or "unknown"
        return not_evaluated(
            config, title, f"where the tag of {base.reference} points now is not known: {why}"
        )
    items = []
    if facts.base_now != base.digest:
        items.append(
            Item(
                subject=(
                    f"{base.reference} was built on {_short(base.digest)}; "
                    f"the tag now points to {_short(facts.base_now)}"
                ),
                data={
                    "id": base.reference,
                    "reference": base.reference,
                    "digest": base.digest,
                    "now_digest": facts.base_now,
                },
            )
        )

    def failed(failing: Sequence[Item]) -> str:
        return f"the base has moved: {failing[0].subject}; rebuild the image"

    return conclude(
        config,
        title,
        facts.today,
        items,
        passed=f"{base.reference} still points to {_short(base.digest)}, the digest built on",
        failed=failed,
    )


UP_TO_DATE = PolicySpec(
    id="base-up-to-date",
    title="The base image is up to date",
    parameters=parameters(),
    evaluate=_base_up_to_date,
)

# --- supported-base ---------------------------------------------------------------------------

WARN_DAYS = Parameter("warn_days", parse_days, 30)


@dataclass(frozen=True, slots=True)
class Release:
    id: str  # "debian 12": the os-release ID and the end-of-life table's cycle
    label: str  # what a person reads: "Debian GNU/Linux 12 (bookworm)"
    eol: dt.date


def release_of(facts: Facts) -> Release | str:
    """The image's OS release and its end of life, or why either is unknown."""
    os = facts.inventory.os
    if os is None:
        return "the image's OS release is unknown (no os-release file or package database)"
    if not os.version_id:
        return (
            f"the release of {os.pretty_name or os.id} is unknown (no VERSION_ID: a testing or "
            "rolling release has no end of life)"
        )
    cycle = release_cycle(os.id, os.version_id)
    release_id = f"{os.id} {cycle}"
    eol = facts.eol(os.id, cycle)
    if eol is None:
        return f"no end-of-life date is known for {release_id}"
    return Release(release_id, os.pretty_name or f"{os.id} {os.version_id}", eol)


def _release_item(release: Release, subject: str, days: int) -> Item:
    return Item(
        subject=subject,
        data={
            "id": release.id,
            "release": release.label,
            "eol": release.eol.isoformat(),
            "days": days,
        },
    )


def ended_item(release: Release, today: dt.date) -> Item | None:
    """The item for a release past its end of life (the last day itself is still supported)."""
    if release.eol >= today:
        return None
    ago = (today - release.eol).days
    subject = (
        f"{release.label} reached end of life on {release.eol.isoformat()} "
        f"({plural(ago, 'day')} ago)"
    )
    return _release_item(release, subject, -ago)


def _supported_base(config: PolicyConfig, facts: Facts) -> Verdict:
    title = SUPPORTED.title
    release = release_of(facts)
    if isinstance(release, str):
        return not_evaluated(config, title, release)
    notes = []
    if facts.inventory.base is None:
        notes.append("the image's base is unknown, so its own release was checked")
    warn_days = WARN_DAYS.value(config)
    left = (release.eol - facts.today).days
    action: Action | None = None
    items = []
    if ended := ended_item(release, facts.today):
        items.append(ended)
    elif left <= warn_days:
        action = Action.WARN  # still supported: a warning, whatever the configured action
        subject = (
            f"{release.label} reaches end of life on {release.eol.isoformat()} "
            f"(in {plural(left, 'day')}, within {plural(warn_days, 'day')})"
        )
        items.append(_release_item(release, subject, left))

    def failed(failing: Sequence[Item]) -> str:
        return failing[0].subject

    return conclude(
        config,
        title,
        facts.today,
        items,
        passed=(
            f"{release.label} is supported until {release.eol.isoformat()} "
            f"({plural(left, 'day')} left)"
        ),
        failed=failed,
        notes=notes,
        action=action,
    )


SUPPORTED = PolicySpec(
    id="supported-base",
    title="The base's release is supported",
    parameters=parameters(WARN_DAYS),
    evaluate=_supported_base,
)

# --- approved-base ----------------------------------------------------------------------------


def parse_patterns(value: object) -> tuple[str, ...]:
    return text_list(value, what="image reference patterns", check=normalize_pattern)


ALLOW: Parameter[tuple[str, ...]] = Parameter("allow", parse_patterns, (), required=True)
SUPPORTED_ONLY = Parameter("supported_only", parse_bool, False)


def _approved_base(config: PolicyConfig, facts: Facts) -> Verdict:
    title = APPROVED.title
    allow = ALLOW.value(config)
    if not allow:
        return not_evaluated(config, title, "no approved bases configured (no allow patterns)")
    base = _named_base(facts)
    if isinstance(base, str):
        return not_evaluated(config, title, base)
    reference = parse_base_reference(base.reference)
    if reference is None:
        return not_evaluated(
            config, title, f"the base {base.reference!r} is not a registry image reference"
        )
    forms = reference_forms(reference)
    pattern = first_match(allow, forms)
    items = []
    if not pattern:
        shown = ", ".join(allow[:5]) + (f", +{len(allow) - 5} more" if len(allow) > 5 else "")
        items.append(
            Item(
                subject=f"{base.reference} ({forms[0]}) matches no allowed pattern ({shown})",
                data={"id": forms[0], "reference": base.reference, "digest": base.digest},
            )
        )
    passed = f"{forms[0]} matches {pattern}"
    notes = []
    if SUPPORTED_ONLY.value(config):
        release = release_of(facts)
        if isinstance(release, str):
            if not items:
                return not_evaluated(
                    config, title, f"{passed}, but whether its release is supported: {release}"
                )
            notes.append(f"whether its release is supported was not checked: {release}")
        elif ended := ended_item(release, facts.today):
            items.append(ended)
        else:
            passed += f", and {release.label} is supported until {release.eol.isoformat()}"

    def failed(failing: Sequence[Item]) -> str:
        return "; ".join(i.subject for i in failing)

    return conclude(config, title, facts.today, items, passed=passed, failed=failed, notes=notes)


APPROVED = PolicySpec(
    id="approved-base",
    title="The base image is approved",
    parameters=parameters(ALLOW, SUPPORTED_ONLY),
    evaluate=_approved_base,
)
