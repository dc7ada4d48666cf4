"""Image references: one parser (`parse_image_ref`) for everything a user may name an image by.

An `ImageRef` is a `RegistryRef`, Docker's `[HOST[:PORT]/]NAME[:TAG][@DIGEST]`, or a `LocalRef`,
a path with its kind (`docker-archive:`, `oci:`, `dir:`, `rootfs:` or, for a bare path, what
the path holds). Docker Hub is the default registry: `debian` means
`docker.io/library/debian:latest`, and `docker.io` is served from `registry-1.docker.io`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import assert_never

from basewatch.errors import ImageNotFound, UsageError
from basewatch.oci.digest import parse_digest
from basewatch.oci.store import TarStore

DOCKER_HUB = "docker.io"
DOCKER_HUB_HOST = "registry-1.docker.io"
_HUB_ALIASES = frozenset({"docker.io", "index.docker.io", "registry-1.docker.io"})
_COMPONENT = re.compile(r"^[a-z0-9]+(?:(?:[._]|__|[-]+)[a-z0-9]+)*$")
_TAG = re.compile(r"^[\w][\w.-]{0,127}$")
_HOST = re.compile(r"^(?:\[[0-9a-fA-F:.]+\]|[a-zA-Z0-9](?:[a-zA-Z0-9.-]*[a-zA-Z0-9])?)(?::\d+)?$")
_LOOPBACK_NAMES = frozenset({"localhost", "127.0.0.1", "[::1]", "::1"})


@dataclass(frozen=True, slots=True)
class RegistryRef:
    """An image in a registry; `registry` is the canonical domain (`docker.io` for Docker Hub).

    `given` is the reference as the user wrote it (`debian:12`, `registry:localhost:5000/app`),
    which reports show; it takes no part in comparisons.
    """

    registry: str
    repository: str
    tag: str = ""
    digest: str = ""
    given: str = field(default="", compare=False, repr=False)

    @property
    def text(self) -> str:
        """The reference as given, else its canonical spelling."""
        return self.given or str(self)

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
        """Whether the registry is on this machine (localhost, 127.0.0.0/8, ::1)."""
        hostname = self.registry.rsplit(":", 1)[0] if "]" not in self.registry else self.registry
        if self.registry.startswith("["):
            hostname = self.registry.split("]", 1)[0] + "]"
        return hostname in _LOOPBACK_NAMES or hostname.startswith("127.")

    def with_digest(self, digest: str) -> RegistryRef:
        """The same image pinned to `digest` (no longer as given)."""
        return RegistryRef(self.registry, self.repository, self.tag, digest)

    def __str__(self) -> str:
        text = f"{self.registry}/{self.repository}"
        if self.tag:
            text += f":{self.tag}"
        elif not self.digest:
            text += ":latest"
        if self.digest:
            text += f"@{self.digest}"
        return text


REGISTRY_PREFIX = "registry:"


def without_prefix(text: str) -> str:
    """A registry reference as written, without the optional `registry:` prefix."""
    return text.removeprefix(REGISTRY_PREFIX)


def split_pinned(text: str) -> tuple[str, str]:
    """(`[registry:]NAME[:TAG]` without its prefix, the digest it is pinned to or "") of a
    registry reference as written; nothing is normalised."""
    name, _, digest = without_prefix(text).partition("@")
    return name, digest


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


def parse_reference(text: str) -> RegistryRef:
    """Parse a Docker-style registry reference; raises UsageError naming what is wrong."""
    return _parse(text, check_port=True)


def _parse(text: str, check_port: bool) -> RegistryRef:
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
    return RegistryRef(registry, path, tag, digest, given=original)


# --- local images ------------------------------------------------------------------------------


class LocalKind(StrEnum):
    """How a local image is stored; the value is its reference prefix."""

    DOCKER_ARCHIVE = "docker-archive"  # `docker save` output
    OCI = "oci"  # an OCI image layout, a directory or a tar of one
    DIR = "dir"  # an unpacked root filesystem
    ROOTFS = "rootfs"  # a root filesystem tarball, compressed or not


@dataclass(frozen=True, slots=True)
class LocalRef:
    """An image stored on this machine. `tag` selects an image of a docker archive (`REPO:TAG`)
    or an OCI layout (its ref name); `digest` one of a layout by manifest digest."""

    kind: LocalKind
    path: Path
    tag: str = ""
    digest: str = ""
    given: str = field(default="", compare=False, repr=False)

    @property
    def text(self) -> str:
        """The reference as given, else its canonical spelling."""
        return self.given or str(self)

    def __str__(self) -> str:
        text = f"{self.kind}:{self.path}"
        if self.tag:
            text += f":{self.tag}"
        if self.digest:
            text += f"@{self.digest}"
        return text


ImageRef = RegistryRef | LocalRef

_PREFIXES = frozenset(kind.value for kind in LocalKind)

_PATH_SUFFIXES = (".tar", ".tgz", ".gz", ".zst", ".tar.gz", ".tar.zst", ".json")
_GZIP, _ZSTD = b"\x1f\x8b", b"\x28\xb5\x2f\xfd"


def parse_image_ref(text: str) -> ImageRef:
    """What `text` names: a prefixed reference (`registry:`, `docker-archive:`, `oci:`, `dir:`,
    `rootfs:`), else an existing path (its kind read from what it holds), else a registry
    reference. Raises UsageError when it is malformed, ImageNotFound when it names nothing.

    Paths may contain colons: `PATH:SELECTOR` takes the longest prefix that exists as PATH.
    """
    prefix, sep, rest = text.partition(":")
    if sep and prefix == "registry":
        if not rest:
            raise UsageError(f"{text!r}: an image reference must follow 'registry:'")
        return _registry_ref(rest, text)
    if sep and prefix in _PREFIXES:
        if not rest:
            raise UsageError(f"{text!r}: a path must follow '{prefix}:'")
        kind = LocalKind(prefix)
        match kind:
            case LocalKind.DOCKER_ARCHIVE:
                path, selector = _split_existing(rest)
                return LocalRef(kind, path, tag=selector, given=text)
            case LocalKind.OCI:
                return _oci_ref(rest, text)
            case LocalKind.DIR | LocalKind.ROOTFS:
                return LocalRef(kind, Path(rest), given=text)
            case _:
                assert_never(kind)
    return _detect(text)


def _registry_ref(text: str, given: str) -> RegistryRef:
    ref = parse_reference(text)
    return RegistryRef(ref.registry, ref.repository, ref.tag, ref.digest, given=given)


def _split_existing(rest: str) -> tuple[Path, str]:
    """Split PATH[:SELECTOR]; PATH may contain colons, so the longest existing path wins."""
    if Path(rest).exists():
        return Path(rest), ""
    cut = len(rest)
    while (cut := rest.rfind(":", 0, cut)) > 0:
        if Path(rest[:cut]).exists():
            return Path(rest[:cut]), rest[cut + 1 :]
    return Path(rest), ""


def _oci_ref(rest: str, given: str) -> LocalRef:
    if "@" in rest:
        path_text, _, digest = rest.rpartition("@")
        if Path(path_text).exists() or not Path(rest).exists():
            return LocalRef(
                LocalKind.OCI, Path(path_text), digest=parse_digest(digest, given), given=given
            )
    path, tag = _split_existing(rest)
    return LocalRef(LocalKind.OCI, path, tag=tag, given=given)


def _looks_like_path(text: str) -> bool:
    if text.startswith(("/", ".", "~")) or "\\" in text:
        return True
    last = text.rsplit("/", 1)[-1]
    return last.endswith(_PATH_SUFFIXES)


def _detect(text: str) -> ImageRef:
    path = Path(text)
    if not path.exists():
        if ":" in text or "/" in text:
            path, selector = _split_existing(text)
            if path.exists():
                return _sniff(path, text, selector)
        if not _looks_like_path(text) and looks_like_reference(text):
            return _registry_ref(text, text)
        raise ImageNotFound(
            f"{text!r}: no such file or directory (prefix it with docker-archive:, oci:, "
            "dir: or rootfs: to say what it is, or registry: for an image in a registry)"
        )
    return _sniff(path, text, "")


def _sniff(path: Path, given: str, selector: str) -> LocalRef:
    """The kind of an existing path, read from what it holds (a selector only means something
    to a docker archive or an OCI layout)."""
    if path.is_dir():
        if (path / "oci-layout").is_file():
            return LocalRef(LocalKind.OCI, path, tag=selector, given=given)
        return LocalRef(LocalKind.DIR, path, given=given)
    with path.open("rb") as handle:
        head = handle.read(4)
    if head.startswith(_GZIP) or head == _ZSTD:
        return LocalRef(LocalKind.ROOTFS, path, given=given)
    store = TarStore(path)
    try:
        layout, archive = store.exists("oci-layout"), store.exists("manifest.json")
    finally:
        store.close()
    if layout and not archive:
        return LocalRef(LocalKind.OCI, path, tag=selector, given=given)
    if archive:
        return LocalRef(LocalKind.DOCKER_ARCHIVE, path, tag=selector, given=given)
    return LocalRef(LocalKind.ROOTFS, path, given=given)
