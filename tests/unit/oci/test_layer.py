from __future__ import annotations

import gzip
import io

import pytest

from basewatch.errors import DigestMismatch, ImageError, UnsafePath
from basewatch.models import EntryKind
from basewatch.oci.layer import TarLayerStream, normalize_path
from tests.imagebuild import (
    compress,
    directory,
    file,
    hardlink,
    layer_tar,
    opaque,
    sha256,
    symlink,
    whiteout,
)


def entries(blob: bytes, diff_id: str = "") -> list[tuple[str, EntryKind, str]]:
    stream = TarLayerStream(io.BytesIO(blob), "test layer", diff_id)
    return [(e.path, e.kind, e.link) for e, _ in stream.entries()]


def test_normalize_path_strips_dot_and_slashes() -> None:
    assert normalize_path("./etc//os-release", "x") == "/etc/os-release"
    assert normalize_path("/usr/bin/", "x") == "/usr/bin"


@pytest.mark.parametrize("name", ["../etc/passwd", "usr/../../etc/passwd", "a/b/../../../x"])
def test_dotdot_entries_are_refused(name: str) -> None:
    with pytest.raises(UnsafePath, match="climbs out"):
        normalize_path(name, "layer 0")


@pytest.mark.parametrize("how", ["none", "gzip", "zstd"])
def test_every_compression_gives_the_same_entries(how: str) -> None:
    raw = layer_tar([directory("etc"), file("etc/hostname", "box\n"), symlink("bin", "usr/bin")])
    assert entries(compress(raw, how), sha256(raw)) == [
        ("/etc", EntryKind.DIR, ""),
        ("/etc/hostname", EntryKind.FILE, ""),
        ("/bin", EntryKind.SYMLINK, "usr/bin"),
    ]


def test_whiteouts_and_opaque_markers_become_deletions() -> None:
    raw = layer_tar(
        [whiteout("/var/lib/dpkg/info/curl.list"), opaque("/opt/app"), hardlink("a", "./b")]
    )
    assert entries(raw) == [
        ("/var/lib/dpkg/info/curl.list", EntryKind.WHITEOUT, ""),
        ("/opt/app", EntryKind.OPAQUE, ""),
        ("/a", EntryKind.HARDLINK, "/b"),
    ]


def test_file_content_is_readable_while_streaming() -> None:
    raw = layer_tar([file("etc/os-release", "ID=debian\n")])
    stream = TarLayerStream(io.BytesIO(compress(raw, "gzip")), "l")
    contents = []
    for entry, opener in stream.entries():
        assert opener is not None
        with opener() as handle:
            contents.append((entry.path, handle.read()))
    assert contents == [("/etc/os-release", b"ID=debian\n")]
    assert stream.diff_id == sha256(raw)


def test_wrong_diff_id_is_an_error_naming_the_layer() -> None:
    raw = layer_tar([file("x", "1")])
    with pytest.raises(DigestMismatch, match=r"test layer \(diffID\).*hashes to"):
        entries(compress(raw, "gzip"), "sha256:" + "0" * 64)


def test_truncated_gzip_is_a_clear_error() -> None:
    blob = gzip.compress(layer_tar([file("x", "y" * 100_000)]))
    with pytest.raises(ImageError, match=r"truncated|cannot decompress"):
        entries(blob[: len(blob) // 2])


def test_garbage_is_a_clear_error() -> None:
    with pytest.raises(ImageError, match="cannot decompress or read"):
        entries(b"\x1f\x8b" + b"garbage" * 100)


def test_dotdot_member_is_refused_while_streaming() -> None:
    raw = layer_tar([file("../../etc/cron.d/evil", "x")])
    with pytest.raises(UnsafePath):
        entries(raw)
