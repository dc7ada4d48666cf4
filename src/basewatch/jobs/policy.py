"""The policy job: an image -> its inventory and findings (as the scan job makes them) and the
facts only a registry knows (where the base's tag points now, the image's attestations) ->
every policy's verdict.

Nothing a policy needs is guessed: offline, for a local image or when the registry fails, the
fact is left unknown with the reason, and the policies that need it say "not evaluated".
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
from dataclasses import dataclass
from pathlib import Path

from basewatch.clock import today
from basewatch.errors import Error, UsageError
from basewatch.jobs.scan import ScanOutcome, ScanRequest, fetch_advisories, scan
from basewatch.jobs.seams import Seams
from basewatch.matching.evaluate import scan_inventory
from basewatch.matching.policy import Policy
from basewatch.models import DatabaseInfo, Inventory, ScanResult
from basewatch.oci.reference import RegistryRef, parse_reference
from basewatch.policy import (
    Attestation,
    Facts,
    PolicyConfig,
    PolicyRun,
    default_policies,
    evaluate_all,
    load_policy_file,
)
from basewatch.policy.builtin import in_scope, normalized
from basewatch.policy.licenses import cached_spdx_ids
from basewatch.untrusted import UntrustedInput, read_regular_file
from basewatch.vulndb.eol import current_eol_lookup

MAX_POLICY_FILE = 1 << 20  # bytes


@dataclass(frozen=True, slots=True)
class PolicyRequest:
    """Evaluate the policies of `policy_file` (every built-in, with its defaults, without one)
    on `image`."""

    image: str
    policy_file: Path | None = None
    platform: str | None = None
    fetch: bool = True  # download the advisories the database lacks (as `scan` does)
    refresh: bool = True
    scan_policy: Policy = dataclasses.field(default_factory=Policy)  # ignore file and VEX


@dataclass(frozen=True, slots=True)
class PolicyOutcome:
    run: PolicyRun
    inventory: Inventory
    scan: ScanResult | None


def read_policies(path: Path | None) -> tuple[list[PolicyConfig], str]:
    """The policies of the file at `path` (bounded, a regular file), or the defaults."""
    if path is None:
        return list(_defaults()), ""
    try:
        text = read_regular_file(path, max_bytes=MAX_POLICY_FILE).decode("utf-8")
    except FileNotFoundError as exc:
        raise UsageError(f"{path}: no such policy file") from exc
    except UntrustedInput as exc:
        raise UsageError(f"{exc}; give a YAML policy file") from exc
    except (OSError, UnicodeDecodeError) as exc:
        raise UsageError(f"{path}: not a readable policy file ({exc})") from exc
    return [normalized(c) for c in load_policy_file(text, str(path))], str(path)


@functools.cache
def _defaults() -> tuple[PolicyConfig, ...]:
    return tuple(normalized(c) for c in default_policies())


def evaluate_policies(request: PolicyRequest, seams: Seams) -> PolicyOutcome:
    configs, origin = read_policies(request.policy_file)  # a bad file fails before any pull
    ref = seams.images.parse(request.image)
    source = seams.images.open(ref, seams.scanner)
    inventory = seams.scanner.inventory(source, platform=request.platform)
    warnings: list[str] = []
    if request.fetch:
        warnings = fetch_advisories(seams, inventory, refresh=request.refresh)
    scan: ScanResult | None = None
    database: DatabaseInfo | None = None
    if seams.vulns.exists():
        with seams.vulns.open() as store:
            database = seams.vulns.info(store)
            scan = scan_inventory(inventory, store, request.scan_policy, database)
        if warnings:
            scan = dataclasses.replace(scan, warnings=(*warnings, *scan.warnings))
    registry = ref if isinstance(ref, RegistryRef) else None
    return PolicyOutcome(
        policy_run(configs, origin, inventory, scan, database, registry, request, seams),
        inventory,
        scan,
    )


def policy_run(
    configs: list[PolicyConfig],
    origin: str,
    inventory: Inventory,
    scan: ScanResult | None,
    database: DatabaseInfo | None,
    registry: RegistryRef | None,
    request: PolicyRequest,
    seams: Seams,
) -> PolicyRun:
    """The verdicts on an inventoried (and matched) image; `registry` is where the image itself
    is, None for a local one. `scan_inventory` + this is what `scan --policy` runs too."""
    wanted = {c.id for c in configs if in_scope(normalized(c), _repository(inventory, registry))}
    # the registry is asked only for what a configured policy reads
    base_now, base_why = (
        _base_now(inventory, request, seams)
        if "base-up-to-date" in wanted
        else (None, "not looked up: no policy needs it")
    )
    attestations, attestations_why = (
        _attestations(inventory, registry, request, seams)
        if "attestations" in wanted
        else (None, "not looked up: no policy needs them")
    )
    facts = Facts(
        inventory=inventory,
        scan=scan,
        today=today(seams.clock),
        eol=current_eol_lookup(seams.settings.eol_table),
        user=inventory.image.user,
        base_now=base_now,
        base_now_why=base_why,
        attestations=attestations,
        attestations_why=attestations_why,
        spdx=cached_spdx_ids(seams.settings.license_table) if "license" in wanted else None,
    )
    report = evaluate_all(configs, facts, _repository(inventory, registry))
    return PolicyRun(
        report=report,
        image=inventory.image,
        base=inventory.base,
        database=database,
        policy_file=origin,
    )


def _repository(inventory: Inventory, registry: RegistryRef | None) -> str:
    """The image's `registry/repository` for policy scopes: where it is, else the repository
    a local image names (its first RepoTags entry), else ""."""
    if registry is not None:
        return f"{registry.registry}/{registry.repository}"
    for tag in inventory.image.repo_tags:
        try:
            ref = parse_reference(tag)
        except Error:
            continue
        return f"{ref.registry}/{ref.repository}"
    return ""


def _base_now(inventory: Inventory, request: PolicyRequest, seams: Seams) -> tuple[str | None, str]:
    """Where the base's tag points now (a digest the image was built on when it still points
    there), or None and why that is not known."""
    base = inventory.base
    if base is None:
        return None, "the base is unknown"
    if not base.reference:
        return None, f"the base was found from the history ({base.method.value}): it names no tag"
    if not base.digest:
        return None, f"the digest of {base.reference} the image was built on is not known"
    tags = seams.images.tags(request.platform)
    if tags is None:
        return None, "no registry access (offline)"
    try:
        pointing = tags.digests(base.reference)
    except Error as exc:
        return None, str(exc)
    if not pointing:
        return None, "the registry resolves it to no digest"
    return (base.digest if base.digest in pointing else pointing[0]), ""


def _attestations(
    inventory: Inventory, registry: RegistryRef | None, request: PolicyRequest, seams: Seams
) -> tuple[tuple[Attestation, ...] | None, str]:
    """The image's referrers, of its platform manifest and of the index above it."""
    from basewatch.oci.referrers import Kind  # not on the offline path: it costs start-up time

    if registry is None:
        return None, "a local image has no referrers (push it and check it in its registry)"
    digests = [inventory.image.manifest_digest]
    with contextlib.suppress(Error):
        resolved = seams.images.resolve(registry, request.platform)
        digests.append(resolved.index_digest)
    found: dict[str, Attestation] = {}
    for digest in dict.fromkeys(d for d in digests if d):
        try:
            referrers = seams.images.referrers(registry, digest)
        except Error as exc:
            return None, f"the referrers of {registry.text}: {exc}"
        if referrers is None:
            return None, "the registry may not be used (offline)"
        for item in referrers.items:
            kind = item.kind.value if item.kind is not Kind.OTHER else "other"
            found.setdefault(
                item.digest, Attestation(kind, item.artifact_type or item.media_type, item.digest)
            )
    return tuple(found.values()), ""


@dataclass(frozen=True, slots=True)
class ScannedWithPolicies:
    scan: ScanOutcome
    run: PolicyRun


def scan_with_policies(
    request: ScanRequest, policy_file: Path | None, seams: Seams
) -> ScannedWithPolicies:
    """`basewatch scan --policy FILE`: the scan as asked (its display filters apply to its
    report), and the policies' verdict on the same inventory, whose findings are matched
    without those filters (the ignore file and VEX still apply)."""
    configs, origin = read_policies(policy_file)  # a bad file fails before any pull
    outcome = scan(request, seams)
    wanted = request.policy
    unfiltered = dataclasses.replace(
        wanted, severities=None, only_base=False, ignore_base=False, only_fixed=False
    )
    result = outcome.result
    if unfiltered != wanted:
        with seams.vulns.open() as store:
            result = scan_inventory(outcome.inventory, store, unfiltered, seams.vulns.info(store))
    registry = None
    if request.image is not None:
        ref = seams.images.parse(request.image)
        registry = ref if isinstance(ref, RegistryRef) else None
    asked = PolicyRequest(image=request.image or "", platform=request.platform)
    run = policy_run(
        configs, origin, outcome.inventory, result, result.database, registry, asked, seams
    )
    return ScannedWithPolicies(outcome, run)
