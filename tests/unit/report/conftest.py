"""A realistic `Inventory`, built by hand, shared by the report tests.

One image carries every package type basewatch knows (deb, apk, rpm with an epoch, pypi twice
under the same purl, scoped npm, golang, maven) so that each renderer meets all of them, plus
a warning so that the partial-result paths run. Values are spelled as the real databases and
basewatch's detectors spell them: dpkg/apk `maintainer` and rpm `vendor` metadata, npm and Go
packages named in full (`@babel/core`, `github.com/sirupsen/logrus`) while Maven keeps its
groupId in `namespace`, Fedora's legacy `ASL 2.0` license name...
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from pathlib import Path
from uuid import UUID

import pytest

from basewatch.models import (
    ImageInfo,
    Inventory,
    LayerInfo,
    Origin,
    OSInfo,
    Package,
    PackageType,
    SourceType,
    make_metadata,
)

SCHEMA_DIR = Path(__file__).parent / "schemas"
NOW = datetime(2024, 5, 1, 12, 30, 45, tzinfo=UTC)
SERIAL = UUID("3e671687-395b-41f5-a30f-a58921a69b79")


def digest(seed: str) -> str:
    return "sha256:" + hashlib.sha256(seed.encode()).hexdigest()


BASE_LAYER = digest("debian bookworm rootfs")
ALPINE_LAYER = digest("alpine musl runtime copied in")
APP_LAYER = digest("application layer")


def make_image() -> ImageInfo:
    return ImageInfo(
        reference="localhost:5000/team/app:1.4.2",
        source_type=SourceType.REGISTRY,
        manifest_digest=digest("manifest"),
        config_digest=digest("config"),
        os="linux",
        architecture="amd64",
        created="2024-04-30T08:15:00Z",
        layers=(
            LayerInfo(
                index=0,
                diff_id=BASE_LAYER,
                digest=digest("base blob"),
                size=29_150_000,
                media_type="application/vnd.oci.image.layer.v1.tar+gzip",
                created_by="# debian.sh --arch 'amd64' out/ 'bookworm' '@1714348800'",
            ),
            LayerInfo(
                index=1,
                diff_id=ALPINE_LAYER,
                digest=digest("alpine blob"),
                size=1_020_000,
                media_type="application/vnd.oci.image.layer.v1.tar+gzip",
                created_by="COPY --from=musl / /opt/musl # buildkit",
                empty_history=("ENV LANG=C.UTF-8",),
            ),
            LayerInfo(
                index=2,
                diff_id=APP_LAYER,
                digest=digest("app blob"),
                size=48_300_000,
                media_type="application/vnd.oci.image.layer.v1.tar+gzip",
                created_by="COPY . /app # buildkit",
            ),
        ),
        labels=(
            ("org.opencontainers.image.source", "https://example.org/team/app"),
            ("maintainer", "Team App <app@example.org>"),
        ),
        annotations=(
            ("org.opencontainers.image.base.name", "debian:bookworm-slim"),
            ("org.opencontainers.image.base.digest", digest("debian bookworm-slim index")),
        ),
        repo_tags=("localhost:5000/team/app:1.4.2",),
    )


def make_packages() -> tuple[Package, ...]:
    dpkg_status = ("/var/lib/dpkg/status",)
    return (
        # Deliberately unsorted: every renderer must sort.
        Package(
            name="requests",
            version="2.31.0",
            type=PackageType.PYPI,
            licenses=("Apache-2.0",),
            evidence=("/opt/venv/lib/python3.11/site-packages/requests-2.31.0.dist-info/METADATA",),
            metadata=make_metadata(author="Kenneth Reitz"),
            ecosystem="PyPI",
            purl="pkg:pypi/requests@2.31.0",
            layer=APP_LAYER,
            origin=Origin.APP,
        ),
        Package(
            name="libc6",
            version="2.36-9+deb12u4",
            type=PackageType.DEB,
            arch="amd64",
            source_name="glibc",
            source_version="2.36-9+deb12u4",
            licenses=("LGPL-2.1-or-later", "GPL-2+"),
            evidence=dpkg_status,
            metadata=make_metadata(
                maintainer="GNU Libc Maintainers <debian-glibc@lists.debian.org>",
                installed_size="12991",
            ),
            ecosystem="Debian:12",
            purl="pkg:deb/debian/libc6@2.36-9%2Bdeb12u4?arch=amd64&distro=debian-12",
            layer=BASE_LAYER,
            origin=Origin.BASE,
        ),
        Package(
            name="zlib1g",
            version="1:1.2.13.dfsg-1",
            type=PackageType.DEB,
            arch="amd64",
            source_name="zlib",
            source_version="1:1.2.13.dfsg-1",
            licenses=("Zlib",),
            evidence=dpkg_status,
            metadata=make_metadata(
                maintainer="Mark Brown <broonie@debian.org>", installed_size="164"
            ),
            ecosystem="Debian:12",
            purl="pkg:deb/debian/zlib1g@1%3A1.2.13.dfsg-1?arch=amd64&distro=debian-12",
            layer=BASE_LAYER,
            origin=Origin.BASE,
        ),
        Package(
            name="libssl3",
            version="3.0.11-1~deb12u2",
            type=PackageType.DEB,
            arch="amd64",
            source_name="openssl",
            source_version="3.0.11-1~deb12u2",
            licenses=("Apache-2.0", "Artistic", "GPL-1+"),
            evidence=dpkg_status,
            metadata=make_metadata(
                maintainer="Debian OpenSSL Team <pkg-openssl-devel@alioth-lists.debian.net>"
            ),
            ecosystem="Debian:12",
            purl="pkg:deb/debian/libssl3@3.0.11-1~deb12u2?arch=amd64&distro=debian-12",
            layer=BASE_LAYER,
            origin=Origin.BASE,
        ),
        Package(
            name="musl",
            version="1.2.4_git20230717-r4",
            type=PackageType.APK,
            arch="x86_64",
            source_name="musl",
            source_version="1.2.4_git20230717-r4",
            licenses=("MIT",),
            evidence=("/opt/musl/lib/apk/db/installed",),
            metadata=make_metadata(
                commit="f0c8dd7ea3f8b1d8d2d4d48e5a1ff7c18b0a1cd2",
                maintainer="Timo Teräs <timo.teras@iki.fi>",
            ),
            ecosystem="Alpine:v3.19",
            purl="pkg:apk/alpine/musl@1.2.4_git20230717-r4?arch=x86_64&distro=3.19.1",
            layer=ALPINE_LAYER,
            origin=Origin.APP,
        ),
        Package(
            name="openssl-libs",
            version="1:3.0.7-27.el9",
            type=PackageType.RPM,
            arch="x86_64",
            source_name="openssl",
            source_version="3.0.7-27.el9",
            licenses=("ASL 2.0",),
            evidence=("/var/lib/rpm/rpmdb.sqlite",),
            metadata=make_metadata(
                epoch="1", vendor="Red Hat, Inc.", sourcerpm="openssl-3.0.7-27.el9.src.rpm"
            ),
            ecosystem="Red Hat",
            purl="pkg:rpm/redhat/openssl-libs@3.0.7-27.el9?arch=x86_64&epoch=1&distro=rhel-9.4",
            layer=APP_LAYER,
            origin=Origin.APP,
        ),
        Package(
            name="requests",
            version="2.31.0",
            type=PackageType.PYPI,
            licenses=("Apache 2.0",),
            evidence=("/usr/lib/python3/dist-packages/requests-2.31.0.dist-info/METADATA",),
            ecosystem="PyPI",
            purl="pkg:pypi/requests@2.31.0",
            layer=BASE_LAYER,
            origin=Origin.BASE,
        ),
        Package(
            name="cryptography",
            version="42.0.5",
            type=PackageType.PYPI,
            licenses=("Apache-2.0 OR BSD-3-Clause",),
            evidence=(
                "/opt/venv/lib/python3.11/site-packages/cryptography-42.0.5.dist-info/METADATA",
            ),
            metadata=make_metadata(wheel_tags="cp39-abi3-manylinux_2_28_x86_64"),
            ecosystem="PyPI",
            purl="pkg:pypi/cryptography@42.0.5",
            layer=APP_LAYER,
            origin=Origin.APP,
        ),
        Package(
            name="@babel/core",
            version="7.24.0",
            type=PackageType.NPM,
            licenses=("MIT",),
            evidence=("/app/node_modules/@babel/core/package.json",),
            ecosystem="npm",
            purl="pkg:npm/%40babel/core@7.24.0",
            layer=APP_LAYER,
            origin=Origin.APP,
        ),
        Package(
            name="github.com/sirupsen/logrus",
            version="v1.9.3",
            type=PackageType.GOLANG,
            evidence=("/usr/local/bin/app",),
            metadata=make_metadata(
                go_version="go1.22.1", h1="h1:dueUQJ1C2q9oE3F7wvmSGAaVtTmUizReu6fjN8uqzbQ="
            ),
            ecosystem="Go",
            purl="pkg:golang/github.com/sirupsen/logrus@v1.9.3",
            layer=APP_LAYER,
            origin=Origin.APP,
        ),
        Package(
            name="log4j-core",
            version="2.17.1",
            type=PackageType.MAVEN,
            namespace="org.apache.logging.log4j",
            licenses=("The Apache Software License, Version 2.0",),
            evidence=("/app/lib/app.jar", "/app/lib/app.jar!/BOOT-INF/lib/log4j-core-2.17.1.jar"),
            metadata=make_metadata(sha1="779f60f3844dadc3ef597976fcb1e5127b1f343d"),
            ecosystem="Maven",
            purl="pkg:maven/org.apache.logging.log4j/log4j-core@2.17.1",
            layer=APP_LAYER,
            origin=Origin.APP,
        ),
    )


def make_inventory() -> Inventory:
    return Inventory(
        image=make_image(),
        os=OSInfo(
            id="debian",
            version_id="12",
            version_codename="bookworm",
            pretty_name="Debian GNU/Linux 12 (bookworm)",
            evidence=("/etc/os-release",),
        ),
        packages=make_packages(),
        warnings=(
            "/var/lib/rpm/rpmdb.sqlite: database disk image is malformed;"
            " rpm packages may be missing",
        ),
    )


def make_minimal_inventory() -> Inventory:
    """A `dir:` scan of an empty root: no digests, no OS, no packages, no warnings."""
    return Inventory(
        image=ImageInfo(reference="./rootfs", source_type=SourceType.ROOTFS),
        os=None,
        packages=(),
    )


@pytest.fixture
def inventory() -> Inventory:
    return make_inventory()


@pytest.fixture
def minimal_inventory() -> Inventory:
    return make_minimal_inventory()
