"""SPDX expressions evaluated against a deny list, and the `license` policy."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import pytest

from basewatch.errors import UsageError
from basewatch.policy import Status
from basewatch.policy.licenses import (
    MAX_TABLE_BYTES,
    LicenseStatus,
    SpdxIds,
    cached_spdx_ids,
    check_licenses,
    library_spdx_ids,
    normalize_license_id,
)
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


# --- the fast reader agrees with the library's SPDX licensing ---------------------------------

_TOKENS = (
    *("MIT", "mit", "Apache-2.0", "apache-2.0", "AGPL-3.0", "agpl-3.0+", "AGPL-3.0-only"),
    *("GPL-2.0", "GPL-2.0+", "gpl-2.0-or-later", "LGPL-2.1+", "BSD-3-Clause", "bsd", "GPLv2+"),
    *("Public Domain", "LicenseRef-Internal", "Classpath-exception-2.0", "X11", "zlib"),
)


def _expressions(count: int) -> list[str]:
    import random

    rnd = random.Random(15)

    def one(depth: int) -> str:
        if depth > 2 or rnd.random() < 0.35:
            token = rnd.choice(_TOKENS)
            if rnd.random() < 0.15:
                token += " WITH " + rnd.choice(("Classpath-exception-2.0", "LLVM-exception"))
            return token
        operator = rnd.choice((" AND ", " OR ", " and ", " or "))
        text = operator.join(one(depth + 1) for _ in range(rnd.randint(2, 3)))
        return f"({text})" if rnd.random() < 0.5 else text

    texts = [one(0) for _ in range(count)]
    return [t[:-1] if i % 20 == 0 else t for i, t in enumerate(texts)]  # some do not parse


def test_expressions_read_as_the_spdx_licensing_reads_them() -> None:
    """`licenses` reads ids with a table instead of the library's SPDX `Licensing` (which is
    slow to build); both must agree on what every expression says."""
    import license_expression  # type: ignore[import-untyped]

    spdx = license_expression.get_spdx_licensing()
    for text in _expressions(400):
        check = check_licenses((text,), AGPL)
        try:
            parsed = spdx.parse(text, validate=False, strict=False)
        except Exception:
            parsed = None
        if parsed is None:
            assert check.status is LicenseStatus.UNKNOWN, text
            assert check.unreadable == (text,), text
            continue
        assert check.expression == str(parsed), text
        keys = {str(s.key) for s in spdx.license_symbols(parsed, decompose=True)}
        known = {k for k in keys if k in spdx.known_symbols}
        denied = {k for k in keys if k.lower() in {d.lower() for d in AGPL}}
        assert set(check.denied) <= denied, text
        assert set(check.unreadable) <= keys - known, text
        if not denied:
            assert check.status in (LicenseStatus.ALLOWED, LicenseStatus.UNKNOWN), text
        if keys <= known and not denied:
            assert check.status is LicenseStatus.ALLOWED, text


# --- the SPDX table kept in the cache dir ----------------------------------------------------


def _fresh(path: Path) -> SpdxIds:
    cached_spdx_ids.cache_clear()
    return cached_spdx_ids(path)


def test_the_table_is_kept_and_read_back(tmp_path: Path) -> None:
    path = tmp_path / "cache" / "spdx-ids.json"
    first = _fresh(path)
    assert first.ids == library_spdx_ids().ids
    assert first.find("agpl-3.0") == "AGPL-3.0-only"
    assert "Classpath-exception-2.0" in first.exceptions
    kept = json.loads(path.read_text())
    # What is read back is the file, not the library: a changed entry shows through.
    kept["ids"]["mit"] = "MIT-from-the-file"
    path.write_text(json.dumps(kept))
    assert _fresh(path).find("MIT") == "MIT-from-the-file"
    assert check_licenses(("mit",), AGPL, _fresh(path)).expression == "MIT-from-the-file"


def test_a_table_of_another_license_index_is_rebuilt(tmp_path: Path) -> None:
    path = tmp_path / "spdx-ids.json"
    _fresh(path)
    kept = json.loads(path.read_text())
    kept["source"] = ["/elsewhere/index.json", 1, 2]
    kept["ids"]["mit"] = "stale"
    path.write_text(json.dumps(kept))
    assert _fresh(path).find("mit") == "MIT"
    assert json.loads(path.read_text())["ids"]["mit"] == "MIT"  # written again


@pytest.mark.parametrize(
    "content",
    [
        b"not json",
        b'{"source": 1}',
        b"[]",
        b" " * (MAX_TABLE_BYTES + 1),
    ],
)
def test_a_damaged_table_is_rebuilt(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "spdx-ids.json"
    path.write_bytes(content)
    assert _fresh(path).ids == library_spdx_ids().ids
    assert json.loads(path.read_text())["ids"]["mit"] == "MIT"


@pytest.mark.parametrize(
    "damage",
    [
        {"ids": {"mit": ["MIT", False]}},
        {"ids": ["mit"]},
        {"exceptions": {"x": 1}},
        {"exceptions": [1]},
        {"ids": None},
    ],
)
def test_a_table_of_the_wrong_shape_is_rebuilt(tmp_path: Path, damage: dict[str, object]) -> None:
    path = tmp_path / "spdx-ids.json"
    _fresh(path)
    kept = json.loads(path.read_text())
    path.write_text(json.dumps(kept | damage))  # the same source: only the shape is wrong
    assert _fresh(path).ids == library_spdx_ids().ids
    assert json.loads(path.read_text()) == kept


def test_a_fifo_in_place_of_the_table_is_not_read(tmp_path: Path) -> None:
    path = tmp_path / "spdx-ids.json"
    os.mkfifo(path)  # opening it for reading would wait for a writer forever
    assert _fresh(path).ids == library_spdx_ids().ids
    assert stat.S_ISFIFO(path.lstat().st_mode)  # and left as it is


def test_a_symlink_in_place_of_the_table_is_left_alone(tmp_path: Path) -> None:
    target = tmp_path / "elsewhere.json"
    target.write_text("not a table")
    path = tmp_path / "spdx-ids.json"
    path.symlink_to(target)
    assert _fresh(path).ids == library_spdx_ids().ids
    assert path.is_symlink()
    assert target.read_text() == "not a table"


def test_a_table_that_cannot_be_kept_is_still_used(tmp_path: Path) -> None:
    blocked = tmp_path / "file"
    blocked.write_text("")
    table = _fresh(blocked / "spdx-ids.json")  # its directory is a file
    assert table.find("MIT") == "MIT"
    assert blocked.read_text() == ""
