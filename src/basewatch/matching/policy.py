"""What the user chose not to see: severity and fix filters, the ignore file, VEX statements.

Every finding left out becomes a `Suppression` saying why, so reports can count them.
"""

from __future__ import annotations

import datetime as dt
import fnmatch
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from basewatch.errors import Remedy, UsageError
from basewatch.models import (
    Confidence,
    Finding,
    FixStatus,
    Inventory,
    Origin,
    Severity,
    Suppression,
)
from basewatch.untrusted import UntrustedInput, parse_json, parse_yaml, read_regular_file

IGNORE_FILE = ".basewatchignore"


@dataclass(frozen=True, slots=True)
class IgnoreRule:
    id: str  # a vulnerability id or alias; "*" patterns allowed
    package: str = ""  # a package name or purl pattern (fnmatch); "" = any package
    reason: str = ""
    expires: dt.date | None = None

    def matches(self, finding: Finding) -> bool:
        if not any(fnmatch.fnmatchcase(i, self.id) for i in finding.ids):
            return False
        if not self.package:
            return True
        targets = (finding.package.name, finding.package.purl, finding.package.source_name)
        return any(t and fnmatch.fnmatchcase(t, self.package) for t in targets)


@dataclass(frozen=True, slots=True)
class VexStatement:
    vulnerability: frozenset[str]  # the name and aliases
    products: tuple[str, ...]  # purls or image references; empty = every product
    status: str  # not_affected, fixed, affected, under_investigation
    justification: str = ""

    def matches(self, finding: Finding) -> bool:
        if not self.vulnerability & set(finding.ids):
            return False
        return not self.products or any(
            _purl_matches(p, finding.package.purl) for p in self.products
        )


@dataclass
class Policy:
    severities: frozenset[Severity] | None = None  # None: every severity
    only_base: bool = False  # keep findings in packages the base image brought
    ignore_base: bool = False  # hide findings in packages the base image brought
    only_fixed: bool = False
    ignore_rules: Sequence[IgnoreRule] = ()
    ignore_source: str = IGNORE_FILE
    vex: Sequence[VexStatement] = ()
    vex_source: str = ""
    today: dt.date = field(default_factory=dt.date.today)

    def apply(
        self, findings: Sequence[Finding]
    ) -> tuple[list[Finding], list[Suppression], list[str]]:
        """(kept findings, suppressions, warnings about the policy itself)."""
        warnings = [
            f"{self.ignore_source}: the entry for {r.id} expired on {r.expires}; "
            "it no longer applies"
            for r in self.ignore_rules
            if r.expires is not None and r.expires < self.today
        ]
        active = [r for r in self.ignore_rules if r.expires is None or r.expires >= self.today]
        kept: list[Finding] = []
        suppressed: list[Suppression] = []
        for finding in findings:
            reason = self._reason(finding, active)
            if reason is None:
                kept.append(finding)
            else:
                suppressed.append(Suppression(finding, reason[0], reason[1]))
        return kept, suppressed, warnings

    def check_base(self, inventory: Inventory) -> list[str]:
        """Refuses `--only-base`/`--ignore-base` (UsageError) when the image's base is unknown,
        and returns a warning when it is only guessed from the history.

        Without a base every package's origin is unknown, so the filter would silently hide
        every finding (`--only-base`) or none (`--ignore-base`): an answer that looks real.
        """
        if self.only_base and self.ignore_base:
            raise UsageError(
                "keeping only the base's findings and hiding them together would hide every "
                "finding: choose one"
            )
        if not (self.only_base or self.ignore_base):
            return []
        what = (
            "keeping only the base's findings" if self.only_base else "hiding the base's findings"
        )
        base = inventory.base
        # An SBOM carries each package's origin without the base itself.
        known_origins = any(p.origin is not Origin.UNKNOWN for p in inventory.packages)
        if (base is None or base.layers <= 0) and not known_origins:
            image = inventory.image.reference or "the image"
            raise UsageError(
                f"{what}: the base image of {image} is not known, so no package can be told"
                " to come from it",
                remedy=Remedy.RECORD_BASE,
                reference=inventory.image.reference,
            )
        if base is not None and base.confidence is Confidence.LOW:
            return [
                f"{what}: the base of {inventory.image.reference or 'the image'} was guessed"
                f" from its history ({base.layers} layers, {base.method}, low confidence);"
                " recording the base in the catalog makes it certain"
            ]
        return []

    def _reason(self, finding: Finding, active: Sequence[IgnoreRule]) -> tuple[str, str] | None:
        for statement in self.vex:
            if statement.status in ("not_affected", "fixed") and statement.matches(finding):
                detail = f": {statement.justification}" if statement.justification else ""
                return f"VEX {statement.status}{detail}", f"vex:{self.vex_source}"
        for rule in active:
            if rule.matches(finding):
                return rule.reason or "ignored", self.ignore_source
        if self.only_base and finding.package.origin is not Origin.BASE:
            if finding.package.origin is Origin.UNKNOWN:
                return "not known to come from the base image", "--only-base"
            return "not in the base image", "--only-base"
        if self.ignore_base and finding.package.origin is Origin.BASE:
            return "in the base image", "--ignore-base"
        if self.only_fixed and finding.status is not FixStatus.FIXED:
            return "no fixed version", "--only-fixed"
        if self.severities is not None and finding.severity not in self.severities:
            return f"severity {finding.severity.value} not selected", "--severity"
        return None


def _purl_matches(product: str, purl: str) -> bool:
    """A VEX product matches a package purl when type/namespace/name agree and, if the product
    names a version, the versions agree; qualifiers in the product must also be present."""
    if not purl or not product.startswith("pkg:"):
        return False
    p_base, _, p_qual = product.partition("?")
    f_base, _, f_qual = purl.partition("?")
    if "@" in p_base:
        if p_base != f_base:
            return False
    elif f_base.split("@", 1)[0] != p_base:
        return False
    wanted = {q for q in p_qual.split("&") if q}
    return wanted <= {q for q in f_qual.split("&") if q}


MAX_POLICY_FILE_BYTES = 64 << 20  # ignore files and VEX documents


def load_ignore_file(path: Path) -> list[IgnoreRule]:
    """Rules from a YAML ignore file: a list, or a mapping with an `ignore:` list."""
    import yaml

    try:
        data = parse_yaml(
            read_regular_file(path, max_bytes=MAX_POLICY_FILE_BYTES).decode("utf-8"), str(path)
        )
    except FileNotFoundError as exc:
        raise UsageError(f"{path}: no such ignore file") from exc
    except UntrustedInput as exc:
        raise UsageError(f"{exc}; give a YAML ignore file") from exc
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        raise UsageError(f"{path}: not a readable YAML ignore file ({exc})") from exc
    if data is None:
        return []
    entries = data.get("ignore") if isinstance(data, dict) else data
    if not isinstance(entries, list):
        raise UsageError(f"{path}: expected a list of entries (or `ignore:` with a list)")
    rules = []
    for number, entry in enumerate(entries, start=1):
        if isinstance(entry, str):
            entry = {"id": entry}
        if not isinstance(entry, dict) or not isinstance(entry.get("id"), str):
            raise UsageError(f"{path}: entry {number} needs an `id` (a vulnerability id)")
        rules.append(
            IgnoreRule(
                id=entry["id"],
                package=str(entry.get("package") or entry.get("purl") or ""),
                reason=str(entry.get("reason") or ""),
                expires=_date(entry.get("expires"), path, number),
            )
        )
    return rules


def _date(value: Any, path: Path, number: int) -> dt.date | None:
    if value is None or value == "":
        return None
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    try:
        return dt.date.fromisoformat(str(value))
    except ValueError as exc:
        raise UsageError(
            f"{path}: entry {number}: expires {value!r} is not a YYYY-MM-DD date"
        ) from exc


def load_openvex(path: Path) -> list[VexStatement]:
    """The statements of an OpenVEX document."""

    try:
        data = parse_json(read_regular_file(path, max_bytes=MAX_POLICY_FILE_BYTES), str(path))
    except FileNotFoundError as exc:
        raise UsageError(f"{path}: no such VEX file") from exc
    except UntrustedInput as exc:
        raise UsageError(f"{exc}; give an OpenVEX JSON document") from exc
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise UsageError(f"{path}: not a readable OpenVEX JSON document ({exc})") from exc
    if not isinstance(data, dict) or not isinstance(data.get("statements"), list):
        raise UsageError(f"{path}: not an OpenVEX document (no `statements` list)")
    statements = []
    for number, raw in enumerate(data["statements"], start=1):
        if not isinstance(raw, dict):
            raise UsageError(f"{path}: statement {number} is not an object")
        vulnerability = raw.get("vulnerability")
        names: set[str] = set()
        if isinstance(vulnerability, str):
            names.add(vulnerability)
        elif isinstance(vulnerability, dict):
            for key in ("name", "@id"):
                if isinstance(vulnerability.get(key), str):
                    names.add(vulnerability[key])
            names.update(a for a in vulnerability.get("aliases") or [] if isinstance(a, str))
        status = raw.get("status")
        if not names or not isinstance(status, str):
            raise UsageError(f"{path}: statement {number} needs a vulnerability and a status")
        products: list[str] = []
        for product in raw.get("products") or []:
            if isinstance(product, str):
                products.append(product)
            elif isinstance(product, dict):
                if isinstance(product.get("@id"), str):
                    products.append(product["@id"])
                for sub in product.get("subcomponents") or []:
                    if isinstance(sub, dict) and isinstance(sub.get("@id"), str):
                        products.append(sub["@id"])
        statements.append(
            VexStatement(
                frozenset(names),
                tuple(p for p in products if p.startswith("pkg:"))
                if any(p.startswith("pkg:") for p in products)
                else (),
                status,
                str(raw.get("justification") or raw.get("impact_statement") or ""),
            )
        )
    return statements
