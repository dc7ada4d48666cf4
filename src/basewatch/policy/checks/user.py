"""`non-root`: the image config's `User` is not root, telling an unset `User` from `USER root`."""

from __future__ import annotations

from collections.abc import Sequence

from basewatch.policy.facts import Facts
from basewatch.policy.model import Item, PolicyConfig, Verdict
from basewatch.policy.outcome import conclude
from basewatch.policy.spec import PolicySpec, parameters

_ROOT_NAMES = frozenset({"root", "0"})


def is_root(user: str) -> bool:
    """True for `root`, `0`, `root:GROUP` and `0:GROUP`: the user part decides, not the group."""
    name = user.strip().partition(":")[0]
    return name in _ROOT_NAMES


def _non_root(config: PolicyConfig, facts: Facts) -> Verdict:
    user = (facts.user or "").strip()
    items = []
    if not user:
        items.append(
            Item(
                subject="no User set: the container runs as root",
                data={"id": "(unset)", "user": None, "explicit": False},
            )
        )
    elif is_root(user):
        items.append(
            Item(
                subject=f"User is explicitly root ({user})",
                data={"id": user, "user": user, "explicit": True},
            )
        )
    group = user.partition(":")[2]
    notes = [f"its group is {group}: root's group"] if group in _ROOT_NAMES and not items else []

    def failed(failing: Sequence[Item]) -> str:
        return failing[0].subject

    return conclude(
        config,
        NON_ROOT.title,
        facts.today,
        items,
        passed=f"runs as {user}",
        failed=failed,
        notes=notes,
    )


NON_ROOT = PolicySpec(
    id="non-root",
    title="The image runs as a non-root user",
    parameters=parameters(),
    evaluate=_non_root,
)
