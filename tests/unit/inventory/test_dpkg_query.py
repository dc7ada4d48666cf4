"""dpkg and apk databases split and read as their own tools do; dpkg checked against dpkg-query."""

from __future__ import annotations

import io
import shutil
import subprocess
from pathlib import Path

import pytest

from basewatch.inventory.apk import ApkDetector
from basewatch.inventory.detector import AnalysisContext, FileResult
from basewatch.inventory.dpkg import DpkgDetector

STATUS = "/var/lib/dpkg/status"
# Line breaks for str.splitlines() that dpkg and apk keep inside a value.
OTHER_BREAKS = ("\x0b", "\x0c", "\x1c", "\x1d", "\x1e", "\x85", "\u2028", "\u2029")


def stanza(name: str, status: str | None, version: str, extra: str = "") -> str:
    lines = [f"Package: {name}"]
    if status is not None:
        lines.append(f"Status: {status}")
    lines += ["Maintainer: m <m@example.org>", "Architecture: amd64", f"Version: {version}"]
    return "\n".join(lines) + "\n" + extra + "Description: test package\n\n"


def detect(detector: DpkgDetector | ApkDetector, path: str, text: str, tmp: Path) -> FileResult:
    data = text.encode()
    assert detector.wants(path, len(data), 0o644)
    result = detector.analyze(path, io.BytesIO(data), len(data), AnalysisContext(tmp))
    assert result is not None
    return result


def dpkg_query(status: str, tmp: Path) -> set[tuple[str, str, str]]:
    """(name, version, db:Status-Abbrev) of what the real dpkg-query -W lists."""
    if shutil.which("dpkg-query") is None:
        pytest.skip("dpkg-query is not installed")
    admin = tmp / "admindir"
    (admin / "info").mkdir(parents=True)
    (admin / "updates").mkdir()
    (admin / "status").write_text(status, encoding="utf-8")
    proc = subprocess.run(
        [
            "dpkg-query",
            f"--admindir={admin}",
            "-W",
            "-f",
            "${Package}\t${Version}\t${db:Status-Abbrev}\n",
        ],
        capture_output=True,
        text=True,
        check=True,
        timeout=30,
    )
    return {tuple(line.split("\t")) for line in proc.stdout.splitlines()}  # type: ignore[misc]


def on_disk(listed: set[tuple[str, str, str]]) -> set[tuple[str, str]]:
    """What dpkg-query's view implies is on disk: every listed package but those whose second
    Status-Abbrev letter is c (config-files) or n (not-installed)."""
    return {(name, version) for name, version, abbrev in listed if abbrev[1] not in "cn"}


def test_line_breaks_inside_a_value_neither_hide_nor_invent_packages(tmp_path: Path) -> None:
    # Before: splitlines() cut the Homepage value, so "Package: phantom" became a package and
    # "Package: openssl" a second Package field that replaced nothing... or hid the stanza.
    status = "".join(
        stanza("libssl3", "install ok installed", "3.0.15-1", f"Homepage: x{brk}Package: phantom\n")
        for brk in OTHER_BREAKS[:1]
    ) + "".join(
        stanza(f"pkg{i}", "install ok installed", "1.0", f"Homepage: a{brk}{brk}b\n")
        for i, brk in enumerate(OTHER_BREAKS)
    )
    status += stanza("openssl", "install ok installed", "3.0.15-1")
    ours = detect(DpkgDetector(), STATUS, status, tmp_path)
    assert ours.warnings == ()
    got = {(p.name, p.version) for p in ours.packages}
    assert got == on_disk(dpkg_query(status, tmp_path))
    assert ("openssl", "3.0.15-1") in got
    assert "phantom" not in {name for name, _ in got}


def test_status_values_match_dpkg_query(tmp_path: Path) -> None:
    states = {
        "ii": "install ok installed",
        "hi": "hold ok installed",
        "ri": "deinstall ok installed",
        "iU": "install ok unpacked",
        "iF": "install ok half-configured",
        "iHR": "install reinstreq half-installed",
        "rc": "deinstall ok config-files",
        "ic": "install ok config-files",
        "pn": "purge ok not-installed",
        "in": "install ok not-installed",
    }
    status = "".join(
        stanza(f"p-{abbrev.lower()}", value, "1.0") for abbrev, value in states.items()
    )
    status += stanza("awaiting", "install ok triggers-awaited", "1.0", "Triggers-Awaited: x\n")
    status += stanza("pending", "install ok triggers-pending", "1.0", "Triggers-Pending: y\n")
    # No Status at all: dpkg reads it as not installed (the distroless default is status.d only).
    status += stanza("no-status", None, "1.0")
    status += stanza("lower-case", "install ok installed", "1.0").lower()
    ours = detect(DpkgDetector(), STATUS, status, tmp_path)
    assert ours.warnings == ()
    listed = dpkg_query(status, tmp_path)
    assert {p.name for p in ours.packages} == {name for name, _ in on_disk(listed)}
    assert "no-status" not in {name for name, _, _ in listed}
    assert "lower-case" in {p.name for p in ours.packages}
    half = next(p for p in ours.packages if p.name == "p-ihr")
    assert ("status", "install reinstreq half-installed") in half.metadata
    installed = next(p for p in ours.packages if p.name == "p-ii")
    assert "status" not in dict(installed.metadata)


@pytest.mark.parametrize(
    ("text", "warning"),
    [
        (stanza("a", "install ok installed", "1", "Version: 2\n"), "duplicate field 'Version'"),
        (
            stanza("a", "install ok installed", "1").rstrip("\n")
            + "\n \n"
            + stanza("b", "install ok installed", "2"),
            "a line of only whitespace",
        ),
        (stanza("a", "install ok weird", "1"), "unknown Status 'install ok weird'"),
        (
            stanza("a", "install ok installed", "1")
            + "  \n"
            + stanza("b", "install ok installed", "2"),
            "line 8: a line of only whitespace",
        ),
    ],
)
def test_what_dpkg_rejects_is_a_warning(tmp_path: Path, text: str, warning: str) -> None:
    result = detect(DpkgDetector(), STATUS, text, tmp_path)
    assert any(warning in w for w in result.warnings), result.warnings


def test_continuation_lines_start_with_any_dpkg_whitespace(tmp_path: Path) -> None:
    text = stanza("a", "install ok installed", "1", "Homepage: x\n\x0bmore\n\rmore\n")
    result = detect(DpkgDetector(), STATUS, text, tmp_path)
    assert result.warnings == ()
    assert [p.name for p in result.packages] == ["a"]


def test_status_d_stanzas_without_status_are_installed(tmp_path: Path) -> None:
    result = detect(
        DpkgDetector(), "/var/lib/dpkg/status.d/libc6", stanza("libc6", None, "2.36"), tmp_path
    )
    assert [p.name for p in result.packages] == ["libc6"]


@pytest.mark.parametrize(
    "name", ["libc6.md5sums", "libc6.preinst", "libc6.postinst", "libc6.list", "libc6.conffiles"]
)
def test_status_d_control_files_are_not_read(name: str) -> None:
    assert not DpkgDetector().wants(f"/var/lib/dpkg/status.d/{name}", 100, 0o644)


@pytest.mark.parametrize("name", ["libc6", "python3.11-minimal", "libstdc++6"])
def test_status_d_package_files_are_read(name: str) -> None:
    assert DpkgDetector().wants(f"/var/lib/dpkg/status.d/{name}", 100, 0o644)


def apk_record(name: str, version: str, extra: str = "") -> str:
    return f"C:Q1abc=\nP:{name}\nV:{version}\nA:x86_64\n{extra}o:{name}\n\n"


def test_apk_line_breaks_inside_a_value_neither_hide_nor_invent_packages(tmp_path: Path) -> None:
    text = "".join(
        apk_record(f"pkg{i}", "1.0-r0", f"T:desc{brk}{brk}P:phantom{brk}V:9\n")
        for i, brk in enumerate(OTHER_BREAKS)
    )
    text += apk_record("openssl", "3.1.4-r0")
    result = detect(ApkDetector(), "/lib/apk/db/installed", text, tmp_path)
    assert result.warnings == ()
    assert {p.name for p in result.packages} == {
        *(f"pkg{i}" for i in range(len(OTHER_BREAKS))),
        "openssl",
    }


def test_apk_reads_records_as_apk_does(tmp_path: Path) -> None:
    # apk_db_index_read: a line that is not "X:value" ends the record; the last P: counts.
    text = apk_record("a", "1-r0").rstrip("\n") + "\ngarbage\nP:b\nV:2-r0\n\n"
    text += apk_record("c", "1-r0", "P:decoy\n")
    result = detect(ApkDetector(), "/lib/apk/db/installed", text, tmp_path)
    assert [(p.name, p.version) for p in result.packages] == [
        ("a", "1-r0"),
        ("b", "2-r0"),
        ("decoy", "1-r0"),
    ]
    assert any("it ends the record" in w for w in result.warnings)
    assert any("a second P:" in w for w in result.warnings)
