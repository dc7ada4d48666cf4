"""Image platforms (`OS/ARCH[/VARIANT]`) as OCI indexes and configs spell them."""

from __future__ import annotations

import platform as host_platform
from dataclasses import dataclass
from typing import Any

from basewatch.arch import for_host_machine
from basewatch.errors import UsageError


@dataclass(frozen=True, slots=True)
class Platform:
    """An OS, architecture and optional variant (`linux/arm/v7`)."""

    os: str
    architecture: str
    variant: str = ""

    @classmethod
    def parse(cls, text: str) -> Platform:
        """`OS/ARCH[/VARIANT]`; raises UsageError for anything else."""
        parts = text.strip().split("/")
        if len(parts) not in (2, 3) or not all(parts):
            raise UsageError(f"platform {text!r}: expected OS/ARCH[/VARIANT], e.g. linux/arm64")
        return cls(parts[0], parts[1], parts[2] if len(parts) == 3 else "")

    @classmethod
    def host(cls) -> Platform:
        """The platform of the machine basewatch runs on (always linux)."""
        machine = host_platform.machine()
        known = for_host_machine(machine)
        if known is None:
            return cls("linux", machine)
        return cls("linux", known[0].value, known[1])

    def matches(self, data: dict[str, Any]) -> bool:
        """Whether a descriptor's or config's `os`/`architecture`/`variant` is this platform
        (a missing variant matches, except on arm where it says too little)."""
        if data.get("os") != self.os or data.get("architecture") != self.architecture:
            return False
        variant = data.get("variant") if isinstance(data.get("variant"), str) else ""
        if self.variant and variant and variant != self.variant:
            return False
        return not (self.variant and not variant and self.architecture == "arm")

    def __str__(self) -> str:
        return "/".join(p for p in (self.os, self.architecture, self.variant) if p)
