"""Policies in the service, on the embedded SQLite and a real PostgreSQL with advisories imported
into a real vulnerability database: the verdicts kept per image, re-evaluated from stored facts
when the data changes, one `policy.failed` / `policy.passed` event per transition, the history
of failing policies, and what the API and the dashboard show of them."""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from basewatch.clock import FixedClock
from basewatch.jobs.db import import_files
from basewatch.models import Inventory
from basewatch.oci.reference import RegistryRef
from basewatch.oci.registry.client import RegistryClient
from basewatch.oci.registry.options import RegistryOptions
from basewatch.policy import BUILTINS, default_policies, load_policy_file
from basewatch.service.app import create_app
from basewatch.service.auth import bootstrap
from basewatch.service.config import ServeSettings
from basewatch.service.dashboard.history import policy_failures
from basewatch.service.http import ServiceState
from basewatch.service.models import (
    Event,
    Image,
    ImageAttestations,
    ImagePolicy,
    PolicyHistory,
    Watch,
)
from basewatch.service.policies import fingerprint, without_database
from basewatch.service.reevaluate import Reevaluator
from basewatch.service.watcher import Watcher
from tests.integration import referrer_push as rp
from tests.unit.service.test_bases import DAY as BASE_DAY
from tests.unit.service.test_bases import (
    NEW,
    OLD,
    Registry,
    Service,
    busybox_record,
    registry,
    service,
    write_records,
)
from tests.unit.service.test_evaluate import (
    CURL,
    D1,
    D2,
    REQUESTS,
    Store,
    curl_record,
    inventory_with,
    store,
    stored_image,
)

# the fixtures of the evaluation tests (a service database and a vulnerability one) and of the
# base tests (a real docker-registry, and a service on it)
__all__ = ["registry", "service", "store"]
SPDX = "application/spdx+json"

DAY = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
FIXED = "7.88.1-11"  # the version that fixes the advisory (the image has 7.88.1-10)
CRITICAL = "DEBIAN-CVE-2099-0100"


def with_user(inventory: Inventory, user: str | None) -> Inventory:
    return dataclasses.replace(inventory, image=dataclasses.replace(inventory.image, user=user))


@dataclass
class Fleet:
    store: Store
    settings: ServeSettings
    clock: FixedClock

    def reevaluator(self, settings: ServeSettings | None = None) -> Reevaluator:
        return Reevaluator(self.store.make, settings or self.settings, self.store.core, self.clock)

    def verdicts(self, digest: str) -> dict[str, ImagePolicy]:
        with self.store.make() as session:
            rows = session.scalars(select(ImagePolicy).where(ImagePolicy.digest == digest))
            return {row.policy: row for row in rows}

    def events(self, *kinds: str) -> list[Event]:
        """The policy events (or those of `kinds`), oldest first."""
        wanted = kinds or ("policy.failed", "policy.passed")
        return [e for e in self.store.events() if e.type in wanted]

    def image(self, digest: str) -> Image:
        with self.store.make() as session:
            found = session.get(Image, digest)
            assert found is not None
            return found

    def history(self, digest: str) -> list[list[str]]:
        with self.store.make() as session:
            rows = session.scalars(
                select(PolicyHistory)
                .where(PolicyHistory.digest == digest)
                .order_by(PolicyHistory.at, PolicyHistory.id)
            )
            return [list(r.failing) for r in rows]


def settings_for(
    fleet_store: Store, database_url: str, home: Path, **environ: str
) -> ServeSettings:
    return ServeSettings.load(
        environ={"HOME": str(home), **environ},
        default_vulndb=fleet_store.core.db_path,
        flags={"database": database_url},
    )


@pytest.fixture
def fleet(store: Store, database_url: str, tmp_path: Path) -> Fleet:
    return Fleet(store, settings_for(store, database_url, tmp_path), FixedClock(DAY))


def test_a_fixable_critical_finding_fails_a_policy_once_and_its_fix_passes_it_once(
    fleet: Fleet,
) -> None:
    stored_image(fleet.store, D1, inventory_with(CURL))
    reevaluator = fleet.reevaluator()
    # no vulnerability database yet: the verdicts are made (silently: the image was indexed
    # before policies were kept), and the finding policies say why they cannot decide
    first = reevaluator.check()
    assert (first.images, first.policies) == ({}, 1)
    verdicts = fleet.verdicts(D1)
    assert set(verdicts) == set(BUILTINS)  # every built-in, with its defaults
    assert verdicts["no-fixable-severe"].status == "not-evaluated"
    assert "no vulnerability database" in verdicts["no-fixable-severe"].reason
    assert verdicts["non-root"].status == "fail"  # no User: runs as root
    assert fleet.events() == []
    assert fleet.image(D1).policy_failed is True
    # made without a database: made again once there is one
    assert fleet.image(D1).policy_config == without_database(fingerprint(fleet.settings.policies))
    assert reevaluator.check().policies == 0  # made under the configuration in force

    fleet.store.publish(curl_record(CRITICAL, FIXED, ["CVE-2099-0100"], "critical"))
    changed = reevaluator.check()
    assert set(changed.images) == {D1}
    (failed,) = fleet.events()
    assert failed.type == "policy.failed" and failed.severity == "critical"
    assert failed.digest == D1 and failed.repository == "127.0.0.1:5000/app"
    payload = failed.payload
    assert payload["image"] == {"digest": D1, "repository": "127.0.0.1:5000/app", "tags": []}
    assert payload["policy"]["id"] == "no-fixable-severe"
    assert payload["policy"]["action"] == "fail"
    assert payload["policy"]["title"] == "No fixable findings at or above a severity"
    assert payload["policy"]["reason"].startswith("1 fixable finding at or above high")
    assert (payload["status"], payload["previous"], payload["item_count"]) == (
        "fail",
        "not-evaluated",
        1,
    )
    (item,) = payload["items"]
    assert item == {
        "subject": f"CVE-2099-0100 in curl 7.88.1-10 (fixed in {FIXED})",
        "id": "CVE-2099-0100",
        "severity": "critical",
    }
    assert "fails no-fixable-severe (fail)" in payload["summary"]
    row = fleet.verdicts(D1)["no-fixable-severe"]
    assert (row.status, row.reported, row.item_count) == ("fail", "fail", 1)

    assert reevaluator.check().images == {}  # nothing changed: no second event
    fleet.store.publish(curl_record("DEBIAN-CVE-2099-0101", None, ["CVE-2099-0101"], "high"))
    assert set(reevaluator.check().images) == {D1}  # a finding without a fix: still one
    assert len(fleet.events()) == 1

    fleet.store.publish(curl_record(CRITICAL, "7.88.1-10", ["CVE-2099-0100"], "critical"))
    assert set(reevaluator.check().images) == {D1}
    failed_again, passed = fleet.events()
    assert failed_again.id == failed.id
    assert passed.type == "policy.passed" and passed.severity == "unknown"
    assert passed.payload["policy"]["id"] == "no-fixable-severe"
    assert (passed.payload["status"], passed.payload["previous"]) == ("pass", "fail")
    assert passed.payload["items"] == []
    assert [r["id"] for r in passed.payload["resolved"]] == ["CVE-2099-0100"]
    assert fleet.verdicts(D1)["no-fixable-severe"].status == "pass"
    assert reevaluator.check().images == {}
    assert len(fleet.events()) == 2
    # the failing policies over time: a row each time the set changed
    always = sorted(p for p, v in fleet.verdicts(D1).items() if v.status == "fail")
    with_it = sorted([*always, "no-fixable-severe"])
    assert fleet.history(D1) == [always, with_it, always]


def test_a_verdict_that_cannot_be_decided_for_a_while_is_not_news(
    fleet: Fleet, tmp_path: Path
) -> None:
    """fail -> not evaluated (the database gone) -> fail says nothing new, and verdicts made
    without a database are made again once it is back, even if nothing in it changed."""
    fleet.store.publish(curl_record(CRITICAL, FIXED, ["CVE-2099-0100"], "critical"))
    stored_image(fleet.store, D1, inventory_with(CURL))
    reevaluator = fleet.reevaluator()
    reevaluator.check()  # the baseline: silent
    assert fleet.verdicts(D1)["no-fixable-severe"].status == "fail"
    assert fleet.events() == []
    moved = tmp_path / "vuln.db.away"
    fleet.store.core.db_path.rename(moved)
    assert reevaluator.check().policies == 1
    assert fleet.verdicts(D1)["no-fixable-severe"].status == "not-evaluated"
    assert fleet.image(D1).policy_config.endswith(":no-database")
    assert reevaluator.check().policies == 0  # not again while there is none
    moved.rename(fleet.store.core.db_path)
    assert reevaluator.check().policies == 1
    assert fleet.verdicts(D1)["no-fixable-severe"].status == "fail"
    assert fleet.events() == []  # it failed, and still does


def test_a_new_policy_file_evaluates_every_image_again_and_tells_new_failures(
    fleet: Fleet, database_url: str, tmp_path: Path
) -> None:
    stored_image(fleet.store, D1, with_user(inventory_with(CURL), "app"))
    stored_image(fleet.store, D2, inventory_with(REQUESTS))
    assert fleet.reevaluator().check().policies == 2
    assert fleet.verdicts(D1)["non-root"].status == "pass"
    assert fleet.events() == []
    policy = tmp_path / "policy.yaml"
    policy.write_text(
        "policies:\n"
        "  - id: non-root\n"
        "    action: warn\n"
        "  - id: license\n"
        "    deny: [MIT]\n"
        "    scope: ['127.0.0.1:5000/other*']\n"
    )
    strict = settings_for(fleet.store, database_url, tmp_path, BASEWATCH_POLICY=str(policy))
    assert [c.id for c in strict.policies] == ["non-root", "license"]
    assert strict.policy == policy
    report = fleet.reevaluator(strict).check()
    assert report.policies == 2
    assert set(fleet.verdicts(D1)) == {"non-root"}  # license is out of its scope
    assert fleet.verdicts(D2)["non-root"].action == "warn"
    # D2 failed non-root before too (told silently then): nothing new; a warn failure does not
    # block, so neither image fails a policy with action fail
    assert fleet.events() == []
    assert (fleet.image(D1).policy_failed, fleet.image(D2).policy_failed) == (False, False)


def test_re_evaluating_writes_nothing_when_nothing_changed(fleet: Fleet) -> None:
    fleet.store.publish(curl_record(CRITICAL, FIXED, ["CVE-2099-0100"], "critical"))
    stored_image(fleet.store, D1, inventory_with(CURL))
    fleet.reevaluator().check()
    before = {p: (v.changed_at, v.reason) for p, v in fleet.verdicts(D1).items()}
    fleet.clock.advance(3600)
    fleet.store.publish(curl_record("DEBIAN-CVE-2099-0101", None, ["CVE-2099-0101"], "low"))
    assert set(fleet.reevaluator().check().images) == {D1}
    after = {p: (v.changed_at, v.reason) for p, v in fleet.verdicts(D1).items()}
    assert after == before  # a low finding without a fix changes no verdict
    assert len(fleet.history(D1)) == 1


@pytest.fixture
def served(fleet: Fleet) -> Iterator[tuple[TestClient, str]]:
    fleet.store.publish(curl_record(CRITICAL, FIXED, ["CVE-2099-0100"], "critical"))
    stored_image(fleet.store, D1, inventory_with(CURL))
    stored_image(fleet.store, D2, with_user(inventory_with(REQUESTS), "1000"))
    fleet.reevaluator().check()
    with fleet.store.make() as session:
        token = bootstrap(session, "")
        session.commit()
    assert token is not None
    app = create_app(
        ServiceState(fleet.settings, fleet.store.engine, fleet.store.make, fleet.clock)
    )
    with TestClient(app, base_url="https://testserver") as client:
        yield client, token


def test_the_api_shows_each_images_verdicts(served: tuple[TestClient, str]) -> None:
    client, token = served
    headers = {"Authorization": f"Bearer {token}"}
    listed = {i["digest"]: i for i in client.get("/api/v1/images", headers=headers).json()["items"]}
    # D1 runs as root and has a fixable critical finding; D2 passes all it can be judged on
    assert (listed[D1]["policy_failed"], listed[D2]["policy_failed"]) == (True, False)
    detail = client.get(f"/api/v1/images/{D1}", headers=headers).json()
    policies = {p["id"]: p for p in detail["policies"]}
    assert next(p["id"] for p in detail["policies"]) == "no-fixable-severe"
    severe = policies["no-fixable-severe"]
    assert (severe["status"], severe["action"], severe["item_count"]) == ("fail", "fail", 1)
    assert severe["title"] == "No fixable findings at or above a severity"
    assert severe["items"] == [
        {
            "subject": f"CVE-2099-0100 in curl 7.88.1-10 (fixed in {FIXED})",
            "id": "CVE-2099-0100",
            "severity": "critical",
        }
    ]
    assert policies["approved-base"]["status"] == "not-evaluated"
    assert "no approved bases configured" in policies["approved-base"]["reason"]
    assert "indexed before the service kept attestations" in policies["attestations"]["reason"]
    other = client.get(f"/api/v1/images/{D2}", headers=headers).json()
    assert {p["id"]: p["status"] for p in other["policies"]}["non-root"] == "pass"


def test_the_dashboard_shows_verdicts_the_filter_and_the_fail_gap(
    served: tuple[TestClient, str], fleet: Fleet
) -> None:
    client, token = served
    assert client.post("/login", data={"token": token}, follow_redirects=False).status_code == 303
    page = client.get(f"/images/{D1}").text
    section = page.split('id="policies-heading"', 1)[1].split("</section>", 1)[0]
    assert page.index('id="policies-heading"') < page.index('id="trend-heading"')
    # what was not evaluated, and why, comes first
    assert section.index("Not evaluated (") < section.index("<table")
    assert "<strong>approved-base</strong>: no approved bases configured" in section
    severe = re.search(r"<tr>\s*<th scope=\"row\">No fixable findings.*?</tr>", section, re.S)
    assert severe is not None
    assert '<strong class="flag">fail</strong>' in severe.group(0)
    assert 'href="/advisories/CVE-2099-0100"' in severe.group(0)

    failed = client.get("/images", params={"policy": "failed"}).text
    assert "1 image(s)" in failed  # D1 alone
    rows = failed.split("<tbody>", 1)[1].split("</tbody>", 1)[0]
    assert "no-fixable-severe" in rows and "Fails a policy" in failed

    overview = client.get("/").text
    assert 'id="policy-trend-heading"' in overview
    assert 'href="/images?policy=failed">1</a>' in overview
    chart = overview.split('id="policy-trend-heading"', 1)[1].split("</section>", 1)[0]
    assert "Policy failures over the fleet, last 30 days" in chart
    assert chart.count('<tr><th scope="row">') == 30  # the data table: a row a day
    assert 'data-series="no-fixable-severe"' in chart


def test_the_fail_gap_counts_each_policys_failing_images_by_day(fleet: Fleet) -> None:
    stored_image(fleet.store, D1, inventory_with(CURL))
    stored_image(fleet.store, D2, inventory_with(REQUESTS))
    start = datetime(2026, 11, 1, tzinfo=UTC)
    with fleet.store.make.begin() as session:
        for digest, at, failing in (
            (D1, start - timedelta(days=5), ["non-root"]),  # before the period
            (D1, start + timedelta(days=10, hours=3), ["license", "non-root"]),
            (D2, start + timedelta(days=20), ["non-root"]),
            (D1, start + timedelta(days=25), []),
        ):
            session.add(PolicyHistory(digest=digest, at=at, failing=failing))
    with fleet.store.make() as session:
        days = policy_failures(session, date(2026, 11, 30))
    assert len(days) == 30 and days[0][0] == date(2026, 11, 1)
    by_day = dict(days)
    assert by_day[date(2026, 11, 1)] == {"non-root": 1}
    assert by_day[date(2026, 11, 11)] == {"non-root": 1, "license": 1}
    assert by_day[date(2026, 11, 21)] == {"non-root": 2, "license": 1}
    assert by_day[date(2026, 11, 26)] == {"non-root": 1, "license": 0}


# --- at index time and on base moves, with a real docker-registry --------------------------------


def watch_tags(service: Service, repository: str, *tags: str) -> None:
    with service.make() as session:
        session.add(Watch(repository=repository, tags=list(tags), created_at=BASE_DAY))
        session.commit()


def stored_verdicts(service: Service, digest: str) -> dict[str, ImagePolicy]:
    with service.make() as session:
        rows = session.scalars(select(ImagePolicy).where(ImagePolicy.digest == digest))
        return {row.policy: row for row in rows}


def attach_sbom(registry: Registry, repository: str, tag: str) -> str:
    """An SPDX document attached to `repository:tag` as a referrer (the referrers tag schema,
    as `oras attach` does on docker-registry); returns the artifact's digest."""
    ref = RegistryRef(registry.running.host, repository, tag)
    up = rp.Uploader(ref)
    try:
        with RegistryClient(RegistryOptions(use_cache=False, retries=0)) as client:
            subject = rp.descriptor(client, ref, tag)
        document = b'{"spdxVersion": "SPDX-2.3", "name": "app"}'
        sbom, _ = rp.artifact(up, subject, SPDX, up.blob(document, SPDX), {})
        rp.referrers_index(up, subject["digest"], [sbom])
    finally:
        up.close()
    return str(sbom["digest"])


@pytest.mark.integration
def test_verdicts_and_attestations_are_kept_at_index_and_each_failure_told_once(
    registry: Registry, service: Service, tmp_path: Path
) -> None:
    osv = tmp_path / "osv"
    import_files([write_records(osv, busybox_record("ALPINE-TEST-0300", NEW))], service.core)
    registry.push_base("3.20", upgraded=False)
    registry.push_app("1", on_upgraded=False)
    sbom = attach_sbom(registry, "app", "1")
    watch_tags(service, f"{registry.host}/app", "1")
    watcher = Watcher(service.make, service.settings, service.core, FixedClock(BASE_DAY))
    report = watcher.poll_once()
    assert report.errors == []
    (app,) = report.indexed

    with service.make() as session:
        kept = session.get(ImageAttestations, app)
        assert kept is not None and kept.why == ""
        assert kept.attestations == [
            {"kind": "sbom", "artifact_type": SPDX, "digest": sbom},
        ]
    verdicts = stored_verdicts(service, app)
    assert set(verdicts) == set(BUILTINS)
    status = {policy: row.status for policy, row in verdicts.items()}
    assert status["no-fixable-severe"] == "fail"  # busybox's fix is out: a fixable high
    assert status["base-up-to-date"] == "pass"  # the base tag points where it was built on
    assert status["supported-base"] == "fail"  # Alpine 3.20 ended on 2026-04-01
    assert status["approved-base"] == "not-evaluated"  # no allow list configured
    assert status["attestations"] == "fail"
    assert verdicts["attestations"].reason == "missing 1 attestation: provenance"
    assert verdicts["base-up-to-date"].reason.startswith(f"{registry.host}/base:3.20 still")

    # the first evaluation of a new image tells each failing policy, once
    failed = service.events("policy.failed")
    failing = sorted(p for p, s in status.items() if s == "fail")
    assert sorted(e.payload["policy"]["id"] for e in failed) == failing
    assert {e.digest for e in failed} == {app}
    severe = next(e for e in failed if e.payload["policy"]["id"] == "no-fixable-severe")
    assert severe.payload["image"] == {
        "digest": app,
        "repository": f"{registry.host}/app",
        "tags": ["1"],
    }
    assert severe.severity == "high" and severe.payload["previous"] == "none"
    assert {i["id"] for i in severe.payload["items"]} == {"ALPINE-TEST-0300"}
    with service.make() as session:
        image = session.get(Image, app)
        assert image is not None and image.policy_failed is True

    # re-evaluated from what is stored: the registry is not asked again
    registry.proxy.reset()
    fixed = busybox_record("ALPINE-TEST-0300", OLD)  # the installed version is fixed after all
    fixed["modified"] = "2026-11-20T00:00:00Z"
    import_files([write_records(osv, fixed)], service.core)
    reevaluator = Reevaluator(service.make, service.settings, service.core, FixedClock(BASE_DAY))
    assert set(reevaluator.check().images) == {app}
    assert registry.proxy.requests == []
    (passed,) = service.events("policy.passed")
    assert passed.payload["policy"]["id"] == "no-fixable-severe"
    assert stored_verdicts(service, app)["attestations"].reason == (
        "missing 1 attestation: provenance"
    )
    assert watcher.poll_once().indexed == []  # nothing new: no event either
    assert len(service.events("policy.failed")) == len(failing)
    assert len(service.events("policy.passed")) == 1


@pytest.mark.integration
def test_a_moved_base_fails_base_up_to_date_and_a_rebuild_on_it_passes(
    registry: Registry, service: Service
) -> None:
    registry.push_base("3.20", upgraded=False)
    registry.push_app("1", on_upgraded=False)
    watch_tags(service, f"{registry.host}/app", "1", "2")
    watcher = Watcher(service.make, service.settings, service.core, FixedClock(BASE_DAY))
    (app,) = watcher.poll_once().indexed
    assert stored_verdicts(service, app)["base-up-to-date"].status == "pass"
    told = len(service.events("policy.failed"))

    registry.push_base("3.20", upgraded=True)
    moved = watcher.poll_once()
    (move,) = moved.bases
    verdict = stored_verdicts(service, app)["base-up-to-date"]
    assert verdict.status == "fail" and verdict.reason.startswith("the base has moved: ")
    assert verdict.reason.endswith("; rebuild the image")
    assert verdict.item_count == 1
    (item,) = verdict.items
    assert item["id"] == f"{registry.host}/base:3.20"
    new = service.events("policy.failed")[told:]
    (event,) = new  # one event: base-up-to-date, the rest did not change
    assert event.payload["policy"]["id"] == "base-up-to-date"
    assert (event.payload["previous"], event.payload["image"]["tags"]) == ("pass", ["1"])
    assert move.new[7:19] in event.payload["items"][0]["subject"]
    assert len(service.events("base.moved")) == 1

    assert watcher.poll_once().bases == []  # nothing moved since: nothing new
    assert len(service.events("policy.failed")) == told + 1

    registry.push_app("2", on_upgraded=True)  # rebuilt on the new base
    (rebuilt,) = watcher.poll_once().indexed
    assert stored_verdicts(service, rebuilt)["base-up-to-date"].status == "pass"
    assert stored_verdicts(service, app)["base-up-to-date"].status == "fail"


@pytest.mark.integration
def test_a_release_reaching_its_end_of_life_fails_supported_base(
    registry: Registry, service: Service
) -> None:
    registry.push_base("3.20", upgraded=False)
    watch_tags(service, f"{registry.host}/base", "3.20")
    march = FixedClock(datetime(2026, 3, 1, tzinfo=UTC))
    (base,) = Watcher(service.make, service.settings, service.core, march).poll_once().indexed
    verdict = stored_verdicts(service, base)["supported-base"]
    assert verdict.status == "pass" and "supported until 2026-04-01" in verdict.reason
    told = {e.payload["policy"]["id"] for e in service.events("policy.failed")}
    assert "supported-base" not in told

    watcher = Watcher(service.make, service.settings, service.core, FixedClock(BASE_DAY))
    assert watcher.poll_once().eol_reached == 1  # no data changed: the day did
    verdict = stored_verdicts(service, base)["supported-base"]
    assert verdict.status == "fail" and "reached end of life on 2026-04-01" in verdict.reason
    (ended,) = [
        e for e in service.events("policy.failed") if e.payload["policy"]["id"] == "supported-base"
    ]
    assert ended.payload["previous"] == "pass"


def test_the_fingerprint_is_the_configuration_not_where_a_file_says_it() -> None:
    text = "policies:\n  - id: license\nexceptions:\n  - match: CVE-1\n    reason: accepted\n"
    first = load_policy_file(text, "a.yaml")
    moved = load_policy_file("# a comment\n\n" + text, "elsewhere/b.yaml")
    assert fingerprint(first) == fingerprint(moved)
    assert fingerprint(first) != fingerprint(load_policy_file("policies:\n  - license\n", "a"))
    assert fingerprint(first) != fingerprint(default_policies())
    assert len(without_database(fingerprint(first))) <= 64  # Image.policy_config's size
