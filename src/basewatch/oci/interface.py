"""The seams every image source implements: `ImageSource` opens an image into an `OpenImage`,
whose layers are read through `LayerReader`s; `VerifiableImage` is what a source with local
bytes adds so that cached analyses can stand in for reading them."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from typing import Protocol, runtime_checkable

from basewatch.models import ImageInfo, LayerInfo
from basewatch.oci.layer import FileEntry, Opener


class LayerReader(Protocol):
    """Entries of one layer, streamed once; `diff_id` is known once the stream is exhausted."""

    diff_id: str

    def entries(self) -> Iterator[tuple[FileEntry, Opener | None]]: ...


class OpenImage(Protocol):
    """An image whose manifest and config have been read and verified."""

    info: ImageInfo

    def layer(self, layer: LayerInfo) -> contextlib.AbstractContextManager[LayerReader]:
        """Open one layer for a single forward pass; blob digest and diffID are verified."""
        ...


@runtime_checkable
class VerifiableImage(Protocol):
    """An image whose layers are stored locally, so that their bytes can be checked again.

    A cached analysis may stand in for reading a layer, never for checking it: an image can
    claim any diffID in its config. The scanner hashes the stored bytes first, then uses the
    cached results only for the content those bytes are known to hold.
    """

    def verify_layers(self, layers: Sequence[LayerInfo]) -> list[str]:
        """The digest of each layer's bytes as stored (hashed now), in order. Raises
        DigestMismatch when they are not what the image says: the layer's blob digest, or for
        an uncompressed layer (where the blob is the tar) its diffID. "" for a layer that has
        nothing to check against (a `dir:` source)."""
        ...


class ImageSource(Protocol):
    """Where an image comes from. `open` reads and verifies its metadata; `reference` is the
    user's spelling of it, which reports show."""

    reference: str

    def open(self, platform: str | None = None) -> contextlib.AbstractContextManager[OpenImage]: ...
