"""The version comparators against the real tools, on thousands of generated pairs.

- dpkg: `dpkg --compare-versions`, batched through shell scripts (one dpkg per pair, no Python
  per pair). For each pair dpkg is asked the relation basewatch predicts, so any disagreement
  shows; where basewatch raises InvalidVersion, dpkg must fail with a syntax error.
- rpm: `rpm.labelCompare` of Debian's python3-rpm, in one /usr/bin/python3 process, with
  versions split by rpm's own parser (`rpm.ver`).
- Maven: ComparableVersion's main() from Debian's maven-artifact jar, which compares adjacent
  arguments, in one JVM.
- apk: `apk version -t` of apk-tools 2.14.4 inside the real Alpine 3.20.3 minirootfs, run under
  chroot by the image's own /bin/sh reading pairs from a file (one apk per pair, no Python per
  pair), on every pair of versions of one package in the shared Alpine data (secdb fixes and
  installed versions), near misses of them, and apk-tools' own test vectors. The verdicts are
  cached by the rootfs and the pair set, so a rerun costs nothing. Needs root (chroot).

Versions are generated from a fixed seed, so a failure reproduces. Needs the apt packages dpkg
(always there on Debian), rpm and python3-rpm, and libmaven3-core-java with a Java runtime
(default-jre-headless); each test skips with the reason when its tool is missing.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import os
import platform
import random
import re
import shlex
import shutil
import subprocess
import tarfile
import tempfile
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from basewatch.errors import InvalidVersion
from basewatch.versions.apk import ApkComparator
from basewatch.versions.dpkg import DpkgComparator
from basewatch.versions.maven import MavenComparator
from basewatch.versions.rpm import RpmComparator, parse_evr
from tests.fixtures import shared_fixture
from tests.integration.images import cache_root

pytestmark = pytest.mark.integration

DPKG = shutil.which("dpkg")
SYSTEM_PYTHON = Path("/usr/bin/python3")
JAVA = shutil.which("java")
MAVEN_ARTIFACT_JARS = (
    Path("/usr/share/java/maven3-artifact.jar"),
    Path("/usr/share/java/maven-artifact.jar"),
)

Pair = tuple[str, str]


def _mutate(rng: random.Random, version: str, tails: tuple[str, ...]) -> str:
    """A version close to `version`: the pairs where comparators disagree are near misses."""
    choice = rng.randrange(6)
    if choice == 0 or not version:
        return version + rng.choice(tails)
    if choice == 1:
        return version[:-1]
    if choice == 2:  # change one digit
        digits = [i for i, c in enumerate(version) if c.isdigit()]
        if digits:
            i = rng.choice(digits)
            return version[:i] + rng.choice("0123456789") + version[i + 1 :]
        return version + "0"
    if choice == 3:  # insert a tail in the middle
        i = rng.randrange(len(version) + 1)
        return version[:i] + rng.choice(tails) + version[i:]
    if choice == 4:
        return version
    return version.upper() if rng.random() < 0.5 else version.swapcase()


def _pairs(
    rng: random.Random, make: Callable[[], str], tails: tuple[str, ...], n: int
) -> list[Pair]:
    pairs = []
    for _ in range(n):
        a = make()
        b = make() if rng.random() < 0.4 else _mutate(rng, a, tails)
        pairs.append((a, b) if rng.random() < 0.5 else (b, a))
    return pairs


# ---------------------------------------------------------------------------------- dpkg

_DEB_TAILS = ("~", "~rc1", "~~", ".0", "+b1", "a", "+", "-1", "0", "+dfsg", "~bpo12+1", ".", "-0")
_DEB_REVISIONS = (
    "1",
    "2",
    "0",
    "1ubuntu2",
    "0ubuntu0.22.04.1",
    "1+deb12u1",
    "1+deb12u2",
    "1+b1",
    "1+b12",
    "0.1",
    "1~bpo11+1",
    "2build1",
    "1.1",
    "3~",
    "10",
    "1~exp1",
)


def _deb_upstream(rng: random.Random) -> str:
    parts = [str(rng.choice((0, 1, 1, 2, 3, 9, 10, 20230101, 99)))]
    for _ in range(rng.randrange(4)):
        sep = rng.choice(".......+~")
        token = rng.choice(("0", "1", "2", "5", "10", "01", "12", "a", "b", "rc1", "dfsg", "git"))
        parts.append(sep + token)
    if rng.random() < 0.15:
        parts.append(rng.choice(("a", "b", "z", "zh", "p1")))
    if rng.random() < 0.08:
        parts.append("-" + rng.choice(("beta", "1", "rc2")))  # upstream with a hyphen
    return "".join(parts)


def _deb_odd(rng: random.Random) -> str:
    """Versions dpkg warns about or refuses."""
    odd = [
        "1.0-",
        "1:",
        ":1.0",
        "a:1.0",
        "-1:1.0",
        "+1:1.0",
        "1a:1.0",
        "99999999999:1",
        "2147483647:1",
        "2147483648:1",
        " 1.0-1 ",
        "1.0 1",
        "1:-1",
        "A1.0",
        "abc",
        "1.0_1",
        "1.0-1_2",
        "1.0-a-b",
        "1:2:3",
        "1.0-1:2",
        "00:1",
        "~1",
        "1.0-~",
    ]
    if platform.machine() in ("x86_64", "AMD64"):  # where dpkg's char is signed
        odd += ["1.0é", "1.0-é1", "1.é"]
    return rng.choice(odd)


def _deb_version(rng: random.Random) -> str:
    if rng.random() < 0.06:
        return _deb_odd(rng)
    epoch = rng.choice(("", "", "", "", "1:", "2:", "0:", "10:"))
    revision = "" if rng.random() < 0.3 else "-" + rng.choice(_DEB_REVISIONS)
    return epoch + _deb_upstream(rng) + revision


def _run_scripts(lines: list[str], workers: int) -> list[str]:
    """Run shell lines in `workers` parallel sh processes; one output line per input line."""
    size = -(-len(lines) // workers)
    chunks = [lines[i : i + size] for i in range(0, len(lines), size)]

    def run(chunk: list[str]) -> list[str]:
        with tempfile.NamedTemporaryFile("w", suffix=".sh", delete=False) as script:
            script.write("\n".join(chunk) + "\n")
        try:
            result = subprocess.run(
                ["sh", script.name],
                capture_output=True,
                text=True,
                check=True,
                env={**os.environ, "LC_ALL": "C"},
            )
        finally:
            os.unlink(script.name)
        return result.stdout.splitlines()

    with ThreadPoolExecutor(workers) as pool:
        return [line for out in pool.map(run, chunks) for line in out]


def test_dpkg_agrees_with_dpkg_compare_versions() -> None:
    if DPKG is None:
        pytest.skip("dpkg is not installed (it is on every Debian system)")
    rng = random.Random(20240601)
    # dpkg's command line reads "" as the blank version; basewatch refuses it (see dpkg.py)
    pairs = [p for p in _pairs(rng, lambda: _deb_version(rng), _DEB_TAILS, 12_500) if all(p)]
    assert len(pairs) > 10_000
    comparator = DpkgComparator()
    ops = {-1: "lt", 0: "eq", 1: "gt"}
    lines, predicted = [], []
    for a, b in pairs:
        try:
            op = ops[comparator.compare(a, b)]
        except InvalidVersion:
            op = None
        predicted.append(op)
        line = f"{DPKG} --compare-versions -- {shlex.quote(a)} {op or 'lt'} {shlex.quote(b)}"
        lines.append(line + " 2>/dev/null; echo $?")
    codes = _run_scripts(lines, max(2, os.cpu_count() or 2))
    assert len(codes) == len(pairs)
    wrong = []
    for (a, b), op, code in zip(pairs, predicted, codes, strict=True):
        if op is None and code != "2":
            wrong.append(f"{a!r} vs {b!r}: basewatch says invalid, dpkg exits {code}")
        elif op is not None and code != "0":
            wrong.append(f"{a!r} {op} {b!r}: dpkg disagrees (exit {code})")
    assert not wrong, f"{len(wrong)} of {len(pairs)} pairs differ:\n" + "\n".join(wrong[:60])
    assert predicted.count(None) > 100, "the generator should exercise invalid versions"
    assert predicted.count("eq") > 200, "the generator should produce equal pairs"


# ----------------------------------------------------------------------------------- rpm

_RPM_TAILS = ("~", "~rc1", "^", "^git1", ".0", "a", "_1", "+", "1", "~~", "^^", ".", "-1")
_RPM_RELEASES = (
    "1",
    "1.el9",
    "1.el8_4",
    "2.el8_4.1",
    "150400.3.2",
    "1.cm2",
    "0.rc1.fc39",
    "1^20230101git",
    "3.module+el8.5.0+1234+abcd",
    "0.1.alpha",
    "10",
    "1.0.1.el8",
    "1~beta",
)


def _rpm_version(rng: random.Random) -> str:
    parts = [str(rng.choice((0, 1, 1, 2, 3, 10, 20230101)))]
    for _ in range(rng.randrange(5)):
        sep = rng.choice(("", ".", ".", ".", "_", "+", "~", "^", "..", "%", "{"))
        token = rng.choice(("0", "1", "2", "10", "001", "a", "b", "rc", "Beta", "git", "Z", ""))
        parts.append(sep + token)
    epoch = rng.choice(("", "", "", "0:", "1:", "2:", "01:", ":"))
    release = "" if rng.random() < 0.2 else "-" + rng.choice(_RPM_RELEASES)
    return epoch + "".join(parts) + release


SPLIT_AND_COMPARE = """
import sys, rpm
for line in sys.stdin:
    a, b = line.rstrip("\\n").split("\\t")
    va, vb = rpm.ver(a), rpm.ver(b)
    r = rpm.labelCompare((va.e, va.v, va.r), (vb.e, vb.v, vb.r))
    print(r, va.e, va.v, va.r, sep="\\t")
"""


def test_rpm_agrees_with_rpm_label_compare() -> None:
    if not SYSTEM_PYTHON.exists() or shutil.which("rpm") is None:
        pytest.skip("rpm is not installed (apt-get install rpm python3-rpm)")
    probe = subprocess.run([SYSTEM_PYTHON, "-c", "import rpm"], capture_output=True, check=False)
    if probe.returncode != 0:
        pytest.skip("Debian's python3 has no rpm module (apt-get install python3-rpm)")
    rng = random.Random(20240602)
    comparator = RpmComparator()
    pairs = []
    for a, b in _pairs(rng, lambda: _rpm_version(rng), _RPM_TAILS, 30_000):
        try:
            comparator.key(a), comparator.key(b)
        except InvalidVersion:
            continue  # rpm parses anything; basewatch refuses what no package can carry
        pairs.append((a, b))
    assert len(pairs) > 20_000
    result = subprocess.run(
        [SYSTEM_PYTHON, "-c", SPLIT_AND_COMPARE],
        input="".join(f"{a}\t{b}\n" for a, b in pairs),
        capture_output=True,
        text=True,
        check=True,
    )
    rows = result.stdout.splitlines()
    assert len(rows) == len(pairs)
    wrong = []
    for (a, b), row in zip(pairs, rows, strict=True):
        expected, e, v, r = row.split("\t")
        ours = comparator.compare(a, b)
        if ours != int(expected):
            wrong.append(f"{a!r} vs {b!r}: rpm {expected}, basewatch {ours}")
        split = parse_evr(a)
        if split != (int(e) if e != "None" else 0, v, None if r == "None" else r):
            wrong.append(f"{a!r}: rpm splits it as {(e, v, r)}, basewatch as {split}")
    assert not wrong, f"{len(wrong)} of {len(pairs)} pairs differ:\n" + "\n".join(wrong[:60])


# --------------------------------------------------------------------------------- Maven

_MAVEN_QUALIFIERS = (
    "alpha",
    "a",
    "beta",
    "b",
    "milestone",
    "m",
    "rc",
    "cr",
    "RC",
    "snapshot",
    "SNAPSHOT",
    "ga",
    "final",
    "Final",
    "release",
    "RELEASE",
    "sp",
    "foo",
    "xyz",
    "jre",
    "redhat",
    "",
)
_MAVEN_NUMBERS = (
    "0",
    "1",
    "2",
    "10",
    "00",
    "01",
    "1234567890",
    "12345678901234567890",
    "000000000000",
)
_MAVEN_TAILS = ("-1", ".0", "-SNAPSHOT", "-sp", "a1", ".Final", "-", ".", "-0", "1")


def _maven_version(rng: random.Random) -> str:
    out = rng.choice(_MAVEN_NUMBERS[:4])
    for _ in range(rng.randrange(6)):
        sep = rng.choice((".", ".", "-", "-", ""))
        token = rng.choice(_MAVEN_NUMBERS if rng.random() < 0.5 else _MAVEN_QUALIFIERS)
        out += sep + token
    return out or "0"


def _maven_jar() -> Path:
    for jar in MAVEN_ARTIFACT_JARS:
        if jar.exists():
            return jar
    pytest.skip("Maven's artifact jar is missing (apt-get install libmaven3-core-java)")


def _chain(rng: random.Random, n: int) -> Iterator[str]:
    """A sequence whose neighbours are mostly near each other: main() compares neighbours."""
    current = _maven_version(rng)
    for _ in range(n):
        yield current
        current = _maven_version(rng) if rng.random() < 0.3 else _mutate(rng, current, _MAVEN_TAILS)
        current = current.replace(" ", "") or "1"


def test_maven_agrees_with_comparable_version() -> None:
    if JAVA is None:
        pytest.skip("no Java runtime (apt-get install default-jre-headless libmaven3-core-java)")
    jar = _maven_jar()
    rng = random.Random(20240603)
    versions = list(_chain(rng, 6_000))
    comparator = MavenComparator()
    wrong = []
    for start in range(0, len(versions), 2_000):  # keep each command line modest
        batch = versions[start : start + 2_001]
        result = subprocess.run(
            [
                JAVA,
                "-cp",
                str(jar),
                "org.apache.maven.artifact.versioning.ComparableVersion",
                *batch,
            ],
            capture_output=True,
            text=True,
            check=True,
        )
        verdicts = [line for line in result.stdout.splitlines() if line.startswith("   ")]
        assert len(verdicts) == len(batch) - 1
        for (a, b), line in zip(itertools.pairwise(batch), verdicts, strict=True):
            ours = {-1: "<", 0: "==", 1: ">"}[comparator.compare(a, b)]
            if line != f"   {a} {ours} {b}":
                wrong.append(f"Maven: {line.strip()!r}; basewatch: {a} {ours} {b}")
    assert not wrong, f"{len(wrong)} pairs differ:\n" + "\n".join(wrong[:60])


# ----------------------------------------------------------------------------------- apk

ALPINE_ROOTFS = "images/alpine-minirootfs-3.20.3-x86_64.tar.gz"
_LETTER_DIGITS = re.compile(r"[a-z][0-9]+-r[0-9]")
_APK_TAILS = ("-r1", "p1", "p2-r0", "_p1", "_rc1", "a", ".1", ".0", "_git20200101", "-r10", "1")


def _installed_versions(text: str) -> Iterator[tuple[str, str]]:
    """(origin, version) of each package of an apk `installed` database."""
    fields: dict[str, str] = {}
    for line in [*text.splitlines(), ""]:
        if not line:
            if "V" in fields:
                yield fields.get("o") or fields.get("P", ""), fields["V"]
            fields = {}
        elif line[1:2] == ":":
            fields.setdefault(line[0], line[2:])


def _alpine_versions(rootfs: Path) -> dict[str, set[str]]:
    """Every version of each package (by origin) in the shared Alpine data: secdb fixes, the
    installed databases of pkgdb/apk and of the minirootfs itself."""
    versions: dict[str, set[str]] = {}
    for feed in ("main", "community"):
        data = json.loads(shared_fixture(f"alpine-secdb-2020/{feed}.json").read_text())
        for item in data["packages"]:
            pkg = item["pkg"]
            versions.setdefault(pkg["name"], set()).update(pkg.get("secfixes") or {})
    databases = [p.read_text() for p in sorted(shared_fixture("pkgdb/apk").iterdir())]
    with tarfile.open(rootfs) as tar:
        member = tar.extractfile("./lib/apk/db/installed")
        assert member is not None
        databases.append(member.read().decode())
    for text in databases:
        for origin, version in _installed_versions(text):
            versions.setdefault(origin, set()).add(version)
    return versions


def _apk_pairs(rootfs: Path) -> tuple[list[Pair], int]:
    """(all pairs to ask apk about, how many of them are pairs of real versions)."""
    real: set[Pair] = set()
    for found in _alpine_versions(rootfs).values():
        real.update(itertools.combinations(sorted(found), 2))
    rng = random.Random(20240604)
    near = set()
    for a, _ in sorted(real):
        near.add((a, _mutate(rng, a, _APK_TAILS)))
    vectors = set()
    for line in shared_fixture("versions/apk-version.data").read_text().splitlines():
        fields = line.split("#", 1)[0].split()
        if len(fields) == 3:
            vectors.add((fields[0], fields[2]))
    ordered = sorted(real) + sorted(near - real) + sorted(vectors - real - near)
    # the shell reads a pair as two words: versions with blanks cannot be passed (none are real)
    usable = [(a, b) for a, b in ordered if a and b and not any(c.isspace() for c in a + b)]
    return usable, sum(1 for pair in usable if pair in real)  # the real pairs come first


APK_LOOP = """while read -r a b; do
  r=$(/sbin/apk version -t -- "$a" "$b" 2>/dev/null)
  echo "${r:-error}"
done < "$1"
"""


def _apk_verdicts(rootfs: Path, pairs: list[Pair]) -> list[str]:
    """What `apk version -t a b` prints for each pair: <, = or > (cached)."""
    digest = hashlib.sha256(rootfs.read_bytes())
    digest.update(APK_LOOP.encode())
    digest.update("".join(f"{a} {b}\n" for a, b in pairs).encode())
    cache = cache_root() / f"apk-verdicts-{digest.hexdigest()[:24]}.txt"
    if cache.exists():
        cached = cache.read_text().splitlines()
        if len(cached) == len(pairs):
            return cached
    if os.geteuid() != 0 or shutil.which("chroot") is None:
        pytest.skip("running the real apk needs root and chroot (to enter the Alpine rootfs)")
    workers = max(2, os.cpu_count() or 2)
    with tempfile.TemporaryDirectory(prefix="basewatch-apk-") as tmp:
        root = Path(tmp) / "root"
        root.mkdir()
        subprocess.run(["tar", "-xzf", str(rootfs), "-C", str(root)], check=True)
        (root / "loop.sh").write_text(APK_LOOP)
        size = -(-len(pairs) // workers)
        chunks = [pairs[i : i + size] for i in range(0, len(pairs), size)]
        for n, chunk in enumerate(chunks):
            (root / f"pairs-{n}").write_text("".join(f"{a} {b}\n" for a, b in chunk))

        def run(n: int) -> list[str]:
            result = subprocess.run(
                ["chroot", str(root), "/bin/sh", "/loop.sh", f"/pairs-{n}"],
                capture_output=True,
                text=True,
                check=True,
                env={"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "LC_ALL": "C"},
            )
            return result.stdout.splitlines()

        with ThreadPoolExecutor(workers) as pool:
            verdicts = [line for out in pool.map(run, range(len(chunks))) for line in out]
    assert len(verdicts) == len(pairs)
    cache.parent.mkdir(parents=True, exist_ok=True)
    partial = cache.with_suffix(f".{os.getpid()}.tmp")
    partial.write_text("".join(f"{v}\n" for v in verdicts))
    partial.replace(cache)
    return verdicts


def test_apk_agrees_with_apk_version_test() -> None:
    rootfs = shared_fixture(ALPINE_ROOTFS)
    pairs, real = _apk_pairs(rootfs)
    assert real > 1_500, "the shared Alpine data should give thousands of same-package pairs"
    assert len(pairs) > 4_000
    tails = [p for p in pairs[:real] if any(_LETTER_DIGITS.search(v) for v in p)]
    assert len(tails) > 20, "openssh/sudo-style versions (a digit after the letter) must be in"
    verdicts = _apk_verdicts(rootfs, pairs)
    comparator = ApkComparator("Alpine:v3.20")
    ops = {-1: "<", 0: "=", 1: ">"}
    wrong, refused = [], []
    for n, ((a, b), verdict) in enumerate(zip(pairs, verdicts, strict=True)):
        try:
            ours = ops[comparator.compare(a, b)]
        except InvalidVersion:
            refused.append(n)  # no leading digit: basewatch refuses what apk reads as "0..."
            continue
        if ours != verdict:
            wrong.append(f"{a!r} vs {b!r}: apk says {verdict}, basewatch {ours}")
    assert not wrong, f"{len(wrong)} of {len(pairs)} pairs differ:\n" + "\n".join(wrong[:60])
    assert not [n for n in refused if n < real], "every real Alpine version must be ordered"
    assert len(refused) < len(pairs) // 50
