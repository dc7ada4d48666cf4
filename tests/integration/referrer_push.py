"""Attaching artifacts to an image in a real registry, as `oras attach` does on a registry
without the referrers API: blobs and manifests pushed with plain HTTP (monolithic uploads), an
image-spec v1.1 artifact manifest whose `subject` is the image, and the referrers index under
the `sha256-<hex>` tag (the referrers tag schema). Shared by the referrers and policy tests.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

import httpx

from basewatch.oci.manifest import OCI_INDEX, OCI_MANIFEST
from basewatch.oci.reference import RegistryRef
from basewatch.oci.referrers import EMPTY_JSON, referrers_tag
from basewatch.oci.registry.client import RegistryClient


def sha256_digest(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def canonical_json(document: dict[str, Any]) -> bytes:
    return json.dumps(document, sort_keys=True).encode()


class Uploader:
    """Pushes blobs and manifests with plain HTTP, as `oras` does (monolithic uploads)."""

    def __init__(self, ref: RegistryRef) -> None:
        self.ref = ref
        self.http = httpx.Client(base_url=f"http://{ref.registry}/v2/{ref.repository}/")

    def blob(self, data: bytes, media_type: str, **extra: Any) -> dict[str, Any]:
        digest = sha256_digest(data)
        started = self.http.post("blobs/uploads/")
        assert started.status_code == 202, started.text
        location = started.headers["Location"]
        location += ("&" if "?" in location else "?") + f"digest={digest}"
        put = self.http.put(
            location, content=data, headers={"Content-Type": "application/octet-stream"}
        )
        assert put.status_code == 201, put.text
        return {"mediaType": media_type, "digest": digest, "size": len(data), **extra}

    def manifest(self, document: dict[str, Any], reference: str = "") -> dict[str, Any]:
        data = canonical_json(document)
        digest = sha256_digest(data)
        media_type = document["mediaType"]
        put = self.http.put(
            f"manifests/{reference or digest}", content=data, headers={"Content-Type": media_type}
        )
        assert put.status_code == 201, put.text
        assert put.headers["Docker-Content-Digest"] == digest
        return {"mediaType": media_type, "digest": digest, "size": len(data)}

    def close(self) -> None:
        self.http.close()


def descriptor(client: RegistryClient, ref: RegistryRef, target: str) -> dict[str, Any]:
    """The descriptor of the manifest `target` (a tag or digest) names, as a subject."""
    manifest = client.get_manifest(ref, target)
    return {"mediaType": manifest.media_type, "digest": manifest.digest, "size": len(manifest.data)}


def artifact(
    up: Uploader,
    subject: dict[str, Any],
    artifact_type: str,
    layer: dict[str, Any],
    annotations: dict[str, str],
) -> tuple[dict[str, Any], dict[str, Any]]:
    """An image-spec v1.1 artifact about `subject` pushed by digest: its descriptor as a
    referrers index lists it (artifactType and annotations copied in), and its manifest."""
    manifest = {
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "artifactType": artifact_type,
        "config": up.blob(b"{}", EMPTY_JSON),
        "layers": [layer],
        "subject": subject,
        "annotations": annotations,
    }
    pushed = up.manifest(manifest)
    return {**pushed, "artifactType": artifact_type, "annotations": annotations}, manifest


def statement(subject: dict[str, Any], predicate_type: str, predicate: Any) -> bytes:
    """An in-toto statement about `subject`, as BuildKit and cosign write them."""
    hex_digest = subject["digest"].split(":", 1)[1]
    return canonical_json(
        {
            "_type": "https://in-toto.io/Statement/v0.1",
            "subject": [{"name": "_", "digest": {"sha256": hex_digest}}],
            "predicateType": predicate_type,
            "predicate": predicate,
        }
    )


def referrers_index(up: Uploader, subject_digest: str, entries: list[dict[str, Any]]) -> None:
    """Point the referrers tag of `subject_digest` at an index of `entries` (replacing the
    one before), as a client does after pushing an artifact to a registry without the API."""
    index = {"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": entries}
    up.manifest(index, referrers_tag(subject_digest))
