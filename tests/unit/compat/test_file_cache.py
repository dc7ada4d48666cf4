"""ELF facts cached by content digest: bytes analysed once are never parsed again."""

from __future__ import annotations

import io
import shutil
from pathlib import Path
from typing import BinaryIO

import pytest

from basewatch.compat.detector import FILE_CACHE_KIND, ElfDetector
from basewatch.elf.reader import ElfInfo, parse_elf
from basewatch.inventory.apk import ApkDetector
from basewatch.inventory.detector import AnalysisContext
from basewatch.jobs.compat import CompatChecker
from basewatch.jobs.inventory import Scanner
from basewatch.store.analysis import AnalysisCache
from tests.unit.compat.realbin import HELLO, compile_c, need_x86_64, oci_image


class CountingParser:
    def __init__(self) -> None:
        self.calls = 0

    def __call__(self, f: BinaryIO, symbols: bool) -> ElfInfo:
        self.calls += 1
        return parse_elf(f, symbols=symbols)


def checker(tmp_path: Path, parse: CountingParser) -> CompatChecker:
    """No per-layer cache (every layer is read), only the per-file one."""
    scanner = Scanner.default(cache_dir=tmp_path / "cache", use_cache=False)
    files = AnalysisCache(tmp_path / "cache")
    scanner.detectors = [ElfDetector(cache=files, parse=parse), ApkDetector()]
    return CompatChecker(scanner)


def test_identical_content_is_parsed_once(tmp_path: Path) -> None:
    need_x86_64()
    one, two = tmp_path / "one", tmp_path / "two"
    compile_c(one / "app/hello", HELLO)
    compile_c(one / "app/bye", HELLO.replace("hello", "bye!!"))
    (two / "elsewhere").mkdir(parents=True)
    shutil.copy(one / "app/hello", two / "elsewhere/hello-copy")  # same bytes, other path
    first_ref = oci_image(tmp_path / "oci1", [one])
    second_ref = oci_image(tmp_path / "oci2", [two, one])  # other image, other layers
    parse = CountingParser()
    first = checker(tmp_path, parse).check(first_ref)
    assert parse.calls == 2
    second = checker(tmp_path, parse).check(second_ref)
    assert parse.calls == 2  # every ELF of the second image was seen before
    assert {f.path for f in second.files} == {"/app/hello", "/app/bye", "/elsewhere/hello-copy"}
    by_path = {f.path: f for f in first.files}
    for f in second.files:
        original = by_path.get(f.path, by_path["/app/hello"])
        causes = [p.cause for p in f.problems]
        assert (f.kind, f.needed, causes) == (
            original.kind,
            original.needed,
            [p.cause for p in original.problems],
        )
    assert len(list((tmp_path / "cache" / FILE_CACHE_KIND).rglob("*.json"))) == 2


def test_spooled_files_are_keyed_by_their_digest(tmp_path: Path) -> None:
    """Files too large to keep in memory are hashed while they are spooled."""
    need_x86_64()
    import basewatch.compat.detector as detector

    exe = compile_c(tmp_path / "hello", HELLO)
    data = exe.read_bytes()
    parse = CountingParser()
    elf = ElfDetector(cache=AnalysisCache(tmp_path / "cache"), parse=parse)
    ctx = AnalysisContext(tmp_path / "scratch")
    small = elf.analyze("/a", io.BytesIO(data), len(data), ctx)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(detector, "IN_MEMORY_BYTES", 1024)
        large = elf.analyze("/b", io.BytesIO(data), len(data), ctx)
    assert parse.calls == 1
    assert small is not None and large is not None and small.facts == large.facts


def test_a_corrupt_cache_entry_is_a_miss(tmp_path: Path) -> None:
    need_x86_64()
    exe = compile_c(tmp_path / "hello", HELLO)
    data = exe.read_bytes()
    parse = CountingParser()
    elf = ElfDetector(cache=AnalysisCache(tmp_path / "cache"), parse=parse)
    ctx = AnalysisContext(tmp_path / "scratch")
    first = elf.analyze("/a", io.BytesIO(data), len(data), ctx)
    for entry in (tmp_path / "cache" / FILE_CACHE_KIND).rglob("*.json"):
        entry.write_text('{"facts": 3}')
    again = elf.analyze("/a", io.BytesIO(data), len(data), ctx)
    assert parse.calls == 2 and first == again
