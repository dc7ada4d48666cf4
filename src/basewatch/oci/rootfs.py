"""Root filesystems read as one-layer images: `dir:PATH` (an unpacked tree on the host) and
`rootfs:PATH.tar[.gz|.zst]` (a tarball of one)."""

from __future__ import annotations

import contextlib
import hashlib
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

from basewatch.errors import ImageNotFound
from basewatch.models import ImageInfo, LayerInfo, SourceType
from basewatch.oci.blobs import BlobLayer
from basewatch.oci.interface import LayerReader, OpenImage
from basewatch.oci.layer import FileEntry, Opener, iter_dir_entries


class _SingleLayerImage:
    def __init__(
        self,
        info: ImageInfo,
        reader_factory: Callable[[], contextlib.AbstractContextManager[LayerReader]],
    ) -> None:
        self.info = info
        self._factory = reader_factory

    def verify_layers(self, layers: Sequence[LayerInfo]) -> list[str]:
        # A root filesystem tarball's digest was computed from its bytes when it was opened
        # (a `dir:` source has none, and is never cached).
        return [layer.digest for layer in layers]

    @contextlib.contextmanager
    def layer(self, layer: LayerInfo) -> Iterator[LayerReader]:
        with self._factory() as reader:
            yield reader


class _DirLayer:
    def __init__(self, root: Path) -> None:
        self._root = root
        self.diff_id = ""

    def entries(self) -> Iterator[tuple[FileEntry, Opener | None]]:
        return iter_dir_entries(str(self._root))


class DirSource:
    """`dir:PATH`: an unpacked root filesystem on the host, read as one layer."""

    def __init__(self, path: Path, reference: str = "") -> None:
        self.path = path
        self.reference = reference or f"dir:{path}"

    @contextlib.contextmanager
    def open(self, platform: str | None = None) -> Iterator[OpenImage]:
        if not self.path.is_dir():
            raise ImageNotFound(f"{self.path}: no such directory")
        info = ImageInfo(
            reference=self.reference,
            source_type=SourceType.DIR,
            layers=(LayerInfo(index=0, diff_id=""),),
        )

        @contextlib.contextmanager
        def reader() -> Iterator[LayerReader]:
            yield _DirLayer(self.path)

        yield _SingleLayerImage(info, reader)


class RootfsSource:
    """`rootfs:PATH.tar[.gz|.zst]`: a root filesystem tarball, read as a one-layer image.

    Its diffID is only known after reading it, so the layer is identified by the digest of
    the file as stored (`digest`), which is what the analysis cache is keyed by.
    """

    def __init__(self, path: Path, reference: str = "") -> None:
        self.path = path
        self.reference = reference or f"rootfs:{path}"

    @contextlib.contextmanager
    def open(self, platform: str | None = None) -> Iterator[OpenImage]:
        if not self.path.is_file():
            raise ImageNotFound(f"{self.path}: no such file")
        hasher = hashlib.sha256()
        with self.path.open("rb") as handle:
            while chunk := handle.read(1 << 20):
                hasher.update(chunk)
        digest = f"sha256:{hasher.hexdigest()}"
        size = self.path.stat().st_size
        layer = LayerInfo(index=0, diff_id="", digest=digest, size=size)
        info = ImageInfo(reference=self.reference, source_type=SourceType.ROOTFS, layers=(layer,))
        label = str(self.path)

        @contextlib.contextmanager
        def reader() -> Iterator[LayerReader]:
            with self.path.open("rb") as raw:
                yield BlobLayer(raw, layer, label, reopen=lambda: self.path.open("rb"))

        yield _SingleLayerImage(info, reader)
