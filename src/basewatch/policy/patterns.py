"""Image-reference globs (`approved-base`'s `allow`, every policy's `scope`), normalised the way
Docker normalises references, so `debian:12` in a policy means `docker.io/library/debian:12`.

A pattern is an fnmatch glob: `*` matches any run of characters, `/` and `:` included, so
`registry.example.com/base/*` allows every repository and tag below `base/`.
"""

from __future__ import annotations

import fnmatch

from basewatch.errors import UsageError
from basewatch.oci.reference import DOCKER_HUB, RegistryRef, parse_reference, without_prefix

_HUB_ALIASES = frozenset({"docker.io", "index.docker.io", "registry-1.docker.io"})
_GLOB = frozenset("*?[")


def _is_host(component: str) -> bool:
    return "." in component or ":" in component or component == "localhost"


def normalize_pattern(pattern: str) -> str:
    """`debian:*-slim` -> `docker.io/library/debian:*-slim`, `myorg/*` -> `docker.io/myorg/*`,
    `index.docker.io/x/*` -> `docker.io/x/*`; patterns naming a registry, or starting with a
    glob, are kept as written (the registry part lowercased)."""
    text = without_prefix(pattern.strip())
    first, slash, rest = text.partition("/")
    if not slash:  # `debian:12`, `node:*-slim`; `*` and `*-slim` are kept: they match anything
        return text if text[:1] in _GLOB else f"{DOCKER_HUB}/library/{text}"
    if any(c in _GLOB for c in first):  # `*/base/*`: any registry
        return text
    if _is_host(first):
        host = first.lower()
        return f"{DOCKER_HUB if host in _HUB_ALIASES else host}/{rest}"
    return f"{DOCKER_HUB}/{text}"


def reference_forms(reference: RegistryRef) -> tuple[str, ...]:
    """The texts a pattern is matched against: `registry/repository:tag` (`:latest` when
    neither tag nor digest is given), for a pinned reference `registry/repository@digest`, and
    `registry/repository` last, so a pattern without a tag allows every tag."""
    name = f"{reference.registry}/{reference.repository}"
    forms = []
    if reference.tag or not reference.digest:
        forms.append(f"{name}:{reference.tag or 'latest'}")
    if reference.digest:
        forms.append(f"{name}@{reference.digest}")
    forms.append(name)
    return tuple(forms)


def parse_base_reference(text: str) -> RegistryRef | None:
    """The registry reference a base is named by, None when it names no registry image."""
    try:
        return parse_reference(without_prefix(text.strip()))
    except UsageError:
        return None


def first_match(patterns: tuple[str, ...], texts: tuple[str, ...]) -> str:
    """The first pattern matching one of `texts`, "" when none does."""
    for pattern in patterns:
        if any(fnmatch.fnmatchcase(t, pattern) for t in texts):
            return pattern
    return ""
