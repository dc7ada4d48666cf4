"""An image's attestations as a registry lists them: referrers, and BuildKit's attestations.

A referrer is a manifest whose `subject` names the image: an SBOM, a signature, an in-toto
attestation pushed beside it (OCI distribution spec v1.1, "Listing Referrers"). A registry lists
them at `GET /v2/<name>/referrers/<digest>` as an image index (source "api"); one without that
API answers 404, and clients then keep the same index under the tag `<alg>-<hex>` ("tag-schema",
the spec's "Referrers Tag Schema"). BuildKit does neither: `docker buildx build --sbom
--provenance` puts attestation manifests into the image's own index, on the platform
`unknown/unknown`, each layer an in-toto statement whose predicate type an annotation names.

What a referrer is comes only from what its listing says (`artifactType`, media types, the
predicate-type annotations of in-toto and Sigstore bundles); nothing is fetched here, and
nothing is verified: finding an SBOM says that one was attached, not who made it.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from basewatch.errors import ImageError
from basewatch.oci import jsondoc
from basewatch.oci.digest import parse_digest
from basewatch.oci.manifest import is_attestation, is_index

log = logging.getLogger(__name__)

IN_TOTO = "application/vnd.in-toto+json"
EMPTY_JSON = "application/vnd.oci.empty.v1+json"  # image-spec v1.1's empty descriptor
# Where a listing names the predicate of an in-toto statement: BuildKit's layers (and oras-style
# in-toto referrers), and the Sigstore bundle annotations of cosign and GitHub's attestations.
PREDICATE_TYPE = "in-toto.io/predicate-type"
BUNDLE_PREDICATE_TYPE = "dev.sigstore.bundle.predicateType"
REFERENCE_DIGEST = "vnd.docker.reference.digest"  # the image a BuildKit attestation is about

# SBOM documents as artifact or layer media types (SPDX and CycloneDX as IANA registers them).
_SBOM_MEDIA_TYPES = frozenset(
    {
        "application/spdx+json",
        "text/spdx",
        "application/vnd.cyclonedx+json",
        "application/vnd.cyclonedx+xml",
        "application/vnd.syft+json",
    }
)
# Predicate type URIs, each also with a version path after it (`https://spdx.dev/Document/v2.3`,
# `https://cyclonedx.org/bom/v1.4`, `https://slsa.dev/provenance/v1`), as in-toto's vetted
# predicates name them.
_SBOM_PREDICATES = ("https://spdx.dev/Document", "https://cyclonedx.org/bom")
_PROVENANCE_PREDICATES = ("https://slsa.dev/provenance", "https://in-toto.io/Provenance")


class Kind(StrEnum):
    """What a referrer or attestation is, as far as a policy cares."""

    SBOM = "sbom"
    PROVENANCE = "provenance"
    OTHER = "other"  # a signature, a scan report, or an attestation of unknown content


class Source(StrEnum):
    """Where a list of referrers came from."""

    API = "api"  # the registry's referrers API
    TAG_SCHEMA = "tag-schema"  # the index under the `<alg>-<hex>` tag (no referrers API)
    NONE = "none"  # neither: the registry has no referrers API, and there is no such tag


@dataclass(frozen=True, slots=True)
class Referrer:
    """One manifest (or, from `attestations_in_manifest`, one layer) that says something about
    an image. `annotations` are sorted (key, value) pairs."""

    digest: str
    media_type: str
    artifact_type: str
    annotations: tuple[tuple[str, str], ...]
    kind: Kind

    def annotation(self, key: str) -> str:
        """The value of annotation `key`, "" when there is none."""
        return next((value for name, value in self.annotations if name == key), "")

    @property
    def predicate_type(self) -> str:
        """The in-toto predicate type the listing names, "" when it names none."""
        return self.annotation(PREDICATE_TYPE) or self.annotation(BUNDLE_PREDICATE_TYPE)


@dataclass(frozen=True, slots=True)
class Referrers:
    """An image's referrers and where the list came from."""

    items: tuple[Referrer, ...]
    source: Source

    @property
    def kinds(self) -> frozenset[Kind]:
        return kinds(self.items)


def kinds(referrers: Iterable[Referrer]) -> frozenset[Kind]:
    """The kinds found among `referrers` (an SBOM and a provenance: both are in it)."""
    return frozenset(r.kind for r in referrers)


def classify(
    artifact_type: str, media_type: str = "", annotations: Iterable[tuple[str, str]] = ()
) -> Kind:
    """What a descriptor describes: a named in-toto predicate decides (an unknown one is
    OTHER), else an SBOM media type as `artifact_type` (or, without one, `media_type`)."""
    found = dict(annotations)
    predicate = found.get(PREDICATE_TYPE) or found.get(BUNDLE_PREDICATE_TYPE) or ""
    if predicate:
        return classify_predicate(predicate)
    if _bare(artifact_type or media_type) in _SBOM_MEDIA_TYPES:
        return Kind.SBOM
    # an in-toto statement or a Sigstore bundle (`application/vnd.dev.sigstore.bundle.v0.3+json`)
    # that does not say what it states: only its content would tell, and that is not read here
    return Kind.OTHER


def classify_predicate(predicate_type: str) -> Kind:
    """What an in-toto statement of `predicate_type` is."""
    if _names(predicate_type, _SBOM_PREDICATES):
        return Kind.SBOM
    if _names(predicate_type, _PROVENANCE_PREDICATES):
        return Kind.PROVENANCE
    return Kind.OTHER


def referrers_tag(digest: str) -> str:
    """The referrers tag schema's tag for `digest`: `<alg>-<hex>`, the hex cut to the 64
    characters the spec allows it (a sha512 digest is longer)."""
    algorithm, _, hex_part = digest.partition(":")
    return f"{algorithm}-{hex_part[:64]}"


def referrers_in_index(document: object, what: str) -> list[Referrer]:
    """The referrers an image index lists (a referrers API answer or a tag schema index),
    each classified; raises ImageError when `document` is no image index. Entries without
    a valid digest are skipped with a warning: nothing could be fetched by them."""
    index = jsondoc.obj(document, what)
    if not is_index(jsondoc.text(index.get("mediaType"), f"{what}: mediaType"), index):
        raise ImageError(f"{what}: not an image index (no `manifests`)")
    entries = index.get("manifests")
    if not isinstance(entries, list):
        raise ImageError(f"{what}: `manifests` is {jsondoc.kind(entries)}, not an array")
    found: list[Referrer] = []
    for n, entry in enumerate(entries):
        referrer = _referrer(entry, f"{what}: manifests[{n}]")
        if referrer is not None:
            found.append(referrer)
    return found


def attestations_in_index(document: object, subject: str = "") -> list[Referrer]:
    """BuildKit's attestation manifests in an image index (those about `subject`, an image
    digest, when given). They are not referrers, and their kind is OTHER until their manifest
    is read (`attestations_in_manifest`): BuildKit names the predicates on its layers."""
    what = "image index"
    index = jsondoc.obj(document, what)
    found: list[Referrer] = []
    for n, entry in enumerate(jsondoc.optional_list(index.get("manifests"), f"{what} manifests")):
        if not isinstance(entry, dict) or not is_attestation(entry):
            continue
        referrer = _referrer(entry, f"{what}: manifests[{n}]")
        if referrer is None:
            continue
        if subject and referrer.annotation(REFERENCE_DIGEST) != subject:
            continue
        found.append(referrer)
    return found


def attestations_in_manifest(document: object) -> list[Referrer]:
    """The in-toto statements an attestation manifest carries (BuildKit's, or a referrer's),
    one per layer, each classified by the predicate type its annotations name; layers of other
    media types are skipped, as BuildKit's attestation storage says to."""
    what = "attestation manifest"
    manifest = jsondoc.obj(document, what)
    found: list[Referrer] = []
    for n, layer in enumerate(jsondoc.optional_list(manifest.get("layers"), f"{what} layers")):
        referrer = _referrer(layer, f"{what}: layers[{n}]")
        if referrer is not None and _bare(referrer.media_type) == IN_TOTO:
            found.append(referrer)
    return found


def _referrer(entry: Any, what: str) -> Referrer | None:
    if not isinstance(entry, dict):
        log.warning("%s: ignoring %s, not a descriptor", what, jsondoc.kind(entry))
        return None
    try:
        digest = parse_digest(entry.get("digest"), f"{what}: digest")
    except ImageError as exc:
        log.warning("%s; ignoring the entry", exc)
        return None
    media_type = jsondoc.text(entry.get("mediaType"), f"{what}: mediaType")
    artifact_type = jsondoc.text(entry.get("artifactType"), f"{what}: artifactType")
    annotations = jsondoc.str_map(entry.get("annotations"), f"{what}: annotations")
    kind = classify(artifact_type, media_type, annotations)
    return Referrer(digest, media_type, artifact_type, annotations, kind)


def _bare(media_type: str) -> str:
    """A media type without its parameters (`; version=1.6`), lowercase."""
    return media_type.split(";", 1)[0].strip().lower()


def _names(predicate_type: str, bases: tuple[str, ...]) -> bool:
    value = predicate_type.strip().rstrip("/")
    return any(value == base or value.startswith(base + "/") for base in bases)
