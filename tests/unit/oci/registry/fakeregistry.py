"""An in-memory OCI distribution registry behind `httpx.MockTransport`, for unit tests.

It speaks enough of the API (manifests by tag and digest, HEAD, blobs with ranges) and of the
auth flows (basic, bearer with a token endpoint) to drive the client, and injects faults.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx

from tests.imagebuild import BuiltImage, sha256

HOST = "registry.test"
TOKEN_HOST = "auth.test"
USER, PASSWORD = "alice", "s3cret-pw"
TOKEN = "tok-123"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"


class _Dropping(httpx.SyncByteStream):
    def __init__(self, data: bytes, cut: int) -> None:
        self._data, self._cut = data, cut

    def __iter__(self) -> Iterator[bytes]:
        yield self._data[: self._cut]
        raise httpx.ReadError("connection reset by peer")


@dataclass
class FakeRegistry:
    auth: str = "none"  # none | basic | bearer
    manifests: dict[str, tuple[str, bytes]] = field(default_factory=dict)  # digest -> (type, data)
    tags: dict[tuple[str, str], str] = field(default_factory=dict)  # (repo, tag) -> digest
    blobs: dict[str, bytes] = field(default_factory=dict)
    statuses: list[tuple[int, dict[str, str]]] = field(default_factory=list)
    drop_blob_after: dict[str, int] = field(default_factory=dict)
    tamper: set[str] = field(default_factory=set)
    redirect_blobs_to: str = ""
    honour_ranges: bool = True
    head_allowed: bool = True
    anonymous_tokens: bool = True  # the token service gives a token without credentials
    token_host: str = TOKEN_HOST  # where the Bearer challenge sends clients for a token
    requests: list[httpx.Request] = field(default_factory=list)

    def transport(self) -> httpx.MockTransport:
        return httpx.MockTransport(self.handle)

    def add_image(self, repo: str, tag: str, image: BuiltImage) -> str:
        digest = sha256(image.manifest_bytes)
        self.manifests[digest] = (OCI_MANIFEST, image.manifest_bytes)
        for blob_digest, data in image.blobs.items():
            if blob_digest != digest:
                self.blobs[blob_digest] = data
        if tag:
            self.tags[(repo, tag)] = digest
        return digest

    def add_index(self, repo: str, tag: str, images: list[tuple[BuiltImage, str]]) -> str:
        entries = []
        for image, arch in images:
            digest = self.add_image(repo, "", image)
            entries.append(
                {
                    "mediaType": OCI_MANIFEST,
                    "digest": digest,
                    "size": len(image.manifest_bytes),
                    "platform": {"os": "linux", "architecture": arch},
                }
            )
        data = json.dumps({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": entries})
        digest = sha256(data.encode())
        self.manifests[digest] = (OCI_INDEX, data.encode())
        self.tags[(repo, tag)] = digest
        return digest

    def paths(self, method: str = "") -> list[str]:
        return [r.url.path for r in self.requests if not method or r.method == method]

    # --- the server -----------------------------------------------------------------------

    def handle(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        if request.url.host == self.token_host and request.url.path == "/token":
            return self._token(request)
        if self.statuses:
            status, headers = self.statuses.pop(0)
            return httpx.Response(status, headers=headers)
        path = request.url.path
        if path.startswith("/storage/"):
            return self._blob(request, path.rsplit("/", 1)[1])
        denied = self._check_auth(request)
        if denied is not None:
            return denied
        parts = path.split("/")
        if len(parts) < 5 or parts[1] != "v2":
            return httpx.Response(404)
        repo, kind, target = "/".join(parts[2:-2]), parts[-2], parts[-1]
        if kind == "manifests":
            return self._manifest(request, repo, target)
        if kind == "blobs":
            if self.redirect_blobs_to:
                return httpx.Response(
                    307, headers={"Location": f"https://{self.redirect_blobs_to}/storage/{target}"}
                )
            return self._blob(request, target)
        return httpx.Response(404)

    def _check_auth(self, request: httpx.Request) -> httpx.Response | None:
        header = request.headers.get("Authorization", "")
        if self.auth == "basic":
            good = "Basic " + base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()
            if header != good:
                return httpx.Response(401, headers={"WWW-Authenticate": 'Basic realm="fake"'})
        if self.auth == "bearer" and header != f"Bearer {TOKEN}":
            challenge = (
                f'Bearer realm="https://{self.token_host}/token",service="fake-registry",'
                'scope="repository:library/debian:pull"'
            )
            return httpx.Response(401, headers={"WWW-Authenticate": challenge})
        return None

    def _token(self, request: httpx.Request) -> httpx.Response:
        header = request.headers.get("Authorization", "")
        if header:
            good = "Basic " + base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()
            if header != good:
                return httpx.Response(401, json={"details": "bad credentials"})
        elif not self.anonymous_tokens:
            return httpx.Response(401, json={"details": "credentials required"})
        return httpx.Response(200, json={"token": TOKEN, "expires_in": 300})

    def _manifest(self, request: httpx.Request, repo: str, target: str) -> httpx.Response:
        digest = target if target.startswith("sha256:") else self.tags.get((repo, target), "")
        if digest not in self.manifests:
            return httpx.Response(
                404, json={"errors": [{"code": "MANIFEST_UNKNOWN", "message": "unknown"}]}
            )
        media_type, data = self.manifests[digest]
        headers = {"Content-Type": media_type, "Docker-Content-Digest": digest}
        if request.method == "HEAD":
            if not self.head_allowed:
                return httpx.Response(405)
            headers["Content-Length"] = str(len(data))
            return httpx.Response(200, headers=headers)
        return httpx.Response(200, headers=headers, stream=httpx.ByteStream(data))

    def _blob(self, request: httpx.Request, digest: str) -> httpx.Response:
        if digest not in self.blobs:
            return httpx.Response(404, json={"errors": [{"code": "BLOB_UNKNOWN"}]})
        data = self.blobs[digest]
        if digest in self.tamper:
            data = bytes([data[0] ^ 0xFF]) + data[1:]
        start = 0
        ranged = request.headers.get("Range", "")
        if ranged and self.honour_ranges:
            start = int(ranged.removeprefix("bytes=").split("-", 1)[0])
        body = data[start:]
        status = 206 if start else 200
        headers = {"Content-Length": str(len(body))}
        if start:
            headers["Content-Range"] = f"bytes {start}-{len(data) - 1}/{len(data)}"
        cut = self.drop_blob_after.pop(digest, None)
        if cut is not None:
            return httpx.Response(status, headers=headers, stream=_Dropping(body, cut))
        return httpx.Response(status, headers=headers, stream=httpx.ByteStream(body))


def options(registry: FakeRegistry, **kwargs: Any) -> Any:
    from basewatch.oci.registry.options import RegistryOptions

    sleeps: list[float] = kwargs.pop("sleeps", [])
    kwargs.setdefault("credentials", _NoCredentials())
    return RegistryOptions(transport=registry.transport(), sleep=sleeps.append, **kwargs)


class _NoCredentials:
    def get(self, registry: str) -> None:
        return None
