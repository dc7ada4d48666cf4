"""SPDX expressions evaluated against a deny list, and the `license` policy."""

from __future__ import annotations

import pytest

from basewatch.errors import UsageError
from basewatch.policy import Status
from basewatch.policy.licenses import LicenseStatus, check_licenses, normalize_license_id
from tests.unit.policy.build import deb, facts, inventory, pypi, run

AGPL = frozenset({"AGPL-3.0-only", "AGPL-3.0-or-later"})


@pytest.mark.parametrize(
    ("declared", "status", "denied"),
    [
        (("MIT OR AGPL-3.0-only",), LicenseStatus.ALLOWED, ()),  # one can choose MIT
        (("MIT AND AGPL-3.0-only",), LicenseStatus.DENIED, ("AGPL-3.0-only",)),
        (("AGPL-3.0",), LicenseStatus.DENIED, ("AGPL-3.0-only",)),  # deprecated id
        (("AGPL-3.0+",), LicenseStatus.DENIED, ("AGPL-3.0-or-later",)),
        (("agpl-3.0-or-later",), LicenseStatus.DENIED, ("AGPL-3.0-or-later",)),
        (
            ("AGPL-3.0-only WITH Classpath-exception-2.0",),  # an exception keeps the license
            LicenseStatus.DENIED,
            ("AGPL-3.0-only",),
        ),
        (("GPL-2.0-only WITH Classpath-exception-2.0",), LicenseStatus.ALLOWED, ()),
        (("MIT OR (AGPL-3.0-only AND BSD-3-Clause)",), LicenseStatus.ALLOWED, ()),
        (("(MIT OR AGPL-3.0-only) AND AGPL-3.0-or-later",), LicenseStatus.DENIED, None),
        (("MIT", "AGPL-3.0-only"), LicenseStatus.DENIED, ("AGPL-3.0-only",)),  # both apply
        (("GPL-1.0-or-later",), LicenseStatus.ALLOWED, ()),
        (("GPLv2+ OR MIT",), LicenseStatus.ALLOWED, ()),  # unknown id, but MIT can be chosen
        (("GPLv2+ AND AGPL-3.0",), LicenseStatus.DENIED, ("AGPL-3.0-only",)),
        (("GPLv2+",), LicenseStatus.UNKNOWN, ()),
        (("GPLv2+ AND MIT",), LicenseStatus.UNKNOWN, ()),
        (("MIT OR",), LicenseStatus.UNKNOWN, ()),  # does not parse
        (("MIT/X11",), LicenseStatus.UNKNOWN, ()),
        (("UNKNOWN",), LicenseStatus.NONE, ()),
        ((), LicenseStatus.NONE, ()),
    ],
)
def test_expressions(
    declared: tuple[str, ...], status: LicenseStatus, denied: tuple[str, ...] | None
) -> None:
    check = check_licenses(declared, AGPL)
    assert check.status is status
    if denied is not None:
        assert check.denied == denied


def test_the_expression_is_shown_normalised() -> None:
    assert check_licenses(("mit and agpl-3.0",), AGPL).expression == "MIT AND AGPL-3.0-only"
    assert check_licenses(("MIT", "GPL-2.0 OR BSD-3-Clause"), AGPL).expression == (
        "MIT AND (GPL-2.0-only OR BSD-3-Clause)"
    )
    assert check_licenses(("GPLv2+",), AGPL).unreadable == ("GPLv2+",)


def test_a_denied_licenseref_is_matched_as_written() -> None:
    deny = frozenset({normalize_license_id("LicenseRef-Proprietary")})
    assert check_licenses(("LicenseRef-Proprietary",), deny).status is LicenseStatus.DENIED
    assert check_licenses(("MIT OR LicenseRef-Proprietary",), deny).status is (
        LicenseStatus.ALLOWED
    )


@pytest.mark.parametrize(
    ("text", "normalised"),
    [
        ("AGPL-3.0", "AGPL-3.0-only"),
        ("agpl-3.0+", "AGPL-3.0-or-later"),
        ("GPL-2.0-only", "GPL-2.0-only"),
        ("LicenseRef-Internal", "LicenseRef-Internal"),
    ],
)
def test_deny_ids_are_normalised(text: str, normalised: str) -> None:
    assert normalize_license_id(text) == normalised


@pytest.mark.parametrize("text", ["Foo", "MIT OR GPL-2.0-only", "Classpath-exception-2.0", "("])
def test_deny_ids_must_be_license_ids(text: str) -> None:
    with pytest.raises(ValueError, match="is not an SPDX license id"):
        normalize_license_id(text)


# --- the policy ---------------------------------------------------------------------------------


def test_a_package_that_needs_a_denied_license_fails() -> None:
    tool = pypi("agpl-tool", "2.0", licenses=("MIT AND AGPL-3.0-only",))
    dual = pypi("dual", "1.0", licenses=("MIT OR AGPL-3.0-only",))
    plain = pypi("plain", "1.0", licenses=("BSD-3-Clause",))
    verdict = run("license", facts(inventory((tool, dual, plain))))
    assert verdict.status is Status.FAIL
    assert verdict.reason == ("1 package needs a denied license (AGPL-3.0-only, AGPL-3.0-or-later)")
    assert [i.subject for i in verdict.items] == [
        "agpl-tool 2.0: MIT AND AGPL-3.0-only (no choice avoids AGPL-3.0-only)"
    ]
    assert dict(verdict.items[0].data) == {
        "id": "pkg:pypi/agpl-tool@2.0",
        "package": "agpl-tool",
        "source": "agpl-tool",
        "version": "2.0",
        "purl": "pkg:pypi/agpl-tool@2.0",
        "license": "MIT AND AGPL-3.0-only",
        "denied": "AGPL-3.0-only",
    }


def test_packages_without_a_readable_license_are_counted_not_failed() -> None:
    packages = (
        pypi("dual", "1.0", licenses=("MIT OR AGPL-3.0-only",)),
        deb("libc6"),  # dpkg records no license
        deb("zlib1g"),
        pypi("odd", "1.0", licenses=("GNU Affero General Public License v3",)),
    )
    verdict = run("license", facts(inventory(packages)))
    assert verdict.status is Status.PASS
    assert verdict.reason == (
        "no package needs a denied license (AGPL-3.0-only, AGPL-3.0-or-later) among the "
        "1 package checked; 3 packages were not checked (no license declared: 2, not a "
        "readable SPDX expression: 1)"
    )


def test_nothing_to_check_is_not_evaluated() -> None:
    verdict = run("license", facts(inventory((deb("libc6"), deb("zlib1g")))))
    assert verdict.status is Status.NOT_EVALUATED
    assert verdict.reason == (
        "none of the 2 packages declares a license that can be checked (no license declared: 2)"
    )
    empty = run("license", facts(inventory(())))
    assert empty.status is Status.NOT_EVALUATED
    assert empty.reason == "no package was found in the image: nothing to check"


def test_the_deny_list_is_configurable() -> None:
    gpl = pypi("gpl", "1.0", licenses=("GPL-3.0",))
    assert run("license", facts(inventory((gpl,)))).status is Status.PASS
    verdict = run("license", facts(inventory((gpl,))), deny=["GPL-3.0-only"])
    assert verdict.status is Status.FAIL
    assert verdict.parameters == {"deny": ("GPL-3.0-only",)}


def test_a_bad_deny_list_in_code_is_a_usage_error() -> None:
    with pytest.raises(UsageError, match=r"license: deny holds 'Nope', which is not an SPDX"):
        run("license", facts(), deny=["Nope"])
