"""License strings as packages declare them, and their canonical SPDX form (SPDX and CycloneDX)."""

from __future__ import annotations

import functools
from typing import Any

# License strings that say nothing: packaging tools write them when the author gave no license.
_LICENSE_PLACEHOLDERS = frozenset({"", "unknown", "noassertion", "none", "n/a"})


def declared_licenses(values: tuple[str, ...]) -> list[str]:
    """The package's license strings, stripped, deduplicated, without placeholders (UNKNOWN)."""
    stripped = (" ".join(v.split()) for v in values)
    return list(dict.fromkeys(v for v in stripped if v.lower() not in _LICENSE_PLACEHOLDERS))


@functools.lru_cache(
    maxsize=4096
)  # the same few license strings recur across thousands of packages
def spdx_expression(value: str) -> str | None:
    """`value` in canonical SPDX form (`gpl-2.0+ or mit` -> `GPL-2.0-or-later OR MIT`), or None
    when it is not a valid SPDX license expression of known identifiers."""
    value = value.strip()
    if not value:
        return None
    try:
        info = _spdx_licensing().validate(value, strict=True)
    except Exception:  # its tokenizer raises assorted errors on unexpected characters
        return None
    if info.errors or not info.normalized_expression:
        return None
    return str(info.normalized_expression)


@functools.cache
def _spdx_licensing() -> Any:
    # license-expression comes with cyclonedx-python-lib; imported here so that only the SBOM
    # formats pay for loading the SPDX license list.
    from license_expression import get_spdx_licensing  # type: ignore[import-untyped]

    return get_spdx_licensing()
