"""`license`: no package whose license terms cannot be met without a denied license."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from typing import assert_never

from basewatch.models import Package
from basewatch.policy.facts import Facts
from basewatch.policy.licenses import LicenseStatus, check_licenses, normalize_license_id
from basewatch.policy.model import Item, PolicyConfig, Verdict
from basewatch.policy.outcome import conclude, not_evaluated, plural
from basewatch.policy.spec import Parameter, PolicySpec, parameters, text_list


def parse_license_ids(value: object) -> tuple[str, ...]:
    return text_list(value, what="SPDX license ids", check=normalize_license_id)


DENY: Parameter[tuple[str, ...]] = Parameter(
    "deny", parse_license_ids, ("AGPL-3.0-only", "AGPL-3.0-or-later")
)


def _item(package: Package, expression: str, denied: tuple[str, ...]) -> Item:
    return Item(
        subject=(
            f"{package.name} {package.version}: {expression} (no choice avoids {', '.join(denied)})"
        ),
        data={
            "id": package.purl or package.name,
            "package": package.name,
            "source": package.source_name or package.name,
            "version": package.version,
            "purl": package.purl,
            "license": expression,
            "denied": ", ".join(denied),
        },
    )


def _license(config: PolicyConfig, facts: Facts) -> Verdict:
    title = LICENSE.title
    deny = frozenset(DENY.value(config))
    packages = facts.inventory.packages
    if not packages:
        return not_evaluated(config, title, "no package was found in the image: nothing to check")
    items = []
    unchecked: Counter[LicenseStatus] = Counter()
    for package in sorted(packages, key=lambda p: (p.name, p.version, p.purl)):
        check = check_licenses(package.licenses, deny, facts.spdx)
        match check.status:
            case LicenseStatus.DENIED:
                items.append(_item(package, check.expression, check.denied))
            case LicenseStatus.NONE | LicenseStatus.UNKNOWN:
                unchecked[check.status] += 1
            case LicenseStatus.ALLOWED:
                pass
            case _:
                assert_never(check.status)
    checked = len(packages) - sum(unchecked.values())
    why = ", ".join(
        f"{what}: {unchecked[status]:,}"
        for status, what in (
            (LicenseStatus.NONE, "no license declared"),
            (LicenseStatus.UNKNOWN, "not a readable SPDX expression"),
        )
        if unchecked[status]
    )
    if not checked:
        return not_evaluated(
            config,
            title,
            f"none of the {plural(len(packages), 'package')} declares a license that can be "
            f"checked ({why})",
        )
    notes = []
    if unchecked:
        total = sum(unchecked.values())
        verb = "was" if total == 1 else "were"
        notes.append(f"{plural(total, 'package')} {verb} not checked ({why})")
    denied = ", ".join(sorted(deny))

    def failed(failing: Sequence[Item]) -> str:
        verb = "needs" if len(failing) == 1 else "need"
        return f"{plural(len(failing), 'package')} {verb} a denied license ({denied})"

    return conclude(
        config,
        title,
        facts.today,
        items,
        passed=(
            f"no package needs a denied license ({denied}) among the "
            f"{plural(checked, 'package')} checked"
        ),
        failed=failed,
        notes=notes,
    )


LICENSE = PolicySpec(
    id="license",
    title="No package under a denied license",
    parameters=parameters(DENY),
    evaluate=_license,
)
