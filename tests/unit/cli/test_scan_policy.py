"""`basewatch scan --policy FILE`: the scan's report with the policies' verdict added in the
scan's own format, and exit 1 when a policy whose action is `fail` fails."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest

from basewatch.cli.main import main
from basewatch.jobs.db import import_files
from basewatch.settings import Settings
from tests.fixtures import shared_fixture

ALPINE = "images/alpine-minirootfs-3.20.3-x86_64.tar.gz"
SCHEMAS = Path(__file__).resolve().parents[3] / "src" / "basewatch" / "schemas"


@pytest.fixture
def args(tmp_path: Path) -> list[str]:
    settings = Settings.load(environ={}, cache_dir=tmp_path / "cache", read_config=False)
    import_files([shared_fixture("kev/known_exploited_vulnerabilities.json")], settings)
    image = f"rootfs:{shared_fixture(ALPINE)}"
    return [
        *("-q", "scan", image, "--offline", "--db", str(settings.db_path)),
        *("--cache-dir", str(tmp_path / "cache")),
    ]


def policy_file(tmp_path: Path, action: str) -> Path:
    path = tmp_path / "policy.yaml"
    path.write_text(f"policies:\n  - id: non-root\n    action: {action}\n  - license\n")
    return path


def test_json_carries_the_verdict_and_a_fail_exits_1(
    args: list[str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main([*args, "--policy", str(policy_file(tmp_path, "fail")), "-f", "json"])
    document = json.loads(capsys.readouterr().out)
    assert code == 1
    jsonschema.validate(document, json.loads((SCHEMAS / "scan.schema.json").read_text()))
    policy = document["policy"]
    jsonschema.validate(policy, json.loads((SCHEMAS / "policy.schema.json").read_text()))
    assert policy["result"] == "fail"
    assert {p["id"]: p["status"] for p in policy["policies"]} == {
        "non-root": "fail",
        "license": "pass",
    }


def test_a_warn_policy_never_fails_the_run(
    args: list[str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main([*args, "--policy", str(policy_file(tmp_path, "warn"))])
    out = capsys.readouterr().out
    # no advisories for Alpine 3.20 in this database: the scan itself is partial (4), not 1
    assert code == 4
    last = out.strip().splitlines()[-1]
    assert last == "Result: PASS: 1 failed as a warning (non-root); 1 passed"


def test_sarif_gets_a_second_run_and_cyclonedx_is_refused(
    args: list[str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = policy_file(tmp_path, "fail")
    assert main([*args, "--policy", str(path), "-f", "sarif"]) == 1
    log = json.loads(capsys.readouterr().out)
    assert len(log["runs"]) == 2
    assert [r["ruleId"] for r in log["runs"][1]["results"]] == ["non-root"]
    assert main([*args, "--policy", str(path), "-f", "cyclonedx-json"]) == 2
    assert "not to cyclonedx-json" in capsys.readouterr().err


def test_a_bad_policy_file_is_refused_before_the_scan(
    args: list[str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("policies:\n  - id: no-kev\n    epss: lots\n")
    assert main([*args, "--policy", str(bad)]) == 2
    err = capsys.readouterr().err
    assert "bad.yaml:3" in err and "Traceback" not in err
