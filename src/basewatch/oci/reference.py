"""Image references as Docker spells them: `[HOST[:PORT]/]NAME[:TAG][@DIGEST]`.

Docker Hub is the default registry: `debian` means `docker.io/library/debian:latest`, and
`docker.io` is served from `registry-1.docker.io`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from basewatch.errors import UsageError
from basewatch.oci.digest import parse_digest

DOCKER_HUB = "docker.io"
DOCKER_HUB_HOST = "registry-1.docker.io"
_HUB_ALIASES = frozenset({"docker.io", "index.docker.io", "registry-1.docker.io"})
_COMPONENT = re.compile(r"^[a-z0-9]+(?:(?:[._]|__|[-]+)[a-z0-9]+)*$")
_TAG = re.compile(r"^[\w][\w.-]{0,127}$")
_HOST = re.compile(r"^(?:\[[0-9a-fA-F:.]+\]|[a-zA-Z0-9](?:[a-zA-Z0-9.-]*[a-zA-Z0-9])?)(?::\d+)?$")
_LOOPBACK_NAMES = frozenset({"localhost", "127.0.0.1", "[::1]", "::1"})


@dataclass(frozen=True, slots=True)
class Reference:
    """A parsed reference; `registry` is the canonical domain (`docker.io` for Docker Hub)."""

    registry: str
    repository: str
    tag: str = ""
    digest: str = ""

    @property
    def host(self) -> str:
        """HOST[:PORT] to connect to."""
        return DOCKER_HUB_HOST if self.registry == DOCKER_HUB else self.registry

    @property
    def target(self) -> str:
        """What to ask the registry for: the digest when there is one (it wins over a tag)."""
        return self.digest or self.tag or "latest"

    @property
    def is_loopback(self) -> bool:
        hostname = self.registry.rsplit(":", 1)[0] if "]" not in self.registry else self.registry
        if self.registry.startswith("["):
            hostname = self.registry.split("]", 1)[0] + "]"
        return hostname in _LOOPBACK_NAMES or hostname.startswith("127.")

    def with_digest(self, digest: str) -> Reference:
        return Reference(self.registry, self.repository, self.tag, digest)

    def __str__(self) -> str:
        text = f"{self.registry}/{self.repository}"
        if self.tag:
            text += f":{self.tag}"
        elif not self.digest:
            text += ":latest"
        if self.digest:
            text += f"@{self.digest}"
        return text


def looks_like_reference(text: str) -> bool:
    """True when `text` parses as a registry reference (a bad port aside: that one is meant
    for a registry, and parsing it again says what is wrong with the port)."""
    try:
        _parse(text, check_port=False)
    except UsageError:
        return False
    return True


def parse_host(text: str, what: str = "registry host") -> str:
    """HOST[:PORT] as a registry host, lowercase; raises UsageError when it is not one (a
    port outside 1-65535 included: sockets would silently wrap it)."""
    if not _HOST.match(text):
        raise UsageError(f"{what} {text!r} is not a valid HOST or HOST:PORT")
    _check_port(text, what)
    return text.lower()


def _check_port(host: str, what: str) -> None:
    _, colon, port = host.rpartition(":")
    if not colon or not port.isdigit():
        return  # no port (an IPv6 address in brackets ends with "]")
    if not 1 <= int(port) <= 65535:
        raise UsageError(f"{what} {host!r}: the port {port} is not between 1 and 65535")


def parse_reference(text: str) -> Reference:
    """Parse a Docker-style reference; raises UsageError naming what is wrong."""
    return _parse(text, check_port=True)


def _parse(text: str, check_port: bool) -> Reference:
    original = text
    if not text or text != text.strip():
        raise UsageError(f"{original!r} is not an image reference")
    digest = ""
    if "@" in text:
        text, _, digest_text = text.partition("@")
        try:
            digest = parse_digest(digest_text, original)
        except Exception as exc:
            raise UsageError(
                f"{original!r}: {digest_text!r} is not a digest (expected sha256:<64 hex>)"
            ) from exc
    tag = ""
    slash = text.rfind("/")
    colon = text.rfind(":")
    if colon > slash:
        text, tag = text[:colon], text[colon + 1 :]
        if not _TAG.match(tag):
            raise UsageError(f"{original!r}: {tag!r} is not a valid tag")
    first, sep, rest = text.partition("/")
    if sep and ("." in first or ":" in first or first == "localhost"):
        if not _HOST.match(first):
            raise UsageError(f"{original!r}: {first!r} is not a valid registry host")
        if check_port:
            _check_port(first, f"{original!r}: the registry host")
        registry, path = first.lower(), rest
    else:
        registry, path = DOCKER_HUB, text
    if registry in _HUB_ALIASES:
        registry = DOCKER_HUB
    if not path:
        raise UsageError(f"{original!r}: the repository name is missing")
    components = path.split("/")
    if not all(_COMPONENT.match(c) for c in components):
        raise UsageError(
            f"{original!r}: {path!r} is not a valid repository name "
            "(lowercase letters, digits and . _ - separators)"
        )
    if registry == DOCKER_HUB and len(components) == 1:
        path = f"library/{path}"
    if len(path) > 255:
        raise UsageError(f"{original!r}: the repository name is longer than 255 characters")
    return Reference(registry, path, tag, digest)
