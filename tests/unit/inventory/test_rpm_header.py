"""RPM header blobs: typed access, rpm's bounds checks, and conversion to `Package`."""

from __future__ import annotations

import sqlite3
import struct
from collections.abc import Sequence
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from basewatch.errors import PackageDatabaseError
from basewatch.inventory.rpm.header import Header, Tag, TagType, parse_header
from basewatch.inventory.rpm.package import file_paths, package_from_header, split_source_rpm
from basewatch.models import PackageType

FIXTURES = Path(__file__).parents[3] / ".." / "shared" / "fixtures" / "pkgdb" / "rpm"
MARINER = FIXTURES / "cbl-mariner-2.0-rpmdb.sqlite"

_ALIGN = {TagType.INT16: 2, TagType.INT32: 4, TagType.INT64: 8}

Item = tuple[int, TagType, bytes, int]  # tag, type, encoded data, count


def s(value: str) -> bytes:
    return value.encode() + b"\0"


def strings(*values: str) -> bytes:
    return b"".join(s(v) for v in values)


def int32(*values: int) -> bytes:
    return struct.pack(f">{len(values)}I", *values)


def build_blob(items: Sequence[Item], region: bool = True, dribble: Sequence[Item] = ()) -> bytes:
    """A header blob laid out as rpm writes it into its databases."""
    index: list[tuple[int, int, int, int]] = []
    data = bytearray()

    def add(tag: int, kind: TagType, payload: bytes, count: int) -> None:
        align = _ALIGN.get(kind, 1)
        data.extend(b"\0" * (-len(data) % align))
        index.append((tag, kind, len(data), count))
        data.extend(payload)

    for item in items:
        add(*item)
    if region:
        region_entries = len(index) + 1
        trailer = struct.pack(">iIiI", Tag.HEADERIMMUTABLE, TagType.BIN, -16 * region_entries, 16)
        index.insert(0, (Tag.HEADERIMMUTABLE, TagType.BIN, len(data), 16))
        data.extend(trailer)
    for item in dribble:
        add(*item)
    head = struct.pack(">II", len(index), len(data))
    entries = b"".join(struct.pack(">iIiI", *entry) for entry in index)
    return head + entries + bytes(data)


BASIC: list[Item] = [
    (Tag.NAME, TagType.STRING, s("openssl-libs"), 1),
    (Tag.VERSION, TagType.STRING, s("1.1.1k"), 1),
    (Tag.RELEASE, TagType.STRING, s("9.el8"), 1),
    (Tag.EPOCH, TagType.INT32, int32(1), 1),
    (Tag.SUMMARY, TagType.I18NSTRING, strings("A toolkit", "Ein Werkzeug"), 2),
    (Tag.VENDOR, TagType.STRING, s("Red Hat, Inc."), 1),
    (Tag.LICENSE, TagType.STRING, s("OpenSSL and ASL 2.0"), 1),
    (Tag.ARCH, TagType.STRING, s("x86_64"), 1),
    (Tag.SOURCERPM, TagType.STRING, s("openssl-1.1.1k-9.el8.src.rpm"), 1),
    (Tag.MODULARITYLABEL, TagType.STRING, s("perl:5.30:8030020200716154219:466bfa75"), 1),
    (1117, TagType.STRING_ARRAY, strings("/usr/lib64/", "/usr/share/doc/"), 2),
    (1116, TagType.INT32, int32(0, 0, 1), 3),
    (1030, TagType.INT16, struct.pack(">3H", 0o100755, 0o40755, 0o120777), 3),
    (5008, TagType.INT64, struct.pack(">Q", 1 << 40), 1),
    (1012, TagType.BIN, b"\x01\x02\x03", 3),
]


def entry_offset(blob: bytes, index: int) -> int:
    """Where index entry `index` of `blob` starts."""
    return 8 + 16 * index


def set_entry(blob: bytes, index: int, **fields: int) -> bytes:
    tag, kind, offset, count = struct.unpack_from(">iIiI", blob, entry_offset(blob, index))
    values = {"tag": tag, "type": kind, "offset": offset, "count": count} | fields
    packed = struct.pack(">iIiI", values["tag"], values["type"], values["offset"], values["count"])
    at = entry_offset(blob, index)
    return blob[:at] + packed + blob[at + 16 :]


# --- typed access -------------------------------------------------------------------------


def test_reads_every_type() -> None:
    header = parse_header(build_blob(BASIC))
    assert header.string(Tag.NAME) == "openssl-libs"
    assert header.integer(Tag.EPOCH) == 1
    assert header.string(Tag.SUMMARY) == "A toolkit"  # the untranslated I18NSTRING
    assert header.strings(Tag.SUMMARY) == ("A toolkit", "Ein Werkzeug")
    assert header.strings(1117) == ("/usr/lib64/", "/usr/share/doc/")
    assert header.integers(1116) == (0, 0, 1)
    assert header.integers(1030) == (0o100755, 0o40755, 0o120777)
    assert header.integer(5008) == 1 << 40
    assert header.binary(1012) == b"\x01\x02\x03"
    assert header.strings(Tag.NAME) == ("openssl-libs",)
    assert Tag.NAME in header
    assert Tag.SIZE not in header
    assert header.string(Tag.SIZE) is None
    assert header.integer(Tag.SIZE) is None
    assert header.tags()[0] == Tag.NAME  # the region entry is not a tag


def test_header_without_region() -> None:
    header = parse_header(build_blob(BASIC, region=False))
    assert header.string(Tag.VERSION) == "1.1.1k"


def test_dribble_entry_replaces_region_entry() -> None:
    blob = build_blob(BASIC, dribble=[(Tag.VENDOR, TagType.STRING, s("Later"), 1)])
    assert parse_header(blob).string(Tag.VENDOR) == "Later"


def test_invalid_utf8_is_replaced_not_raised() -> None:
    blob = build_blob([(Tag.NAME, TagType.STRING, b"caf\xe9\0", 1)])
    assert parse_header(blob).string(Tag.NAME) == "caf\ufffd"


@pytest.mark.parametrize(
    ("tag", "accessor"),
    [
        (Tag.NAME, Header.integer),
        (Tag.EPOCH, Header.string),
        (Tag.EPOCH, Header.strings),
        (Tag.NAME, Header.binary),
    ],
)
def test_wrong_type_is_an_error(tag: Tag, accessor: object) -> None:
    header = parse_header(build_blob(BASIC))
    with pytest.raises(PackageDatabaseError, match="expected"):
        accessor(header, tag)  # type: ignore[operator]


def test_string_array_running_off_the_end_is_an_error() -> None:
    # Three strings announced, two stored: the third would be read past the data store.
    items: list[Item] = [
        (Tag.NAME, TagType.STRING, s("n"), 1),
        (1117, TagType.STRING_ARRAY, s("a") + b"b", 3),
    ]
    blob = build_blob(items, region=False)
    header = parse_header(blob)
    with pytest.raises(PackageDatabaseError, match="past the end"):
        header.strings(1117)


# --- structural checks (rpm's hdrblobInit / hdrblobVerifyInfo) ------------------------------


@pytest.mark.parametrize(
    ("blob", "message"),
    [
        (b"", "too short"),
        (b"\0\0\0\x01", "too short"),
        (struct.pack(">II", 0, 0), "index entries"),
        (struct.pack(">II", 0x10000, 0), "index entries"),
        (struct.pack(">II", 1, 0x10000000), "too large"),
        (struct.pack(">II", 2, 4) + b"\0" * 20, "need"),
    ],
)
def test_bad_intro(blob: bytes, message: str) -> None:
    with pytest.raises(PackageDatabaseError, match=message):
        parse_header(blob)


def test_trailing_bytes_are_refused_as_rpm_does() -> None:
    with pytest.raises(PackageDatabaseError, match="need"):
        parse_header(build_blob(BASIC) + b"\0")


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"offset": 1 << 20}, "outside the data store"),
        ({"offset": -4}, "outside the data store"),
        ({"count": 0}, "count"),
        ({"count": 1 << 30}, "count"),
        ({"type": 42}, "unknown data type"),
        ({"tag": 50}, "reserved"),
    ],
)
def test_bad_index_entry(fields: dict[str, int], message: str) -> None:
    blob = set_entry(build_blob(BASIC), 1, **fields)  # entry 1 is NAME (0 is the region)
    with pytest.raises(PackageDatabaseError, match=message):
        parse_header(blob)


def test_fixed_size_data_past_the_end() -> None:
    blob = build_blob(BASIC, region=False)
    epoch = 3
    assert struct.unpack_from(">i", blob, entry_offset(blob, epoch))[0] == Tag.EPOCH
    _, dl = struct.unpack_from(">II", blob)
    with pytest.raises(PackageDatabaseError, match="past the end"):
        parse_header(set_entry(blob, epoch, count=dl // 4))


def test_misaligned_integer() -> None:
    blob = build_blob(BASIC, region=False)
    _, _, offset, _ = struct.unpack_from(">iIiI", blob, entry_offset(blob, 3))
    with pytest.raises(PackageDatabaseError, match="misaligned"):
        parse_header(set_entry(blob, 3, offset=offset + 1))


def test_string_with_count_other_than_one() -> None:
    with pytest.raises(PackageDatabaseError, match="count 1"):
        parse_header(set_entry(build_blob(BASIC), 1, count=2))


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"type": TagType.STRING}, "not BIN/16"),
        ({"count": 8}, "not BIN/16"),
        ({"offset": 1 << 20}, "trailer offset"),
        ({"offset": 0}, "trailer does not match"),
    ],
)
def test_bad_region(fields: dict[str, int], message: str) -> None:
    with pytest.raises(PackageDatabaseError, match=message):
        parse_header(set_entry(build_blob(BASIC), 0, **fields))


def test_region_trailer_claiming_too_many_entries() -> None:
    blob = bytearray(build_blob(BASIC))
    il, _ = struct.unpack_from(">II", blob)
    trailer_at = 8 + 16 * il + struct.unpack_from(">i", blob, 8 + 8)[0]
    struct.pack_into(">i", blob, trailer_at + 8, -16 * (il + 5))
    with pytest.raises(PackageDatabaseError, match="impossible region size"):
        parse_header(bytes(blob))


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=600))
def test_arbitrary_bytes_never_escape_as_another_exception(blob: bytes) -> None:
    _parse_everything(blob)


@settings(max_examples=300, deadline=None)
@given(st.data())
def test_mutated_real_header_never_escapes_as_another_exception(data: st.DataObject) -> None:
    blob = bytearray(_real_blob())
    for _ in range(data.draw(st.integers(1, 8))):
        at = data.draw(st.integers(0, min(len(blob) - 1, 4000)))
        blob[at] = data.draw(st.integers(0, 255))
    _parse_everything(bytes(blob))


def _parse_everything(blob: bytes) -> None:
    try:
        header = parse_header(blob)
        for tag in header.tags():
            entry = header.entry(tag)
            assert entry is not None
            if entry.type in (TagType.STRING, TagType.I18NSTRING, TagType.STRING_ARRAY):
                header.strings(tag)
            elif entry.type is TagType.BIN:
                header.binary(tag)
            elif entry.type not in (TagType.NULL, TagType.CHAR):
                header.integers(tag)
        package_from_header(header, "/var/lib/rpm/rpmdb.sqlite")
    except PackageDatabaseError:
        pass


_REAL: list[bytes] = []


def _real_blob() -> bytes:
    if not _REAL:
        if not MARINER.exists():
            pytest.skip(f"real rpmdb fixture missing: {MARINER} (../shared is not beside the repo)")
        uri = MARINER.resolve().as_uri() + "?mode=ro&immutable=1"
        with sqlite3.connect(uri, uri=True) as connection:
            row = connection.execute("SELECT blob FROM Packages ORDER BY hnum LIMIT 1").fetchone()
        _REAL.append(bytes(row[0]))
    return _REAL[0]


def test_real_header_from_fixture() -> None:
    header = parse_header(_real_blob())
    assert header.string(Tag.NAME) == "mariner-release"
    assert header.string(Tag.VERSION) == "2.0"
    assert header.string(Tag.RELEASE) == "4.cm2"
    assert header.string(Tag.VENDOR) == "Microsoft Corporation"
    assert header.string(Tag.SUMMARY)


# --- to Package ---------------------------------------------------------------------------


def test_package_from_header() -> None:
    package = package_from_header(parse_header(build_blob(BASIC)), "/var/lib/rpm/Packages")
    assert package.name == "openssl-libs"
    assert package.version == "1:1.1.1k-9.el8"
    assert package.type is PackageType.RPM
    assert package.arch == "x86_64"
    assert (package.source_name, package.source_version) == ("openssl", "1.1.1k-9.el8")
    assert package.licenses == ("OpenSSL and ASL 2.0",)
    assert package.evidence == ("/var/lib/rpm/Packages",)
    assert package.metadata == (
        ("epoch", "1"),
        ("modularitylabel", "perl:5.30:8030020200716154219:466bfa75"),
        ("release", "9.el8"),
        ("sourcerpm", "openssl-1.1.1k-9.el8.src.rpm"),
        ("vendor", "Red Hat, Inc."),
    )


def test_epoch_zero_is_shown_and_absent_epoch_is_not() -> None:
    zero = [
        item if item[0] != Tag.EPOCH else (Tag.EPOCH, TagType.INT32, int32(0), 1) for item in BASIC
    ]
    assert package_from_header(parse_header(build_blob(zero)), "/p").version == "0:1.1.1k-9.el8"
    none = [item for item in BASIC if item[0] != Tag.EPOCH]
    package = package_from_header(parse_header(build_blob(none)), "/p")
    assert package.version == "1.1.1k-9.el8"
    assert package.meta("epoch") == ""


def test_gpg_pubkey_is_kept_and_marked() -> None:
    items: list[Item] = [
        (Tag.NAME, TagType.STRING, s("gpg-pubkey"), 1),
        (Tag.VERSION, TagType.STRING, s("fd431d51"), 1),
        (Tag.RELEASE, TagType.STRING, s("4ae0493b"), 1),
        (Tag.LICENSE, TagType.STRING, s("pubkey"), 1),
        (Tag.SOURCERPM, TagType.STRING, s("(none)"), 1),
    ]
    package = package_from_header(parse_header(build_blob(items)), "/p")
    assert (package.name, package.version, package.arch) == ("gpg-pubkey", "fd431d51-4ae0493b", "")
    assert package.meta("pseudo") == "gpg-pubkey"
    assert package.meta("sourcerpm") == ""
    assert package.source_name == ""


def test_missing_name_is_an_error() -> None:
    items = [item for item in BASIC if item[0] != Tag.NAME]
    with pytest.raises(PackageDatabaseError, match="NAME"):
        package_from_header(parse_header(build_blob(items)), "/p")


@pytest.mark.parametrize(
    ("filename", "expected"),
    [
        ("openssl-1.1.1k-9.el8.src.rpm", ("openssl", "1.1.1k-9.el8")),
        ("gcc12-12.2.1+git416-150000.1.5.1.src.rpm", ("gcc12", "12.2.1+git416-150000.1.5.1")),
        (
            "python3-dnf-plugins-core-4.0.21-3.el8.nosrc.rpm",
            ("python3-dnf-plugins-core", "4.0.21-3.el8"),
        ),
        ("", ("", "")),
        ("(none)", ("", "")),
        ("nodash.src.rpm", ("", "")),
        ("one-dash.src.rpm", ("", "")),
        ("-1-2.src.rpm", ("", "")),
    ],
)
def test_split_source_rpm(filename: str, expected: tuple[str, str]) -> None:
    assert split_source_rpm(filename) == expected


# --- file lists ---------------------------------------------------------------------------------

NAME_ITEMS: list[Item] = [
    (Tag.NAME, TagType.STRING, s("python3-pip"), 1),
    (Tag.VERSION, TagType.STRING, s("21.2.3"), 1),
    (Tag.RELEASE, TagType.STRING, s("8.el9"), 1),
]
SITE = "/usr/lib/python3.9/site-packages/"
DIST_INFO = "pip-21.2.3.dist-info"


def test_file_paths_join_directories_and_basenames() -> None:
    blob = build_blob(
        [
            *NAME_ITEMS,
            (Tag.DIRINDEXES, TagType.INT32, int32(0, 1, 1), 3),
            (
                Tag.BASENAMES,
                TagType.STRING_ARRAY,
                strings("pip3", "pip", "pip-21.2.3.dist-info"),
                3,
            ),
            (Tag.DIRNAMES, TagType.STRING_ARRAY, strings("/usr/bin/", SITE), 2),
        ]
    )
    header = parse_header(blob)
    assert file_paths(header) == ["/usr/bin/pip3", f"{SITE}pip", f"{SITE}{DIST_INFO}"]
    old = parse_header(
        build_blob([*NAME_ITEMS, (Tag.OLDFILENAMES, TagType.STRING_ARRAY, strings("/bin/x"), 1)])
    )
    assert file_paths(old) == ["/bin/x"]
    assert file_paths(parse_header(build_blob(NAME_ITEMS))) == []


def test_file_tables_that_disagree_are_an_error() -> None:
    blob = build_blob(
        [
            *NAME_ITEMS,
            (Tag.DIRINDEXES, TagType.INT32, int32(0, 5), 2),  # no directory 5
            (Tag.BASENAMES, TagType.STRING_ARRAY, strings("a", "b"), 2),
            (Tag.DIRNAMES, TagType.STRING_ARRAY, strings("/"), 1),
        ]
    )
    with pytest.raises(PackageDatabaseError, match="do not agree"):
        file_paths(parse_header(blob))
