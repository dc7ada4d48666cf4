"""Alpine, Wolfi and Chainguard security databases (secdb JSON) -> OSV advisories.

A secdb file lists, per package, the versions that fixed each vulnerability id
(`{"packages": [{"pkg": {"name": ..., "secfixes": {"1.2-r0": ["CVE-..."]}}}]}`). It is a
snapshot of one repository of one release: the importer replaces its source whole.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeGuard

from basewatch.errors import DatabaseError
from basewatch.vulndb.model import Advisory, Affected, AffectedRange, EventKind, RangeEvent
from basewatch.vulndb.osv import MAX_VERSION_LENGTH, Tally

# One id in a secfixes entry: "CVE-2019-1234", "XSA-182", "TALOS-2019-0844", "GHSA-xxxx-...".
_SECFIX_ID = re.compile(r"^[A-Z][A-Z0-9]*-[A-Za-z0-9][A-Za-z0-9._:-]*$")
# "CVE-2017-17434-1", "-2": Alpine's names for two patches of one CVE.
_CVE_ID = re.compile(r"^CVE-\d{4}-\d{4,}(?=$|-\d+$)")
# apk version syntax (abuild's APKBUILD(5)), as OSV's own secdb converter checks it.
_APK_VERSION = re.compile(
    r"^(\d+\.)*\d+[a-zA-Z]?(_?(alpha|beta|rc|pre|cvs|svn|git|hg|p)\d*)*([-.]r\d+)?$"
)
# In secfixes, a CVE listed under version "0" does not affect the package at all (the
# maintainers' way to reject it, e.g. it concerns another platform or predates the package).
_NOT_AFFECTED = "0"


@dataclass(frozen=True, slots=True)
class SecdbConversion:
    """A secdb file as OSV advisories, one per vulnerability id, with every package it names."""

    ecosystem: str  # "Alpine:v3.10", "Wolfi", "Chainguard"
    source: str  # "secdb:Alpine:v3.10/main"
    advisories: tuple[Advisory, ...]
    malformed: int = 0
    not_affected: int = 0  # (package, id) pairs listed under "0"
    problems: tuple[str, ...] = ()
    refusals: tuple[tuple[str, str, str, str], ...] = ()  # as `Tally.refusals`


def is_secdb_document(data: object) -> TypeGuard[dict[str, Any]]:
    """Whether a decoded JSON document is a secdb file (`{"packages": [{"pkg": ...}]}`)."""
    return (
        isinstance(data, dict)
        and isinstance(data.get("packages"), list)
        and any(k in data for k in ("distroversion", "reponame", "urlprefix", "apkurl"))
    )


def convert_secdb(data: object, filename: str = "") -> SecdbConversion:
    """Turn a secdb document into OSV advisories.

    Ecosystem: `Alpine:<distroversion>` for Alpine; Wolfi and Chainguard files carry no
    release, and are told apart by "wolfi" or "chainguard" in their `reponame`, `urlprefix` or
    `apkurl` fields, else in the file name. Ids follow OSV's Alpine records: `ALPINE-CVE-...`
    (`WOLFI-`, `CHAINGUARD-`) with the vulnerability id as `upstream`, one record per id
    holding every package it names, each with an `introduced: 0` / `fixed: <version>` range
    per version listing it. Further ids in an entry ("CVE-2016-6258 XSA-182") are kept as
    upstream ids, parenthesised notes are dropped; entries under "0" are not vulnerabilities
    of that package and produce nothing.
    """
    if not is_secdb_document(data):
        raise DatabaseError(f"{filename or 'this file'} is not a secdb document")
    ecosystem, prefix = _secdb_distribution(data, filename)
    repo = data.get("reponame") if isinstance(data.get("reponame"), str) else ""
    source = f"secdb:{ecosystem}/{repo or Path(filename).stem or 'secdb'}"
    tally = Tally()
    # primary id -> (upstream ids, package -> fixed versions); both dicts keep file order
    found: dict[str, tuple[dict[str, None], dict[str, dict[str, None]]]] = {}
    for index, item in enumerate(data["packages"]):
        package = item.get("pkg") if isinstance(item, dict) else None
        name = package.get("name") if isinstance(package, dict) else None
        secfixes = package.get("secfixes") if isinstance(package, dict) else None
        where = f"packages[{index}]"
        if not isinstance(name, str) or not name.strip():
            tally.refuse(where, "no package name")
            continue
        if secfixes is None:
            continue
        package_key = (ecosystem, name.strip())
        if not isinstance(secfixes, dict):
            tally.refuse(f"{where} ({name})", "secfixes is not an object", package_key)
            continue
        for version, entries in secfixes.items():
            entries = entries or []
            shown = _shorten(str(version))
            if not isinstance(entries, list):
                tally.refuse(f"{name} {shown}", "the secfixes entry is not a list", package_key)
                continue
            if version == _NOT_AFFECTED:
                tally.skipped += len(entries)
                continue
            if len(version) > MAX_VERSION_LENGTH or not _APK_VERSION.match(version):
                for entry in entries:
                    tally.refuse(
                        f"{name} {shown!r}",
                        f"not an apk version ({_shorten(repr(entry))})",
                        package_key,
                    )
                continue
            for entry in entries:
                ids = _secfix_ids(entry) if isinstance(entry, str) else []
                if not ids:
                    tally.refuse(
                        f"{name} {shown}",
                        f"no vulnerability id in {_shorten(repr(entry))}",
                        package_key,
                    )
                    continue
                upstream, packages = found.setdefault(ids[0], ({}, {}))
                upstream.update(dict.fromkeys(ids))
                packages.setdefault(name.strip(), {})[version] = None
    advisories = tuple(
        Advisory(
            id=f"{prefix}-{primary}",
            upstream=tuple(upstream),
            affected=tuple(
                Affected(
                    ecosystem=ecosystem,
                    name=package,
                    ranges=tuple(
                        AffectedRange(
                            "ECOSYSTEM",
                            (
                                RangeEvent(EventKind.INTRODUCED, "0"),
                                RangeEvent(EventKind.FIXED, fixed),
                            ),
                        )
                        for fixed in versions
                    ),
                )
                for package, versions in packages.items()
            ),
        )
        for primary, (upstream, packages) in found.items()
    )
    return SecdbConversion(
        ecosystem=ecosystem,
        source=source,
        advisories=advisories,
        malformed=tally.malformed,
        not_affected=tally.skipped,
        problems=tuple(tally.problems),
        refusals=tuple(tally.refusals),
    )


def _shorten(text: str, limit: int = 80) -> str:
    return text if len(text) <= limit else f"{text[:limit]}... ({len(text):,} characters)"


def _secdb_distribution(data: dict[str, Any], filename: str) -> tuple[str, str]:
    fields = " ".join(str(data.get(key, "")) for key in ("reponame", "urlprefix", "apkurl"))
    by_fields = _wolfi_or_chainguard(fields)
    if by_fields is not None:
        return by_fields
    version = data.get("distroversion")
    if isinstance(version, str) and version.strip():
        version = version.strip()
        return f"Alpine:{version if version.startswith('v') else 'v' + version}", "ALPINE"
    by_name = _wolfi_or_chainguard(Path(filename).name)
    if by_name is not None:
        return by_name
    raise DatabaseError(
        f"cannot tell which distribution the secdb file {filename} is for: it has no "
        "distroversion (Alpine) and names neither Wolfi nor Chainguard"
    )


def _wolfi_or_chainguard(text: str) -> tuple[str, str] | None:
    text = text.lower()
    if "chainguard" in text:
        return "Chainguard", "CHAINGUARD"
    if "wolfi" in text:
        return "Wolfi", "WOLFI"
    return None


def _secfix_ids(entry: str) -> list[str]:
    ids: list[str] = []
    for token in entry.split():
        if token.startswith("("):
            break  # the rest is a note: "CVE-2018-14468 (FrameRelay)"
        if token.startswith("CVE-"):
            if cve := _CVE_ID.match(token):
                ids.append(cve.group(0))
        elif _SECFIX_ID.match(token):
            ids.append(token)
    return list(dict.fromkeys(ids))
