"""How to talk to registries: credentials, insecure hosts, cache, limits. No network here."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import httpx

    from basewatch.registry.auth import CredentialStore

DEFAULT_MAX_CACHE_BYTES = 10 << 30
DEFAULT_PARALLEL = 4


@dataclass(frozen=True)
class RegistryOptions:
    """Everything a registry pull needs besides the reference.

    `credentials` None means Docker's config.json; `cache_dir` None the user cache dir, the
    same root as the layer-analysis cache; `use_cache=False` keeps blobs in a temporary
    directory removed when the image is closed. `transport` and `sleep` are for tests.
    """

    credentials: CredentialStore | None = None
    insecure_registries: frozenset[str] = frozenset()
    cache_dir: Path | None = None
    use_cache: bool = True
    max_cache_bytes: int = DEFAULT_MAX_CACHE_BYTES
    parallel: int = DEFAULT_PARALLEL
    connect_timeout: float = 10.0
    read_timeout: float = 60.0
    retries: int = 4
    backoff: float = 0.5
    max_retry_after: float = 60.0
    transport: httpx.BaseTransport | None = None
    sleep: Callable[[float], None] = field(default=time.sleep)
