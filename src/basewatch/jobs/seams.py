"""The seams every job takes, and the one place that makes their concrete choices.

A job receives a `Seams`: how to open an image (`ImageOpener`: local paths and registries,
with the registry options, the offline rule and a client that lives as long as the seams), the
vulnerability data (`VulnData`: a read-only store and the updates a scan may fetch), the
inventory builder (`Scanner`), a clock and a progress observer. `Seams.default(settings, ...)`
builds the real ones from `Settings`; tests and the service inject their own.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from basewatch.clock import SYSTEM_CLOCK, Clock
from basewatch.errors import DatabaseError, OfflineError, Remedy
from basewatch.jobs.inventory import Scanner
from basewatch.models import DatabaseInfo
from basewatch.oci.interface import ImageSource
from basewatch.oci.open import open_image
from basewatch.oci.reference import (
    ImageRef,
    LocalRef,
    RegistryRef,
    parse_image_ref,
    parse_reference,
    without_prefix,
)
from basewatch.oci.registry.options import RegistryOptions
from basewatch.progress import NULL_PROGRESS, Progress
from basewatch.settings import Settings

if TYPE_CHECKING:
    from basewatch.advice.advise import TagSource
    from basewatch.oci.referrers import Referrers
    from basewatch.oci.registry.client import RegistryClient
    from basewatch.oci.registry.source import Resolved
    from basewatch.vulndb.store import VulnStore
    from basewatch.vulndb.update import UpdateReport


class ImageOpener(Protocol):
    """Turns an image reference into a source to open."""

    def parse(self, reference: str) -> ImageRef:
        """The typed reference (raises UsageError for one that is unusable)."""
        ...

    def open(self, ref: ImageRef, scanner: Scanner | None = None) -> ImageSource:
        """The source of `ref`; with `scanner`, registry layers whose analysis it has not
        cached are downloaded ahead. Raises OfflineError for a registry image offline."""
        ...

    def is_local(self, ref: ImageRef) -> bool:
        """Whether opening `ref` never touches the network."""
        ...

    def tags(self, platform: str | None = None) -> TagSource | None:
        """Where tags point now and which exist (None when the registry may not be used)."""
        ...

    def resolve(self, reference: str | RegistryRef, platform: str | None = None) -> Resolved:
        """The digests a registry reference resolves to now (HEAD requests where it can)."""
        ...

    def referrers(self, ref: RegistryRef, digest: str) -> Referrers | None:
        """What refers to `ref@digest` (attestations, signatures), from the referrers API or
        the referrers tag schema; None when the registry may not be used."""
        ...


class VulnData(Protocol):
    """The vulnerability database a job reads, and what a scan may fetch into it."""

    @property
    def location(self) -> str:
        """Where it is, for reports (a path, a URL without its password)."""
        ...

    def exists(self) -> bool: ...

    def open(self) -> contextlib.AbstractContextManager[VulnStore]:
        """A read-only store, closed on exit (raises DatabaseError when it is missing or
        unreadable)."""
        ...

    def info(self, store: VulnStore) -> DatabaseInfo:
        """The database line of a report: each source's import time and data date."""
        ...

    def update(self, dumps: Sequence[str], progress: Progress) -> UpdateReport:
        """Fetch or refresh these OSV dumps (a dump the server lacks is reported, not fatal)."""
        ...

    def create_empty(self) -> None:
        """Make an empty database (a first scan of an image without any ecosystem)."""
        ...


@dataclass
class RegistryImages:
    """The `ImageOpener` over local paths and OCI registries; one registry client serves
    every image it opens, until `close()`."""

    options: RegistryOptions
    offline: bool = False
    _client: RegistryClient | None = field(default=None, init=False, repr=False)

    def parse(self, reference: str) -> ImageRef:
        return parse_image_ref(reference)

    def is_local(self, ref: ImageRef) -> bool:
        return isinstance(ref, LocalRef)

    def open(self, ref: ImageRef, scanner: Scanner | None = None) -> ImageSource:
        if isinstance(ref, RegistryRef):
            if self.offline:
                raise OfflineError(
                    f"{ref.text}: it is in a registry, and the network may not be used",
                    remedy=Remedy.GO_ONLINE,
                    reference=ref.text,
                    registry=ref.registry,
                )
            prefetch = None
            if scanner is not None:
                # the scanner's own rule, which also wants the blob bound to its diffID
                prefetch = scanner.layer_is_uncached
            return open_image(ref, self.options, client=self.client(), prefetch=prefetch)
        return open_image(ref, self.options)

    def tags(self, platform: str | None = None) -> TagSource | None:
        return None if self.offline else RegistryTags(self, platform)

    def resolve(self, reference: str | RegistryRef, platform: str | None = None) -> Resolved:

        ref = reference
        if isinstance(ref, str):
            ref = parse_reference(without_prefix(ref))
        if self.offline:
            raise OfflineError(
                f"{ref}: it is in a registry, and the network may not be used",
                remedy=Remedy.GO_ONLINE,
                reference=str(ref),
                registry=ref.registry,
            )
        from basewatch.oci.registry.source import resolve  # registry code: when it is used

        return resolve(ref, platform, self.options, self.client())

    def referrers(self, ref: RegistryRef, digest: str) -> Referrers | None:
        if self.offline:
            return None
        return self.client().list_referrers(ref, digest)

    def client(self) -> RegistryClient:
        """The registry client of these seams (made on first use: httpx loads only then)."""
        if self._client is None:
            from basewatch.oci.registry.client import RegistryClient

            self._client = RegistryClient(self.options)
        return self._client

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None


@dataclass(frozen=True, slots=True)
class RegistryTags:
    """The `TagSource` of advice, through the opener's registry client."""

    images: RegistryImages
    platform: str | None

    def digests(self, reference: str) -> tuple[str, ...]:
        resolved = self.images.resolve(reference, self.platform)
        return tuple(d for d in (resolved.manifest_digest, resolved.index_digest) if d)

    def tags(self, repository: str) -> Sequence[str]:
        return self.images.client().list_tags(parse_reference(repository))


@dataclass(frozen=True, slots=True)
class SqliteVulnData:
    """The `VulnData` of the embedded SQLite file."""

    path: Path
    osv_url: str

    @property
    def location(self) -> str:
        return str(self.path)

    def exists(self) -> bool:
        return self.path.exists()

    def open(self) -> contextlib.AbstractContextManager[VulnStore]:

        from basewatch.vulndb.sqlite import SqliteStore  # sbom and compat never open it

        return SqliteStore.open(self.path, readonly=True)

    def info(self, store: VulnStore) -> DatabaseInfo:
        sources = store.sources()
        return DatabaseInfo(
            path=str(self.path),
            sources=tuple((s.name, s.updated_at) for s in sources),
            data_dates=tuple((s.name, s.data_date) for s in sources),
        )

    def update(self, dumps: Sequence[str], progress: Progress) -> UpdateReport:
        from basewatch.vulndb.update import update

        return update(self.path, list(dumps), self.osv_url, progress=progress, missing_ok=True)

    def create_empty(self) -> None:

        from basewatch.vulndb.sqlite import rebuilding

        with rebuilding(self.path):
            pass


def missing_database(location: str) -> DatabaseError:
    return DatabaseError(
        f"{location}: no such database", remedy=Remedy.CREATE_DATABASE, path=location
    )


@dataclass
class Seams:
    """What every job is given: images, vulnerability data, the inventory builder, the clock
    and a progress observer."""

    images: ImageOpener
    vulns: VulnData
    scanner: Scanner
    settings: Settings
    clock: Clock = SYSTEM_CLOCK
    progress: Progress = NULL_PROGRESS

    @classmethod
    @contextlib.contextmanager
    def default(
        cls,
        settings: Settings,
        registry: RegistryOptions | None = None,
        *,
        offline: bool = False,
        progress: Progress = NULL_PROGRESS,
        clock: Clock = SYSTEM_CLOCK,
    ) -> Iterator[Seams]:
        """The real seams for `settings`; the registry client they share is closed on exit."""
        options = registry_options_for(settings, registry)
        images = RegistryImages(options, offline=offline)
        try:
            yield cls(
                images=images,
                vulns=SqliteVulnData(settings.db_path, settings.osv_url),
                scanner=Scanner.from_settings(settings, progress),
                settings=settings,
                clock=clock,
                progress=progress,
            )
        finally:
            images.close()


def registry_options_for(
    settings: Settings, registry: RegistryOptions | None = None
) -> RegistryOptions:
    """Registry options whose blob cache, Docker config and clock come from `settings`."""
    options = registry or RegistryOptions()
    return replace(
        options,
        cache_dir=settings.blob_dir,
        use_cache=settings.use_cache,
        docker_config=options.docker_config or settings.docker_config,
    )
