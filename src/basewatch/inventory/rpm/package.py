"""From a parsed rpm header to a `Package`."""

from __future__ import annotations

from basewatch.errors import PackageDatabaseError
from basewatch.inventory.rpm.header import Header, Tag
from basewatch.models import Package, PackageType, make_metadata

GPG_PUBKEY = "gpg-pubkey"
# What rpm writes as the SOURCERPM of a gpg-pubkey header; Trivy also reads it as "no source".
NO_SOURCE = "(none)"


def package_from_header(header: Header, evidence: str) -> Package:
    """The package a header describes; raise `PackageDatabaseError` if NAME/VERSION/RELEASE lack."""
    name = header.string(Tag.NAME)
    version = header.string(Tag.VERSION)
    release = header.string(Tag.RELEASE)
    if not name or version is None or release is None:
        raise PackageDatabaseError("header has no NAME, VERSION or RELEASE")
    epoch = header.integer(Tag.EPOCH)
    full_version = f"{version}-{release}"
    # An epoch that is present is shown even when it is 0, as Syft does: "0:1.0-1" and
    # "1.0-1" are different header contents even if rpm compares them equal.
    if epoch is not None:
        full_version = f"{epoch}:{full_version}"
    sourcerpm = header.string(Tag.SOURCERPM) or ""
    if sourcerpm == NO_SOURCE:
        sourcerpm = ""
    arch = header.string(Tag.ARCH) or ""
    source_name, source_version = split_source_rpm(sourcerpm)
    license_ = header.string(Tag.LICENSE) or ""
    # `rpm -qa` lists the imported signing keys as packages named gpg-pubkey (no arch, no
    # source, version = key id, release = key date). Syft and Trivy both keep them, as
    # go-rpmdb returns every header; we keep them too, so the inventory matches rpm's own
    # view, and mark them so that matching and SBOM output can tell and leave them out.
    pseudo = GPG_PUBKEY if name == GPG_PUBKEY and not arch else None
    return Package(
        name=name,
        version=full_version,
        type=PackageType.RPM,
        arch=arch,
        source_name=source_name,
        source_version=source_version,
        licenses=(license_,) if license_ else (),
        evidence=(evidence,),
        metadata=make_metadata(
            epoch=str(epoch) if epoch is not None else None,
            vendor=header.string(Tag.VENDOR),
            modularitylabel=header.string(Tag.MODULARITYLABEL),
            release=release,
            sourcerpm=sourcerpm,
            pseudo=pseudo,
        ),
    )


def split_source_rpm(filename: str) -> tuple[str, str]:
    """("openssl", "1.1.1k-9.el8") from "openssl-1.1.1k-9.el8.src.rpm"; ("", "") if malformed.

    SOURCERPM carries no epoch, so neither does the source version.
    """
    stem = filename.removesuffix(".rpm")
    stem, dot, _arch = stem.rpartition(".")
    if not dot:
        return "", ""
    parts = stem.rsplit("-", 2)
    if len(parts) != 3 or not all(parts):
        return "", ""
    name, version, release = parts
    return name, f"{version}-{release}"


def file_paths(header: Header) -> list[str]:
    """The paths the package installed: DIRNAMES[DIRINDEXES[i]] + BASENAMES[i], or the
    OLDFILENAMES of old headers; raise `PackageDatabaseError` on inconsistent tables."""
    basenames = header.strings(Tag.BASENAMES)
    if basenames is None:
        return list(header.strings(Tag.OLDFILENAMES) or ())
    dirnames = header.strings(Tag.DIRNAMES) or ()
    indexes = header.integers(Tag.DIRINDEXES) or ()
    if len(indexes) != len(basenames) or any(i >= len(dirnames) for i in indexes):
        raise PackageDatabaseError("file list tables (BASENAMES, DIRINDEXES) do not agree")
    return [dirnames[i] + base for i, base in zip(indexes, basenames, strict=True)]
