"""`advise` on small real-format images: a base whose tag moved, a newer line, an alternative."""

from __future__ import annotations

import datetime as dt
import json
import socket
import time
from collections.abc import Sequence
from pathlib import Path

import pytest

from basewatch.advice.advise import advise, newer_tags, split_reference
from basewatch.cli.advise import run_advise
from basewatch.cli.exit_codes import ExitCode
from basewatch.cli.main import build_parser
from basewatch.errors import RegistryError
from basewatch.jobs.inventory import Scanner
from basewatch.matching.evaluate import scan_inventory
from basewatch.models import Inventory, ScanResult
from basewatch.vulndb.importer import import_paths
from basewatch.vulndb.sqlite import SqliteStore, rebuilding
from tests.bounded import run_bounded
from tests.imagebuild import (
    DEBIAN_OS_RELEASE,
    BuiltImage,
    build_image,
    dpkg_status,
    file,
    sha256,
    write_oci_layout,
)


@pytest.mark.parametrize(
    ("tag", "available", "expected"),
    [
        ("bookworm", ["bullseye", "bookworm", "trixie", "trixie-slim"], ["trixie"]),
        ("bookworm-slim", ["trixie", "trixie-slim", "forky-slim"], ["forky-slim", "trixie-slim"]),
        ("3.19", ["3.18", "3.19", "3.20", "3.20.1", "3.21", "edge"], ["3.21", "3.20"]),
        ("3.11-slim", ["3.12-slim", "3.12", "3.12-alpine", "3.10-slim"], ["3.12-slim"]),
        ("22.04", ["20.04", "22.04", "24.04", "24.10"], ["24.10", "24.04"]),
        ("latest", ["1", "2"], []),
    ],
)
def test_newer_tags_of_the_same_line(tag: str, available: list[str], expected: list[str]) -> None:
    assert newer_tags(tag, available) == expected


def test_split_reference() -> None:
    assert split_reference("localhost:5000/debian:bookworm@sha256:ab") == (
        "localhost:5000/debian",
        "bookworm",
    )
    assert split_reference("localhost:5000/debian") == ("localhost:5000/debian", "")


STATUS = "var/lib/dpkg/status"
V1 = [
    file("etc/os-release", DEBIAN_OS_RELEASE),
    file(STATUS, dpkg_status(("libc6", "2.36-9", "Source: glibc\n"))),
]
V2 = [
    file("etc/os-release", DEBIAN_OS_RELEASE),
    file(STATUS, dpkg_status(("libc6", "2.36-9+deb12u7", "Source: glibc\n"))),
]
APP = [
    file(
        STATUS,
        dpkg_status(
            ("libc6", "2.36-9", "Source: glibc\n"), ("curl", "7.88.1-10", "Source: curl\n")
        ),
    ),
    file("app/run", "#!/bin/sh\n"),
]


class LocalTags:
    """A registry stand-in over local layouts: tag -> (digest, layout reference)."""

    def __init__(self, repository: str, tags: dict[str, tuple[str, str]]) -> None:
        self.repository = repository
        self.by_tag = tags

    def digests(self, reference: str) -> tuple[str, ...]:
        tag = reference.rsplit(":", 1)[1]
        if tag not in self.by_tag:
            raise RegistryError(f"{reference}: unknown tag")
        return (self.by_tag[tag][0],)

    def tags(self, repository: str) -> Sequence[str]:
        return sorted(self.by_tag) if repository == self.repository else []

    def layout(self, reference: str) -> str:
        digest = reference.split("@", 1)[1] if "@" in reference else ""
        for tag, (known, layout) in self.by_tag.items():
            if known == digest or reference.endswith(f":{tag}"):
                return layout
        raise KeyError(reference)


@pytest.fixture
def world(tmp_path: Path) -> tuple[Inventory, ScanResult, LocalTags, Scanner, SqliteStore]:
    v1, v2 = build_image([V1], history=["ADD v1"]), build_image([V2], history=["ADD v2"])
    trixie = build_image([V2], history=["ADD trixie"])
    repo = "registry.test/debian"

    def layout(image: BuiltImage, name: str) -> str:
        return f"oci:{write_oci_layout(tmp_path / name, [(image, '')])}"

    tags = LocalTags(
        repo,
        {
            "bookworm": (sha256(v2.manifest_bytes), layout(v2, "v2")),
            "trixie": (sha256(trixie.manifest_bytes), layout(trixie, "trixie")),
        },
    )
    app = build_image(
        [V1, APP],
        labels={
            "org.opencontainers.image.base.name": f"{repo}:bookworm",
            "org.opencontainers.image.base.digest": sha256(v1.manifest_bytes),
        },
        history=["ADD v1", "RUN install curl"],
    )
    record = {
        "id": "DEBIAN-CVE-2024-2961",
        "upstream": ["CVE-2024-2961"],
        "modified": "2024-05-01T00:00:00Z",
        "affected": [
            {
                "package": {"ecosystem": "Debian:12", "name": "glibc"},
                "ranges": [
                    {
                        "type": "ECOSYSTEM",
                        "events": [{"introduced": "0"}, {"fixed": "2.36-9+deb12u7"}],
                    }
                ],
            }
        ],
    }
    (tmp_path / "rec.json").write_text(json.dumps(record))
    db = tmp_path / "vuln.db"
    with rebuilding(db) as store:
        import_paths(store, [tmp_path / "rec.json"])
    scanner = Scanner.default(cache_dir=tmp_path / "cache")
    store = SqliteStore.open(db)
    inventory = scanner.inventory(layout(app, "app"))
    return inventory, scan_inventory(inventory, store), tags, scanner, store


def test_refresh_update_alternative_and_rebuild(
    world: tuple[Inventory, ScanResult, LocalTags, Scanner, SqliteStore],
) -> None:
    inventory, scan, tags, scanner, store = world

    def inventory_of(reference: str) -> tuple[Inventory, ScanResult | None]:
        found = scanner.inventory(tags.layout(reference))
        return found, scan_inventory(found, store)

    advice = advise(
        inventory,
        scan,
        inventory_of,
        tags,
        alternatives=["registry.test/debian:trixie"],
        eol=dt.date(2026, 12, 31),
        today=dt.date(2026, 11, 27),
    )
    kinds = [(r.kind, r.reference) for r in advice.recommendations]
    assert kinds == [
        ("refresh", "registry.test/debian:bookworm"),
        ("update", "registry.test/debian:trixie"),
        ("alternative", "registry.test/debian:trixie"),
    ]
    refresh = advice.recommendations[0]
    assert refresh.fixes == ("libc6:CVE-2024-2961",)
    assert refresh.arrives == ()
    assert refresh.changed_packages == (("libc6", "2.36-9", "2.36-9+deb12u7"),)
    assert refresh.digest == tags.by_tag["bookworm"][0]
    assert advice.rebuild
    assert advice.reasons == (
        "the base image's tag now points to a newer digest",
        "fixed versions exist for installed OS packages: "
        "a rebuild with upgrades would fix 1 finding(s)",
        "debian 12 reaches end of life on 2026-12-31 (within 90 days)",
    )


def test_offline_advice_still_gives_the_rebuild_verdict(
    world: tuple[Inventory, ScanResult, LocalTags, Scanner, SqliteStore],
) -> None:
    inventory, scan, _, _, _ = world
    advice = advise(
        inventory, scan, lambda r: (inventory, None), None, (), None, dt.date(2026, 11, 27)
    )
    assert advice.recommendations == ()
    assert advice.rebuild
    # offline, the tag was not looked at: that is something not checked, not a warning aside
    assert advice.not_checked == (
        "whether registry.test/debian:bookworm was refreshed or has a newer tag: "
        "no registry access (offline)",
    )
    assert advice.partial


def _cli(*argv: str) -> int:
    parser = build_parser()
    return run_advise(parser.parse_args(["advise", *argv]))


def test_a_candidate_without_advisories_is_not_checked(
    world: tuple[Inventory, ScanResult, LocalTags, Scanner, SqliteStore],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """The database has Debian advisories only: an Alpine alternative brings "not checked",
    never "0 findings arrive"."""
    _, _, tags, _, _ = world
    alpine = build_image(
        [
            [
                file("etc/os-release", "ID=alpine\nVERSION_ID=3.15.11\n"),
                file("lib/apk/db/installed", "P:musl\nV:1.2.2-r9\nA:x86_64\no:musl\n\n"),
            ]
        ]
    )
    layout = f"oci:{write_oci_layout(tmp_path / 'alpine', [(alpine, '')])}"
    image = tags.by_tag["bookworm"][1]
    common = ("--db", str(tmp_path / "vuln.db"), "--cache-dir", str(tmp_path / "c"), "-q")
    assert _cli(image, "--alternative", layout, "--offline", *common) == ExitCode.PARTIAL
    table = capsys.readouterr().out
    assert "that arrive: not checked (no advisories for Alpine:v3.15)" in table
    assert "go away: not checked (no advisories for Alpine:v3.15)" in table
    assert "that arrive: 0" not in table
    assert _cli(image, "--alternative", layout, "--offline", "-f", "json", *common) == 4
    (alternative,) = json.loads(capsys.readouterr().out)["recommendations"]
    assert alternative["candidate_checked"] == "none"
    assert alternative["candidate_unchecked"] == ["Alpine:v3.15"]
    assert alternative["fixes"] == []
    assert _cli(image, "--alternative", layout, "--offline", "-f", "markdown", *common) == 4
    assert "not checked (no advisories for Alpine:v3.15)" in capsys.readouterr().out


def test_offline_dockerfile_never_touches_the_registry(tmp_path: Path) -> None:
    """FROM names a registry on a closed loopback port: offline, nothing connects to it, and
    the FROM image is reported as the base, not as an application with an unknown base."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    reference = f"127.0.0.1:{port}/library/debian:12"
    dockerfile = tmp_path / "Dockerfile"
    dockerfile.write_text(f"FROM {reference}\nRUN true\n")
    started = time.monotonic()
    result = run_bounded(
        [
            "advise",
            "--dockerfile",
            str(dockerfile),
            "--offline",
            "-q",
            "--cache-dir",
            str(tmp_path / "c"),
            "--db",
            str(tmp_path / "none.db"),
        ],
        timeout=30,
        memory_mb=2048,  # address space: the interpreter and its shared libraries need most
    )
    elapsed = time.monotonic() - started
    result.check_refused(ExitCode.PARTIAL)
    assert elapsed < 8, elapsed  # the connect-and-retry path takes longer than this
    assert "connect" not in result.stderr.lower()
    assert f"Base:  {reference}" in result.stdout
    assert "unknown" not in result.stdout.split("\n")[1]
    assert "Verdict: unknown" in result.stdout
    assert "the network may not be used" in result.stdout  # says why it was not checked
