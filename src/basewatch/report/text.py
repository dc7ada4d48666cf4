"""Text every plain-text and Markdown report shares: printable strings, aligned columns, escapes.

Every string read from an image or an advisory goes through `printable` (or `markdown_escape`)
before it reaches a terminal or a Markdown page, so a hostile name cannot send escape sequences
or inject markup.
"""

from __future__ import annotations

import re
import unicodedata

MISSING = "-"
GAP = "  "
# ASCII punctuation that GitHub's Markdown acts on inside a line; CommonMark lets any ASCII
# punctuation be backslash-escaped, and GFM tables take `\|` as a literal bar.
_SPECIAL = re.compile(r"([\\`*_\[\]<>|~&#!])")


def printable(text: str) -> str:
    """`text` with every non-printable character (ESC, CR, lone surrogates...) escaped."""
    if text.isprintable():
        return text
    return "".join(
        c if c.isprintable() else c.encode("unicode_escape").decode("ascii") for c in text
    )


def scrub(text: str) -> str:
    """`text` with every non-printable character replaced by `?` (what `compare` and `advise`
    show, where an escape sequence would only get in the way)."""
    return "".join(ch if ch.isprintable() else "?" for ch in text)


def text_width(text: str) -> int:
    """Terminal columns taken by `text`: wide East Asian characters take two."""
    if text.isascii():
        return len(text)
    return sum(2 if unicodedata.east_asian_width(c) in "WF" else 1 for c in text)


def align_columns(rows: list[tuple[str, ...]], right: tuple[int, ...] = ()) -> list[str]:
    """`rows` made printable, padded to aligned columns (those in `right` right-aligned), joined
    by two spaces, without trailing blanks."""
    cells = [[printable(cell) for cell in row] for row in rows]
    widths = [max(text_width(row[i]) for row in cells) for i in range(len(rows[0]))]
    lines = []
    for row in cells:
        padded = []
        for i, cell in enumerate(row):
            pad = " " * (widths[i] - text_width(cell))
            padded.append(pad + cell if i in right else cell + pad)
        lines.append(GAP.join(padded).rstrip())
    return lines


def markdown_escape(text: str) -> str:
    """`text` safe to put in a Markdown paragraph, heading or table cell: on one line, without
    control characters, every character Markdown would act on backslash-escaped."""
    return _SPECIAL.sub(r"\\\1", printable(" ".join(text.split())))
