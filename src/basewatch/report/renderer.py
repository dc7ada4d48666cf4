"""The `Renderer` seam every report family implements, and what the CLI's `--format` needs.

Standard library only: building the CLI's parser imports this module and the families' format
enums, never a renderer.
"""

from __future__ import annotations

from enum import StrEnum
from typing import ClassVar, Protocol, TypeVar

SubjectT_contra = TypeVar("SubjectT_contra", contravariant=True)

# Short names other tools take (`syft -o cyclonedx`, `trivy -f spdx`), for every command that
# offers the long ones; reports and help only ever show the canonical name.
FORMAT_ALIASES = {"cyclonedx": "cyclonedx-json", "spdx": "spdx-json"}


class Renderer(Protocol[SubjectT_contra]):
    """Turns one subject (an inventory, a scan result, a lint result...) into the bytes of one
    document; never prints, never exits."""

    name: ClassVar[str]  # the format value it renders
    media_type: ClassVar[str]  # for the HTTP service's Content-Type

    def render(self, subject: SubjectT_contra, /) -> bytes:
        """The whole document, UTF-8 encoded, ending with a newline."""
        ...


def format_choices(formats: type[StrEnum]) -> list[str]:
    """The `--format` choices of a family's format enum, canonical names only."""
    return [f.value for f in formats]


def canonical_format(text: str) -> str:
    """A `--format` value with its alias resolved (`cyclonedx` -> `cyclonedx-json`); any other
    value unchanged, so that the caller's list of choices decides (and says) what is valid.
    An argparse `type=` for `SbomFormat` and `ScanFormat` alike."""
    return FORMAT_ALIASES.get(text, text)
