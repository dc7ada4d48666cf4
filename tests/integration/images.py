"""Real Debian test images, built with mmdebstrap and packed with umoci and skopeo, then cached.

Each `Recipe` is a list of `Stage`s; a stage is one mmdebstrap run and becomes one image layer.
The stages of an image are unpacked one after the other into an umoci bundle and repacked, so
umoci computes each layer as the difference to the one before (changed files and whiteouts), as a
Dockerfile build would. `SOURCE_DATE_EPOCH` makes mmdebstrap clamp every timestamp, so a file
that two stages share is byte-identical and stays out of the upper layer.

An image is built once per recipe and kept under `cache_root()` in a directory named by a hash
of the recipe, with every packing the tests need: an OCI layout (directory and tar), a
docker-archive, the unpacked final root filesystem, and `image.json` that records what
`dpkg-query` says each layer's root filesystem holds. Builds need root (mmdebstrap's root mode
and a plain `umoci unpack`) and Debian's archive through the machine's apt sources.

Run `python -m tests.integration.images [NAME...]` from the repository root to build by hand.
"""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import hashlib
import io
import json
import logging
import os
import shutil
import subprocess
import sys
import tarfile
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, NamedTuple

logger = logging.getLogger(__name__)

# Bump when the mmdebstrap runs change (rebuilds every root filesystem, slow)...
STAGE_FORMAT = 1
# ...or when the packing steps change (repacks the cached root filesystems, fast).
FORMAT_VERSION = 3
# Fixed clock for mmdebstrap: identical files in two stages get identical timestamps.
SOURCE_DATE_EPOCH = "1700000000"
REQUIRED_TOOLS = ("mmdebstrap", "umoci", "skopeo", "tar", "dpkg-query")
# Debian release names and aliases; entries of the machine's apt sources whose suite starts with
# one of these are Debian's archive (others, e.g. a vendor repository, are ignored).
_DEBIAN_SUITES = frozenset(
    {
        "buster",
        "bullseye",
        "bookworm",
        "trixie",
        "forky",
        "duke",
        "sid",
        "stable",
        "oldstable",
        "testing",
        "unstable",
    }
)
PIP_TARGET = "/usr/local/lib/python3.11/dist-packages"
_NO_UPDATES_SUITES = frozenset({"sid", "unstable", "experimental"})
_DEFAULT_SOURCES_DIR = Path("/etc/apt")


class BuildError(RuntimeError):
    """A tool failed while building a test image; the message carries the end of its stderr."""


class MissingPrerequisites(BuildError):
    """This machine cannot build images: a tool is missing, or the user is not root."""


class Pkg(NamedTuple):
    """One installed dpkg package as `dpkg-query -W` prints it."""

    name: str
    version: str
    arch: str


@dataclass(frozen=True, slots=True)
class Stage:
    """One mmdebstrap run: a root filesystem that becomes one layer."""

    suite: str
    include: tuple[str, ...] = ()
    purge: tuple[str, ...] = ()
    variant: str = "minbase"
    # Python distributions (name==version) that `pip install --target` puts in
    # /usr/local/lib/python3.11/dist-packages after the packages are installed: old releases
    # with published advisories, as an application layer would carry them.
    pip_target: tuple[str, ...] = ()
    # Only the release itself, as published at its last point release: no -updates, no -security
    # (a base image as it was before its distribution's latest fixes).
    point_release_only: bool = False

    def describe(self) -> str:
        """A one-line account of the run, used as the layer's history `created_by`."""
        words = ["mmdebstrap", f"--variant={self.variant}"]
        if self.include:
            words.append("--include=" + ",".join(self.include))
        words.append(self.suite)
        text = " ".join(words)
        if self.purge:
            text += " && dpkg --purge " + " ".join(self.purge)
        if self.pip_target:
            text += f" && pip install --target {PIP_TARGET} " + " ".join(self.pip_target)
        if self.point_release_only:
            text += " # point release only"
        return text

    def key(self) -> str:
        return _digest(
            {"format": STAGE_FORMAT, "epoch": SOURCE_DATE_EPOCH, "stage": self.describe()}
        )


@dataclass(frozen=True, slots=True)
class Recipe:
    """An image: one layer per stage, and the OS its final root filesystem must report."""

    name: str
    stages: tuple[Stage, ...]
    os_id: str
    os_version_id: str
    repo: str
    tag: str

    @property
    def repo_tag(self) -> str:
        return f"{self.repo}:{self.tag}"

    def key(self) -> str:
        return _digest(
            {
                "format": FORMAT_VERSION,
                "stages": [stage.key() for stage in self.stages],
                "repo_tag": self.repo_tag,
            }
        )


BOOKWORM = Stage("bookworm")
BOOKWORM_CURL = Stage("bookworm", include=("curl",))
# Purges one package the layer below added (curl) and one the base layer had (tzdata).
BOOKWORM_CURL_PURGED = Stage("bookworm", include=("curl",), purge=("curl", "tzdata"))

BOOKWORM_MINBASE = Recipe(
    "bookworm-minbase", (BOOKWORM,), "debian", "12", "basewatch-test/bookworm", "minbase"
)
BOOKWORM_PYTHON = Recipe(
    "bookworm-python",
    (Stage("bookworm", include=("python3", "curl", "openssl", "ca-certificates")),),
    "debian",
    "12",
    "basewatch-test/bookworm",
    "python",
)
TRIXIE_MINBASE = Recipe(
    "trixie-minbase", (Stage("trixie"),), "debian", "13", "basewatch-test/trixie", "minbase"
)
BOOKWORM_LAYERED = Recipe(
    "bookworm-layered",
    (BOOKWORM, BOOKWORM_CURL, BOOKWORM_CURL_PURGED),
    "debian",
    "12",
    "basewatch-test/bookworm",
    "layered",
)
# For the benchmark: about three times the size of bookworm-python, in one layer. No Java: Trivy
# cannot analyse jars without its Java database, which it would have to download.
BOOKWORM_LARGE = Recipe(
    "bookworm-large",
    (
        Stage(
            "bookworm",
            include=(
                "python3",
                "curl",
                "openssl",
                "ca-certificates",
                "git",
                "build-essential",
                "python3-pip",
                "clang",
            ),
        ),
    ),
    "debian",
    "12",
    "basewatch-test/bookworm",
    "large",
)
# Old Python releases with advisories in the PyPI OSV fixture, in a layer above Debian's own
# python3 (whose Debian packages must only ever be matched against Debian data).
OLD_PYPI_RELEASES = (
    "requests==2.19.0",
    "urllib3==1.24.1",
    "Jinja2==2.10",
    "Django==2.2",
)
# Debian's python3-pip brings pip, setuptools and wheel as Debian packages (their dist-info and
# egg-info in /usr/lib/python3/dist-packages, owned by dpkg), fzf a Go binary Debian built; the
# upper layer adds PyPI releases.
BOOKWORM_PIP = Recipe(
    "bookworm-pip",
    (
        Stage("bookworm", include=("python3-pip", "fzf")),
        Stage("bookworm", include=("python3-pip", "fzf"), pip_target=OLD_PYPI_RELEASES),
    ),
    "debian",
    "12",
    "basewatch-test/bookworm",
    "pip",
)
# For advice: a base as of the last point release (v1), an app built on it, and the same base
# with the security and stable updates (v2, which is what bookworm-minbase is).
BOOKWORM_POINT = Stage("bookworm", point_release_only=True)
BASE_V1 = Recipe("base-v1", (BOOKWORM_POINT,), "debian", "12", "basewatch-test/base", "bookworm")
APP_ON_V1 = Recipe(
    "app-on-v1",
    (BOOKWORM_POINT, Stage("bookworm", include=("curl",), point_release_only=True)),
    "debian",
    "12",
    "basewatch-test/app",
    "1.0",
)
RECIPES: dict[str, Recipe] = {
    r.name: r
    for r in (
        BOOKWORM_MINBASE,
        BOOKWORM_PYTHON,
        TRIXIE_MINBASE,
        BOOKWORM_LAYERED,
        BOOKWORM_LARGE,
        BOOKWORM_PIP,
        BASE_V1,
        APP_ON_V1,
    )
}


@dataclass(frozen=True, slots=True)
class LayerRecord:
    """One layer of a built image and what dpkg says its stage's root filesystem holds."""

    diff_id: str
    created_by: str
    packages: frozenset[Pkg]  # everything installed once this layer is applied
    added: frozenset[Pkg]
    removed: frozenset[Pkg]


@dataclass(frozen=True, slots=True)
class BuiltImage:
    """A recipe built into every packing the tests use, with the expected inventory."""

    recipe: Recipe
    root: Path
    manifest_digest: str
    config_digest: str
    layers: tuple[LayerRecord, ...]
    build_seconds: float
    rootfs_tar: Path  # mmdebstrap's tarball of the final stage (shared by images in the cache)

    @property
    def oci_dir(self) -> Path:
        return self.root / "oci"

    @property
    def oci_tar(self) -> Path:
        return self.root / "oci.tar"

    @property
    def docker_archive(self) -> Path:
        return self.root / "docker-archive.tar"

    @property
    def rootfs(self) -> Path:
        return self.root / "rootfs"

    @property
    def diff_ids(self) -> tuple[str, ...]:
        return tuple(layer.diff_id for layer in self.layers)

    @property
    def packages(self) -> frozenset[Pkg]:
        """The final inventory: `dpkg-query -W` on the last layer's root filesystem."""
        return self.layers[-1].packages

    def ref(self, packing: str) -> str:
        """The basewatch image reference for one packing of this image."""
        match packing:
            case "docker-archive":
                return f"docker-archive:{self.docker_archive}"
            case "oci-dir":
                return f"oci:{self.oci_dir}:{self.recipe.tag}"
            case "oci-tar":
                return f"oci:{self.oci_tar}"
            case "dir":
                return f"dir:{self.rootfs}"
            case "rootfs":
                return f"rootfs:{self.rootfs_tar}"
        raise ValueError(f"unknown packing {packing!r}: use one of {PACKINGS}")

    def layer_of(self, pkg: Pkg) -> str:
        """The diffID of the layer that added `pkg` and after which every layer still has it."""
        if pkg not in self.packages:
            raise KeyError(f"{pkg} is not in the final image")
        index = len(self.layers) - 1
        while index > 0 and pkg in self.layers[index - 1].packages:
            index -= 1
        return self.layers[index].diff_id


PACKINGS = ("docker-archive", "oci-dir", "oci-tar", "dir", "rootfs")
# The type of the `build_image` test fixture.
BuildImage = Callable[[Recipe], BuiltImage]


@dataclass(frozen=True, slots=True)
class MultiImageArchive:
    """A docker-archive holding several images, as `docker save A B` writes it."""

    path: Path
    images: tuple[tuple[str, BuiltImage], ...]  # (repo:tag in the archive, image)


def cache_root() -> Path:
    """Where built images are kept: $BASEWATCH_TEST_IMAGE_CACHE, else the user cache directory."""
    explicit = os.environ.get("BASEWATCH_TEST_IMAGE_CACHE")
    if explicit:
        return Path(explicit)
    xdg = os.environ.get("XDG_CACHE_HOME")
    base = Path(xdg) if xdg else Path.home() / ".cache"
    return base / "basewatch-test-images"


def missing_prerequisites() -> list[str]:
    """What keeps this machine from building images (empty when it can)."""
    problems = [f"{tool} is not installed" for tool in REQUIRED_TOOLS if shutil.which(tool) is None]
    if os.geteuid() != 0:
        problems.append("building images needs root (mmdebstrap root mode, umoci unpack)")
    return problems


def apt_sources(suite: str, sources_dir: Path = _DEFAULT_SOURCES_DIR) -> list[str]:
    """One-line apt sources for `suite` on the machine's own Debian mirrors.

    The mirrors come from the machine's apt configuration (one-line and deb822 files). An empty
    list means none was found; mmdebstrap then uses its built-in default.
    """
    archive = ""
    security = ""
    for uri, entry_suite in _configured_debian_sources(sources_dir):
        if entry_suite.endswith("-security") or entry_suite.endswith("/updates"):
            security = security or uri
        else:
            archive = archive or uri
    if not archive:
        return []
    lines = [f"deb {archive} {suite} main"]
    if suite not in _NO_UPDATES_SUITES:
        lines.append(f"deb {archive} {suite}-updates main")
        if security:
            lines.append(f"deb {security} {suite}-security main")
    return lines


def _configured_debian_sources(sources_dir: Path) -> Iterator[tuple[str, str]]:
    """(URI, suite) pairs of the enabled `deb` entries that point at Debian's archive."""
    files = [sources_dir / "sources.list"]
    parts = sources_dir / "sources.list.d"
    if parts.is_dir():
        files += sorted(parts.iterdir())
    for path in files:
        if not path.is_file():
            continue
        text = path.read_text(encoding="utf-8", errors="replace")
        if path.name.endswith(".sources"):
            entries = list(_deb822_entries(text))
        elif path.name.endswith(".list"):
            entries = list(_one_line_entries(text))
        else:
            continue
        for uri, suite in entries:
            base = suite.split("/")[0].split("-")[0]
            if base in _DEBIAN_SUITES:
                yield uri.rstrip("/"), suite


def _one_line_entries(text: str) -> Iterator[tuple[str, str]]:
    for raw in text.splitlines():
        words = raw.split("#", 1)[0].split()
        if not words or words[0] != "deb":
            continue
        words = words[1:]
        if words and words[0].startswith("["):
            while words and not words[0].endswith("]"):
                words = words[1:]
            words = words[1:]
        if len(words) >= 2:
            yield words[0], words[1]


def _deb822_entries(text: str) -> Iterator[tuple[str, str]]:
    for paragraph in text.split("\n\n"):
        fields: dict[str, str] = {}
        last = ""
        for line in paragraph.splitlines():
            if line.startswith("#") or not line.strip():
                continue
            if line[0].isspace() and last:
                fields[last] += " " + line.strip()
                continue
            name, _, value = line.partition(":")
            last = name.strip().lower()
            fields[last] = value.strip()
        if "deb" not in fields.get("types", "").split():
            continue
        if fields.get("enabled", "yes").lower() == "no":
            continue
        for uri in fields.get("uris", "").split():
            for suite in fields.get("suites", "").split():
                yield uri, suite


def build(recipe: Recipe, cache: Path | None = None) -> BuiltImage:
    """The image for `recipe`, from the cache or built now (then cached)."""
    cache = cache or cache_root()
    final = cache / f"{recipe.name}-{recipe.key()[:16]}"
    with _locked(cache, final.name):
        if (final / "image.json").is_file():
            image = _load(recipe, final)
            if _complete(image):
                return image
            logger.info("%s: cached build is incomplete, building again", recipe.name)
            shutil.rmtree(final)
        problems = missing_prerequisites()
        if problems:
            raise MissingPrerequisites(f"cannot build {recipe.name}: " + "; ".join(problems))
        started = time.monotonic()
        stage_tars = [_stage_tar(stage, cache) for stage in recipe.stages]
        work = cache / f".tmp-{final.name}-{os.getpid()}"
        shutil.rmtree(work, ignore_errors=True)
        work.mkdir(parents=True)
        try:
            meta = _assemble(recipe, stage_tars, work)
            meta["build_seconds"] = round(time.monotonic() - started, 1)
            (work / "image.json").write_text(json.dumps(meta, indent=1) + "\n", encoding="utf-8")
            work.rename(final)
        finally:
            shutil.rmtree(work, ignore_errors=True)
        _prune_older_builds(cache, recipe.name, keep=final)
        _prune_unused_stages(cache)
        logger.info("built %s in %.1f s at %s", recipe.name, meta["build_seconds"], final)
        return _load(recipe, final)


def build_multi_image_archive(
    images: Sequence[BuiltImage], cache: Path | None = None
) -> MultiImageArchive:
    """A docker-archive with all `images` inside, each under its short `repo:tag`.

    skopeo writes one image per archive, so this merges their archives as `docker save` would:
    one manifest.json entry per image, blobs shared by name.
    """
    cache = cache or cache_root()
    key = _digest({"format": FORMAT_VERSION, "images": [image.recipe.key() for image in images]})
    path = cache / f"multi-{key[:16]}.tar"
    pairs = tuple((image.recipe.repo_tag, image) for image in images)
    with _locked(cache, path.name):
        if path.is_file():
            return MultiImageArchive(path, pairs)
        tmp = path.with_name(f".tmp-{path.name}-{os.getpid()}")
        manifest: list[dict[str, Any]] = []
        repositories: dict[str, dict[str, str]] = {}
        seen: set[str] = set()
        try:
            with tarfile.open(tmp, "w", format=tarfile.PAX_FORMAT) as out:
                for repo_tag, image in pairs:
                    with tarfile.open(image.docker_archive) as src:
                        entries = json.load(_member(src, "manifest.json"))
                        if len(entries) != 1:
                            raise BuildError(
                                f"{image.docker_archive} holds {len(entries)} images, not 1"
                            )
                        entry = dict(entries[0])
                        entry["RepoTags"] = [repo_tag]
                        manifest.append(entry)
                        legacy = json.load(_member(src, "repositories"))
                        top = next(iter(next(iter(legacy.values())).values()))
                        repo, _, tag = repo_tag.rpartition(":")
                        repositories.setdefault(repo, {})[tag] = top
                        for member in src:
                            if (
                                member.name in ("manifest.json", "repositories")
                                or member.name in seen
                            ):
                                continue
                            seen.add(member.name)
                            out.addfile(
                                member, src.extractfile(member) if member.isfile() else None
                            )
                for name, data in (("manifest.json", manifest), ("repositories", repositories)):
                    blob = json.dumps(data).encode()
                    info = tarfile.TarInfo(name)
                    info.size = len(blob)
                    info.mode = 0o444
                    out.addfile(info, io.BytesIO(blob))
            tmp.rename(path)
        finally:
            tmp.unlink(missing_ok=True)
        for old in cache.glob("multi-*.tar"):  # from before a recipe changed
            if old != path and time.time() - old.stat().st_mtime > 86400:
                old.unlink(missing_ok=True)
    return MultiImageArchive(path, pairs)


def _member(archive: tarfile.TarFile, name: str) -> IO[bytes]:
    handle = archive.extractfile(name)
    if handle is None:
        raise BuildError(f"{archive.name!r} has no file {name}")
    return handle


def _stage_tar(stage: Stage, cache: Path) -> Path:
    """The root filesystem tarball of one stage, built with mmdebstrap unless cached."""
    stages = cache / "stages"
    path = stages / f"{stage.suite}-{stage.key()[:16]}.tar"
    with _locked(cache, path.name):
        if path.is_file():
            return path
        stages.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".tmp-{path.name}-{os.getpid()}.tar")
        command = [
            "mmdebstrap",
            f"--variant={stage.variant}",
            '--aptopt=Acquire::Retries "3"',
        ]
        if stage.include:
            command.append("--include=" + ",".join(stage.include))
        if stage.purge:
            command.append('--customize-hook=chroot "$1" dpkg --purge ' + " ".join(stage.purge))
        if stage.pip_target:
            # The host's pip (never the image's) fetches wheels only: nothing is built or run.
            command.append(
                f"--customize-hook={sys.executable} -m pip install --quiet --no-deps "
                f'--only-binary=:all: --no-compile --target "$1{PIP_TARGET}" '
                + " ".join(stage.pip_target)
            )
        sources = apt_sources(stage.suite)
        if stage.point_release_only:
            sources = sources[:1]
        command += [stage.suite, str(tmp), *sources]
        started = time.monotonic()
        try:
            _run(command, env={**os.environ, "SOURCE_DATE_EPOCH": SOURCE_DATE_EPOCH})
            tmp.rename(path)
        finally:
            tmp.unlink(missing_ok=True)
        logger.info("%s: %.1f s", stage.describe(), time.monotonic() - started)
        return path


def _assemble(recipe: Recipe, stage_tars: Sequence[Path], work: Path) -> dict[str, Any]:
    """Pack the stages as layers into `work` and return what image.json records."""
    layout = work / "oci"
    image = f"{layout}:{recipe.tag}"
    bundle = work / "bundle"
    _run(["umoci", "init", "--layout", str(layout)])
    _run(["umoci", "new", "--image", image])
    _run(["umoci", "unpack", "--image", image, str(bundle)])
    rootfs = bundle / "rootfs"
    stage_packages: list[frozenset[Pkg]] = []
    for stage, tar in zip(recipe.stages, stage_tars, strict=True):
        _empty_dir(rootfs)
        _run(
            [
                "tar",
                "-xpf",
                str(tar),
                "-C",
                str(rootfs),
                "--numeric-owner",
                "--xattrs",
                "--xattrs-include=*",
            ]
        )
        stage_packages.append(dpkg_query(rootfs))
        _run(
            [
                "umoci",
                "repack",
                "--refresh-bundle",
                f"--history.created_by={stage.describe()}",
                "--history.author=basewatch tests",
                "--image",
                image,
                str(bundle),
            ]
        )
    _run(["umoci", "config", "--no-history", "--image", image, "--config.cmd=/bin/bash"])
    _run(["umoci", "gc", "--layout", str(layout)])
    rootfs.rename(work / "rootfs")
    shutil.rmtree(bundle)
    _write_layout_tar(layout, work / "oci.tar")
    archive = work / "docker-archive.tar"
    _run(
        [
            "skopeo",
            "--insecure-policy",
            "copy",
            "--quiet",
            f"oci:{image}",
            f"docker-archive:{archive}:{recipe.repo_tag}",
        ]
    )
    manifest_digest, config_digest, diff_ids = _read_layout(layout, recipe.tag)
    if len(diff_ids) != len(recipe.stages):
        raise BuildError(f"{recipe.name}: {len(diff_ids)} layers for {len(recipe.stages)} stages")
    layers = []
    previous: frozenset[Pkg] = frozenset()
    for stage, diff_id, packages in zip(recipe.stages, diff_ids, stage_packages, strict=True):
        layers.append(
            {
                "diff_id": diff_id,
                "created_by": stage.describe(),
                "packages": sorted(packages),
                "added": sorted(packages - previous),
                "removed": sorted(previous - packages),
            }
        )
        previous = packages
    return {
        "name": recipe.name,
        "key": recipe.key(),
        "repo_tag": recipe.repo_tag,
        "manifest_digest": manifest_digest,
        "config_digest": config_digest,
        "rootfs_tar": os.path.relpath(stage_tars[-1], work),
        "stage_tars": [os.path.relpath(tar, work) for tar in stage_tars],
        "layers": layers,
    }


def dpkg_query(rootfs: Path) -> frozenset[Pkg]:
    """The installed packages of a root filesystem, as the host's dpkg-query reads its database."""
    out = _run(
        [
            "dpkg-query",
            f"--admindir={rootfs / 'var/lib/dpkg'}",
            "-W",
            "-f",
            "${db:Status-Status}\\t${Package}\\t${Version}\\t${Architecture}\\n",
        ]
    )
    packages = set()
    for line in out.splitlines():
        status, name, version, arch = line.split("\t")
        if status == "installed":
            packages.add(Pkg(name, version, arch))
    return frozenset(packages)


def _read_layout(layout: Path, tag: str) -> tuple[str, str, list[str]]:
    """(manifest digest, config digest, diffIDs) of the manifest tagged `tag`."""
    index = json.loads((layout / "index.json").read_text(encoding="utf-8"))
    for descriptor in index["manifests"]:
        if descriptor.get("annotations", {}).get("org.opencontainers.image.ref.name") == tag:
            manifest = json.loads(_blob(layout, descriptor["digest"]))
            config_digest = manifest["config"]["digest"]
            config = json.loads(_blob(layout, config_digest))
            return descriptor["digest"], config_digest, list(config["rootfs"]["diff_ids"])
    raise BuildError(f"{layout} has no manifest tagged {tag}")


def _blob(layout: Path, digest: str) -> bytes:
    algorithm, _, hexdigest = digest.partition(":")
    return (layout / "blobs" / algorithm / hexdigest).read_bytes()


def _write_layout_tar(layout: Path, target: Path) -> None:
    """Tar an OCI layout with `oci-layout`, `index.json` and `blobs/` at the top of the tar."""

    def reset(info: tarfile.TarInfo) -> tarfile.TarInfo:
        info.uid = info.gid = 0
        info.uname = info.gname = "root"
        info.mtime = int(SOURCE_DATE_EPOCH)
        return info

    with tarfile.open(target, "w", format=tarfile.PAX_FORMAT) as out:
        for name in ("oci-layout", "index.json"):
            out.add(layout / name, arcname=name, filter=reset)
        out.add(layout / "blobs", arcname="blobs", recursive=False, filter=reset)
        for directory in sorted((layout / "blobs").iterdir()):
            out.add(directory, arcname=f"blobs/{directory.name}", recursive=False, filter=reset)
            for blob in sorted(directory.iterdir()):
                out.add(blob, arcname=f"blobs/{directory.name}/{blob.name}", filter=reset)


def _load(recipe: Recipe, root: Path) -> BuiltImage:
    meta = json.loads((root / "image.json").read_text(encoding="utf-8"))

    def pkgs(rows: Iterable[Sequence[str]]) -> frozenset[Pkg]:
        return frozenset(Pkg(*row) for row in rows)

    layers = tuple(
        LayerRecord(
            diff_id=layer["diff_id"],
            created_by=layer["created_by"],
            packages=pkgs(layer["packages"]),
            added=pkgs(layer["added"]),
            removed=pkgs(layer["removed"]),
        )
        for layer in meta["layers"]
    )
    return BuiltImage(
        recipe=recipe,
        root=root,
        manifest_digest=meta["manifest_digest"],
        config_digest=meta["config_digest"],
        layers=layers,
        build_seconds=float(meta.get("build_seconds", 0.0)),
        rootfs_tar=(root / meta["rootfs_tar"]).resolve(),
    )


def _complete(image: BuiltImage) -> bool:
    paths = (image.oci_dir / "index.json", image.oci_tar, image.docker_archive, image.rootfs_tar)
    return all(path.exists() for path in paths) and (image.rootfs / "var/lib/dpkg").is_dir()


def _prune_older_builds(cache: Path, name: str, keep: Path) -> None:
    """Remove builds of the same recipe from before its last change, so the cache stays bounded."""
    for old in cache.glob(f"{name}-*"):
        suffix = old.name[len(name) + 1 :]
        if old != keep and old.is_dir() and len(suffix) == 16 and (old / "image.json").is_file():
            shutil.rmtree(old, ignore_errors=True)


def _prune_unused_stages(cache: Path, min_age_seconds: float = 86400) -> None:
    """Remove stage tarballs no cached image uses any more (left by changed recipes).

    Only old ones: a stage built a moment ago may belong to a build still running elsewhere.
    """
    used: set[str] = set()
    for meta in cache.glob("*/image.json"):
        with contextlib.suppress(OSError, ValueError, KeyError):
            used.update(Path(tar).name for tar in json.loads(meta.read_text())["stage_tars"])
    for path in cache.glob("stages/*.tar"):
        if path.name not in used and time.time() - path.stat().st_mtime > min_age_seconds:
            path.unlink(missing_ok=True)


def _empty_dir(path: Path) -> None:
    for child in path.iterdir():
        if child.is_dir() and not child.is_symlink():
            shutil.rmtree(child)
        else:
            child.unlink()


@contextlib.contextmanager
def _locked(cache: Path, name: str) -> Iterator[None]:
    """Serialise builds of one artifact across processes (parallel test runs share the cache)."""
    locks = cache / ".locks"
    locks.mkdir(parents=True, exist_ok=True)
    with open(locks / name, "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _run(command: Sequence[str], env: dict[str, str] | None = None) -> str:
    result = subprocess.run(
        command, stdin=subprocess.DEVNULL, capture_output=True, text=True, env=env, check=False
    )
    if result.returncode != 0:
        tail = "\n".join(result.stderr.strip().splitlines()[-25:])
        raise BuildError(
            f"{command[0]} failed (exit {result.returncode}): {' '.join(command)}\n{tail}"
        )
    return result.stdout


def _digest(data: object) -> str:
    return hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description="Build (or find in the cache) basewatch test images."
    )
    parser.add_argument(
        "names", nargs="*", help=f"recipes to build (default: all but large): {', '.join(RECIPES)}"
    )
    parser.add_argument(
        "--cache-dir", type=Path, help="image cache (default: %(default)s)", default=cache_root()
    )
    parser.add_argument(
        "--ref", choices=PACKINGS, help="print only this packing's image reference, one a line"
    )
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s", stream=sys.stderr)
    names = args.names or [name for name in RECIPES if name != BOOKWORM_LARGE.name]
    for name in names:
        if name not in RECIPES:
            parser.error(f"unknown recipe {name!r}: use one of {', '.join(RECIPES)}")
    try:
        for name in names:
            started = time.monotonic()
            image = build(RECIPES[name], args.cache_dir)
            if args.ref:
                print(image.ref(args.ref))
                continue
            print(
                f"{name}: {len(image.layers)} layer(s), {len(image.packages)} packages, "
                f"built in {image.build_seconds:.1f} s "
                f"(this call {time.monotonic() - started:.1f} s), "
                f"{image.root}"
            )
    except BuildError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
