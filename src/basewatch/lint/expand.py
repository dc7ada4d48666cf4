"""`$VAR` expansion of Dockerfile ARGs, bounded.

BuildKit expands without a limit, so `ARG A=x` followed by forty `ARG A=$A$A` lines names a
terabyte. No value the linter needs (an image reference, a stage name, a user) comes near
`MAX_VALUE` characters, so a longer value is treated as unset, exactly like an ARG without a
value: the FROM it feeds is reported as unresolved, never guessed. All expansions of one
Dockerfile share `MAX_WORK` characters, so many medium-sized values cannot add up either. Every
limit hit leaves a note, which the engine reports as an error: the result is partial.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

MAX_VALUE = 64 * 1024  # characters in one expanded value
MAX_WORK = 4 * 1024 * 1024  # characters produced by all the expansions of one Dockerfile
MAX_NOTES = 5  # a hostile file hits the limit thousands of times; the first few say enough

_VAR = re.compile(
    r"\$(?:\{(?P<braced>[A-Za-z_][A-Za-z0-9_]*)(?P<op>:?[-+])?(?P<word>[^}]*)\}|"
    r"(?P<plain>[A-Za-z_][A-Za-z0-9_]*))"
)


class ExpansionBudget:
    """What is left of one Dockerfile's expansion work, and the notes of limits hit."""

    __slots__ = ("_left", "_more", "_notes")

    def __init__(self, work: int = MAX_WORK) -> None:
        self._left = work
        self._notes: list[str] = []
        self._more = 0

    @property
    def notes(self) -> tuple[str, ...]:
        more = (f"{self._more} more ARG expansions were cut short the same way",)
        return tuple(self._notes) + (more if self._more else ())

    @property
    def limit(self) -> int:
        """The longest value an expansion may produce now."""
        return min(MAX_VALUE, self._left)

    @property
    def exhausted(self) -> bool:
        return self._left < MAX_VALUE

    def spend(self, size: int) -> None:
        self._left -= size

    def note(self, message: str) -> None:
        if len(self._notes) < MAX_NOTES:
            self._notes.append(message)
        else:
            self._more += 1


def substitute(
    text: str,
    variables: Mapping[str, str | None],
    budget: ExpansionBudget | None = None,
    *,
    where: str = "",
) -> str | None:
    """Expand `$VAR`, `${VAR}`, `${VAR:-default}` and `${VAR:+alt}`; None if a VAR has no
    value, or if the result would be longer than MAX_VALUE or than what `budget` has left."""
    budget = budget if budget is not None else ExpansionBudget()
    limit = budget.limit
    parts: list[str] = []
    size = 0
    position = 0
    unresolved = False
    expanded = False
    for match in _VAR.finditer(text):
        expanded = True
        literal = text[position : match.start()]
        value = _value(match, variables)
        if value is None:
            unresolved = True
            value = ""
        size += len(literal) + len(value)
        if size > limit:
            _cut_short(text, budget, where)
            return None
        parts += (literal, value)
        position = match.end()
    if not expanded:
        return text  # nothing expanded: no work done, nothing charged
    parts.append(text[position:])
    size += len(text) - position
    if size > limit:
        _cut_short(text, budget, where)
        return None
    budget.spend(size)
    return None if unresolved else "".join(parts)


def _value(match: re.Match[str], variables: Mapping[str, str | None]) -> str | None:
    name = match.group("braced") or match.group("plain")
    value = variables.get(name)
    op = match.group("op")
    word = match.group("word") or ""
    if op in (":-", "-"):
        if value is None or (op == ":-" and value == ""):
            return word
        return value
    if op in (":+", "+"):
        return word if value else ""
    return value


def _cut_short(text: str, budget: ExpansionBudget, where: str) -> None:
    """Note that `text` was treated as unset, and why."""
    shown = text if len(text) <= 60 else text[:57] + "..."
    prefix = f"{where}: " if where else ""
    if budget.exhausted:
        budget.note(
            f"{prefix}{shown} was not expanded: the ARG expansions of this Dockerfile passed "
            f"{MAX_WORK:,} characters in total, so it is treated as unset (do ARGs build on "
            "each other, like ARG A=$A$A?)"
        )
    else:
        budget.note(
            f"{prefix}{shown} expands to more than {MAX_VALUE:,} characters, so it is treated "
            "as unset (no image reference is that long; does an ARG build on itself, like "
            "ARG A=$A$A?)"
        )
