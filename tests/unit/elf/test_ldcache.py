"""glibc's ld.so.cache: the host's real cache against `ldconfig -p`, and broken caches."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

from basewatch.elf.ldcache import cache_flags_for, parse_ld_cache
from basewatch.errors import MalformedLdCache

HOST_CACHE = Path("/etc/ld.so.cache")


def host_cache() -> bytes:
    if not HOST_CACHE.is_file() or shutil.which("ldconfig") is None:
        pytest.skip("no glibc ld.so.cache and ldconfig on this host")
    return HOST_CACHE.read_bytes()


def test_agrees_with_ldconfig() -> None:
    entries = parse_ld_cache(host_cache())
    listing = subprocess.run(["ldconfig", "-p"], capture_output=True, text=True, check=True)
    expected = re.findall(r"^\s+(\S+) \(([^)]*)\) => (\S+)$", listing.stdout, re.MULTILINE)
    assert [(e.name, e.path) for e in entries] == [(n, p) for n, _, p in expected]
    x86_64 = cache_flags_for(62, 64)
    assert x86_64 == 0x0303
    assert all(e.flags == x86_64 for e, (_, kind, _) in zip(entries, expected, strict=True)
               if kind == "libc6,x86-64")  # fmt: skip


def test_broken_caches() -> None:
    data = host_cache()
    with pytest.raises(MalformedLdCache):
        parse_ld_cache(b"not a cache")
    with pytest.raises(MalformedLdCache):
        parse_ld_cache(data[:60])  # the entries are cut off
    corrupt = bytearray(data)
    corrupt[48 + 4 : 48 + 8] = (0xFFFFFFF).to_bytes(4, "little")  # first key far outside
    with pytest.raises(MalformedLdCache):
        parse_ld_cache(bytes(corrupt))
