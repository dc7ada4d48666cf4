"""Maven versions, ordered as Maven 3.9's ComparableVersion orders them.

The version (lower-cased) splits into items at "." and "-" and at every change between digits
and other characters; a "-" or a change between digits and letters opens a sub-list, and a
qualifier after a "." at the end or before digits is treated like one after "-"
("1.0.RC1" < "1.0-RC2"). Empty items are 0. Numbers compare numerically; qualifiers compare
alpha < beta < milestone < rc = cr < snapshot < "" = ga = final = release < sp < any other
qualifier (those alphabetically); "a1", "b1", "m1" are alpha-1, beta-1, milestone-1. Where
items of different kinds meet: a number > a sub-list > a qualifier. Null items (0, "", an
empty sub-list) at the end of every list are trimmed ("1.0.0" = "1", "1-ga" = "1"), and a
missing item compares as null, so "1-rc" < "1" < "1-sp" and "1" < "1.1".

Maven never rejects a version; an empty one raises InvalidVersion here, since it names nothing,
and so does one nested more than 100 sub-lists deep (real versions nest a handful): items
compare recursively, in Maven as here, so depth is what would overflow the stack.
The key is an object rather than a tuple, because a missing item compares against whatever the
other version has at that place.
"""

from __future__ import annotations

import unicodedata
from functools import lru_cache

from basewatch.errors import InvalidVersion
from basewatch.versions.base import NumberKey, number_key, quoted

__all__ = ["MavenComparator", "MavenKey"]

_NUM, _STR, _LIST = 0, 1, 2
_QUALIFIERS = ("alpha", "beta", "milestone", "rc", "snapshot", "", "sp")
_RELEASE = 5  # the index of "", the release itself
_UNKNOWN = 7  # other qualifiers sort after the known ones, alphabetically
_ALIASES = {"ga": "", "final": "", "release": "", "cr": "rc"}
_SHORTHANDS = {"a": "alpha", "b": "beta", "m": "milestone"}  # only when a digit follows

# (kind, width class or qualifier index, number, qualifier text, sub-list items); the number is
# a NumberKey, which orders any number of digits as BigInteger does (never int() of them).
Item = tuple[int, int, NumberKey, bytes, tuple["Item", ...]]
Draft = list["Item | Draft"]  # a list being parsed
_NOUGHT = number_key("0")
_ZERO: Item = (_NUM, 0, _NOUGHT, b"", ())
_MAX_DEPTH = 100


class _TooDeep(ValueError):
    pass


def _number(digits: str) -> Item:
    # Maven keeps a number in an int, a long or a BigInteger by its length once leading zeros
    # are stripped, and any int < any long < any BigInteger, even when all of them are zero.
    stripped = digits.lstrip("0") or digits
    width = 0 if len(stripped) <= 9 else 1 if len(stripped) <= 18 else 2
    if not digits.isascii():  # Java's Character.digit() reads every Unicode decimal digit
        digits = "".join(str(unicodedata.decimal(c)) for c in digits)
    return _NUM, width, number_key(digits), b"", ()


def _qualifier(text: str, followed_by_digit: bool) -> Item:
    if followed_by_digit and len(text) == 1:
        text = _SHORTHANDS.get(text, text)
    text = _ALIASES.get(text, text)
    if text in _QUALIFIERS:
        return _STR, _QUALIFIERS.index(text), _NOUGHT, b"", ()
    # Java compares strings by UTF-16 code unit: so do big-endian UTF-16 bytes.
    return _STR, _UNKNOWN, _NOUGHT, text.encode("utf-16-be", "surrogatepass"), ()


def _item(is_digit: bool, text: str) -> Item:
    return _number(text) if is_digit else _qualifier(text, False)


def _is_null(item: Item) -> bool:
    if item[0] == _NUM:
        return item[2] == _NOUGHT
    if item[0] == _STR:
        return item[1] == _RELEASE
    return not item[4]


def _normalize(items: Draft) -> None:
    """Drop null items from the end, looking past sub-lists that are not null."""
    for i in range(len(items) - 1, -1, -1):
        item = items[i]
        if isinstance(item, list):
            if not item:
                del items[i]
        elif _is_null(item):
            del items[i]
        else:
            break


def _freeze(items: Draft) -> Item:
    children = tuple(_freeze(i) if isinstance(i, list) else i for i in items)
    return _LIST, 0, _NOUGHT, b"", children


@lru_cache(maxsize=65536)
def _parse(version: str) -> Item:
    text = version.lower()
    root: Draft = []
    created = [root]
    current = root

    def sublist() -> Draft:
        if len(created) > _MAX_DEPTH:
            raise _TooDeep(f"it nests more than {_MAX_DEPTH} sub-versions deep")
        new: Draft = []
        current.append(new)
        created.append(new)
        return new

    is_digit = False
    start = 0
    for i, char in enumerate(text):
        if char == ".":
            current.append(_ZERO if i == start else _item(is_digit, text[start:i]))
            start = i + 1
        elif char == "-":
            current.append(_ZERO if i == start else _item(is_digit, text[start:i]))
            start = i + 1
            current = sublist()
        elif char.isdecimal():  # Java's Character.isDigit
            if not is_digit and i > start:
                if current:  # "1.0.RC1": the qualifier goes into a sub-list, as after "-"
                    current = sublist()
                current.append(_qualifier(text[start:i], True))
                start = i
                current = sublist()
            is_digit = True
        else:
            if is_digit and i > start:
                current.append(_number(text[start:i]))
                start = i
                current = sublist()
            is_digit = False
    if len(text) > start:
        if not is_digit and current:
            current = sublist()
        current.append(_item(is_digit, text[start:]))
    for items in reversed(created):  # inner lists first, as Maven pops its stack
        _normalize(items)
    return _freeze(root)


def _compare(x: Item, y: Item | None) -> int:
    """Item.compareTo(): y is None where the other list has run out."""
    kind = x[0]
    if y is None:
        if kind == _NUM:
            return 0 if x[2] == _NOUGHT else 1
        if kind == _STR:
            return (x[1] > _RELEASE) - (x[1] < _RELEASE)
        for item in x[4]:  # every item, not only the first (MNG-6964)
            result = _compare(item, None)
            if result:
                return result
        return 0
    other = y[0]
    if kind != other:  # a number > a sub-list > a qualifier
        return 1 if kind == _NUM or other == _STR else -1
    if kind == _NUM:
        a, b = (x[1], x[2]), (y[1], y[2])
        return (a > b) - (a < b)
    if kind == _STR:
        p, q = (x[1], x[3]), (y[1], y[3])
        return (p > q) - (p < q)
    left, right = x[4], y[4]
    for i in range(max(len(left), len(right))):
        if i >= len(left):
            result = -_compare(right[i], None)
        else:
            result = _compare(left[i], right[i] if i < len(right) else None)
        if result:
            return result
    return 0


class MavenKey:
    """Sorts as ComparableVersion sorts; equal when compareTo() is 0. Not hashable."""

    __slots__ = ("items",)
    __hash__ = None  # type: ignore[assignment]  # equal keys can differ in structure

    def __init__(self, items: Item) -> None:
        self.items = items

    def _cmp(self, other: object) -> int | None:
        if not isinstance(other, MavenKey):
            return None
        return _compare(self.items, other.items)

    def __eq__(self, other: object) -> bool:
        result = self._cmp(other)
        return NotImplemented if result is None else result == 0

    def __lt__(self, other: object) -> bool:
        result = self._cmp(other)
        return NotImplemented if result is None else result < 0

    def __le__(self, other: object) -> bool:
        result = self._cmp(other)
        return NotImplemented if result is None else result <= 0

    def __gt__(self, other: object) -> bool:
        result = self._cmp(other)
        return NotImplemented if result is None else result > 0

    def __ge__(self, other: object) -> bool:
        result = self._cmp(other)
        return NotImplemented if result is None else result >= 0

    def __repr__(self) -> str:
        return f"MavenKey({self.items!r})"


class MavenComparator:
    """The version order of Maven (ComparableVersion)."""

    __slots__ = ("ecosystem", "name")

    def __init__(self, ecosystem: str = "Maven") -> None:
        self.name = "maven"
        self.ecosystem = ecosystem

    def key(self, version: str) -> MavenKey:
        """An object that sorts as Maven sorts. Raises InvalidVersion for an empty version."""
        if not version.strip():
            raise InvalidVersion(
                f"{quoted(version)} is not a valid {self.ecosystem} version: empty"
            )
        try:
            return MavenKey(_parse(version))
        except _TooDeep as exc:
            raise InvalidVersion(
                f"{quoted(version)} is not a valid {self.ecosystem} version: {exc}"
            ) from None

    def compare(self, a: str, b: str) -> int:
        """-1, 0 or 1, like ComparableVersion(a).compareTo(ComparableVersion(b))."""
        return _compare(self.key(a).items, self.key(b).items)
