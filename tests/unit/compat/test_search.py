"""The loader model's seams over hand-made filesystems: ld.so.conf reading, the glibc default
directories and the libc an image provides, per architecture, from the one architecture table."""

from __future__ import annotations

import json

from basewatch.arch import EM_AARCH64, EM_X86_64
from basewatch.compat.facts import ELF_FACT, LDCACHE_FACT, TEXT_FACT, ImageFiles, elf_to_dict
from basewatch.compat.glibc_search import GlibcSearch
from basewatch.compat.ldconf import read_ld_so_conf, uncached_warnings
from basewatch.compat.loader import LoaderModel
from basewatch.compat.model import LibcFamily
from basewatch.elf.ldcache import CacheEntry
from basewatch.elf.reader import ET_DYN, ElfInfo
from basewatch.inventory.detector import FileResult
from basewatch.models import EntryKind
from basewatch.oci.layer import FileEntry

Tree = dict[str, ElfInfo | str]  # path -> ELF facts, or the text of a config file


def _files(tree: Tree, cache: tuple[CacheEntry, ...] | None = None) -> ImageFiles:
    dirs = sorted({p.rsplit("/", i)[0] for p in tree for i in range(1, p.count("/"))} - {""})
    entries = [FileEntry(d, EntryKind.DIR, mode=0o755) for d in dirs]
    results = []
    for path, content in tree.items():
        entries.append(FileEntry(path, EntryKind.FILE, size=100, mode=0o755))
        if isinstance(content, ElfInfo):
            fact = (ELF_FACT, json.dumps(elf_to_dict(content)))
        else:
            fact = (TEXT_FACT, content)
        results.append(FileResult(path, "compat-elf", facts=(fact,)))
    if cache is not None:
        entries.append(FileEntry("/etc/ld.so.cache", EntryKind.FILE, size=100))
        rows = json.dumps([[e.name, e.path, e.flags] for e in cache])
        results.append(FileResult("/etc/ld.so.cache", "compat-elf", facts=((LDCACHE_FACT, rows),)))
    return ImageFiles.from_layers([(entries, results)])


def _library(machine: int, soname: str = "") -> ElfInfo:
    return ElfInfo(bits=64, little_endian=True, type=ET_DYN, machine=machine, soname=soname)


def test_ld_so_conf_includes_comments_and_separators() -> None:
    files = _files(
        {
            "/etc/ld.so.conf": "include /etc/ld.so.conf.d/*.conf\n/usr/local/lib # local\n",
            "/etc/ld.so.conf.d/a.conf": "/opt/a\nhwcap 0 nosegneg\n",
            "/etc/ld.so.conf.d/b.conf": "/opt/b:/opt/c, /opt/a/\ninclude /etc/ld.so.conf\n",
            "/etc/ld.so.conf.d/notes.txt": "/opt/never\n",
        }
    )
    assert read_ld_so_conf(files) == ["/opt/a", "/opt/b", "/opt/c", "/usr/local/lib"]


def test_libraries_the_cache_lacks_are_a_warning() -> None:
    tree: Tree = {
        "/etc/ld.so.conf": "/opt/a\n/opt/b\n",
        "/opt/a/libx.so.1": _library(EM_X86_64, "libx.so.1"),
        "/opt/a/liby.so.1": _library(EM_X86_64, "liby.so.1"),
        "/opt/b/libz.so.1": _library(EM_X86_64, "libz.so.1"),
    }
    cache = (CacheEntry("libz.so.1", "/opt/b/libz.so.1", 0x0303),)
    files = _files(tree, cache)
    assert uncached_warnings(files, cache, read_ld_so_conf(files)) == [
        "/opt/a (listed in /etc/ld.so.conf) holds 2 libraries that /etc/ld.so.cache lacks "
        "(libx.so.1, liby.so.1): glibc finds them there only after ldconfig runs in the image"
    ]
    assert uncached_warnings(files, None, read_ld_so_conf(files)) == []


def test_default_directories_follow_the_objects_architecture() -> None:
    search = GlibcSearch(_files({}), (), None, target=(EM_X86_64, 64))
    assert search.default_dirs(_library(EM_AARCH64)) == [
        "/lib/aarch64-linux-gnu", "/usr/lib/aarch64-linux-gnu",
        "/lib64", "/usr/lib64", "/lib", "/usr/lib",
    ]  # fmt: skip
    unknown = ElfInfo(bits=64, little_endian=True, type=ET_DYN, machine=0)
    assert search.default_dirs(unknown)[:2] == [
        "/lib/x86_64-linux-gnu",
        "/usr/lib/x86_64-linux-gnu",
    ]
    assert GlibcSearch(_files({}), (), None, None).default_dirs(unknown) == [
        "/lib64", "/usr/lib64", "/lib", "/usr/lib",
    ]  # fmt: skip


def test_a_glibc_loader_without_libc_is_glibc_on_every_architecture() -> None:
    """The loader's path comes from the image's row (it was the x86-64 path only)."""
    for arch, machine, loader in [
        ("amd64", EM_X86_64, "/lib64/ld-linux-x86-64.so.2"),
        ("arm64", EM_AARCH64, "/lib/ld-linux-aarch64.so.1"),
    ]:
        files = _files({loader: _library(machine, "ld-linux.so")})
        assert LoaderModel(files, arch).libc.family is LibcFamily.GLIBC, arch
        assert LoaderModel(_files({}), arch).libc.family is LibcFamily.NONE


def test_the_musl_loader_of_the_images_architecture_is_its_libc() -> None:
    tree: Tree = {
        "/lib/ld-musl-aarch64.so.1": _library(EM_AARCH64, "libc.musl-aarch64.so.1"),
        "/lib/ld-musl-x86_64.so.1": _library(EM_X86_64, "libc.musl-x86_64.so.1"),
    }
    assert LoaderModel(_files(tree), "amd64").libc.path == "/lib/ld-musl-x86_64.so.1"
    assert LoaderModel(_files(tree), "arm64").libc.path == "/lib/ld-musl-aarch64.so.1"
