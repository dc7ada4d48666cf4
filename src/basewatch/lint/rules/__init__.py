"""Every rule, by id: one module each, with its `INFO` (id, title, severity, rationale, fix)
and its `check(context)`. Ids are stable: a retired rule's id is never reused."""

from __future__ import annotations

from collections.abc import Mapping

from basewatch.lint.rules import (
    add_remote,
    apk_cache,
    apt_lists,
    apt_recommends,
    digest_without_tag,
    eol_base,
    eol_soon,
    full_variant,
    latest_tag,
    musl_glibc,
    package_upgrade,
    platform_flag,
    root_user,
    unpinned_digest,
    untagged_base,
    untrusted_registry,
)
from basewatch.lint.rules.base import Context, Hit, Rule

_MODULES = (
    untagged_base,
    latest_tag,
    unpinned_digest,
    digest_without_tag,
    untrusted_registry,
    eol_base,
    eol_soon,
    full_variant,
    root_user,
    add_remote,
    package_upgrade,
    apt_recommends,
    apk_cache,
    apt_lists,
    musl_glibc,
    platform_flag,
)

RULES: Mapping[str, Rule] = {m.INFO.id: Rule(m.INFO, m.check) for m in _MODULES}

__all__ = ["RULES", "Context", "Hit", "Rule"]
