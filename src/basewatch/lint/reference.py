"""Image references as a Dockerfile's `FROM` line writes them (the distribution reference grammar).

`python:3.12-slim` is Docker Hub's `library/python:3.12-slim`: a name without a registry part
lives on Docker Hub (`DOCKER_HUB`), and a one-component Docker Hub name lives under `library/`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

# The reference grammar's canonical name for Docker Hub; not a host basewatch contacts here.
DOCKER_HUB = "docker.io"

_TAG = re.compile(r"[\w][\w.-]{0,127}")
_DIGEST = re.compile(r"[a-z0-9]+(?:[.+_-][a-z0-9]+)*:[0-9a-fA-F]{32,}")
_COMPONENT = re.compile(r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*")


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
    rest = text
    digest = ""
    if "@" in rest:
        rest, digest = rest.split("@", 1)
        if not _DIGEST.fullmatch(digest):
            return None
    tag = ""
    slash = rest.rfind("/")
    colon = rest.rfind(":")
    if colon > slash:
        rest, tag = rest[:colon], rest[colon + 1 :]
        if not _TAG.fullmatch(tag):
            return None
    parts = rest.split("/")
    registry = DOCKER_HUB
    if len(parts) > 1 and ("." in parts[0] or ":" in parts[0] or parts[0] == "localhost"):
        registry = parts[0].lower()
        parts = parts[1:]
    if not parts or not all(_COMPONENT.fullmatch(p) for p in parts):
        return None
    if registry == DOCKER_HUB and len(parts) == 1:
        parts = ["library", *parts]
    return ImageRef(
        text=text, registry=registry, repository="/".join(parts), tag=tag, digest=digest
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
