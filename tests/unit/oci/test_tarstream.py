"""The layer tar reader, checked against the standard library's `tarfile` on the same bytes."""

from __future__ import annotations

import io
import tarfile

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from basewatch.errors import ImageError
from basewatch.oci.tarstream import MemberReader, SeekableMemberReader, TarReader


def build(fmt: int, members: list[tuple[str, bytes | None, str]]) -> bytes:
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w", format=fmt) as tar:
        for name, data, link in members:
            info = tarfile.TarInfo(name)
            if link:
                info.type, info.linkname = tarfile.SYMTYPE, link
                tar.addfile(info)
            elif data is None:
                info.type = tarfile.DIRTYPE
                tar.addfile(info)
            else:
                info.size = len(data)
                tar.addfile(info, io.BytesIO(data))
    return out.getvalue()


def ours(data: bytes, seekable: bool = False) -> list[tuple[str, int, int, str, bytes]]:
    reader = TarReader(io.BytesIO(data), "t", seekable=seekable)
    content = MemberReader(reader)
    out = []
    for m in reader:
        body = content.read(3) + content.read() if m.isreg() and m.name.endswith("read") else b""
        out.append((m.name.rstrip("/"), m.type, m.size, m.linkname, body))
    return out


def reference(data: bytes) -> list[tuple[str, int, int, str, bytes]]:
    out = []
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:") as tar:
        for m in tar:
            body = b""
            if m.isreg() and m.name.endswith("read"):
                handle = tar.extractfile(m)
                assert handle is not None
                body = handle.read()
            out.append((m.name, ord(m.type), m.size if m.isreg() else 0, m.linkname, body))
    return out


LONG = "usr/share/" + "very-long-directory-name/" * 8 + "file-to-read"
MEMBERS: list[tuple[str, bytes | None, str]] = [
    ("etc", None, ""),
    ("etc/os-release-read", b"ID=debian\n", ""),
    (LONG, b"x" * 70_000, ""),
    ("lib", None, "usr/lib"),
    ("usr/lib/" + "l" * 120, None, "../../" + "t" * 140),
    ("caf\u00e9/\u00fcnicode-read", b"\xff\x00binary", ""),
    ("empty-read", b"", ""),
]


@pytest.mark.parametrize("fmt", [tarfile.USTAR_FORMAT, tarfile.GNU_FORMAT, tarfile.PAX_FORMAT])
@pytest.mark.parametrize("seekable", [False, True])
def test_same_members_as_tarfile(fmt: int, seekable: bool) -> None:
    members = MEMBERS if fmt != tarfile.USTAR_FORMAT else MEMBERS[:3] + MEMBERS[5:]
    data = build(fmt, members)
    assert ours(data, seekable) == reference(data)


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.text(st.characters(min_codepoint=97, max_codepoint=122), min_size=1, max_size=150),
            st.binary(max_size=3000),
        ),
        max_size=6,
        unique_by=lambda m: m[0],
    )
)
def test_random_archives_match_tarfile(files: list[tuple[str, bytes]]) -> None:
    data = build(tarfile.PAX_FORMAT, [(f"{n}-read", b, "") for n, b in files])
    assert ours(data) == reference(data)


def test_corrupt_header_checksum_is_refused() -> None:
    data = bytearray(build(tarfile.GNU_FORMAT, MEMBERS[:2]))
    data[512 + 10] ^= 0x20  # a name byte of the second header
    with pytest.raises(ImageError, match="checksum mismatch"):
        ours(bytes(data))


def test_truncated_content_is_refused() -> None:
    data = build(tarfile.GNU_FORMAT, [("big", b"z" * 100_000, "")])
    with pytest.raises(ImageError, match="truncated"):
        ours(data[:20_000])


def test_hostile_long_name_is_refused() -> None:
    header = tarfile.TarInfo("././@LongLink")
    header.type = tarfile.GNUTYPE_LONGNAME
    header.size = 50 << 20
    block = header.tobuf(format=tarfile.GNU_FORMAT)
    with pytest.raises(ImageError, match="hostile"):
        ours(block + b"\0" * 4096)


def test_malformed_pax_records_are_refused() -> None:
    info = tarfile.TarInfo("pax")
    info.type = tarfile.XHDTYPE
    payload = b"99 path=nope\n"
    info.size = len(payload)
    data = info.tobuf(format=tarfile.USTAR_FORMAT) + payload + b"\0" * (512 - len(payload))
    with pytest.raises(ImageError, match="PAX"):
        ours(data + b"\0" * 1024)


def test_base256_size_is_read() -> None:
    info = tarfile.TarInfo("f-read")
    info.size = 10
    block = bytearray(info.tobuf(format=tarfile.GNU_FORMAT))
    block[124:136] = b"\x80" + (10).to_bytes(11, "big")
    block[148:156] = b" " * 8
    checksum = sum(block)
    block[148:156] = f"{checksum:06o}\0 ".encode()
    data = bytes(block) + b"0123456789" + b"\0" * (512 - 10) + b"\0" * 1024
    assert ours(data) == [("f-read", ord("0"), 10, "", b"0123456789")]


# --- random access in seekable tars -----------------------------------------------------------


def random_reads(data: bytes, reads: list[tuple[int, int]]) -> list[tuple[str, list[bytes]]]:
    """Each member's content at (offset, length) positions, read by seeking, interleaved with
    iteration; the raw stream starts a little into a larger file, as a docker-archive layer."""
    raw = io.BytesIO(b"P" * 700 + data)
    raw.seek(700)
    reader = TarReader(raw, "t", seekable=True)
    assert reader.random_access
    out = []
    for member in reader:
        if not member.isreg():
            continue
        with io.BufferedReader(SeekableMemberReader(reader), 4096) as f:
            assert f.seek(0, io.SEEK_END) == member.size
            chunks = []
            for offset, length in reads:
                f.seek(offset)
                chunks.append(f.read(length))
        out.append((member.name, chunks))
    return out


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.binary(min_size=0, max_size=200_000), min_size=1, max_size=4),
    st.lists(st.tuples(st.integers(0, 210_000), st.integers(0, 70_000)), max_size=5),
)
def test_seeking_reads_the_same_bytes_and_iteration_goes_on(
    bodies: list[bytes], reads: list[tuple[int, int]]
) -> None:
    data = build(tarfile.PAX_FORMAT, [(f"f{i}-read", b, "") for i, b in enumerate(bodies)])
    expected = [
        (f"f{i}-read", [body[offset : offset + length] for offset, length in reads])
        for i, body in enumerate(bodies)
    ]
    assert random_reads(data, reads) == expected
    assert ours(data, seekable=True) == reference(data)  # and nothing else changed


def test_seeking_past_a_truncated_end_is_refused() -> None:
    data = build(tarfile.GNU_FORMAT, [("big", b"z" * 100_000, "")])
    reader = TarReader(io.BytesIO(data[:20_000]), "t", seekable=True)
    member = next(iter(reader))
    assert member.size == 100_000
    stream = io.BufferedReader(SeekableMemberReader(reader))
    stream.seek(90_000)
    with pytest.raises(ImageError, match="truncated"):
        stream.read(100)


def test_forward_only_tars_have_no_random_access() -> None:
    reader = TarReader(io.BytesIO(build(tarfile.GNU_FORMAT, MEMBERS[:2])), "t")
    assert not reader.random_access
