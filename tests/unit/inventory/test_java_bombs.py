"""Many small zip bombs in one image: a bounded, partial scan, not minutes of inflating."""

from __future__ import annotations

import io
import time
import zipfile
from pathlib import Path

from tests.bounded import run_bounded
from tests.imagebuild import DEBIAN_OS_RELEASE, build_image, file, write_docker_archive


def zipped(entries: dict[str, bytes], compression: int) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression) as zf:
        for name, data in entries.items():
            zf.writestr(name, data)
    return buf.getvalue()


def test_twenty_jar_bombs_are_refused_quickly(tmp_path: Path) -> None:
    # Each jar nests four 64 MiB jars deflated about 1000:1: 5 GiB to inflate in all.
    inner = zipped({"data.bin": bytes(64 << 20)}, zipfile.ZIP_STORED)
    bomb = zipped({f"lib/b{i}-1.0.jar": inner for i in range(4)}, zipfile.ZIP_DEFLATED)
    del inner
    assert len(bomb) < 1 << 20
    members = [file("etc/os-release", DEBIAN_OS_RELEASE)]
    members += [file(f"app/lib/bomb{i}-1.0.jar", bomb) for i in range(20)]
    built = build_image([members])
    archive = write_docker_archive(tmp_path / "img.tar", [(built, ["test/bombs:1"])])
    started = time.monotonic()
    result = run_bounded(
        ["sbom", f"docker-archive:{archive}", "-f", "json", "--cache-dir", str(tmp_path / "c")],
        timeout=30,
        memory_mb=1024,
    )
    result.check_refused(4)
    assert time.monotonic() - started < 20
    assert "zip bomb" in result.stderr + result.stdout
    assert not list((tmp_path / "c").rglob("*.zip"))
