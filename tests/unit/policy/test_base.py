"""`base-up-to-date`, `supported-base` and `approved-base` on hand-built facts."""

from __future__ import annotations

import datetime as dt

import pytest

from basewatch.models import BaseImage, BaseMethod, Confidence, OSInfo
from basewatch.policy import Action, PolicyConfig, Status
from basewatch.policy.builtin import evaluate
from tests.unit.policy.build import (
    ALPINE,
    BUILT_ON,
    BUSTER,
    MOVED_TO,
    base,
    facts,
    inventory,
    run,
)

GUESSED = BaseImage("", "", BaseMethod.HISTORY, Confidence.LOW, 3)

# --- base-up-to-date ----------------------------------------------------------------------------


def test_a_moved_base_fails_with_both_digests() -> None:
    f = facts(inventory(base_image=base("debian:12")), base_now=MOVED_TO)
    verdict = run("base-up-to-date", f)
    assert verdict.status is Status.FAIL
    assert verdict.reason == (
        "the base has moved: debian:12 was built on sha256:aaaaaaaaaaaa; the tag now points to "
        "sha256:bbbbbbbbbbbb; rebuild the image"
    )
    assert dict(verdict.items[0].data) == {
        "id": "debian:12",
        "reference": "debian:12",
        "digest": BUILT_ON,
        "now_digest": MOVED_TO,
    }


def test_a_base_still_at_its_digest_passes() -> None:
    verdict = run("base-up-to-date", facts(inventory(base_image=base()), base_now=BUILT_ON))
    assert verdict.status is Status.PASS
    assert verdict.reason == "debian:12 still points to sha256:aaaaaaaaaaaa, the digest built on"


@pytest.mark.parametrize(
    ("base_image", "why", "reason"),
    [
        (
            None,
            "",
            "the image's base is unknown: record it in the catalog or build the image with the "
            "org.opencontainers.image.base.name annotation",
        ),
        (
            GUESSED,
            "",
            "the image's base is not known by name (its first 3 layers were guessed from the "
            "history): record it in the catalog or build the image with the "
            "org.opencontainers.image.base.name annotation",
        ),
        (
            base("debian:12", ""),
            "",
            "the digest of debian:12 the image was built on is unknown",
        ),
        (
            base("debian@" + BUILT_ON),
            "",
            f"the base debian@{BUILT_ON} is named by digest alone: no tag to follow",
        ),
        (base(), "offline", "where the tag of debian:12 points now is not known: offline"),
        (base(), "", "where the tag of debian:12 points now is not known: unknown"),
    ],
)
def test_base_up_to_date_is_not_evaluated_without_data(
    base_image: BaseImage | None, why: str, reason: str
) -> None:
    f = facts(inventory(base_image=base_image), base_now=None, base_now_why=why)
    verdict = run("base-up-to-date", f)
    assert verdict.status is Status.NOT_EVALUATED
    assert verdict.reason == reason
    assert verdict.items == ()


# --- supported-base -----------------------------------------------------------------------------


def test_a_release_past_end_of_life_fails_with_the_configured_action() -> None:
    verdict = run("supported-base", facts(inventory(os=BUSTER, base_image=base("debian:10"))))
    assert verdict.status is Status.FAIL
    assert verdict.action is Action.FAIL
    assert verdict.blocking
    assert verdict.reason == (
        "Debian GNU/Linux 10 (buster) reached end of life on 2024-06-30 (609 days ago)"
    )
    assert dict(verdict.items[0].data) == {
        "id": "debian 10",
        "release": "Debian GNU/Linux 10 (buster)",
        "eol": "2024-06-30",
        "days": -609,
    }


def test_a_supported_release_passes() -> None:
    verdict = run("supported-base", facts(inventory(base_image=base())))
    assert verdict.status is Status.PASS
    assert verdict.reason == (
        "Debian GNU/Linux 12 (bookworm) is supported until 2028-06-30 (852 days left)"
    )


def test_a_release_ending_soon_fails_as_a_warning_whatever_the_action() -> None:
    f = facts(inventory(os=ALPINE, base_image=base("alpine:3.20")))
    verdict = run("supported-base", f)  # alpine 3.20 ends on 2026-04-01: in 31 days
    assert verdict.status is Status.PASS
    verdict = run("supported-base", f, warn_days=31)
    assert verdict.status is Status.FAIL
    assert verdict.action is Action.WARN
    assert not verdict.blocking
    assert verdict.reason == (
        "Alpine Linux v3.20 reaches end of life on 2026-04-01 (in 31 days, within 31 days)"
    )
    assert verdict.items[0].data["days"] == 31


def test_the_last_day_of_support_is_still_supported() -> None:
    f = facts(inventory(os=ALPINE), today=dt.date(2026, 4, 1))
    verdict = run("supported-base", f, warn_days=0)
    assert verdict.status is Status.FAIL
    assert verdict.action is Action.WARN
    assert verdict.reason.startswith("Alpine Linux v3.20 reaches end of life on 2026-04-01")
    ended = run("supported-base", facts(inventory(os=ALPINE), today=dt.date(2026, 4, 2)))
    assert ended.action is Action.FAIL
    assert ended.reason.startswith("Alpine Linux v3.20 reached end of life on 2026-04-01")


def test_without_a_known_base_the_images_own_release_is_checked() -> None:
    verdict = run("supported-base", facts(inventory(os=BUSTER, base_image=None)))
    assert verdict.status is Status.FAIL
    assert verdict.reason == (
        "Debian GNU/Linux 10 (buster) reached end of life on 2024-06-30 (609 days ago); "
        "the image's base is unknown, so its own release was checked"
    )


@pytest.mark.parametrize(
    ("os", "reason"),
    [
        (None, "the image's OS release is unknown (no os-release file or package database)"),
        (
            OSInfo("debian", "", pretty_name="Debian GNU/Linux trixie/sid"),
            "the release of Debian GNU/Linux trixie/sid is unknown (no VERSION_ID: a testing "
            "or rolling release has no end of life)",
        ),
        (OSInfo("wolfi", "20230201"), "no end-of-life date is known for wolfi 20230201"),
    ],
)
def test_supported_base_is_not_evaluated_without_a_release_or_date(
    os: OSInfo | None, reason: str
) -> None:
    verdict = run("supported-base", facts(inventory(os=os)))
    assert verdict.status is Status.NOT_EVALUATED
    assert verdict.reason == reason


# --- approved-base ------------------------------------------------------------------------------

ALLOW = ["registry.example.com/base/*", "debian:*-slim"]


def test_an_unapproved_base_fails() -> None:
    verdict = run("approved-base", facts(inventory(base_image=base("debian:12"))), allow=ALLOW)
    assert verdict.status is Status.FAIL
    assert verdict.reason == (
        "debian:12 (docker.io/library/debian:12) matches no allowed pattern "
        "(registry.example.com/base/*, docker.io/library/debian:*-slim)"
    )
    assert verdict.items[0].data["id"] == "docker.io/library/debian:12"


@pytest.mark.parametrize(
    ("reference", "pattern"),
    [
        ("debian:12-slim", "docker.io/library/debian:*-slim"),
        ("docker.io/library/debian:bookworm-slim", "docker.io/library/debian:*-slim"),
        ("index.docker.io/library/debian:12-slim", "docker.io/library/debian:*-slim"),
        ("registry.example.com/base/python:3.12", "registry.example.com/base/*"),
        (f"registry.example.com/base/python@{BUILT_ON}", "registry.example.com/base/*"),
    ],
)
def test_an_approved_base_passes(reference: str, pattern: str) -> None:
    verdict = run("approved-base", facts(inventory(base_image=base(reference))), allow=ALLOW)
    assert verdict.status is Status.PASS
    assert verdict.reason.endswith(f" matches {pattern}")


def test_a_pattern_without_a_tag_allows_every_tag() -> None:
    f = facts(inventory(base_image=base("debian:12")))
    assert run("approved-base", f, allow=["debian"]).status is Status.PASS
    assert run("approved-base", f, allow=["debian:11"]).status is Status.FAIL


def test_supported_only_also_fails_an_approved_base_past_end_of_life() -> None:
    f = facts(inventory(os=BUSTER, base_image=base("debian:10-slim")))
    assert run("approved-base", f, allow=ALLOW).status is Status.PASS
    verdict = run("approved-base", f, allow=ALLOW, supported_only=True)
    assert verdict.status is Status.FAIL
    assert verdict.reason == (
        "Debian GNU/Linux 10 (buster) reached end of life on 2024-06-30 (609 days ago)"
    )
    supported = facts(inventory(base_image=base("debian:12-slim")))
    verdict = run("approved-base", supported, allow=ALLOW, supported_only=True)
    assert verdict.status is Status.PASS
    assert verdict.reason == (
        "docker.io/library/debian:12-slim matches docker.io/library/debian:*-slim, and "
        "Debian GNU/Linux 12 (bookworm) is supported until 2028-06-30"
    )


def test_supported_only_with_an_unknown_release() -> None:
    f = facts(inventory(os=None, base_image=base("debian:12-slim")))
    verdict = run("approved-base", f, allow=ALLOW, supported_only=True)
    assert verdict.status is Status.NOT_EVALUATED
    assert verdict.reason == (
        "docker.io/library/debian:12-slim matches docker.io/library/debian:*-slim, but whether "
        "its release is supported: the image's OS release is unknown (no os-release file or "
        "package database)"
    )
    unapproved = facts(inventory(os=None, base_image=base("ubuntu:24.04")))
    verdict = run("approved-base", unapproved, allow=ALLOW, supported_only=True)
    assert verdict.status is Status.FAIL
    assert verdict.reason.endswith(
        "; whether its release is supported was not checked: the image's OS release is "
        "unknown (no os-release file or package database)"
    )


def test_approved_base_is_not_evaluated_without_allow_patterns_or_a_base() -> None:
    verdict = evaluate(PolicyConfig("approved-base"), facts(inventory(base_image=base())))
    assert verdict.status is Status.NOT_EVALUATED
    assert verdict.reason == "no approved bases configured (no allow patterns)"
    verdict = run("approved-base", facts(inventory(base_image=None)), allow=ALLOW)
    assert verdict.status is Status.NOT_EVALUATED
    assert verdict.reason.startswith("the image's base is unknown")
    verdict = run("approved-base", facts(inventory(base_image=base("oci:/tmp/x"))), allow=ALLOW)
    assert verdict.status is Status.NOT_EVALUATED
    assert verdict.reason == "the base 'oci:/tmp/x' is not a registry image reference"
