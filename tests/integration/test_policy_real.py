"""Every built-in policy through the policy job, on real images and real data: must fail, must
pass, and "not evaluated" where the facts are missing.

Images: bookworm-pip (mmdebstrap, already built for test_scan_pypi: Debian 12 with old PyPI
releases in its upper layer), the Alpine 3.20.3 minirootfs alone (no base, no `User`) and with
an application layer on top whose config sets `User` (none, `root`, `app`, ...). A real
`docker-registry` on loopback holds an Alpine base, an application labelled with it
(`org.opencontainers.image.base.name` / `.base.digest`), the base moved under the same tag, and
an application with an SBOM and a provenance attached as referrers the way `oras attach` does.

Data: CISA's KEV catalog and the PyPI OSV dump from ../shared/fixtures, imported as
`basewatch db import` does. bookworm-pip's urllib3 1.24.1 has a real fixable high finding in
the dump (CVE-2023-43804); no KEV CVE is in it, so one OSV record is written here for the
image's glibc naming CVE-2023-4911 (glibc's "Looney Tunables", in the KEV fixture) as an alias.
End-of-life dates are the table shipped with basewatch, read as of the day a `FixedClock`
injects. Nothing touches the network but the loopback registry (no advisory downloads).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from basewatch.cli.exit_codes import ExitCode
from basewatch.cli.main import main
from basewatch.clock import FixedClock
from basewatch.defaults import ENV_CACHE_DIR, ENV_DB, ENV_EOL_URL, ENV_OSV_URL
from basewatch.jobs.db import import_files
from basewatch.jobs.policy import PolicyOutcome, PolicyRequest, evaluate_policies
from basewatch.jobs.seams import Seams
from basewatch.models import FixStatus, Severity
from basewatch.oci.reference import RegistryRef
from basewatch.oci.referrers import IN_TOTO, PREDICATE_TYPE
from basewatch.oci.registry.client import RegistryClient
from basewatch.oci.registry.options import RegistryOptions
from basewatch.policy import Action, Status, Verdict
from basewatch.report.policy.json import load_schema
from basewatch.settings import Settings
from basewatch.vulndb.eol import load_eol_table
from tests.fixtures import shared_fixture
from tests.integration import images as debian_images
from tests.integration import referrer_push as rp
from tests.integration import registry_server as rs
from tests.integration.conftest import in_ci
from tests.integration.images import BuildImage
from tests.service_support import images

pytestmark = pytest.mark.integration

KEV_FEED = "kev/known_exploited_vulnerabilities.json"
PYPI_DUMP = "osv/PyPI.zip"
KEV_CVE = "CVE-2023-4911"  # in the KEV fixture: GNU C Library buffer overflow
# In the PyPI dump: urllib3 before 1.26.17 (bookworm-pip has 1.24.1), CVSS 8.1, high.
FIXABLE_HIGH = ("CVE-2023-43804", "urllib3", "1.24.1", "1.26.17")
DAY = dt.date(2026, 1, 1)  # the default injected date: Debian 12 and Alpine 3.20 supported
BASE_NAME = "org.opencontainers.image.base.name"
BASE_DIGEST = "org.opencontainers.image.base.digest"
SPDX = "application/spdx+json"
SLSA = "https://slsa.dev/provenance/v1"


# --- images and data ---------------------------------------------------------------------------


def _blob(layout: Path, digest: str) -> bytes:
    return (layout / "blobs" / "sha256" / digest.removeprefix("sha256:")).read_bytes()


def _put_blob(layout: Path, data: bytes) -> dict[str, Any]:
    digest = "sha256:" + hashlib.sha256(data).hexdigest()
    (layout / "blobs" / "sha256" / digest.removeprefix("sha256:")).write_bytes(data)
    return {"digest": digest, "size": len(data)}


def with_config(layout: Path, **config: object) -> Path:
    """The OCI layout `stacked_layout` wrote, its image config's `config` given these keys
    (`User="app"`): a new config blob, a new manifest naming it, the index pointing there."""
    index = json.loads((layout / "index.json").read_text())
    entry = index["manifests"][0]
    manifest = json.loads(_blob(layout, entry["digest"]))
    image_config = json.loads(_blob(layout, manifest["config"]["digest"]))
    image_config["config"].update(config)
    manifest["config"].update(_put_blob(layout, json.dumps(image_config).encode()))
    entry.update(_put_blob(layout, json.dumps(manifest).encode()))
    (layout / "index.json").write_text(json.dumps(index))
    return layout


def alpine_app(layout: Path, user: str | None = None, labels: dict[str, str] | None = None) -> Path:
    """The Alpine minirootfs with an application layer on top, tagged 1, its config's `User`
    set to `user` (None: no User)."""
    images.stacked_layout(layout, "1", shared_fixture(images.ALPINE), [images.app_layer()], labels)
    return with_config(layout, User=user) if user is not None else layout


def glibc_record() -> dict[str, Any]:
    """An OSV record for Debian 12's glibc, every version affected and no fix, whose alias is
    a CVE of CISA's catalog (written here: the real record says bookworm's glibc is fixed)."""
    return {
        "id": "BASEWATCH-TEST-2023-4911",
        "aliases": [KEV_CVE],
        "summary": "test record: glibc's ld.so GLIBC_TUNABLES buffer overflow",
        "published": "2023-10-03T18:15:00Z",
        "modified": "2026-01-01T00:00:00Z",
        "severity": [{"type": "CVSS_V3", "score": "CVSS:3.1/AV:L/AC:L/PR:L/UI:N/S:U/C:H/I:H/A:H"}],
        "affected": [
            {
                "package": {"ecosystem": "Debian:12", "name": "glibc"},
                "ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": "0"}]}],
            }
        ],
    }


@dataclass(frozen=True)
class World:
    """Where this module's runs keep their cache (shared: each layer is analysed once) and the
    databases they may use."""

    work: Path
    databases: dict[str, Path]

    def settings(self, db: str | None) -> Settings:
        path = self.databases[db] if db else self.work / "no-database" / "vuln.db"
        return Settings.load(environ={}, cache_dir=self.work / "cache", db=path, read_config=False)

    def evaluate(
        self,
        image: str,
        *,
        db: str | None = "kev",
        on: dt.date = DAY,
        policies: str | None = None,
        offline: bool = True,
    ) -> PolicyOutcome:
        """The policy job on `image` as of `on`; `policies` is a policy file's text (None:
        every built-in with its defaults); `db` names a database (None: there is none)."""
        policy_file = None
        if policies is not None:
            name = hashlib.sha256(policies.encode()).hexdigest()[:16]
            policy_file = self.work / "policies" / f"{name}.yaml"
            policy_file.parent.mkdir(exist_ok=True)
            policy_file.write_text(policies)
        clock = FixedClock(dt.datetime.combine(on, dt.time(12), tzinfo=dt.UTC))
        request = PolicyRequest(image, policy_file, fetch=False)
        with Seams.default(self.settings(db), offline=offline, clock=clock) as seams:
            return evaluate_policies(request, seams)


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> World:
    """Three databases: `kev` (the KEV catalog, the PyPI dump and the glibc record), `pypi`
    (the catalog and the dump) and `no-catalog` (the dump alone)."""
    work = tmp_path_factory.mktemp("policy")
    records = work / "records"
    records.mkdir()
    (records / "glibc.json").write_text(json.dumps(glibc_record()))
    kev, pypi = shared_fixture(KEV_FEED), shared_fixture(PYPI_DUMP)
    sources = {"kev": [kev, pypi, records], "pypi": [kev, pypi], "no-catalog": [pypi]}
    databases = {name: work / "db" / f"{name}.db" for name in sources}
    world = World(work, databases)
    for name, paths in sources.items():
        results = import_files(paths, world.settings(name))
        assert all(not r.malformed for r in results), results
    return world


@pytest.fixture(scope="module")
def debian(build_image: BuildImage) -> str:
    """bookworm-pip as `docker save` writes it (RepoTags basewatch-test/bookworm:pip)."""
    image = build_image(debian_images.BOOKWORM_PIP)
    assert any(p.name == "libc6" for p in image.packages)
    return image.ref("docker-archive")


@dataclass(frozen=True)
class Alpine:
    bare: str  # the minirootfs alone: one layer, no base, no User
    bare_layout: Path
    by_user: dict[str | None, str]  # minirootfs + an app layer, config User -> reference


USERS = (None, "root", "0:0", "app", "1000:0")


@pytest.fixture(scope="module")
def alpine(world: World) -> Alpine:
    root = world.work / "alpine"
    bare = images.stacked_layout(root / "bare", "1", shared_fixture(images.ALPINE), [])
    by_user = {
        user: f"oci:{alpine_app(root / f'user-{n}', user)}:1" for n, user in enumerate(USERS)
    }
    return Alpine(f"oci:{bare}:1", bare, by_user)


def verdict(outcome: PolicyOutcome, policy_id: str) -> Verdict:
    found = [v for v in outcome.run.report.verdicts if v.id == policy_id]
    assert len(found) == 1, [v.id for v in outcome.run.report.verdicts]
    return found[0]


def statuses(outcome: PolicyOutcome) -> dict[str, Status]:
    return {v.id: v.status for v in outcome.run.report.verdicts}


def fixable(outcome: PolicyOutcome, threshold: Severity) -> set[tuple[str, str]]:
    """(id, package) of the scan's findings at or above `threshold` with a fix."""
    assert outcome.scan is not None
    return {
        (f.id, f.package.name)
        for f in outcome.scan.findings
        if f.severity.rank >= threshold.rank and f.status is FixStatus.FIXED and f.fixed_version
    }


# --- every policy with its defaults ------------------------------------------------------------


def test_defaults_on_the_debian_image(world: World, debian: str) -> None:
    outcome = world.evaluate(debian)
    assert statuses(outcome) == {
        "no-fixable-severe": Status.FAIL,
        "no-kev": Status.FAIL,
        "base-up-to-date": Status.NOT_EVALUATED,  # a single image: no base
        "supported-base": Status.PASS,
        "approved-base": Status.NOT_EVALUATED,  # no allow list without a policy file
        "non-root": Status.FAIL,  # mmdebstrap's images set no User
        "license": Status.PASS,
        "attestations": Status.NOT_EVALUATED,  # a local archive has no referrers
    }
    assert outcome.run.report.failed
    assert outcome.run.policy_file == ""
    assert "the image's base is unknown" in verdict(outcome, "base-up-to-date").reason
    assert "no approved bases configured" in verdict(outcome, "approved-base").reason
    assert "a local image" in verdict(outcome, "attestations").reason
    assert verdict(outcome, "non-root").reason == "no User set: the container runs as root"
    # dpkg records no licenses: the pip-installed releases are what is checked
    license = verdict(outcome, "license")
    assert "were not checked (no license declared:" in license.reason


# --- no-fixable-severe -------------------------------------------------------------------------

SEVERE_ONLY = "policies:\n  - id: no-fixable-severe\n"


def test_no_fixable_severe_fails_on_a_real_fixable_high_finding(world: World, debian: str) -> None:
    outcome = world.evaluate(debian, db="pypi", policies=SEVERE_ONLY)
    result = verdict(outcome, "no-fixable-severe")
    assert (result.status, result.action) == (Status.FAIL, Action.FAIL)
    assert outcome.run.report.failed
    cve, package, version, fixed = FIXABLE_HIGH
    found = {(i.data["id"], i.data["package"], i.data["version"]) for i in result.items}
    assert (cve, package, version) in found
    item = next(i for i in result.items if i.data["id"] == cve)
    assert item.data["fixed_version"] == fixed
    assert item.subject == f"{cve} in {package} {version} (fixed in {fixed})"
    for each in result.items:  # every item is at or above high and has a fix
        assert Severity(str(each.data["severity"])).rank >= Severity.HIGH.rank
        assert each.data["fixed_version"]
    # the scan's findings agree: every fixable high one is an item, nothing else is
    assert {(i.data["id"], i.data["package"]) for i in result.items} == fixable(
        outcome, Severity.HIGH
    )
    # only PyPI data: the Debian packages are named as not checked, not passed
    assert "not (fully) checked" in result.reason


def test_no_fixable_severe_passes_while_the_fix_is_too_young(world: World, debian: str) -> None:
    first = verdict(world.evaluate(debian, db="pypi", policies=SEVERE_ONLY), "no-fixable-severe")
    ages = [i.data["days"] for i in first.items]
    assert all(isinstance(a, int) for a in ages), ages
    oldest = max(a for a in ages if isinstance(a, int))
    young = f"{SEVERE_ONLY}    days: {oldest}\n"
    result = verdict(world.evaluate(debian, db="pypi", policies=young), "no-fixable-severe")
    assert result.status is Status.PASS, result.reason
    assert result.reason.startswith(
        f"no fixable finding at or above high with a fix published more than {oldest:,} days ago"
    )
    older = f"{SEVERE_ONLY}    days: {oldest - 1}\n"
    result = verdict(world.evaluate(debian, db="pypi", policies=older), "no-fixable-severe")
    assert result.status is Status.FAIL
    assert {i.data["days"] for i in result.items} == {oldest}
    assert all(f"published {oldest:,} days ago" in i.subject for i in result.items)
    # the same findings a day later are old enough
    later = verdict(
        world.evaluate(debian, db="pypi", policies=young, on=DAY + dt.timedelta(days=1)),
        "no-fixable-severe",
    )
    assert later.status is Status.FAIL


@pytest.mark.parametrize("threshold", [Severity.CRITICAL, Severity.MEDIUM, Severity.UNKNOWN])
def test_no_fixable_severe_counts_only_at_or_above_its_severity(
    world: World, debian: str, threshold: Severity
) -> None:
    policies = f"{SEVERE_ONLY}    severity: {threshold.value}\n"
    outcome = world.evaluate(debian, db="pypi", policies=policies)
    result = verdict(outcome, "no-fixable-severe")
    expected = fixable(outcome, threshold)
    assert {(i.data["id"], i.data["package"]) for i in result.items} == expected
    if threshold is Severity.CRITICAL:  # urllib3's is high: nothing is critical
        assert result.status is Status.PASS
        assert result.reason.startswith("no fixable finding at or above critical")
    else:  # more than the high ones: the PyPI dump rates most of its records not at all
        assert result.status is Status.FAIL
        assert expected > fixable(outcome, Severity.HIGH)


def test_no_fixable_severe_ignores_an_exploited_finding_without_a_fix(
    world: World, debian: str
) -> None:
    result = verdict(world.evaluate(debian, db="kev", policies=SEVERE_ONLY), "no-fixable-severe")
    assert result.status is Status.FAIL  # urllib3 still
    assert "glibc" not in {i.data["source"] for i in result.items}
    assert FIXABLE_HIGH[0] in {i.data["id"] for i in result.items}


# --- no-kev ------------------------------------------------------------------------------------

KEV_ONLY = "policies:\n  - id: no-kev\n"


def test_no_kev_fails_on_a_kev_cve_in_a_real_package(world: World, debian: str) -> None:
    catalog = json.loads(shared_fixture(KEV_FEED).read_text())
    assert KEV_CVE in {v["cveID"] for v in catalog["vulnerabilities"]}
    outcome = world.evaluate(debian, db="kev", policies=KEV_ONLY)
    result = verdict(outcome, "no-kev")
    assert (result.status, result.action) == (Status.FAIL, Action.FAIL)
    assert result.items
    for item in result.items:
        assert item.data["kev"] is True
        assert item.data["source"] == "glibc"
        assert KEV_CVE in (item.data["id"], *item.aliases)
        assert item.subject.endswith("(known exploited: CISA KEV)")
    assert "libc6" in {i.data["package"] for i in result.items}
    assert result.reason.startswith(f"{len(result.items)} findings in CISA's KEV catalog")
    # Debian 12 has advisories in this database: nothing is left unchecked
    assert "not (fully) checked" not in result.reason


def test_no_kev_passes_without_a_kev_finding(world: World, debian: str) -> None:
    outcome = world.evaluate(debian, db="pypi", policies=KEV_ONLY)
    assert outcome.scan is not None and outcome.scan.findings  # findings, none in the catalog
    result = verdict(outcome, "no-kev")
    assert result.status is Status.PASS
    assert result.reason.startswith("no finding in CISA's KEV catalog; ")
    assert "not (fully) checked" in result.reason
    assert not outcome.run.report.failed


def test_no_kev_is_not_evaluated_without_the_catalog(world: World, debian: str) -> None:
    result = verdict(world.evaluate(debian, db="no-catalog", policies=KEV_ONLY), "no-kev")
    assert result.status is Status.NOT_EVALUATED
    assert "no KEV catalog" in result.reason


def test_no_kev_exception_until_it_expires(world: World, debian: str) -> None:
    accepted = (
        f'{KEV_ONLY}    scope: ["docker.io/basewatch-test/*"]\n'  # the archive's RepoTags
        "    exceptions:\n"
        f"      - match: {KEV_CVE}\n"  # an alias of the record: it is matched too
        "        reason: no setuid binaries in the image\n"
        f"        expires: {DAY.isoformat()}\n"
    )
    outcome = world.evaluate(debian, db="kev", policies=accepted)
    result = verdict(outcome, "no-kev")
    assert result.status is Status.PASS
    assert (result.items, len(result.excepted) > 0) == ((), True)
    assert all(i.excepted_by == "no setuid binaries in the image" for i in result.excepted)
    assert result.reason.endswith("findings in CISA's KEV catalog, covered by exceptions")
    assert outcome.run.report.warnings == ()
    expired = world.evaluate(debian, db="kev", policies=accepted, on=DAY + dt.timedelta(days=1))
    assert verdict(expired, "no-kev").status is Status.FAIL
    (warning,) = expired.run.report.warnings
    assert f"exception for {KEV_CVE} expired on {DAY.isoformat()}" in warning
    # a scope the image is not in: the policy does not run at all
    elsewhere = accepted.replace("docker.io/basewatch-test/*", "registry.example.com/*")
    assert world.evaluate(debian, db="kev", policies=elsewhere).run.report.verdicts == ()


def test_finding_policies_are_not_evaluated_without_data(world: World, alpine: Alpine) -> None:
    findings = "policies:\n  - no-kev\n  - no-fixable-severe\n"
    none = world.evaluate(alpine.bare, db=None, policies=findings)
    assert none.scan is None
    for policy in ("no-kev", "no-fixable-severe"):
        result = verdict(none, policy)
        assert result.status is Status.NOT_EVALUATED
        assert result.reason.startswith("no vulnerability database")
    # a database without advisories for Alpine checks none of the image's packages
    other = world.evaluate(alpine.bare, db="kev", policies=findings)
    for policy in ("no-kev", "no-fixable-severe"):
        result = verdict(other, policy)
        assert result.status is Status.NOT_EVALUATED
        assert "could be checked" in result.reason
    assert not other.run.report.failed


# --- supported-base ----------------------------------------------------------------------------

SUPPORTED_ONLY = "policies:\n  - id: supported-base\n"


def shipped_eol(product: str, cycle: str) -> dt.date:
    found = load_eol_table().find(product, cycle)
    assert found is not None and found.eol is not None, (product, cycle)
    return found.eol


# (days from the end of life, status, action of the verdict, whether the run fails)
EOL_CASES = [
    pytest.param(-100, Status.PASS, Action.FAIL, False, id="supported"),
    pytest.param(-10, Status.FAIL, Action.WARN, False, id="within-warn-days"),
    pytest.param(0, Status.FAIL, Action.WARN, False, id="last-day"),
    pytest.param(1, Status.FAIL, Action.FAIL, True, id="past-eol"),
]


@pytest.mark.parametrize("which", ["debian", "alpine"])
@pytest.mark.parametrize(("offset", "status", "action", "blocks"), EOL_CASES)
def test_supported_base_with_the_shipped_eol_table(
    world: World,
    request: pytest.FixtureRequest,
    which: str,
    offset: int,
    status: Status,
    action: Action,
    blocks: bool,
) -> None:
    if which == "debian":
        image, product, cycle = request.getfixturevalue("debian"), "debian", "12"
        label = "Debian GNU/Linux 12 (bookworm)"
    else:
        image, product, cycle = request.getfixturevalue("alpine").bare, "alpine", "3.20"
        label = "Alpine Linux v3.20"
    assert not world.settings(None).eol_table.exists()  # the shipped table, not a refreshed one
    eol = shipped_eol(product, cycle)
    on = eol + dt.timedelta(days=offset)
    outcome = world.evaluate(image, db=None, on=on, policies=SUPPORTED_ONLY)
    result = verdict(outcome, "supported-base")
    assert (result.status, result.action) == (status, action), result.reason
    assert outcome.run.report.failed is blocks
    assert result.reason.endswith("; the image's base is unknown, so its own release was checked")
    if status is Status.PASS:
        assert result.reason.startswith(f"{label} is supported until {eol.isoformat()}")
        return
    (item,) = result.items
    assert item.data["id"] == f"{product} {cycle}"
    assert item.data["eol"] == eol.isoformat()
    assert item.data["days"] == -offset
    if offset > 0:
        assert item.subject.startswith(f"{label} reached end of life on {eol.isoformat()}")
    else:
        assert item.subject.startswith(f"{label} reaches end of life on {eol.isoformat()}")


def test_supported_base_warn_days(world: World, alpine: Alpine) -> None:
    eol = shipped_eol("alpine", "3.20")
    on = eol - dt.timedelta(days=10)
    narrow = f"{SUPPORTED_ONLY}    warn_days: 5\n"
    result = verdict(world.evaluate(alpine.bare, db=None, on=on, policies=narrow), "supported-base")
    assert result.status is Status.PASS
    wide = f"{SUPPORTED_ONLY}    warn_days: 10\n"
    result = verdict(world.evaluate(alpine.bare, db=None, on=on, policies=wide), "supported-base")
    assert (result.status, result.action) == (Status.FAIL, Action.WARN)


# --- non-root ----------------------------------------------------------------------------------

NON_ROOT_ONLY = "policies:\n  - non-root\n"


@pytest.mark.parametrize(
    ("user", "status", "reason"),
    [
        (None, Status.FAIL, "no User set: the container runs as root"),
        ("root", Status.FAIL, "User is explicitly root (root)"),
        ("0:0", Status.FAIL, "User is explicitly root (0:0)"),
        ("app", Status.PASS, "runs as app"),
        ("1000:0", Status.PASS, "runs as 1000:0; its group is 0: root's group"),
    ],
)
def test_non_root(
    world: World, alpine: Alpine, user: str | None, status: Status, reason: str
) -> None:
    outcome = world.evaluate(alpine.by_user[user], db=None, policies=NON_ROOT_ONLY)
    assert outcome.inventory.image.user == user
    result = verdict(outcome, "non-root")
    assert (result.status, result.reason) == (status, reason)
    if status is Status.FAIL:
        (item,) = result.items
        assert item.data == {"id": user or "(unset)", "user": user, "explicit": user is not None}


# --- license -----------------------------------------------------------------------------------


def apk_licenses() -> dict[str, str]:
    """package -> its `L:` line in the fixture's apk database, read here without basewatch."""
    found: dict[str, str] = {}
    name = ""
    for line in images.apk_database(shared_fixture(images.ALPINE)).splitlines():
        if line.startswith("P:"):
            name = line[2:]
        elif line.startswith("L:"):
            found[name] = line[2:]
    return found


def denied_by(license_id: str) -> set[str]:
    """The packages whose license needs `license_id`: the fixture's expressions are single ids
    or AND-lists (checked), so each one needs every id it names."""
    licenses = apk_licenses()
    assert not any(" OR " in e or "(" in e or " WITH " in e for e in licenses.values())
    return {
        name for name, expression in licenses.items() if license_id in expression.split(" AND ")
    }


@pytest.mark.parametrize(
    "deny",
    ["GPL-2.0-only", "GPL-2.0-or-later", "MPL-2.0"],
)
def test_license_fails_on_a_denied_license(world: World, alpine: Alpine, deny: str) -> None:
    expected = denied_by(deny)
    assert expected  # busybox (GPL-2.0-only), musl-utils (... AND GPL-2.0-or-later), ca-certs
    policies = f"policies:\n  - id: license\n    deny: [{deny}]\n"
    result = verdict(world.evaluate(alpine.bare, db=None, policies=policies), "license")
    assert (result.status, result.action) == (Status.FAIL, Action.FAIL)
    assert {i.data["package"] for i in result.items} == expected
    for item in result.items:
        assert item.data["license"] == apk_licenses()[str(item.data["package"])]
        assert item.data["denied"] == deny
        assert str(item.data["purl"]).startswith(f"pkg:apk/alpine/{item.data['package']}@")


def test_license_passes_on_real_apk_licenses(world: World, alpine: Alpine) -> None:
    licenses = apk_licenses()
    result = verdict(world.evaluate(alpine.bare, db=None), "license")  # AGPL denied by default
    assert result.status is Status.PASS
    assert result.reason == (
        "no package needs a denied license (AGPL-3.0-only, AGPL-3.0-or-later) among the "
        f"{len(licenses)} packages checked"
    )
    # nothing in the minirootfs is under the GPL version 3
    policies = "policies:\n  - id: license\n    deny: [GPL-3.0-only, GPL-3.0-or-later]\n"
    result = verdict(world.evaluate(alpine.bare, db=None, policies=policies), "license")
    assert result.status is Status.PASS


# --- a real registry: base-up-to-date, approved-base, attestations --------------------------


@dataclass(frozen=True)
class Registry:
    server: rs.RunningRegistry
    work: Path

    @property
    def host(self) -> str:
        return self.server.host

    def push(self, layout: Path, repo_tag: str) -> str:
        """Push the layout's image; the digest the registry serves it by."""
        self.server.push(f"oci:{layout}:1", repo_tag)
        repository, _, tag = repo_tag.rpartition(":")
        options = RegistryOptions(use_cache=False, retries=0)
        with RegistryClient(options) as client:
            return client.get_manifest(RegistryRef(self.host, repository, tag), tag).digest


@pytest.fixture(scope="module")
def registry(world: World) -> Iterator[Registry]:
    missing = rs.missing_tools()
    if missing:
        message = f"registry tests need {', '.join(missing)}"
        if in_ci():
            pytest.fail(message, pytrace=False)
        pytest.skip(message)
    with rs.run_registry(world.work / "registry") as server:
        yield Registry(server, world.work)


UP_TO_DATE_ONLY = "policies:\n  - base-up-to-date\n"


def test_base_up_to_date_follows_the_base_tag_in_a_real_registry(
    world: World, alpine: Alpine, registry: Registry
) -> None:
    root = registry.work / "moving"
    base = f"{registry.host}/moving/alpine:3.20"
    built_on = registry.push(alpine.bare_layout, "moving/alpine:3.20")
    app = alpine_app(root / "app", "app", {BASE_NAME: base, BASE_DIGEST: built_on})
    registry.push(app, "moving/app:1")
    remote = f"registry:{registry.host}/moving/app:1"

    fresh = world.evaluate(remote, db=None, policies=UP_TO_DATE_ONLY, offline=False)
    assert fresh.inventory.base is not None
    assert (fresh.inventory.base.reference, fresh.inventory.base.digest) == (base, built_on)
    result = verdict(fresh, "base-up-to-date")
    assert result.status is Status.PASS, result.reason
    assert result.reason == f"{base} still points to {built_on[:19]}, the digest built on"
    # the same app as a local layout: its base is still looked up in the registry...
    local = world.evaluate(f"oci:{app}:1", db=None, policies=UP_TO_DATE_ONLY, offline=False)
    assert verdict(local, "base-up-to-date").status is Status.PASS
    # ...but never offline
    offline = verdict(
        world.evaluate(f"oci:{app}:1", db=None, policies=UP_TO_DATE_ONLY), "base-up-to-date"
    )
    assert offline.status is Status.NOT_EVALUATED
    assert "offline" in offline.reason

    # a rebuilt base (busybox upgraded) pushed under the same tag
    rootfs = shared_fixture(images.ALPINE)
    rebuilt = images.stacked_layout(
        root / "rebuilt", "1", rootfs, [images.upgraded(rootfs, "1.36.1-r29", "1.36.1-r30")]
    )
    moved_to = registry.push(rebuilt, "moving/alpine:3.20")
    assert moved_to != built_on
    moved = world.evaluate(remote, db=None, policies=UP_TO_DATE_ONLY, offline=False)
    result = verdict(moved, "base-up-to-date")
    assert (result.status, result.action) == (Status.FAIL, Action.FAIL)
    assert moved.run.report.failed
    (item,) = result.items
    assert item.data == {
        "id": base,
        "reference": base,
        "digest": built_on,
        "now_digest": moved_to,
    }
    assert result.reason.startswith("the base has moved: ")


def test_base_up_to_date_is_not_evaluated_without_a_base(
    world: World, alpine: Alpine, registry: Registry
) -> None:
    registry.push(alpine.bare_layout, "baseless/alpine:1")
    outcome = world.evaluate(
        f"registry:{registry.host}/baseless/alpine:1",
        db=None,
        policies=UP_TO_DATE_ONLY,
        offline=False,
    )
    assert outcome.inventory.base is None
    result = verdict(outcome, "base-up-to-date")
    assert result.status is Status.NOT_EVALUATED
    assert result.reason.startswith("the image's base is unknown")


def test_base_up_to_date_is_not_evaluated_when_the_base_tag_is_missing(
    world: World, alpine: Alpine, registry: Registry
) -> None:
    base = f"{registry.host}/deleted/alpine:3.20"  # never pushed: the registry answers 404
    labels = {BASE_NAME: base, BASE_DIGEST: "sha256:" + "a" * 64}
    app = alpine_app(registry.work / "missing-base", "app", labels)
    outcome = world.evaluate(f"oci:{app}:1", db=None, policies=UP_TO_DATE_ONLY, offline=False)
    result = verdict(outcome, "base-up-to-date")
    assert result.status is Status.NOT_EVALUATED
    assert "HTTP 404" in result.reason


def test_base_up_to_date_offline_reason_names_the_base_once(world: World, alpine: Alpine) -> None:
    base = "registry.example.com/base/alpine:3.20"
    labels = {BASE_NAME: base, BASE_DIGEST: "sha256:" + "a" * 64}
    app = alpine_app(world.work / "offline-base", "app", labels)
    outcome = world.evaluate(f"oci:{app}:1", db=None, policies=UP_TO_DATE_ONLY)
    result = verdict(outcome, "base-up-to-date")
    assert result.status is Status.NOT_EVALUATED
    assert result.reason.count(base) == 1, result.reason
    assert result.reason.endswith("is not known: no registry access (offline)")


def approved(*allow: str, supported_only: bool = False) -> str:
    patterns = ", ".join(json.dumps(p) for p in allow)
    text = f"policies:\n  - id: approved-base\n    allow: [{patterns}]\n"
    return text + ("    supported_only: true\n" if supported_only else "")


def test_approved_base_by_patterns(world: World, alpine: Alpine, registry: Registry) -> None:
    base = f"{registry.host}/base/alpine:3.20"
    digest = registry.push(alpine.bare_layout, "base/alpine:3.20")
    app = alpine_app(registry.work / "approved", "app", {BASE_NAME: base, BASE_DIGEST: digest})
    image = f"oci:{app}:1"

    def judge(policies: str, on: dt.date = DAY) -> Verdict:
        return verdict(world.evaluate(image, db=None, on=on, policies=policies), "approved-base")

    for allow in (f"{registry.host}/base/*", f"{registry.host}/base/alpine:3.*", base):
        result = judge(approved("registry.example.com/*", allow))
        assert result.status is Status.PASS, (allow, result.reason)
        assert result.reason == f"{base} matches {allow}"
    refused = {  # pattern -> as the reason shows it (Docker Hub names normalised)
        "docker.io/library/alpine:*": "docker.io/library/alpine:*",
        "alpine": "docker.io/library/alpine",
        f"{registry.host}/base/alpine:3.19": f"{registry.host}/base/alpine:3.19",
    }
    for allow, shown in refused.items():
        result = judge(approved(allow))
        assert (result.status, result.action) == (Status.FAIL, Action.FAIL), allow
        (item,) = result.items
        assert item.data == {"id": base, "reference": base, "digest": digest}
        assert item.subject == f"{base} ({base}) matches no allowed pattern ({shown})"
    # supported_only: approved, and fails once Alpine 3.20 is past its end of life
    eol = shipped_eol("alpine", "3.20")
    allow_all = approved(f"{registry.host}/*", supported_only=True)
    result = judge(allow_all, on=eol - dt.timedelta(days=1))
    assert result.status is Status.PASS
    assert result.reason.endswith(f"Alpine Linux v3.20 is supported until {eol.isoformat()}")
    result = judge(allow_all, on=eol + dt.timedelta(days=1))
    assert result.status is Status.FAIL
    (item,) = result.items
    assert item.data["id"] == "alpine 3.20"
    # no base: nothing to approve
    bare = world.evaluate(alpine.bare, db=None, policies=approved(f"{registry.host}/*"))
    result = verdict(bare, "approved-base")
    assert result.status is Status.NOT_EVALUATED
    assert result.reason.startswith("the image's base is unknown")


ATTESTATIONS_ONLY = "policies:\n  - attestations\n"


def test_attestations_pushed_as_referrers(world: World, alpine: Alpine, registry: Registry) -> None:
    layout = alpine_app(registry.work / "attested", "app")
    registry.push(layout, "attested/app:1")
    image = f"registry:{registry.host}/attested/app:1"
    ref = RegistryRef(registry.host, "attested/app", "1")

    def judge(policies: str = ATTESTATIONS_ONLY) -> Verdict:
        outcome = world.evaluate(image, db=None, policies=policies, offline=False)
        return verdict(outcome, "attestations")

    result = judge()
    assert (result.status, result.reason) == (
        Status.FAIL,
        "missing 2 attestations: sbom, provenance",
    )
    assert [i.data["kind"] for i in result.items] == ["sbom", "provenance"]

    sbom_file = registry.work / "attested.spdx.json"
    argv = ["sbom", f"oci:{layout}:1", "-f", "spdx-json", "-o", str(sbom_file), "-q"]
    assert main([*argv, "--cache-dir", str(world.work / "cache")]) == 0
    up = rp.Uploader(ref)
    try:
        with RegistryClient(RegistryOptions(use_cache=False, retries=0)) as client:
            subject = rp.descriptor(client, ref, "1")
        title = {"org.opencontainers.image.title": "sbom.spdx.json"}
        sbom, _ = rp.artifact(
            up, subject, SPDX, up.blob(sbom_file.read_bytes(), SPDX, annotations=title), {}
        )
        rp.referrers_index(up, subject["digest"], [sbom])

        result = judge()
        assert (result.status, result.reason) == (
            Status.FAIL,
            "missing 1 attestation: provenance",
        )
        (item,) = result.items
        assert item.data == {"id": "provenance", "kind": "provenance"}
        only_sbom = "policies:\n  - id: attestations\n    require: [sbom]\n"
        assert judge(only_sbom).status is Status.PASS

        predicate = {"buildDefinition": {"buildType": "https://example.com/test"}}
        statement = rp.statement(subject, SLSA, predicate)
        provenance, _ = rp.artifact(
            up, subject, IN_TOTO, up.blob(statement, IN_TOTO), {PREDICATE_TYPE: SLSA}
        )
        rp.referrers_index(up, subject["digest"], [sbom, provenance])
    finally:
        up.close()
    result = judge()
    assert (result.status, result.reason) == (Status.PASS, "attested: sbom, provenance")

    local = verdict(
        world.evaluate(f"oci:{layout}:1", db=None, policies=ATTESTATIONS_ONLY), "attestations"
    )
    assert local.status is Status.NOT_EVALUATED
    assert "a local image has no referrers" in local.reason


# --- the CLI, end to end -----------------------------------------------------------------------

CLI_POLICIES = """\
policies:
  - id: non-root
    action: {action}
  - id: license
    deny: [GPL-2.0-only]
    action: warn
  - id: approved-base
    allow: ["docker.io/library/alpine:*"]
"""


@pytest.fixture
def cli(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The arguments every run takes: offline, a cache of its own (the module's catalog knows
    the bare minirootfs, which would become these images' base), no config file around."""
    for name in (ENV_CACHE_DIR, ENV_DB, ENV_OSV_URL, ENV_EOL_URL):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)
    return ["--offline", "--cache-dir", str(tmp_path / "cache"), "-q"]


def run_cli(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    capsys.readouterr()
    code = main(argv)
    out, err = capsys.readouterr()
    return code, out, err


@pytest.mark.parametrize(
    ("action", "expected"),
    [("fail", ExitCode.FINDINGS), ("warn", ExitCode.OK)],
)
def test_cli_policy_json_and_exit_code(
    alpine: Alpine,
    cli: list[str],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    action: str,
    expected: ExitCode,
) -> None:
    policy = tmp_path / "policy.yaml"
    policy.write_text(CLI_POLICIES.format(action=action))
    image = alpine.by_user["root"]
    argv = ["policy", image, "--policy", str(policy), "-f", "json", *cli]
    code, out, err = run_cli(argv, capsys)
    assert code == expected, err
    document = json.loads(out)
    schema = load_schema()
    jsonschema.Draft202012Validator.check_schema(schema)
    assert list(jsonschema.Draft202012Validator(schema).iter_errors(document)) == []
    assert document["result"] == ("fail" if expected == ExitCode.FINDINGS else "pass")
    assert document["not_evaluated"] == ["approved-base"]
    assert document["image"]["reference"] == image
    assert document["image"]["base"] is None
    assert document["policy_file"] == str(policy)
    # not evaluated first, then what blocks the run, then what only warns
    assert [p["id"] for p in document["policies"]] == ["approved-base", "non-root", "license"]
    policies = {p["id"]: p for p in document["policies"]}
    non_root, license, approved = (policies[i] for i in ("non-root", "license", "approved-base"))
    assert (non_root["status"], non_root["action"]) == ("fail", action)
    assert non_root["blocking"] is (action == "fail")
    assert non_root["reason"] == "User is explicitly root (root)"
    assert [i["data"] for i in non_root["items"]] == [
        {"id": "root", "user": "root", "explicit": True}
    ]
    assert (license["status"], license["action"], license["blocking"]) == ("fail", "warn", False)
    assert license["parameters"] == {"deny": ["GPL-2.0-only"]}
    assert {i["data"]["package"] for i in license["items"]} == denied_by("GPL-2.0-only")
    assert approved["status"] == "not-evaluated"
    assert approved["reason"].startswith("the image's base is unknown")
    assert all(p["reason"] for p in document["policies"])


def test_cli_policy_bad_file_is_a_usage_error_naming_the_line(
    alpine: Alpine, cli: list[str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    policy = tmp_path / "policy.yaml"
    policy.write_text(
        "policies:\n"
        "  - id: no-fixable-severe\n"
        "    severity: high\n"
        "  - id: license\n"
        "    denny: [AGPL-3.0-only]\n"
    )
    argv = ["policy", alpine.bare, "--policy", str(policy), "-f", "json", *cli]
    code, out, err = run_cli(argv, capsys)
    assert code == ExitCode.USAGE
    assert out == ""
    assert f"{policy}:5: license: unknown parameter 'denny'" in err
    assert "did you mean 'deny'?" in err
