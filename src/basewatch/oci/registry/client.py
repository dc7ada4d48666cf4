"""An OCI distribution API client: manifests, blobs, referrers, auth challenges, retries,
redirects.

TLS is verified. Hosts named as insecure and loopback addresses are treated as Docker treats
them: HTTPS when they speak it (without verifying their certificate), else plain HTTP. 429 and
5xx answers and broken connections are retried with backoff (honouring `Retry-After`); what
cannot succeed on a retry (an unknown host name, a refused connection, a certificate that does
not verify) fails at once. A redirect to another host (blob storage) is followed without the
registry's `Authorization` header, and the registry's credentials go to a token service only
on the registry's own host (or one the user allowed); a registry token given with them answers
the registry's Bearer challenge as it is, and no token service is asked.

Nothing is read past what it may be: every request has one deadline for all of it (see
`deadline`), manifests and configs a size cap, and a blob never more bytes than its descriptor
says.
"""

from __future__ import annotations

import contextlib
import email.utils
import errno
import logging
import re
import socket
import ssl
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any, NoReturn
from urllib.parse import urlencode, urljoin, urlsplit

import httpx

from basewatch import __version__
from basewatch.errors import (
    DigestMismatch,
    ImageError,
    RateLimited,
    RegistryError,
    Remedy,
    TransientError,
)
from basewatch.oci.digest import digest_bytes, parse_digest
from basewatch.oci.manifest import ACCEPT, OCI_INDEX, is_index
from basewatch.oci.reference import DOCKER_HUB, RegistryRef
from basewatch.oci.referrers import (
    Referrer,
    Referrers,
    Source,
    referrers_in_index,
    referrers_tag,
)
from basewatch.oci.registry import deadline
from basewatch.oci.registry.auth import (
    Challenge,
    Credentials,
    CredentialStore,
    DockerConfigCredentials,
    TokenCache,
    parse_challenges,
    token_lifetime,
)
from basewatch.oci.registry.blobcache import BlobStream
from basewatch.oci.registry.options import RegistryOptions
from basewatch.untrusted import parse_json

log = logging.getLogger(__name__)

_RETRY_STATUS = frozenset({429, 500, 502, 503, 504})
OAUTH_CLIENT_ID = "basewatch"  # how basewatch names itself to OAuth2 token services
_REDIRECTS = frozenset({301, 302, 303, 307, 308})
_MAX_REDIRECTS = 5
_CHUNK = 1 << 20
_ERROR_BODY_BYTES = 64 << 10
_MAX_TAG_PAGES = 1000  # 1000 tags a page: a million tags, far beyond any real repository
_MAX_REFERRER_PAGES = 100  # each a capped document: thousands of referrers, more than any image has
# Token services known to belong to a registry on another host.
_KNOWN_TOKEN_HOSTS = {DOCKER_HUB: frozenset({"auth.docker.io"})}


@dataclass(frozen=True, slots=True)
class ManifestHead:
    """What a HEAD request says of a manifest (either field may be empty)."""

    digest: str
    media_type: str


@dataclass(frozen=True, slots=True)
class Manifest:
    digest: str
    media_type: str
    data: bytes


class _HostAuth:
    """What a host asked for last time, so later requests authenticate up front."""

    def __init__(self, tokens: TokenCache) -> None:
        self.challenge: Challenge | None = None
        self.tokens = tokens
        self.withheld_from = ""  # the token host the credentials were kept from


class _NoCredentials:
    def get(self, registry: str) -> Credentials | None:
        return None


class RegistryClient:
    """A client for as long as its owner reads images: connections, probed schemes, tokens
    and looked-up credentials are kept across pulls. `close()` it (or use `with`).
    Thread-safe for blob downloads.

    Credentials are `options.credentials`, else those of Docker's config in
    `options.docker_config`, else none (anonymous pulls).
    """

    def __init__(self, options: RegistryOptions | None = None) -> None:
        self.options = options or RegistryOptions()
        self._credentials: CredentialStore = _credential_store(self.options)
        self._clock = self.options.clock
        self._http = self._new_http(verify=True)
        self._unverified: httpx.Client | None = None  # only for insecure hosts over HTTPS
        self._schemes: dict[str, str] = {}
        self._scheme_lock = threading.Lock()
        self._auth: dict[str, _HostAuth] = {}
        self._looked_up: dict[str, Credentials | None] = {}
        self.bytes_received = 0
        self._count_lock = threading.Lock()

    def _new_http(self, verify: bool) -> httpx.Client:
        transport = self.options.transport
        return httpx.Client(
            transport=transport if transport is not None else deadline.transport(verify),
            verify=deadline.tls_context(verify),
            timeout=httpx.Timeout(self.options.read_timeout, connect=self.options.connect_timeout),
            follow_redirects=False,
            headers={"User-Agent": f"basewatch/{__version__}"},
        )

    def close(self) -> None:
        self._http.close()
        if self._unverified is not None:
            self._unverified.close()

    def __enter__(self) -> RegistryClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- the API ---------------------------------------------------------------------------

    def head_manifest(self, ref: RegistryRef, target: str) -> ManifestHead | None:
        """The digest and type of a manifest without its body; None when HEAD says nothing."""
        with self._request("HEAD", ref, f"manifests/{target}", {"Accept": ACCEPT}) as response:
            # A HEAD answer has no body, but httpcore pools the connection again only once it
            # has read the answer's end: without this, every HEAD costs a new connection.
            response.read()
            if response.status_code == 200:
                return ManifestHead(
                    response.headers.get("Docker-Content-Digest", ""),
                    _media_type(response.headers.get("Content-Type", "")),
                )
            return None  # refused, or missing: the GET that follows says which, with a body

    def get_manifest(self, ref: RegistryRef, target: str) -> Manifest:
        """A manifest or index; verified when `target` (or the registry) names its digest."""
        manifest = self._fetch_manifest(ref, target, missing_ok=False)
        assert manifest is not None  # only a missing manifest is None, and that raised
        return manifest

    def _fetch_manifest(self, ref: RegistryRef, target: str, missing_ok: bool) -> Manifest | None:
        with self._request("GET", ref, f"manifests/{target}", {"Accept": ACCEPT}) as response:
            if response.status_code == 404 and missing_ok:
                return None
            if response.status_code != 200:
                self._raise_for(response, ref, "manifest", target)
            data = self._read_small(
                response, f"{ref.host}/{ref.repository} manifest {target}", None
            )
            media_type = _media_type(response.headers.get("Content-Type", ""))
            header_digest = response.headers.get("Docker-Content-Digest", "")
        named = target if target.startswith(("sha256:", "sha512:")) else header_digest
        algorithm = named.split(":", 1)[0] if ":" in named else "sha256"
        if algorithm not in ("sha256", "sha512"):
            algorithm, named = "sha256", ""
        digest = digest_bytes(data, algorithm)
        if named and digest != named:
            raise DigestMismatch(
                f"{ref.host}/{ref.repository}: manifest {target} hashes to {digest}, but the "
                f"registry names it {named} (corrupt or tampered with)"
            )
        return Manifest(digest, media_type, data)

    def list_tags(self, ref: RegistryRef, limit: int = 100_000) -> list[str]:
        """Every tag of the repository, following the registry's `Link` pagination."""
        tags: list[str] = []
        path = "tags/list?n=1000"
        seen: set[str] = set()
        while path and len(tags) < limit:
            if path in seen:
                raise RegistryError(
                    f"{ref.host}/{ref.repository}: the tag list's next page is one already "
                    f"read ({path}); the registry's pagination loops, so the list was not read"
                )
            if len(seen) >= _MAX_TAG_PAGES:
                raise RegistryError(
                    f"{ref.host}/{ref.repository}: the tag list goes on past {_MAX_TAG_PAGES} "
                    "pages; the registry's pagination does not end, so the list was not read"
                )
            seen.add(path)
            with self._request("GET", ref, path, {"Accept": "application/json"}) as response:
                if response.status_code != 200:
                    self._raise_for(response, ref, "tag list", ref.repository)
                data = self._read_small(response, f"{ref.host}/{ref.repository} tag list", None)
                link = response.headers.get("Link", "")
            try:
                page = parse_json(data, f"{ref.host}/{ref.repository} tag list")
            except (UnicodeDecodeError, ValueError) as exc:
                raise RegistryError(
                    f"{ref.host}/{ref.repository}: the tag list is not JSON ({exc})"
                ) from exc
            names = page.get("tags") if isinstance(page, dict) else None
            tags.extend(t for t in names or [] if isinstance(t, str))
            path = _next_page(link, ref.repository)
        return tags

    def list_referrers(self, ref: RegistryRef, digest: str, artifact_type: str = "") -> Referrers:
        """The manifests whose `subject` is `digest`: from the referrers API, else (it answers
        404) from the index under the referrers tag schema's tag, else none (source "none").
        With `artifact_type`, only those of that type, whether or not the registry filters."""
        name = f"{ref.host}/{ref.repository}"
        digest = parse_digest(digest, f"{name}: referrers of")
        path = f"referrers/{digest}"
        if artifact_type:
            path += "?" + urlencode({"artifactType": artifact_type})
        found: list[Referrer] = []
        seen: set[str] = set()
        while path:
            if path in seen or len(seen) >= _MAX_REFERRER_PAGES:
                raise RegistryError(
                    f"{name}: the referrers list of {digest} loops or goes on past "
                    f"{_MAX_REFERRER_PAGES} pages; the registry's pagination does not end, so "
                    "the list was not read"
                )
            seen.add(path)
            with self._request("GET", ref, path, {"Accept": OCI_INDEX}) as response:
                if response.status_code == 404 and len(seen) == 1:
                    # no referrers API (an error body is not read: it could be without end)
                    return self._tagged_referrers(ref, digest, artifact_type)
                if response.status_code != 200:
                    self._raise_for(response, ref, "referrers list", digest)
                what = f"{name} referrers of {digest}"
                data = self._read_small(response, what, None)
                link = response.headers.get("Link", "")
            try:
                found += referrers_in_index(parse_json(data, what), what)
            except (UnicodeDecodeError, ValueError, ImageError) as exc:
                raise RegistryError(
                    f"{name}: the referrers API answered with no image index for {digest} "
                    f"({exc}); the registry is broken"
                ) from exc
            path = _next_page(link, ref.repository)
            if not path.startswith("referrers/"):
                path = ""  # a next page that is not a referrers list is not followed
        return Referrers(_of_type(found, artifact_type), Source.API)

    def _tagged_referrers(self, ref: RegistryRef, digest: str, artifact_type: str) -> Referrers:
        """The referrers in the index under the referrers tag schema's tag, which clients keep
        on registries without the referrers API; no index there means none."""
        tag = referrers_tag(digest)
        manifest = self._fetch_manifest(ref, tag, missing_ok=True)
        if manifest is None:
            return Referrers((), Source.NONE)
        what = f"{ref.host}/{ref.repository}:{tag}"
        try:
            document = parse_json(manifest.data, what)
            if not is_index(manifest.media_type, document if isinstance(document, dict) else {}):
                raise ImageError(f"{what}: a {manifest.media_type or 'manifest'}, not an index")
            found = referrers_in_index(document, what)
        except (UnicodeDecodeError, ValueError, ImageError) as exc:
            # the spec's rule: a tag that holds no valid index means there are no referrers
            log.warning("%s; taken as no referrers of %s", exc, digest)
            return Referrers((), Source.NONE)
        return Referrers(_of_type(found, artifact_type), Source.TAG_SCHEMA)

    def get_blob(self, ref: RegistryRef, digest: str, what: str, size: int | None = None) -> bytes:
        """A small blob (a config) of `size` bytes when known, read whole and verified."""
        with self._request("GET", ref, f"blobs/{digest}", {}) as response:
            if response.status_code != 200:
                self._raise_for(response, ref, what, digest)
            data = self._read_small(response, f"{ref.host}/{ref.repository} {what} {digest}", size)
        if digest_bytes(data, digest.split(":", 1)[0]) != digest:
            raise DigestMismatch(
                f"{ref.host}/{ref.repository}: {what} {digest} does not hash to its digest "
                "(corrupt or tampered with)"
            )
        return data

    @contextlib.contextmanager
    def open_blob(
        self, ref: RegistryRef, digest: str, offset: int = 0, size: int | None = None
    ) -> Iterator[BlobStream]:
        """Stream a blob of `size` bytes from `offset` (a range request); connection failures
        while streaming raise TransientError so that the caller can resume. More bytes than
        `size` raise DigestMismatch; so does an answer that announces more."""
        headers = {"Range": f"bytes={offset}-"} if offset else {}
        rest = size - offset if size is not None else 0
        seconds = self.options.request_deadline + rest / max(self.options.min_transfer_rate, 1.0)
        with self._request("GET", ref, f"blobs/{digest}", headers, seconds) as response:
            if response.status_code == 206 and offset:
                start = _range_start(response.headers.get("Content-Range", ""))
            elif response.status_code == 200:
                start = 0
            else:
                self._raise_for(response, ref, "blob", digest)
            limit = None if size is None else size - start
            announced = _content_length(response)
            if limit is not None and announced is not None and announced > limit:
                raise DigestMismatch(
                    f"{ref.host}/{ref.repository}: blob {digest}: the registry announces "
                    f"{start + announced} bytes, the manifest says {size} (the blob is corrupt "
                    "or was tampered with); nothing was read"
                )
            yield BlobStream(start, self._chunks(response, ref, digest, limit, seconds))

    # --- plumbing --------------------------------------------------------------------------

    def _count(self, n: int) -> None:
        with self._count_lock:
            self.bytes_received += n

    def _chunks(
        self,
        response: httpx.Response,
        ref: RegistryRef,
        digest: str,
        limit: int | None,
        seconds: float,
    ) -> Iterator[bytes]:
        received = 0
        try:
            # no chunk size: a chunker would hold back, and lose, bytes received before a drop
            for chunk in response.iter_raw():
                received += len(chunk)
                self._count(len(chunk))
                if limit is not None and received > limit:
                    raise DigestMismatch(
                        f"{ref.host}/{ref.repository}: blob {digest}: the registry sends more "
                        "bytes than the manifest says (the blob is corrupt or was tampered "
                        "with); the download was stopped and nothing was kept"
                    )
                yield chunk
                if deadline.expired():
                    raise self._too_slow(ref, f"blob {digest}", seconds)
        except (httpx.TransportError, httpx.StreamError) as exc:
            if deadline.cancelled():
                raise RegistryError(f"{ref.host}: blob {digest}: download cancelled") from exc
            if deadline.expired():
                raise self._too_slow(ref, f"blob {digest}", seconds) from exc
            raise TransientError(f"{ref.host}: blob {digest}: {_describe(exc)}") from exc

    def _too_slow(self, ref: RegistryRef, what: str, seconds: float) -> RegistryError:
        rate = self.options.min_transfer_rate / 1024
        return RegistryError(
            f"{ref.host}/{ref.repository}: {what} was not received within {seconds:.0f}s "
            f"(the registry sends too slowly: under {rate:.0f} KiB/s); try again later, or "
            "check the network between here and the registry"
        )

    def _read_small(
        self, response: httpx.Response, what: str, size: int | None, decoded: bool = False
    ) -> bytes:
        """The whole body, at most `size` bytes when known, else the document cap; `decoded`
        undoes a Content-Encoding (content named by a digest is hashed as sent)."""
        cap = self.options.max_document_bytes if size is None else size
        announced = _content_length(response)
        if announced is not None and announced > cap:
            raise RegistryError(
                f"{what} is larger than {cap} bytes (the registry announces {announced}); a "
                "registry serving that much is broken or hostile"
            )
        parts: list[bytes] = []
        total = 0
        try:
            chunks = response.iter_bytes(_CHUNK) if decoded else response.iter_raw(_CHUNK)
            for chunk in chunks:
                total += len(chunk)
                self._count(len(chunk))
                if total > cap:
                    raise RegistryError(
                        f"{what} is larger than {cap} bytes"
                        + (" (its descriptor's size)" if size is not None else "")
                        + "; a registry serving that much is broken or hostile"
                    )
                parts.append(chunk)
                if deadline.expired():
                    raise RegistryError(
                        f"{what}: not received within {self.options.request_deadline:.0f}s "
                        "(the registry sends too slowly); try again later"
                    )
        except httpx.TransportError as exc:
            if deadline.expired():
                raise RegistryError(
                    f"{what}: not received within {self.options.request_deadline:.0f}s "
                    "(the registry sends too slowly); try again later"
                ) from exc
            raise RegistryError(f"{what}: {_describe(exc)}") from exc
        return b"".join(parts)

    def base_url(self, host: str) -> str:
        return f"{self.scheme(host)}://{host}"

    def is_insecure(self, host: str) -> bool:
        return host in self.options.insecure_registries or _is_loopback(host)

    def scheme(self, host: str) -> str:
        """https, except for an insecure host that does not speak TLS (probed once)."""
        if not self.is_insecure(host):
            return "https"
        with self._scheme_lock:
            if host not in self._schemes:
                self._schemes[host] = self._probe(host)
            return self._schemes[host]

    def _probe(self, host: str) -> str:
        url = f"https://{host}/v2/"
        try:
            with deadline.deadline(self.options.connect_timeout):
                http = self._client_for(url)
                request = http.build_request("GET", url, timeout=self.options.connect_timeout)
                # not past the gate: this handshake is made once per host and client, and the
                # scheme is asked for by token services' hosts too, which the gate does not own
                response = self._transmit(http, request, "")
                response.read()  # read to its end, its connection is pooled again
            response.close()
        except httpx.TransportError:
            log.debug("%s does not speak TLS: using plain HTTP", host)
            return "http"
        return "https"

    def _client_for(self, url: str) -> httpx.Client:
        parts = urlsplit(url)
        if parts.scheme == "https" and self.is_insecure(parts.netloc):
            if self._unverified is None:
                self._unverified = self._new_http(verify=False)
            return self._unverified
        return self._http

    @contextlib.contextmanager
    def _request(
        self,
        method: str,
        ref: RegistryRef,
        path: str,
        headers: dict[str, str],
        seconds: float | None = None,
    ) -> Iterator[httpx.Response]:
        """One request, retried when that may help; the answer (body included) must arrive
        within `seconds` (default: the request deadline) of each attempt's start."""
        host = ref.host
        url = f"{self.base_url(host)}/v2/{ref.repository}/{path}"
        scope = f"repository:{ref.repository}:pull"
        what = f"{method} {ref.repository} {path.split('/', 1)[0]}"
        limit = self.options.request_deadline if seconds is None else seconds
        authenticated_after_challenge = False
        attempt = 0
        while True:
            attempt += 1
            auth_header = self._auth_header(ref, scope)
            request_headers = dict(headers)
            if auth_header:
                request_headers["Authorization"] = auth_header
            # before the deadline starts: a wait for the fleet's turn is no slow registry
            self._admit(ref.registry)
            with deadline.deadline(limit):
                try:
                    response = self._send(method, url, request_headers, ref)
                except httpx.TransportError as exc:
                    if deadline.cancelled():
                        raise RegistryError(f"{host}: {what}: cancelled") from exc
                    if deadline.expired():
                        raise RegistryError(
                            f"{host}: {what}: no answer within {limit:.0f}s (the registry is "
                            "too slow); try again later"
                        ) from exc
                    fatal, remedy = _fatal_cause(exc)
                    if fatal:
                        raise RegistryError(
                            f"{host}: {what}: {fatal}", remedy=remedy, registry=host
                        ) from exc
                    if attempt <= self.options.retries:
                        self._pause(attempt, None)
                        continue
                    # a caller that can wait longer (a service's job) may try again later
                    raise TransientError(
                        f"{host}: {what} failed after {attempt} attempts: {_describe(exc)}"
                    ) from exc
                status = response.status_code
                if status == 401 and not authenticated_after_challenge:
                    challenges = parse_challenges(response.headers.get("WWW-Authenticate", ""))
                    response.close()
                    self._authenticate(ref, scope, challenges, had_auth=bool(auth_header))
                    authenticated_after_challenge = True
                    continue
                if status in _RETRY_STATUS and attempt <= self.options.retries:
                    retry_after = response.headers.get("Retry-After")
                    response.close()
                    self._pause(attempt, retry_after)
                    continue
                if status == 401:
                    response.close()
                    self._fail_auth(ref)
                try:
                    yield response
                finally:
                    response.close()
                return

    def _send(
        self, method: str, url: str, headers: dict[str, str], ref: RegistryRef
    ) -> httpx.Response:
        """`url` (on the registry's host, admitted by the gate already), following redirects;
        a redirect back to the registry's host passes the gate again."""
        origin = _origin(url)
        for hop in range(_MAX_REDIRECTS + 1):
            http = self._client_for(url)
            request = http.build_request(method, url, headers=headers)
            registry = ref.registry if _on_host(url, ref.host) else ""
            if hop and registry:
                # inside the request's deadline, unlike the first hop's admission: the gate
                # rarely holds a request for long, and registries seldom redirect to themselves
                self._admit(registry)
            response = self._transmit(http, request, registry)
            if response.status_code not in _REDIRECTS or "Location" not in response.headers:
                return response
            location = urljoin(url, response.headers["Location"])
            response.close()
            if _origin(location) != origin:
                # blob storage elsewhere gets a signed URL, never the registry's credentials
                headers = {k: v for k, v in headers.items() if k.lower() != "authorization"}
            if urlsplit(location).scheme not in ("http", "https"):
                raise RegistryError(f"{urlsplit(url).netloc}: redirected to a non-HTTP URL")
            if response.status_code == 303:
                method = "GET"
            url = location
        raise RegistryError(f"{urlsplit(url).netloc}: too many redirects")

    def _admit(self, registry: str) -> None:
        """Wait for the gate (`options.gate`) to let a request to `registry`'s host go; it
        raises RateLimited when the registry is paused for longer than it will wait."""
        if self.options.gate is not None:
            self.options.gate.before(registry)

    def _transmit(
        self, http: httpx.Client, request: httpx.Request, registry: str
    ) -> httpx.Response:
        """Send one request, streamed: every request this client makes leaves here. With
        `registry` (the request goes to that registry's own host, and was admitted), a 429
        is told to the gate, which pauses the registry for every client sharing it."""
        response = http.send(request, stream=True)
        gate = self.options.gate
        if gate is not None and registry and response.status_code == 429:
            wait = _retry_after_seconds(response.headers.get("Retry-After"), self._clock.now())
            gate.rate_limited(registry, wait)
        return response

    def _pause(self, attempt: int, retry_after: str | None) -> None:
        delay = self.options.backoff * (2 ** (attempt - 1))
        parsed = _retry_after_seconds(retry_after, self._clock.now())
        if parsed is not None:
            delay = parsed
        delay = min(max(delay, 0.0), self.options.max_retry_after)
        log.info("registry busy or unreachable, retrying in %.1fs", delay)
        self.options.sleep(delay)

    def _credentials_for(self, ref: RegistryRef) -> Credentials | None:
        if ref.registry not in self._looked_up:
            self._looked_up[ref.registry] = self._credentials.get(ref.registry)
        return self._looked_up[ref.registry]

    def _auth_header(self, ref: RegistryRef, scope: str) -> str:
        state = self._auth.get(ref.host)
        if state is None or state.challenge is None:
            return ""
        creds = self._credentials_for(ref)
        if state.challenge.scheme == "basic":
            # an identity token or a registry token is no password: Basic cannot use either
            if creds is None or creds.identity_token or creds.registry_token:
                return ""
            return creds.basic_header()
        if creds is not None and creds.registry_token:
            # handed over ready for this registry (Harbor's scanner API does): never exchanged
            return f"Bearer {creds.registry_token}"
        token = state.tokens.get(scope)
        if token is None:
            token, lifetime = self._fetch_token(ref, state.challenge, scope)
            state.tokens.put(scope, token, lifetime)
        return f"Bearer {token}" if token else ""

    def _host_auth(self, host: str) -> _HostAuth:
        state = self._auth.get(host)
        if state is None:
            state = self._auth.setdefault(host, _HostAuth(TokenCache(self._clock)))
        return state

    def _authenticate(
        self, ref: RegistryRef, scope: str, challenges: list[Challenge], had_auth: bool
    ) -> None:
        state = self._host_auth(ref.host)
        chosen = next((c for c in challenges if c.scheme == "bearer"), None) or next(
            (c for c in challenges if c.scheme == "basic"), None
        )
        if chosen is None:
            raise RegistryError(
                f"{ref.host}: the registry requires authentication with a scheme basewatch "
                "does not support"
            )
        state.tokens.drop(scope)
        creds = self._credentials_for(ref)
        if chosen.scheme == "basic" and creds is not None and creds.registry_token:
            raise RegistryError(
                f"{ref.host}: the registry wants a username and password (Basic "
                f"authentication) for {ref.repository}; the bearer token given for "
                f"{ref.registry} cannot answer that",
                remedy=Remedy.GIVE_CREDENTIALS,
                registry=ref.registry,
            )
        if chosen.scheme == "basic" and (creds is None or creds.identity_token):
            self._fail_auth(ref)
        state.challenge = chosen
        if had_auth and chosen.scheme == "basic":
            self._fail_auth(ref)
        if had_auth and creds is not None and creds.registry_token:
            # the refused header was the registry token itself, and there is no other to try
            self._fail_auth(ref)

    def _fetch_token(self, ref: RegistryRef, challenge: Challenge, scope: str) -> tuple[str, float]:
        """A token for `scope` and its lifetime in seconds."""
        realm = challenge.param("realm")
        parts = urlsplit(realm)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise RegistryError(f"{ref.host}: the token service URL {realm!r} is not usable")
        if parts.scheme == "http" and self.scheme(parts.netloc) != "http":
            raise RegistryError(
                f"{ref.host}: refusing to ask for a token over plain HTTP from {parts.netloc} "
                "(unless that host is named insecure on purpose)",
                remedy=Remedy.ALLOW_INSECURE,
                registry=parts.netloc,
            )
        query: dict[str, str] = {}
        if challenge.param("service"):
            query["service"] = challenge.param("service")
        # our own scope, not the challenge's: the challenge stored for the host may have come
        # from a request for another repository
        query["scope"] = scope
        creds = self._credentials_for(ref)
        state = self._host_auth(ref.host)
        state.withheld_from = ""
        if creds is not None and not self._may_receive_credentials(ref, parts.netloc):
            # a registry must not be able to collect its users' passwords for another host by
            # naming it as its token service: ask that host for an anonymous token instead
            log.warning(
                "%s: not sending the credentials for %s to the token service at %s, which is "
                "not the registry's host (if %s is its token service, allow it to have them)",
                ref.host,
                ref.registry,
                parts.netloc,
                parts.hostname,
            )
            state.withheld_from = parts.netloc
            creds = None
        oauth = creds is not None and bool(creds.identity_token)
        if oauth:
            # OAuth2 (the distribution spec's "Oauth2 Token Authentication"): POST the refresh
            # token `docker login` stored; there is no password to send.
            assert creds is not None
            url = realm
            form = {
                **query,
                "grant_type": "refresh_token",
                "refresh_token": creds.identity_token,
                "client_id": OAUTH_CLIENT_ID,
            }
            headers: dict[str, str] = {}
        else:
            url = realm + ("&" if "?" in realm else "?") + urlencode(query)
            headers = {"Authorization": creds.basic_header()} if creds else {}
        # a token service on the registry's own host is the registry's to limit; another
        # host's (auth.docker.io) is not
        registry = ref.registry if _on_host(realm, ref.host) else ""
        attempt = 0
        while True:
            attempt += 1
            http = self._client_for(url)
            request = (
                http.build_request("POST", url, data=form)
                if oauth
                else http.build_request("GET", url, headers=headers)
            )
            if registry:
                self._admit(registry)
            try:
                with deadline.deadline(self.options.request_deadline) as at:
                    response = self._transmit(http, request, registry)
                    try:
                        body_bytes = self._read_small(
                            response,
                            f"{ref.host}: the token service at {parts.netloc}",
                            None,
                            decoded=True,
                        )
                    finally:
                        response.close()
            except httpx.TransportError as exc:
                if time.monotonic() >= at:
                    raise RegistryError(
                        f"{ref.host}: the token service at {parts.netloc} did not answer within "
                        f"{self.options.request_deadline:.0f}s; try again later"
                    ) from exc
                fatal, remedy = _fatal_cause(exc)
                if fatal:
                    raise RegistryError(
                        f"{ref.host}: the token service at {parts.netloc}: {fatal}",
                        remedy=remedy,
                        registry=parts.netloc,
                    ) from exc
                if attempt <= self.options.retries:
                    self._pause(attempt, None)
                    continue
                raise RegistryError(
                    f"{ref.host}: the token service at {parts.netloc} is unreachable: "
                    f"{_describe(exc)}"
                ) from exc
            if response.status_code in _RETRY_STATUS and attempt <= self.options.retries:
                self._pause(attempt, response.headers.get("Retry-After"))
                continue
            break
        if oauth and response.status_code in (400, 401, 403):
            raise RegistryError(
                f"{ref.host}: the token service refused the identity token stored for this "
                f"registry (HTTP {response.status_code}: expired or revoked?); log in again",
                remedy=Remedy.GIVE_CREDENTIALS,
                registry=ref.registry,
            )
        if oauth and response.status_code in (404, 405):
            raise RegistryError(
                f"{ref.host}: the token service at {parts.netloc} does not take identity tokens "
                "(no OAuth2 endpoint); log in with a password instead"
            )
        if response.status_code in (401, 403):
            if creds is not None:
                raise RegistryError(
                    f"{ref.host}: the token service refused the credentials of user "
                    f"{creds.username!r} (wrong username or password?)"
                )
            self._fail_auth(ref)
        if response.status_code != 200:
            raise RegistryError(
                f"{ref.host}: the token service at {parts.netloc} answered "
                f"HTTP {response.status_code}"
            )
        try:
            body = parse_json(body_bytes, f"{ref.host}: the token service's answer")
        except (ValueError, UnicodeDecodeError) as exc:
            raise RegistryError(f"{ref.host}: the token service sent no JSON") from exc
        token = body.get("token") or body.get("access_token") if isinstance(body, dict) else None
        if not isinstance(token, str) or not token:
            raise RegistryError(f"{ref.host}: the token service sent no token")
        return token, token_lifetime(body.get("expires_in", 60))

    def _may_receive_credentials(self, ref: RegistryRef, netloc: str) -> bool:
        """True when the token service at `netloc` may see the registry's credentials: it is
        on the registry's own host, is known to serve it, or the user allowed it."""
        token_host = _hostname(netloc)
        allowed = {h.lower() for h in self.options.allowed_auth_hosts}
        return (
            token_host == _hostname(ref.host)
            or token_host in _KNOWN_TOKEN_HOSTS.get(ref.registry, frozenset())
            or token_host in allowed
            or netloc.lower() in allowed
        )

    def _fail_auth(self, ref: RegistryRef) -> NoReturn:
        state = self._auth.get(ref.host)
        withheld = state.withheld_from if state is not None else ""
        if withheld:
            raise RegistryError(
                f"{ref.host}: access to {ref.repository} was refused without credentials. "
                f"basewatch has credentials for {ref.registry} but withheld them from the "
                f"token service at {withheld}, which the registry names but which is not the "
                f"registry's own host; if {_hostname(withheld)} is the registry's token "
                f"service, allow {_hostname(withheld)} to have them",
                remedy=Remedy.ALLOW_AUTH_HOST,
                registry=ref.registry,
            )
        creds = self._credentials_for(ref)
        if creds is None:
            raise RegistryError(
                f"{ref.host}: authentication required for {ref.repository}, and basewatch has "
                f"no credentials for {ref.registry}",
                remedy=Remedy.GIVE_CREDENTIALS,
                registry=ref.registry,
            )
        if creds.registry_token:
            raise RegistryError(
                f"{ref.host}: the registry refused the bearer token given for {ref.registry} "
                f"for access to {ref.repository} (expired, issued for another repository, or "
                "without pull access)",
                remedy=Remedy.GIVE_CREDENTIALS,
                registry=ref.registry,
            )
        if creds.identity_token:
            raise RegistryError(
                f"{ref.host}: the registry refused access to {ref.repository} with the identity "
                "token stored for it (no pull access, or it wants a password)",
                remedy=Remedy.GIVE_CREDENTIALS,
                registry=ref.registry,
            )
        raise RegistryError(
            f"{ref.host}: the registry refused the credentials of user {creds.username!r} "
            f"for {ref.repository} (wrong username or password, or no pull access)"
        )

    def _raise_for(
        self, response: httpx.Response, ref: RegistryRef, what: str, target: str
    ) -> NoReturn:
        status = response.status_code
        code, message = _error_code(response)
        name = f"{ref.host}/{ref.repository}"
        if status == 404 or code in ("MANIFEST_UNKNOWN", "NAME_UNKNOWN", "BLOB_UNKNOWN"):
            if code == "NAME_UNKNOWN":
                raise RegistryError(f"{name}: no such repository (HTTP {status} NAME_UNKNOWN)")
            if what == "manifest" and not target.startswith(("sha256:", "sha512:")):
                raise RegistryError(f"{name}: no tag {target!r} (HTTP {status})")
            raise RegistryError(f"{name}: {what} {target} not found (HTTP {status})")
        if status == 403:
            raise RegistryError(f"{name}: access to {what} {target} denied (HTTP 403)")
        if status == 429:
            wait = _retry_after_seconds(response.headers.get("Retry-After"), self._clock.now())
            raise RateLimited(
                f"{name}: the registry kept answering 'too many requests' (HTTP 429); "
                "try again later",
                retry_after=wait or 0.0,
            )
        detail = f": {message}" if message else ""
        if status >= 500 or status == 408:  # still failing after the retries: it may pass
            raise TransientError(f"{name}: {what} {target}: HTTP {status}{detail}")
        raise RegistryError(f"{name}: {what} {target}: HTTP {status}{detail}")


def _credential_store(options: RegistryOptions) -> CredentialStore:
    if options.credentials is not None:
        return options.credentials
    if options.docker_config is not None:
        return DockerConfigCredentials(options.docker_config)
    return _NoCredentials()


def _of_type(referrers: list[Referrer], artifact_type: str) -> tuple[Referrer, ...]:
    # filtered here too: the spec leaves filtering to the registry's choice (a SHOULD), and a
    # tag schema index is never filtered
    return tuple(r for r in referrers if not artifact_type or r.artifact_type == artifact_type)


def _next_page(link: str, repository: str) -> str:
    """The path after /v2/<repository>/ of the `rel="next"` page of a Link header, or ""."""
    match = re.search(r'<([^>]+)>\s*;\s*rel="?next"?', link)
    if not match:
        return ""
    target = urlsplit(match.group(1))
    prefix = f"/v2/{repository}/"
    if not target.path.startswith(prefix):
        return ""  # a next page elsewhere is not followed
    return target.path[len(prefix) :] + (f"?{target.query}" if target.query else "")


def _error_code(response: httpx.Response) -> tuple[str, str]:
    # an error body is read only this far: a registry could send one without end
    data = b""
    try:
        for chunk in response.iter_bytes(_ERROR_BODY_BYTES):
            data += chunk
            if len(data) >= _ERROR_BODY_BYTES:
                return "", ""
        body: Any = parse_json(data, "an error answer")
    except (httpx.HTTPError, httpx.StreamError, ValueError, UnicodeDecodeError):
        return "", ""
    errors = body.get("errors") if isinstance(body, dict) else None
    if isinstance(errors, list) and errors and isinstance(errors[0], dict):
        return str(errors[0].get("code", "")), str(errors[0].get("message", ""))[:200]
    return "", ""


def _content_length(response: httpx.Response) -> int | None:
    try:
        value = int(response.headers.get("Content-Length", ""))
    except ValueError:
        return None
    return value if value >= 0 else None


def _fatal_cause(exc: Exception) -> tuple[str, Remedy | None]:
    """Why a request cannot succeed however often it is retried (an unknown host, a refused
    connection, a certificate that does not verify) and what would remedy it, or ("", None)
    when a retry may help."""
    cause: BaseException | None = exc
    seen = 0
    while cause is not None and seen < 10:  # a cycle in a chain is not impossible
        seen += 1
        if isinstance(cause, socket.gaierror):
            return (
                f"the host name cannot be resolved ({cause.strerror or cause}); check the "
                "registry's name in the reference, and the network and DNS",
                None,
            )
        if isinstance(cause, ConnectionRefusedError):
            return (
                "the connection was refused: nothing listens there; check the registry's name "
                "and port, and that it is running",
                None,
            )
        if isinstance(cause, ssl.SSLCertVerificationError):
            reason = cause.verify_message or str(cause)
            return (
                f"its TLS certificate does not verify ({reason}); if the registry uses a "
                "private CA or a self-signed certificate on purpose, it can be named insecure",
                Remedy.ALLOW_INSECURE,
            )
        if isinstance(cause, OSError) and cause.errno in (errno.ENETUNREACH, errno.EHOSTUNREACH):
            return f"the host is unreachable ({cause.strerror}); check the network", None
        cause = cause.__cause__ or cause.__context__
    return "", None


def _media_type(content_type: str) -> str:
    return content_type.split(";", 1)[0].strip()


def _range_start(content_range: str) -> int:
    # "bytes 100-199/200"
    try:
        return int(content_range.split(" ", 1)[1].split("-", 1)[0])
    except (IndexError, ValueError):
        return 0


def _retry_after_seconds(value: str | None, now: datetime) -> float | None:
    """The seconds a `Retry-After` header asks to wait (a count, or an HTTP date after
    `now`); None when there is none or it says nothing usable."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(when.timestamp() - now.timestamp(), 0.0)


def _origin(url: str) -> tuple[str, str]:
    parts = urlsplit(url)
    return parts.scheme, parts.netloc.lower()


def _on_host(url: str, host: str) -> bool:
    """Whether `url` goes to `host` (HOST[:PORT] as a reference names it)."""
    return urlsplit(url).netloc.lower() == host.lower()


def _hostname(netloc: str) -> str:
    """The host of HOST[:PORT] (brackets kept off IPv6 addresses), lowercase."""
    try:
        return (urlsplit(f"//{netloc}").hostname or netloc).lower()
    except ValueError:
        return netloc.lower()


def _is_loopback(host: str) -> bool:
    name = host.rsplit(":", 1)[0] if not host.startswith("[") else host.split("]", 1)[0] + "]"
    return name in ("localhost", "[::1]") or name.startswith("127.")


def _describe(exc: Exception) -> str:
    if isinstance(exc, httpx.ConnectTimeout):
        return "timed out connecting"
    if isinstance(exc, httpx.ReadTimeout):
        return "timed out waiting for data (the server is too slow)"
    if isinstance(exc, httpx.TimeoutException):
        return "timed out"
    if isinstance(exc, httpx.ConnectError):
        return f"cannot connect ({exc})"
    if isinstance(exc, httpx.RemoteProtocolError):
        return f"the connection broke off ({exc})"
    return f"{type(exc).__name__}: {exc}"
