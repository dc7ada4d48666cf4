"""`basewatch scan` end to end: a small image, a real database file, every exit code."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest

from basewatch.cli.exit_codes import ExitCode
from basewatch.cli.main import main
from basewatch.vulndb.importer import import_paths
from basewatch.vulndb.sqlite import rebuilding
from tests.imagebuild import DEBIAN_OS_RELEASE, build_image, dpkg_status, file, write_oci_layout
from tests.unit.vulndb.test_update import fixture_feed, serve

RECORDS = [
    {
        "id": "DEBIAN-CVE-2023-0001",
        "upstream": ["CVE-2023-0001"],
        "modified": "2024-01-01T00:00:00Z",
        "summary": "heap overflow in openssl",
        "severity": [{"type": "CVSS_V3", "score": "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H"}],
        "affected": [
            {
                "package": {"ecosystem": "Debian:12", "name": "openssl"},
                "ranges": [
                    {
                        "type": "ECOSYSTEM",
                        "events": [{"introduced": "0"}, {"fixed": "3.0.11-1~deb12u2"}],
                    }
                ],
            }
        ],
    },
    {
        "id": "DEBIAN-CVE-2023-0002",
        "upstream": ["CVE-2023-0002"],
        "modified": "2024-01-01T00:00:00Z",
        "affected": [
            {
                "package": {"ecosystem": "Debian:12", "name": "zlib"},
                "ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": "0"}]}],
            }
        ],
    },
    {
        "id": "DEBIAN-CVE-2023-0003",
        "modified": "2024-01-01T00:00:00Z",
        "affected": [
            {
                "package": {"ecosystem": "Debian:11", "name": "zlib"},
                "ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": "0"}]}],
            }
        ],
    },
]


@pytest.fixture
def setup(tmp_path: Path) -> tuple[str, Path]:
    status = dpkg_status(
        ("libssl3", "3.0.11-1~deb12u1", "Source: openssl\n"),
        ("zlib1g", "1:1.2.13.dfsg-1", "Source: zlib (1:1.2.13.dfsg-1)\n"),
        ("bash", "5.2.15-2+b2"),
    )
    image = build_image(
        [[file("etc/os-release", DEBIAN_OS_RELEASE), file("var/lib/dpkg/status", status)]]
    )
    layout = write_oci_layout(tmp_path / "layout", [(image, "")])
    records = tmp_path / "records"
    records.mkdir()
    for record in RECORDS:
        (records / f"{record['id']}.json").write_text(json.dumps(record))
    db = tmp_path / "vuln.db"
    with rebuilding(db) as store:
        import_paths(store, [records])
    return f"oci:{layout}", db


def run(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = main(args)
    out, err = capsys.readouterr()
    return code, out, err


def scan_args(image: str, db: Path, *extra: str) -> list[str]:
    return ["scan", image, "--db", str(db), "--offline", "--no-cache", "-q", *extra]


def test_findings_by_source_package_in_the_right_release(
    setup: tuple[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    image, db = setup
    code, out, _ = run(scan_args(image, db, "-f", "json"), capsys)
    assert code == ExitCode.OK
    findings = json.loads(out)["findings"]
    got = {(f["package"]["name"], f["id"], f["status"], f["fixed_version"]) for f in findings}
    assert got == {
        ("libssl3", "CVE-2023-0001", "fixed", "3.0.11-1~deb12u2"),
        ("zlib1g", "CVE-2023-0002", "not-fixed", ""),
    }
    libssl = next(f for f in findings if f["package"]["name"] == "libssl3")
    assert libssl["severity"] == "critical"
    assert libssl["cvss_score"] == 9.8
    assert libssl["aliases"] == ["DEBIAN-CVE-2023-0001"]


def test_fail_on_and_filters(
    setup: tuple[str, Path], capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    image, db = setup
    assert run(scan_args(image, db, "--fail-on", "high"), capsys)[0] == ExitCode.FINDINGS
    code, out, _ = run(
        scan_args(
            image, db, "--fail-on", "high", "--only-fixed", "--severity", "low", "-f", "json"
        ),
        capsys,
    )
    assert code == ExitCode.OK
    document = json.loads(out)
    assert document["findings"] == []
    assert len(document["suppressed"]) == 2
    ignore = tmp_path / "ignore.yaml"
    ignore.write_text("- id: CVE-2023-0001\n  reason: mitigated\n")
    code, _, _ = run(
        scan_args(image, db, "--fail-on", "critical", "--ignore-file", str(ignore)), capsys
    )
    assert code == ExitCode.OK


@pytest.mark.parametrize("fmt", ["table", "sarif", "cyclonedx-json", "markdown"])
def test_every_format(
    setup: tuple[str, Path], capsys: pytest.CaptureFixture[str], fmt: str
) -> None:
    image, db = setup
    code, out, _ = run(scan_args(image, db, "-f", fmt), capsys)
    assert code == ExitCode.OK
    assert "CVE-2023-0001" in out


def test_scan_of_an_sbom(
    setup: tuple[str, Path], capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    image, db = setup
    sbom = tmp_path / "bom.json"
    assert main(["sbom", image, "-f", "cyclonedx-json", "-o", str(sbom), "--no-cache", "-q"]) == 0
    code, out, _ = run(
        ["scan", "--sbom", str(sbom), "--db", str(db), "--offline", "-f", "json"], capsys
    )
    assert code == ExitCode.OK
    assert {f["id"] for f in json.loads(out)["findings"]} == {"CVE-2023-0001", "CVE-2023-0002"}


def test_missing_database_and_bad_arguments(
    setup: tuple[str, Path], capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    image, _ = setup
    code, _, err = run(scan_args(image, tmp_path / "none.db"), capsys)
    assert code == ExitCode.DATABASE_ERROR
    assert "db update" in err
    code, _, err = run(["scan", "--db", str(tmp_path / "x")], capsys)
    assert code == ExitCode.USAGE
    code, _, err = run(scan_args(image, tmp_path / "x", "--fail-on", "severe"), capsys)
    assert code == ExitCode.USAGE
    assert "unknown severity" in err
    bad_sbom = tmp_path / "bad.json"
    bad_sbom.write_text("{ nope")
    code, _, err = run(
        ["scan", "--sbom", str(bad_sbom), "--db", str(tmp_path / "x"), "--offline"], capsys
    )
    assert code == ExitCode.IMAGE_ERROR


def test_missing_ecosystems_are_fetched_once(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    sbom = tmp_path / "bom.json"
    components = [
        "pkg:golang/golang.org/x/text@v0.3.2",
        "pkg:rpm/almalinux/bash@5.2.26-4.el10?arch=x86_64&distro=almalinux-10.0",
        "pkg:npm/left-pad@1.3.0",
    ]
    sbom.write_text(
        json.dumps(
            {
                "bomFormat": "CycloneDX",
                "specVersion": "1.6",
                "components": [{"type": "library", "purl": purl} for purl in components],
            }
        )
    )
    db = tmp_path / "vuln.db"
    feed = fixture_feed("Go", "AlmaLinux")
    with serve(feed) as base:
        argv = ["scan", "--sbom", str(sbom), "--db", str(db), "--osv-url", base, "-f", "json"]
        code, out, err = run([*argv, "-q"], capsys)
        first = [path for path, _ in feed.requests]
        feed.requests.clear()
        code_again, _, _ = run([*argv, "-q"], capsys)
        second = [path for path, _ in feed.requests]

    # npm has no dump on this server: a warning, the others are fetched all the same.
    assert sorted(first) == ["/AlmaLinux/all.zip", "/Go/all.zip", "/npm/all.zip"]
    assert "OSV publishes no advisories for npm" in err
    report = json.loads(out)
    assert "CVE-2020-14040" in {f["id"] for f in report["findings"]}  # GO-2020-0015
    assert code == code_again == ExitCode.PARTIAL  # npm packages were not checked
    # the library says what was not checked; the CLI says which command would fix it
    assert "no advisories in the database for npm: those packages were not checked" in err
    assert "basewatch: hint: run `basewatch db update`" in err
    # Next time only the unavailable dump is asked for again: Go has records, and AlmaLinux's
    # dump is held even though it has none for release 10 yet.
    assert second == ["/npm/all.zip"]


def test_held_dumps_are_refreshed_once_a_day(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    sbom = tmp_path / "bom.json"
    component = {"type": "library", "purl": "pkg:pypi/django@2.2"}
    sbom.write_text(
        json.dumps({"bomFormat": "CycloneDX", "specVersion": "1.6", "components": [component]})
    )
    db = tmp_path / "vuln.db"
    feed = fixture_feed("PyPI")
    with serve(feed) as base:
        argv = ["scan", "--sbom", str(sbom), "--db", str(db), "--osv-url", base, "-q"]
        assert run(argv, capsys)[0] == ExitCode.OK
        assert [path for path, _ in feed.requests] == ["/PyPI/all.zip"]
        feed.requests.clear()
        run(argv, capsys)  # fresh: nothing is asked for
        assert feed.requests == []
        with rebuilding(db) as store:  # as if the last update were two days old
            source = store.source("osv:PyPI")
            assert source is not None
            store.set_source(dataclasses.replace(source, updated_at="2020-01-01T00:00:00Z"))
        run([*argv, "--skip-db-update"], capsys)
        assert feed.requests == []
        code, _, err = run(argv, capsys)
        # No modified_id.csv here: the dump is asked for again, conditionally (unchanged: 304).
        assert [path for path, _ in feed.requests] == ["/PyPI/modified_id.csv", "/PyPI/all.zip"]
        assert code == ExitCode.OK, err
        feed.files.clear()  # the server loses everything: the scan goes on, and says so
        feed.requests.clear()
        code, out, err = run(argv, capsys)
    assert code == ExitCode.OK
    assert "could not refresh the advisories for PyPI" in err
    assert "Django" in out or "django" in out


def django_image(tmp_path: Path) -> str:
    metadata = "Metadata-Version: 2.1\nName: Django\nVersion: 2.2\n"
    image = build_image(
        [[file("usr/lib/python3/dist-packages/Django-2.2.dist-info/METADATA", metadata)]]
    )
    return f"oci:{write_oci_layout(tmp_path / 'django', [(image, '')])}"


def test_first_scan_creates_the_database(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """No database at all: the first scan downloads what the image needs, like `trivy image`;
    an image with nothing to match gets an empty database rather than an error."""
    db = tmp_path / "new" / "vuln.db"
    feed = fixture_feed("PyPI")
    with serve(feed) as base:
        argv = ["scan", django_image(tmp_path), "--db", str(db), "--osv-url", base, "--no-cache"]
        code, out, err = run([*argv, "-q", "-f", "json"], capsys)
    assert code == ExitCode.OK, err
    assert [path for path, _ in feed.requests] == ["/PyPI/all.zip"]
    assert "CVE-2019-14232" in {f["id"] for f in json.loads(out)["findings"]}
    empty = build_image([[file("etc/motd", "hello\n")]])
    layout = write_oci_layout(tmp_path / "empty", [(empty, "")])
    other = tmp_path / "other.db"
    code, _, err = run(["scan", f"oci:{layout}", "--db", str(other), "--no-cache", "-q"], capsys)
    assert code == ExitCode.OK, err
    assert other.is_file()


def bad_record(record_id: str, name: str) -> dict[str, object]:
    return {
        "id": record_id,
        "modified": "2024-01-01T00:00:00Z",
        "affected": [
            {
                "package": {"ecosystem": "PyPI", "name": name},
                "ranges": [
                    {"type": "ECOSYSTEM", "events": [{"introduced": "0"}, {"fixed": "9" * 5000}]}
                ],
            }
        ],
    }


def test_a_malformed_record_makes_only_its_own_packages_partial(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A record refused at import is a warning of `db import` / `db status`; a scan is partial
    only when the refused record names one of the image's own packages."""
    import zipfile

    from tests.fixtures import shared_fixture

    db = tmp_path / "vuln.db"
    other = tmp_path / "other.zip"
    with zipfile.ZipFile(other, "w") as archive:
        archive.writestr("X-1.json", json.dumps(bad_record("X-1", "left-pad-py")))
    pypi = shared_fixture("osv/PyPI.zip")
    assert main(["db", "import", str(pypi), str(other), "--db", str(db), "-q"]) == ExitCode.OK
    capsys.readouterr()
    image = django_image(tmp_path)
    code, _, err = run(["scan", image, "--db", str(db), "--offline", "--no-cache", "-q"], capsys)
    assert code == ExitCode.OK, err
    mine = tmp_path / "mine.zip"
    with zipfile.ZipFile(mine, "w") as archive:
        archive.writestr("X-2.json", json.dumps(bad_record("X-2", "django")))
    assert main(["db", "import", str(mine), "--db", str(db), "-q"]) == ExitCode.OK
    capsys.readouterr()
    code, out, err = run(
        ["scan", image, "--db", str(db), "--offline", "--no-cache", "-q", "-f", "json"], capsys
    )
    assert code == ExitCode.PARTIAL
    assert json.loads(out)["partial"] is True
    assert "PyPI Django: 1 advisory naming it was refused as malformed at import (X-2)" in err


def test_the_header_says_how_old_the_data_is(
    setup: tuple[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    image, db = setup
    code, out, _ = run(scan_args(image, db), capsys)
    assert code == ExitCode.OK
    database = next(line for line in out.splitlines() if line.startswith("Database:"))
    assert database.endswith(", oldest data from 2024-01-01T00:00:00Z")


@pytest.mark.parametrize("flag", ["--only-base", "--ignore-base"])
def test_base_filters_refuse_an_image_whose_base_is_unknown(
    setup: tuple[str, Path], capsys: pytest.CaptureFixture[str], flag: str
) -> None:
    """One layer, no base annotation or label, nothing catalogued: the filter would hide
    every finding (or none) and look like a real answer."""
    image, db = setup
    code, out, err = run(scan_args(image, db, flag), capsys)
    assert code == ExitCode.USAGE
    assert out == ""
    assert "the base image of" in err and "is not known" in err
    assert "basewatch catalog add BASE" in err
    assert "org.opencontainers.image.base.name" in err
    assert "Traceback" not in err


def test_base_filters_work_when_the_labels_name_the_base(
    tmp_path: Path, setup: tuple[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    _, db = setup
    base_status = dpkg_status(("libssl3", "3.0.11-1~deb12u1", "Source: openssl\n"))
    app_status = dpkg_status(
        ("libssl3", "3.0.11-1~deb12u1", "Source: openssl\n"),
        ("zlib1g", "1:1.2.13.dfsg-1", "Source: zlib (1:1.2.13.dfsg-1)\n"),
    )
    built = build_image(
        [
            [file("etc/os-release", DEBIAN_OS_RELEASE), file("var/lib/dpkg/status", base_status)],
            [file("var/lib/dpkg/status", app_status)],
        ],
        labels={"org.opencontainers.image.base.name": "docker.io/library/debian:12"},
        history=["ADD rootfs.tar /", ('CMD ["bash"]', True), "RUN apt-get install zlib1g"],
    )
    image = f"oci:{write_oci_layout(tmp_path / 'labelled', [(built, '')])}"

    def ids(flag: str) -> set[str]:
        code, out, _ = run(scan_args(image, db, flag, "-f", "json"), capsys)
        assert code == ExitCode.OK, flag
        return {f["id"] for f in json.loads(out)["findings"]}

    assert ids("--only-base") == {"CVE-2023-0001"}
    assert ids("--ignore-base") == {"CVE-2023-0002"}


def test_base_filters_together_are_refused(
    setup: tuple[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    image, db = setup
    code, _, err = run(scan_args(image, db, "--only-base", "--ignore-base"), capsys)
    assert code == ExitCode.USAGE
    assert "would hide every finding" in err


def _vex(path: Path, vulnerability: str) -> str:
    document = {
        "@context": "https://openvex.dev/ns/v0.2.0",
        "@id": f"https://example.invalid/vex/{vulnerability}",
        "author": "test",
        "timestamp": "2026-11-01T00:00:00Z",
        "version": 1,
        "statements": [
            {
                "vulnerability": {"name": vulnerability},
                "status": "not_affected",
                "justification": "vulnerable_code_not_in_execute_path",
            }
        ],
    }
    path.write_text(json.dumps(document))
    return str(path)


@pytest.mark.parametrize("spelling", ["list", "repeated", "list-then-image"])
def test_vex_takes_several_files(
    tmp_path: Path, setup: tuple[str, Path], capsys: pytest.CaptureFixture[str], spelling: str
) -> None:
    image, db = setup
    a = _vex(tmp_path / "a.json", "CVE-2023-0001")
    b = _vex(tmp_path / "b.json", "CVE-2023-0002")
    base = ["scan", "--db", str(db), "--offline", "--no-cache", "-q", "-f", "json"]
    argv = {
        "list": [*base, image, "--vex", a, b],
        "repeated": [*base, image, "--vex", a, "--vex", b],
        "list-then-image": [*base, "--vex", a, b, "--", image],
    }[spelling]
    code, out, _ = run(argv, capsys)
    assert code == ExitCode.OK
    document = json.loads(out)
    assert document["findings"] == []
    assert sorted(s["finding"]["id"] for s in document["suppressed"]) == [
        "CVE-2023-0001",
        "CVE-2023-0002",
    ]


def test_vex_list_swallowing_the_image_says_what_to_do(
    tmp_path: Path, setup: tuple[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    image, db = setup
    a = _vex(tmp_path / "a.json", "CVE-2023-0001")
    code, _, err = run(["scan", "--db", str(db), "--offline", "--vex", a, image], capsys)
    assert code == ExitCode.USAGE
    assert "put IMAGE before --vex or end the list with `--`" in err


@pytest.mark.parametrize(
    ("command", "alias", "canonical"),
    [
        ("sbom", "cyclonedx", "cyclonedx-json"),
        ("sbom", "spdx", "spdx-json"),
        ("scan", "cyclonedx", "cyclonedx-json"),
    ],
)
def test_format_aliases(
    setup: tuple[str, Path],
    capsys: pytest.CaptureFixture[str],
    command: str,
    alias: str,
    canonical: str,
) -> None:
    image, db = setup
    args = (
        ["sbom", image, "--no-cache", "-q", "-f"]
        if command == "sbom"
        else scan_args(image, db, "-f")
    )
    code, out, _ = run([*args, alias], capsys)
    code_canonical, out_canonical, _ = run([*args, canonical], capsys)
    assert code == code_canonical == ExitCode.OK
    document, expected = json.loads(out), json.loads(out_canonical)
    for volatile in ("serialNumber", "metadata", "creationInfo", "documentNamespace"):
        document.pop(volatile, None)
        expected.pop(volatile, None)
    assert document == expected


def test_help_shows_only_canonical_formats(capsys: pytest.CaptureFixture[str]) -> None:
    for command in ("sbom", "scan"):
        with pytest.raises(SystemExit):
            main([command, "--help"])
        out = capsys.readouterr().out
        assert "cyclonedx-json" in out
        assert "{table,json," in out
        assert "cyclonedx," not in out and "cyclonedx}" not in out


def test_an_unknown_format_lists_the_canonical_choices(
    setup: tuple[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    image, db = setup
    with pytest.raises(SystemExit) as exited:
        main(scan_args(image, db, "-f", "spdx"))
    assert exited.value.code == ExitCode.USAGE
    err = capsys.readouterr().err
    assert "invalid choice: 'spdx-json'" in err and "'cyclonedx-json'" in err
