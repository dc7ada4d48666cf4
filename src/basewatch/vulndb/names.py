"""Package names as the store indexes them: each ecosystem's own notion of "the same name".

The store keeps the published name in the record and indexes a normalised form, so a lookup
by the name a package reports ("Django", "zope.interface") finds advisories that spell it
differently ("django", "zope-interface").
"""

from __future__ import annotations

import re

_PEP503_SEPARATORS = re.compile(r"[-_.]+")

# Ecosystems whose registries treat names case-insensitively: the index is lower-case.
_CASE_INSENSITIVE = frozenset({"npm", "NuGet", "Packagist", "Pub", "Hex"})


def base_ecosystem(ecosystem: str) -> str:
    """The ecosystem without its release or variant suffix: "Debian:12" -> "Debian"."""
    return ecosystem.split(":", 1)[0]


def normalize_name(ecosystem: str, name: str) -> str:
    """The index key for `name` in `ecosystem` (an OSV ecosystem string, release included).

    PyPI follows PEP 503; registries with case-insensitive names are lower-cased; Go module
    paths, Maven coordinates, crates and distribution package names are kept as published
    (their registries treat other spellings as other packages).
    """
    base = base_ecosystem(ecosystem)
    name = name.strip()
    if base == "PyPI":
        return _PEP503_SEPARATORS.sub("-", name).lower()
    if base in _CASE_INSENSITIVE:
        return name.lower()
    return name
