"""Content digests: parsing, and readers that verify what they stream."""

from __future__ import annotations

import hashlib
import re
from typing import BinaryIO

from basewatch.errors import DigestMismatch, ImageError
from basewatch.oci.jsondoc import kind

# Matched with fullmatch: with `match` and `$`, "sha256:<hex>\n" passed (`$` also matches
# before a final newline), and the newline then went on into paths and cache keys.
_DIGEST = re.compile(r"sha256:[a-f0-9]{64}|sha512:[a-f0-9]{128}")


def parse_digest(value: object, what: str) -> str:
    """Return `value` if it is a well-formed sha256/sha512 digest, else raise ImageError."""
    if not isinstance(value, str):
        # never the value itself: from an image's JSON it may be a document nested too deep
        # to print, or megabytes long
        raise ImageError(f"{what}: {kind(value)} is not a valid digest (expected sha256:<64 hex>)")
    if not _DIGEST.fullmatch(value):
        shown = repr(value) if len(value) <= 140 else f"{value[:64]!r}... ({len(value)} chars)"
        raise ImageError(f"{what}: {shown} is not a valid digest (expected sha256:<64 hex>)")
    return value


def digest_hex(digest: str) -> str:
    return digest.split(":", 1)[1]


def new_hasher(digest: str) -> hashlib._Hash:
    return hashlib.new(digest.split(":", 1)[0])


def digest_bytes(data: bytes, algorithm: str = "sha256") -> str:
    return f"{algorithm}:{hashlib.new(algorithm, data).hexdigest()}"


def hash_stream(raw: BinaryIO, algorithm: str = "sha256") -> str:
    """The digest ("algorithm:hex") of everything left in `raw`, read in bounded chunks."""
    hasher = hashlib.new(algorithm)
    while chunk := raw.read(1 << 20):
        hasher.update(chunk)
    return f"{algorithm}:{hasher.hexdigest()}"


def verify_bytes(data: bytes, digest: str, what: str) -> None:
    hasher = new_hasher(digest)
    hasher.update(data)
    actual = f"{digest.split(':', 1)[0]}:{hasher.hexdigest()}"
    if actual != digest:
        raise DigestMismatch(f"{what}: content hashes to {actual}, but is named {digest}")


class HashingReader:
    """A forward-only reader that hashes every byte it passes on.

    `verify()` drains whatever the consumer left unread, then compares the digest and size.
    """

    def __init__(self, raw: BinaryIO, digest: str, what: str, size: int | None = None) -> None:
        self._raw = raw
        self._digest = digest
        self._hasher = new_hasher(digest)
        self._what = what
        self._size = size
        self.count = 0

    def read(self, n: int = -1) -> bytes:
        data = self._raw.read(n)
        self._hasher.update(data)
        self.count += len(data)
        return data

    def readable(self) -> bool:
        return True

    def drain(self) -> None:
        while self.read(1 << 20):
            pass

    def hexdigest(self) -> str:
        """The digest of everything read so far, as "algorithm:hex"."""
        return f"{self._digest.split(':', 1)[0]}:{self._hasher.hexdigest()}"

    def verify(self) -> None:
        self.drain()
        actual = self.hexdigest()
        if actual != self._digest:
            raise DigestMismatch(
                f"{self._what}: content hashes to {actual}, but is named {self._digest}"
                " (the blob is corrupt or was tampered with)"
            )
        if self._size is not None and self.count != self._size:
            raise DigestMismatch(
                f"{self._what}: {self.count} bytes read, the manifest says {self._size}"
            )
