"""How to talk to registries: credentials, insecure hosts, cache, limits. No network here."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from basewatch.clock import SYSTEM_CLOCK, Clock

if TYPE_CHECKING:
    import httpx

    from basewatch.oci.registry.auth import CredentialStore

DEFAULT_MAX_CACHE_BYTES = 10 << 30
DEFAULT_PARALLEL = 4
# The largest layer a manifest may declare: real layers stay well below, and a descriptor that
# says more is a lie meant to fill the disk.
DEFAULT_MAX_LAYER_BYTES = 8 << 30
# Manifests, indexes, configs and tag-list pages: containerd refuses more than 4 MiB too.
DEFAULT_MAX_DOCUMENT_BYTES = 4 << 20


class RequestGate(Protocol):
    """Admits the requests to registries, so that clients sharing a gate (a fleet of workers)
    reach each registry as one client: within one request rate, and all paused after a 429.

    `registry` is the registry as in image references (`RegistryRef.registry`: HOST[:PORT],
    `docker.io` for Docker Hub). Only requests to the registry's own host pass the gate, not
    those to blob storage or a token service elsewhere that it sends the client to.
    """

    def before(self, registry: str) -> None:
        """Called before every request to `registry`; may block until it is its turn. Raises
        `basewatch.errors.RateLimited` (with `retry_after`) when `registry` is paused for
        longer than the gate will wait."""
        ...

    def rate_limited(self, registry: str, retry_after: float | None) -> None:
        """Called when `registry` answered 429; `retry_after`: the seconds its `Retry-After`
        asked for, None when it said nothing usable."""
        ...


@dataclass(frozen=True)
class RegistryOptions:
    """Everything a registry pull needs besides the reference.

    `credentials` None means those of Docker's `config.json` in `docker_config` (Docker's
    config directory; both None: no credentials, pulls are anonymous). `cache_dir` is the
    blob cache's root (`Settings.blob_dir`); `use_cache=False`, or no `cache_dir`, keeps blobs
    in a private directory of that root's (else the system temporary directory's) scratch area
    (`basewatch.scratch`), removed when the image is closed. `transport`, `sleep` and `clock`
    (token expiry, `Retry-After` dates) are for tests. A descriptor's size bounds every
    download: layers may declare up to `max_layer_bytes`, manifests, indexes and configs
    `max_document_bytes`.

    Every request has one deadline for all of it (connecting, headers, body): `request_deadline`
    seconds, and for a blob that much more time again as its size at `min_transfer_rate` bytes a
    second takes, so a server that trickles its answer cannot hold a request open.
    `read_timeout` still bounds each wait for data (a stall). `allowed_auth_hosts` are token
    services (HOST or HOST:PORT) that may receive the registry credentials although they are not
    the registry's own host.

    `gate` admits every request to a registry's host and hears of its 429s (see `RequestGate`):
    the service's workers share one through its database; None (the CLI) admits everything.
    """

    credentials: CredentialStore | None = None
    docker_config: Path | None = None
    insecure_registries: frozenset[str] = frozenset()
    cache_dir: Path | None = None
    use_cache: bool = True
    max_cache_bytes: int = DEFAULT_MAX_CACHE_BYTES
    parallel: int = DEFAULT_PARALLEL
    connect_timeout: float = 10.0
    read_timeout: float = 60.0
    request_deadline: float = 60.0
    min_transfer_rate: float = 128 << 10
    max_layer_bytes: int = DEFAULT_MAX_LAYER_BYTES
    max_document_bytes: int = DEFAULT_MAX_DOCUMENT_BYTES
    allowed_auth_hosts: frozenset[str] = frozenset()
    retries: int = 4
    backoff: float = 0.5
    max_retry_after: float = 60.0
    gate: RequestGate | None = None
    transport: httpx.BaseTransport | None = None
    sleep: Callable[[float], None] = field(default=time.sleep)
    clock: Clock = field(default=SYSTEM_CLOCK)
