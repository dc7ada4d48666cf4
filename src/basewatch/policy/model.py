"""What a policy evaluation says: a verdict per policy, and the configuration it was made under.

A verdict is `pass`, `fail` or `not-evaluated`, always with a reason a person can act on. A
failing verdict lists the items that fail it (never a bare "fail"); items an exception covers
are kept apart, with the exception's reason, and do not count.
"""

from __future__ import annotations

import datetime as dt
import fnmatch
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum

from basewatch.models import BaseImage, DatabaseInfo, ImageInfo

# A JSON scalar: what an item's data may hold, so every renderer can write it as it is.
Scalar = str | int | float | bool | None

# The data keys an exception's `match` is tried against, besides the subject and the aliases.
MATCH_KEYS = ("id", "package", "source", "purl")


class Status(StrEnum):
    PASS = "pass"  # noqa: S105 (a status, not a password)
    FAIL = "fail"
    NOT_EVALUATED = "not-evaluated"  # no data to decide on: the reason says which and why


class Action(StrEnum):
    """What a failing policy does to the run: `fail` blocks it, `warn` only reports."""

    FAIL = "fail"
    WARN = "warn"


@dataclass(frozen=True, slots=True)
class Item:
    """One thing that fails a policy: a finding, a package, the base, the user..."""

    subject: str  # what a person reads: "CVE-2024-1234 in openssl 3.0.11-1 (fixed in 3.0.13-1)"
    data: Mapping[str, Scalar]  # id, package, version, fixed_version, severity, days, license...
    excepted_by: str = ""  # the reason of the exception that covers it ("" when none does)
    aliases: tuple[str, ...] = ()  # other ids of the same thing (GHSA, DEBIAN-CVE...)

    def match_targets(self) -> tuple[str, ...]:
        """The texts an exception's `match` pattern is tried against."""
        values = [self.data.get(key) for key in MATCH_KEYS]
        texts = [v for v in values if isinstance(v, str) and v]
        return (*texts, *self.aliases, self.subject)


@dataclass(frozen=True, slots=True)
class Verdict:
    """The outcome of one policy on one image."""

    id: str
    title: str
    status: Status
    action: Action
    reason: str  # always set: why it passed, failed or could not be evaluated
    items: tuple[Item, ...] = ()  # the failing items no exception covers
    excepted: tuple[Item, ...] = ()  # items an exception covered (they do not count)
    parameters: Mapping[str, object] = field(default_factory=dict)

    @property
    def blocking(self) -> bool:
        """True when this verdict fails the run: it failed and its action is `fail`."""
        return self.status is Status.FAIL and self.action is Action.FAIL


@dataclass(frozen=True, slots=True)
class PolicyReport:
    """Every policy's verdict on one image, and what the evaluation itself warns about."""

    image: str
    verdicts: tuple[Verdict, ...]
    warnings: tuple[str, ...] = ()  # expired exceptions and the like

    @property
    def failed(self) -> bool:
        """True when some verdict blocks the run."""
        return any(v.blocking for v in self.verdicts)

    @property
    def blocking(self) -> tuple[Verdict, ...]:
        return tuple(v for v in self.verdicts if v.blocking)


@dataclass(frozen=True, slots=True)
class PolicyException:
    """An accepted risk: items matching `match` do not count against a policy until `expires`.

    `match` is an fnmatch pattern (case-sensitive) tried against an item's id, aliases,
    package, source package, purl and subject: "CVE-2024-*", "pkg:deb/debian/openssl*".
    """

    policy: str  # the policy it applies to; "" = every policy
    match: str
    reason: str
    expires: dt.date | None = None  # the last day it applies; None = no end
    line: int = 0  # where the policy file gives it
    origin: str = ""  # which policy file ("" for exceptions built in code)

    def expired(self, today: dt.date) -> bool:
        """True once `today` is past the last day the exception applies."""
        return self.expires is not None and self.expires < today

    def covers(self, item: Item) -> bool:
        return any(fnmatch.fnmatchcase(t, self.match) for t in item.match_targets())

    @property
    def where(self) -> str:
        """ "policy.yaml:12", or "" when it comes from no file."""
        if not self.origin:
            return ""
        return f"{self.origin}:{self.line}" if self.line else self.origin


@dataclass(frozen=True, slots=True)
class PolicyConfig:
    """One policy as configured: its action, scope, parameters (validated, defaults filled in)
    and the exceptions that apply to it (its own and the file's top-level ones)."""

    id: str
    action: Action = Action.FAIL
    scope: tuple[str, ...] = ()  # repository globs (normalised); () = every image
    parameters: Mapping[str, object] = field(default_factory=dict)
    exceptions: tuple[PolicyException, ...] = ()
    line: int = 0  # where the policy file lists it; 0 for a default
    origin: str = ""
    # set by `builtin.normalized`: parameters parsed, defaults in, scope normalised (a config
    # evaluated for thousands of images is checked once)
    ready: bool = field(default=False, compare=False, repr=False)


@dataclass(frozen=True, slots=True)
class PolicyRun:
    """What the policy reports render: the verdicts, and the image and data they were made on.

    `image` is the image's metadata (reference, digests, labels); `base` the base it was built
    on, when known; `database` the vulnerability data matched against (None: there was none);
    `policy_file` the file the policies came from ("" for the built-in defaults)."""

    report: PolicyReport
    image: ImageInfo
    base: BaseImage | None = None
    database: DatabaseInfo | None = None
    policy_file: str = ""
