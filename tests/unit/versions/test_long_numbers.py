"""Numbers of any length, in every comparator: never int() of an unbounded digit run (CPython
refuses more than 4,300 digits with a ValueError, which would break every scan of the package).
Where the ecosystem's own tool orders such numbers (dpkg, rpm, SemVer, Go, Maven), they are
ordered by value; where it cannot (pip, npm, NuGet), InvalidVersion says so. apk's own rule
(an invalid token from the 18th digit on) is in test_apk.py."""

from __future__ import annotations

import time

import pytest

from basewatch.errors import InvalidVersion
from basewatch.versions.registry import comparator_for

N = "1" + "0" * 4999  # 5,000 digits
N1 = "1" + "0" * 4998 + "1"  # N + 1
N9 = "9" * 4999  # N - 1, one digit shorter
ZN = "000" + N  # N with leading zeros


def compare(ecosystem: str, a: str, b: str) -> int:
    comparator = comparator_for(ecosystem)
    assert comparator is not None
    result = comparator.compare(a, b)
    assert comparator.compare(b, a) == -result
    ka, kb = comparator.key(a), comparator.key(b)
    assert (ka < kb, ka == kb, ka > kb) == (result < 0, result == 0, result > 0)
    return result


@pytest.mark.parametrize(
    ("ecosystem", "low", "high"),
    [
        ("Debian:12", f"1.{N9}", f"1.{N}"),
        ("Debian:12", f"1.{N}", f"1.{N1}"),
        ("Debian:12", f"{N}-1", f"{N1}-1"),
        ("Debian:12", f"1.0-{N}", f"1.0-{N1}"),
        ("Debian:12", f"1.{N}~rc1", f"1.{N}"),
        ("AlmaLinux:9", f"1.{N9}", f"1.{N}"),
        ("AlmaLinux:9", f"1.{N}-1.el9", f"1.{N1}-1.el9"),
        ("AlmaLinux:9", f"1.0-{N}", f"1.0-{N1}"),
        ("crates.io", f"{N}.0.0", f"{N1}.0.0"),
        ("crates.io", f"1.{N9}.0", f"1.{N}.0"),
        ("crates.io", f"1.0.0-{N}", f"1.0.0-{N1}"),
        ("crates.io", f"1.0.0-{N1}", "1.0.0-a"),  # numeric identifiers before alphanumeric
        ("Go", f"v{N}.0.0", f"v{N1}.0.0"),
        ("Go", f"v1.0.0-rc.{N}", f"v1.0.0-rc.{N1}"),
        ("Go", f"go1.{N}", f"go1.{N1}"),
        ("Go", f"1.{N}rc1", f"1.{N}.0"),
        ("Maven", f"1.{N9}", f"1.{N}"),
        ("Maven", f"1.{N}", f"1.{N1}"),
        ("Maven", f"1-{N}", f"1-{N1}"),
        ("Maven", "1.123456789012345678", f"1.{N}"),  # long < BigInteger
        ("NuGet", f"1.0.0-{N}", f"1.0.0-{N1}"),  # labels past Int32 compare as text
    ],
)
def test_long_numbers_order_by_value(ecosystem: str, low: str, high: str) -> None:
    assert compare(ecosystem, low, high) == -1


@pytest.mark.parametrize(
    ("ecosystem", "a", "b"),
    [
        ("Debian:12", f"1.{ZN}", f"1.{N}"),
        ("Debian:12", f"{'0' * 5000}:1.0", "1.0"),  # CPython's limit counts leading zeros
        ("Debian:12", f"-{'0' * 5000}:1.0", "1.0"),  # dpkg's strtol() reads -0 as 0
        ("AlmaLinux:9", f"{'0' * 5000}:1.0", "1.0"),
        ("NuGet", f"{'0' * 5000}1.0", "1.0"),
        ("AlmaLinux:9", f"1.{ZN}", f"1.{N}"),
        ("Maven", f"1.{ZN}", f"1.{N}"),
        ("Go", f"1.0.0+{N}", "1.0.0"),  # build metadata is ignored
    ],
)
def test_leading_zeros_do_not_count(ecosystem: str, a: str, b: str) -> None:
    assert compare(ecosystem, a, b) == 0


@pytest.mark.parametrize(
    ("ecosystem", "version", "reason"),
    [
        ("Debian:12", f"{N}:1.0", "epoch in version is too big"),
        ("Debian:12", f"-{N}:1.0", "epoch in version is negative"),
        ("AlmaLinux:9", f"{N}:1.0-1", "the epoch is above 4294967295"),
        ("PyPI", N, "more than 4300 digits"),
        ("PyPI", f"1.0.post{N}", "more than 4300 digits"),
        ("PyPI", f"1.0+local.{N}", "more than 4300 digits"),
        ("npm", f"{N}.0.0", "longer than 256 characters"),
        ("NuGet", f"{N}.0", "a number is above 2147483647"),
    ],
)
def test_numbers_no_tool_can_take_are_invalid_versions(
    ecosystem: str, version: str, reason: str
) -> None:
    comparator = comparator_for(ecosystem)
    assert comparator is not None
    with pytest.raises(InvalidVersion) as err:
        comparator.key(version)
    message = str(err.value)
    assert reason in message
    assert ecosystem in message
    assert len(message) < 300  # the version is shown cut short


def test_pep440_still_orders_long_numbers_pip_can_read() -> None:
    long = "1" + "0" * 4000
    assert compare("PyPI", f"1.{long}", f"1.{long}1") == -1


@pytest.mark.parametrize(
    ("ecosystem", "prefix"),
    [("Debian:12", "1."), ("AlmaLinux:9", "1."), ("crates.io", "1.0.0-"), ("Go", "v1.0.0-"),
     ("Maven", "1.")],
)  # fmt: skip
def test_a_long_version_is_fast(ecosystem: str, prefix: str) -> None:
    version = prefix + ".".join([N] * 40) + ".0"  # 200,000 digits
    start = time.monotonic()
    assert compare(ecosystem, version, version + ".1") == -1
    assert time.monotonic() - start < 2.0


@pytest.mark.parametrize("nesting", ["-1", "a1", "-a"])
def test_maven_refuses_versions_nested_past_any_real_one(nesting: str) -> None:
    comparator = comparator_for("Maven")
    assert comparator is not None
    assert comparator.compare("1" + nesting * 30, "1" + nesting * 30 + "-1") == -1
    with pytest.raises(InvalidVersion) as err:
        comparator.key("1" + nesting * 2000)  # Maven compares sub-lists recursively
    assert "nests more than 100 sub-versions deep" in str(err.value)
