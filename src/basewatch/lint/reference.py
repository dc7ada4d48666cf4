"""Image references as a Dockerfile's `FROM` line writes them.

The grammar and Docker Hub's normalisation are `registry.reference`'s, the one parser basewatch
has: `python:3.12-slim` is `docker.io/library/python:3.12-slim`, `index.docker.io/x` is Docker
Hub too. `ImageRef` adds the text as written, which `lint --fix` rewrites in place.
"""

from __future__ import annotations

from dataclasses import dataclass

from basewatch.errors import UsageError
from basewatch.oci.reference import DOCKER_HUB
from basewatch.oci.reference import parse_reference as parse_registry_reference

__all__ = ["DOCKER_HUB", "ImageRef", "parse_reference", "registry_matches"]


@dataclass(frozen=True, slots=True)
class ImageRef:
    """A parsed reference. `registry` and `repository` are normalised; `tag`/`digest` may be ""."""

    text: str  # as written
    registry: str
    repository: str  # "library/python"
    tag: str
    digest: str

    @property
    def name(self) -> str:
        """The last path component: `python` for `library/python`."""
        return self.repository.rsplit("/", 1)[-1]

    @property
    def official(self) -> bool:
        """A Docker Hub official image (`library/...`)."""
        return self.registry == DOCKER_HUB and self.repository.startswith("library/")


def parse_reference(text: str) -> ImageRef | None:
    """Parse a reference; None when it does not follow the grammar (an unresolved `$VAR`...)."""
    try:
        ref = parse_registry_reference(text)
    except UsageError:
        return None
    return ImageRef(
        text=text, registry=ref.registry, repository=ref.repository, tag=ref.tag, digest=ref.digest
    )


def registry_matches(ref: ImageRef, pattern: str) -> bool:
    """Does the trusted-registry entry `pattern` cover this reference?

    An entry is a registry (`registry.example.test`) or a registry and path prefix
    (`registry.example.test/team`); `DOCKER_HUB + "/library"` means the official images only.
    """
    pattern = pattern.strip().rstrip("/").lower()
    if not pattern:
        return False
    full = f"{ref.registry}/{ref.repository}"
    return full == pattern or full.startswith(pattern + "/")
