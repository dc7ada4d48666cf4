"""`basewatch compare` on small real-format images, with and without a database."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
from pathlib import Path
from xml.etree import ElementTree

import pytest

from basewatch.advice.compare import Candidate, Coverage, candidate, libc_text
from basewatch.cli.compare import run_compare
from basewatch.cli.exit_codes import ExitCode
from basewatch.cli.main import build_parser
from basewatch.compat.model import LibcFamily, LibcInfo
from basewatch.jobs.compat import CompatChecker
from basewatch.jobs.inventory import Scanner
from basewatch.matching.evaluate import scan_inventory
from basewatch.models import Severity
from basewatch.report.formats import CompareFormat, compare_renderer
from basewatch.vulndb.eol import EolStatus
from basewatch.vulndb.importer import import_paths
from basewatch.vulndb.sqlite import SqliteStore, rebuilding
from tests.fixtures import shared_fixture
from tests.imagebuild import DEBIAN_OS_RELEASE, build_image, dpkg_status, file, write_oci_layout

ALPINE_OS_RELEASE = 'ID=alpine\nVERSION_ID=3.15.11\nPRETTY_NAME="Alpine Linux v3.15"\n'
APK_DB = "P:musl\nV:1.2.2-r9\nA:x86_64\no:musl\n\nP:busybox\nV:1.34.1-r7\nA:x86_64\no:busybox\n\n"


@pytest.fixture
def images(tmp_path: Path) -> tuple[str, str]:
    debian = build_image(
        [
            [
                file("etc/os-release", DEBIAN_OS_RELEASE),
                file(
                    "var/lib/dpkg/status",
                    dpkg_status(
                        ("libc6", "2.36-9+deb12u7", "Source: glibc\n"), ("bash", "5.2.15-2+b2")
                    ),
                ),
                file("usr/bin/big", b"x" * 5000),
                # the glibc loader's path: compat then names glibc, at dpkg's version
                file("lib64/ld-linux-x86-64.so.2", b"\x7fELF" + bytes(60)),
            ]
        ]
    )
    alpine = build_image(
        [
            [
                file("etc/os-release", ALPINE_OS_RELEASE),
                file("lib/apk/db/installed", APK_DB),
                file("lib/ld-musl-x86_64.so.1", b"\x7fELF" + bytes(60)),
            ]
        ]
    )
    return (
        f"oci:{write_oci_layout(tmp_path / 'debian', [(debian, '')])}",
        f"oci:{write_oci_layout(tmp_path / 'alpine', [(alpine, '')])}",
    )


@pytest.fixture
def database(tmp_path: Path) -> Path:
    return _database(tmp_path)


def _database(tmp_path: Path) -> Path:
    record = {
        "id": "DEBIAN-CVE-2024-2961",
        "upstream": ["CVE-2024-2961"],
        "modified": "2024-05-01T00:00:00Z",
        "severity": [{"type": "CVSS_V3", "score": "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H"}],
        "affected": [
            {
                "package": {"ecosystem": "Debian:12", "name": "glibc"},
                "ranges": [
                    {
                        "type": "ECOSYSTEM",
                        "events": [{"introduced": "0"}, {"fixed": "2.36-9+deb12u8"}],
                    }
                ],
            }
        ],
    }
    (tmp_path / "rec.json").write_text(json.dumps(record))
    path = tmp_path / "vuln.db"
    with rebuilding(path) as store:
        import_paths(store, [tmp_path / "rec.json"])
    return path


def test_candidates(images: tuple[str, str], database: Path, tmp_path: Path) -> None:
    scanner = Scanner.default(cache_dir=tmp_path / "cache")
    today = dt.date(2026, 11, 27)
    eol = {("debian", "12"): dt.date(2028, 6, 30), ("alpine", "3.15"): dt.date(2023, 11, 1)}
    checker = CompatChecker.default(cache_dir=tmp_path / "cache")
    with SqliteStore.open(database) as store:
        debian_inventory = scanner.inventory(images[0])
        debian = candidate(
            debian_inventory,
            scan_inventory(debian_inventory, store),
            lambda p, c: eol.get((p, c)),
            today,
            checker.libc(images[0]),
        )
    alpine = candidate(
        scanner.inventory(images[1]),
        None,
        lambda p, c: eol.get((p, c)),
        today,
        checker.libc(images[1]),
    )
    assert (debian.libc, debian.distribution, debian.eol_status) == (
        "glibc 2.36",
        "debian 12",
        "supported",
    )
    assert (alpine.libc, alpine.distribution, alpine.eol, alpine.eol_status) == (
        "musl 1.2.2",
        "alpine 3.15.11",
        "2023-11-01",
        "end of life",
    )
    assert debian.findings["critical"] == (1, 1)
    assert (debian.findings_total, debian.fixable_total, debian.kev) == (1, 1, 0)
    assert alpine.findings_total is None
    assert debian.uncompressed_bytes >= 5000
    assert debian.compressed_bytes > 0
    assert (debian.packages, alpine.packages, debian.layers) == (2, 2, 1)
    assert debian.age_days == (today - dt.date(2024, 1, 1)).days


def test_libc_text() -> None:
    assert libc_text(LibcInfo(LibcFamily.GLIBC, "2.41")) == "glibc 2.41"
    assert libc_text(LibcInfo(LibcFamily.MUSL)) == "musl"
    assert libc_text(LibcInfo(LibcFamily.NONE)) == ""
    assert libc_text(None) == ""


@pytest.mark.parametrize("fmt", ["table", "json", "markdown", "html"])
def test_cli_formats(
    fmt: str,
    images: tuple[str, str],
    database: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    parser = build_parser()
    args = parser.parse_args(
        [
            "compare",
            *images,
            "-f",
            fmt,
            "--db",
            str(database),
            "--cache-dir",
            str(tmp_path / "c"),
            "-q",
        ]
    )
    # the database has no Alpine advisories: the alpine candidate was not checked at all, so
    # its counts must not read as 0 and the run is partial
    assert run_compare(args) == ExitCode.PARTIAL
    out = capsys.readouterr().out
    if fmt == "json":
        document = json.loads(out)
        assert [c["libc"] for c in document["candidates"]] == ["glibc 2.36", "musl 1.2.2"]
        assert document["candidates"][0]["findings"]["by_severity"]["critical"] == {
            "total": 1,
            "fixable": 1,
        }
        assert [c["checked"] for c in document["candidates"]] == ["all", "none"]
        assert document["candidates"][1]["findings"] is None
        assert document["candidates"][1]["unchecked"] == ["Alpine:v3.15"]
    else:
        assert "musl 1.2.2" in out
        assert "not checked" in out
        assert "0 (0 fixable)" in out  # the debian column's high row: checked, and 0
        assert out.count("not checked") >= 6  # the alpine column's four severities, total, KEV
    if fmt == "html":
        assert "<svg" in out
        assert "critical: 1" in out


def test_app_compat_column(
    images: tuple[str, str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    busybox = (
        Path(__file__).resolve().parents[3].parent
        / "shared/fixtures/images/busybox-1.38.0-glibc-amd64.oci.tar"
    )
    if not busybox.exists():
        pytest.skip("needs ../shared/fixtures/images")
    parser = build_parser()
    args = parser.parse_args(
        [
            "compare",
            *images,
            "--app",
            f"oci:{busybox}",
            "-f",
            "json",
            "--cache-dir",
            str(tmp_path / "c"),
            "-q",
            "--db",
            str(tmp_path / "none.db"),
        ]
    )
    with pytest.raises(Exception, match="no such database"):
        run_compare(args)
    args.db = None
    args.cache_dir = tmp_path / "c"
    assert run_compare(args) == 0
    document = json.loads(capsys.readouterr().out)
    verdicts = [c["compat"] for c in document["candidates"]]
    # busybox's only layer brings its own glibc loader and libraries: put onto either
    # candidate, every one of its ELF files still loads
    assert len(set(verdicts)) == 1
    assert verdicts[0].startswith("loads (")


def test_partly_checked_says_partial(images: tuple[str, str], tmp_path: Path) -> None:
    """A Python package the database has no advisories for: the debian counts are real but
    not the whole story."""
    layered = build_image(
        [
            [
                file("etc/os-release", DEBIAN_OS_RELEASE),
                file(
                    "var/lib/dpkg/status",
                    dpkg_status(("libc6", "2.36-9+deb12u7", "Source: glibc\n")),
                ),
                file(
                    "usr/lib/python3/dist-packages/requests-2.0.0.dist-info/METADATA",
                    "Metadata-Version: 2.1\nName: requests\nVersion: 2.0.0\n",
                ),
            ]
        ]
    )
    reference = f"oci:{write_oci_layout(tmp_path / 'mixed', [(layered, '')])}"
    scanner = Scanner.default(cache_dir=tmp_path / "cache")
    inventory = scanner.inventory(reference)
    assert any(p.ecosystem == "PyPI" for p in inventory.packages)
    with SqliteStore.open(_database(tmp_path)) as store:
        found = candidate(inventory, scan_inventory(inventory, store), None, dt.date(2026, 1, 1))
    assert found.checked is Coverage.PARTIAL
    assert found.unchecked == ("PyPI",)
    table = compare_renderer(CompareFormat.TABLE).render([found]).decode()
    assert "1 (1 fixable), partial" in table
    assert "partial, not checked: PyPI" in table


def _candidate(reference: str, **findings: int) -> Candidate:
    counts = {s.value: (findings.get(s.value, 0), 0) for s in Severity}
    total = sum(findings.values())
    return Candidate(
        reference=reference,
        digest="sha256:" + "0" * 64,
        platform="linux/amd64",
        compressed_bytes=1,
        uncompressed_bytes=1,
        layers=1,
        packages=1,
        libc="",
        distribution="debian 12",
        eol="",
        eol_status=EolStatus.UNKNOWN,
        created="",
        age_days=None,
        findings=counts,
        findings_total=total,
        fixable_total=0,
        kev=0,
        checked=Coverage.ALL,
    )


def test_every_severity_with_findings_has_a_row() -> None:
    table = compare_renderer(CompareFormat.TABLE).render(
        [_candidate("a", unknown=20, negligible=4)]
    )
    rows = {line.split()[0]: line for line in table.decode().split("\n") if line}
    assert "20 (0 fixable)" in rows["unknown"]
    assert "4 (0 fixable)" in rows["negligible"]
    assert "24 (0 fixable)" in rows["findings"]
    document = json.loads(
        compare_renderer(CompareFormat.JSON).render([_candidate("a", unknown=20)])
    )
    assert document["candidates"][0]["findings"]["by_severity"]["unknown"]["total"] == 20


SVG = "{http://www.w3.org/2000/svg}"


def test_chart_bars_are_proportional_and_the_legend_fits() -> None:
    candidates = [
        _candidate("oci:/a/first", critical=10, high=5),
        _candidate("oci:/b/second", low=3, unknown=12),
    ]
    page = compare_renderer(CompareFormat.HTML).render(candidates).decode()
    svg = ElementTree.fromstring(page[page.index("<svg") : page.index("</svg>") + 6])
    _, _, width, height = (float(v) for v in svg.attrib["viewBox"].split())
    heights = {
        rect.findtext(f"{SVG}title", ""): float(rect.attrib["height"])
        for rect in svg.iter(f"{SVG}rect")
        if rect.findtext(f"{SVG}title")
    }
    per_finding = heights["critical: 10"] / 10
    assert per_finding > 0
    for title, h in heights.items():
        count = int(title.split(": ")[1])
        assert h == pytest.approx(count * per_finding, abs=0.1)
    # the unknown findings are drawn: the second bar is 15 high, as the first
    assert heights["unknown: 12"] + heights["low: 3"] == pytest.approx(15 * per_finding, abs=0.2)
    texts = [t.text for t in svg.iter(f"{SVG}text")]
    assert "15" in texts
    assert "0" not in texts
    for element in svg.iter():
        if "x" in element.attrib:
            x, y = float(element.attrib["x"]), float(element.attrib["y"])
            right = x + float(element.attrib.get("width", 0))
            if element.tag == f"{SVG}text" and element.attrib.get("text-anchor") != "middle":
                right += 7 * len("".join(element.itertext()))  # 11px text: under 7px a letter
            assert x >= 0 and right <= width, element.attrib
            assert 0 <= y <= height, element.attrib


def test_not_checked_chart_draws_no_zero() -> None:
    unchecked = dataclasses.replace(
        _candidate("oci:/x/alpine"), checked=Coverage.NONE, unchecked=("Alpine:v3.15",)
    )
    page = compare_renderer(CompareFormat.HTML).render([unchecked]).decode()
    chart = page[page.index("<svg") :]
    assert ">not checked<" in chart
    assert ">0<" not in chart


def test_columns_have_short_names_and_a_legend() -> None:
    long = "oci:/" + "deep/" * 50 + "busybox-1.38.0-glibc-amd64.oci.tar"
    candidates = [_candidate(long), _candidate("docker.io/library/debian:12@sha256:" + "1" * 64)]
    table = compare_renderer(CompareFormat.TABLE).render(candidates).decode()
    header = table.split("\n")[0]
    assert header.split() == ["busybox-1.38.0-glibc-amd64.oci.tar", "debian:12"]
    assert f"busybox-1.38.0-glibc-amd64.oci.tar: {long}" in table
    markdown = compare_renderer(CompareFormat.MARKDOWN).render(candidates).decode()
    assert markdown.split("\n")[0].count("deep/") == 0
    assert long in markdown
    page = compare_renderer(CompareFormat.HTML).render(candidates).decode()
    assert f"<code>{long}</code>" in page
    assert len(max(table.split("\n")[:20], key=len)) < 120


def test_libc_as_compat_reads_it(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    busybox = shared_fixture("images/busybox-1.38.0-glibc-amd64.oci.tar")
    parser = build_parser()
    args = parser.parse_args(
        ["compare", f"oci:{busybox}", "-f", "json", "--cache-dir", str(tmp_path / "c"), "-q"]
    )
    args.db = _database(tmp_path)
    # no package database names busybox's programs: 0 findings would be no verdict
    assert run_compare(args) == ExitCode.PARTIAL
    (found,) = json.loads(capsys.readouterr().out)["candidates"]
    assert found["libc"] == "glibc 2.41"
    assert (found["checked"], found["unchecked"]) == ("none", ["no packages identified"])
