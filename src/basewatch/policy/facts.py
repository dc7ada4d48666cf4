"""What the policy job gathers about one image before any policy runs.

Everything a policy reads is here, and every fact that may be missing says why it is missing,
so a policy that cannot decide says "not evaluated" with that reason instead of passing.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from basewatch.models import Inventory, ScanResult
from basewatch.policy.licenses import SpdxIds
from basewatch.vulndb.eol import EolLookup

# `EolLookup`: (endoflife.date product, cycle) -> the day free security support ends, None when
# unknown; `eol_lookup_from_table` gives one. The os-release ID is the product (debian, ubuntu,
# alpine); policies turn VERSION_ID into the cycle with `release_cycle`.


@dataclass(frozen=True, slots=True)
class Attestation:
    """A supply-chain attestation attached to the image (a referrer, or by the tag schema)."""

    kind: str  # "sbom", "provenance", or another kind the job recognised ("vex", "signature")
    artifact_type: str = ""  # its artifact or predicate type: "application/spdx+json"...
    digest: str = ""  # the digest of the manifest that carries it


@dataclass(frozen=True, slots=True)
class Facts:
    """One image as policies see it."""

    inventory: Inventory
    scan: ScanResult | None  # None: no vulnerability database (finding policies: not evaluated)
    today: dt.date
    eol: EolLookup
    # The image config's `User`: None when it sets none (the container runs as root), else as
    # written ("root", "0", "0:0", "app", "1000:1000"). An empty `User` is None, never "".
    user: str | None
    base_now: str | None = None  # the digest the base's tag points to now; None: unknown...
    base_now_why: str = ""  # ... why: "offline", "a local image", "registry error: ..."
    attestations: tuple[Attestation, ...] | None = None  # None: not looked up...
    attestations_why: str = ""  # ... why: "a local image has no referrers", "offline"...
    spdx: SpdxIds | None = None  # the SPDX license list (`cached_spdx_ids`); None: the library's

    @property
    def image(self) -> str:
        return self.inventory.image.reference
