"""`basewatch lint --fix`: pin `FROM` lines to `name:tag@sha256:<index digest>`.

Only the image word of each `FROM` line changes; the tag, flags, alias, comments, spacing,
line endings and every other byte stay as they were. Digests come from a `DigestResolver`:
the registry client in production, OCI layouts on disk or a dict in tests.
"""

from __future__ import annotations

import difflib
import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol, runtime_checkable

from basewatch.errors import Error, LintError, ResolveError
from basewatch.lint.model import Stage
from basewatch.lint.parse import parse_dockerfile
from basewatch.lint.reference import ImageRef, parse_reference
from basewatch.oci.store import DirStore, FileStore, TarStore, read_small

_DIGEST = re.compile(r"sha256:[0-9a-f]{64}")
_ESCAPE_DIRECTIVE = re.compile(r"#\s*escape\s*=\s*(\S)", re.IGNORECASE)


@runtime_checkable
class DigestResolver(Protocol):
    """Resolves `name:tag` to the digest of what the registry serves for it (the image index
    for multi-platform images), as `sha256:<hex>`; raises ResolveError when it cannot."""

    def resolve(self, reference: str) -> str: ...


@dataclass(frozen=True, slots=True)
class Change:
    line: int
    old: str
    new: str


@dataclass(frozen=True, slots=True)
class FixResult:
    text: str
    changes: tuple[Change, ...]
    messages: tuple[str, ...]  # what was left alone, and why
    # the FROM lines that should have been pinned but whose lookup failed: errors, not notes
    failures: tuple[str, ...] = ()

    @property
    def changed(self) -> bool:
        return bool(self.changes)


class DictResolver:
    """Digests from a mapping of references (normalised or as written) to digests."""

    def __init__(self, digests: Mapping[str, str]) -> None:
        self._digests = {_key(k): v for k, v in digests.items()}

    def resolve(self, reference: str) -> str:
        digest = self._digests.get(_key(reference))
        if digest is None:
            raise ResolveError(f"no digest known for {reference}")
        return digest


class OciLayoutResolver:
    """Digests from OCI image layouts: each `index.json` entry's digest, found by its
    `io.containerd.image.name` (a full reference) or `org.opencontainers.image.ref.name`
    annotation (a full reference, or a tag of the repository named like the layout dir)."""

    def __init__(self, layouts: Iterable[Path]) -> None:
        self._digests: dict[str, str] = {}
        for layout in layouts:
            self._load(layout)

    def _load(self, layout: Path) -> None:
        # The same stores `scan oci:PATH` reads, so a layout tar works here as it does there,
        # with the same bounds on hostile archives.

        try:
            store: FileStore = DirStore(layout) if layout.is_dir() else TarStore(layout)
        except Error as exc:
            raise ResolveError(f"{layout}: not an OCI layout ({exc})") from exc
        try:
            index = json.loads(read_small(store, "index.json", "index"))
        except (Error, ValueError) as exc:  # UnicodeDecodeError is a ValueError
            raise ResolveError(f"{layout}: not an OCI layout ({exc})") from exc
        finally:
            store.close()
        if not isinstance(index, dict) or not isinstance(index.get("manifests", []), list):
            raise ResolveError(f"{layout}: not an OCI layout (index.json is not an image index)")
        repository = layout.name.removesuffix(".tar").removesuffix(".oci")
        for entry in index.get("manifests", []):
            if not isinstance(entry, dict):
                continue
            digest = entry.get("digest", "")
            annotations = entry.get("annotations") or {}
            if not isinstance(digest, str) or not isinstance(annotations, dict):
                continue
            names = [annotations.get("io.containerd.image.name", "")]
            ref_name = annotations.get("org.opencontainers.image.ref.name", "")
            if not isinstance(ref_name, str):
                ref_name = ""
            if ref_name and (":" in ref_name or "/" in ref_name):
                names.append(ref_name)
            elif ref_name:
                names.append(f"{repository}:{ref_name}")
            for name in names:
                if name and isinstance(name, str) and _DIGEST.fullmatch(digest):
                    self._digests.setdefault(_key(name), digest)

    def resolve(self, reference: str) -> str:
        digest = self._digests.get(_key(reference))
        if digest is None:
            raise ResolveError(f"{reference} is in none of the OCI layouts")
        return digest


def _key(reference: str) -> str:
    ref = parse_reference(reference)
    if ref is None:
        return reference
    return f"{ref.registry}/{ref.repository}:{ref.tag or 'latest'}"


def pin_digests(text: str, resolver: DigestResolver, path: str = "Dockerfile") -> FixResult:
    """Rewrite every literal `FROM name:tag` to `name:tag@digest`; raises on syntax errors."""
    dockerfile = parse_dockerfile(text, path)
    escape = _escape_char(dockerfile.lines)
    offsets = _line_offsets(text)
    edits: list[tuple[int, int, str, Change]] = []
    messages: list[str] = []
    failures: list[str] = []
    # a reference is looked up once per file, failures included: six FROMs of one unreachable
    # registry must not wait six times
    resolved: dict[str, str | LintError] = {}
    for stage in dockerfile.stages:
        where = f"{path}:{stage.from_instruction.start_line}"
        reason = _skip_reason(stage)
        if reason:
            if reason != "-":
                messages.append(f"{where}: {reason}")
            continue
        ref = stage.ref
        assert ref is not None
        if ref.text not in resolved:
            try:
                resolved[ref.text] = resolver.resolve(ref.text)
            except LintError as exc:
                resolved[ref.text] = exc
        digest = resolved[ref.text]
        if isinstance(digest, LintError):
            failures.append(f"{where}: {ref.text} not pinned: {digest}")
            continue
        if not _DIGEST.fullmatch(digest):
            failures.append(f"{where}: {ref.text} not pinned: the resolver returned {digest!r}")
            continue
        span = _image_span(text, offsets, stage, escape)
        if span is None or text[span[0] : span[1]] != stage.base_text:
            messages.append(f"{where}: {ref.text} left alone: cannot find it on the line")
            continue
        new = f"{ref.text}@{digest}"
        edits.append((*span, new, Change(stage.from_instruction.start_line, ref.text, new)))
    result = text
    for start, end, new, _ in sorted(edits, key=lambda e: e[0], reverse=True):
        result = result[:start] + new + result[end:]
    return FixResult(
        text=result,
        changes=tuple(e[3] for e in edits),
        messages=tuple(messages),
        failures=tuple(failures),
    )


def _skip_reason(stage: Stage) -> str:
    """Why a FROM line is not pinned ("-": silently, it names a stage or scratch)."""
    if stage.base_stage is not None or stage.is_scratch:
        return "-"
    if "$" in stage.base_text:
        return f"{stage.base_text} is built from ARGs: left alone (pin the ARG's value instead)"
    ref: ImageRef | None = stage.ref
    if ref is None:
        return f"{stage.base_text} is not a valid image reference: left alone"
    if ref.digest:
        return "-"
    if not ref.tag:
        return f"{ref.text} has no tag: left alone (add the tag you want to follow, then --fix)"
    return ""


def _escape_char(lines: tuple[str, ...]) -> str:
    for line in lines:
        if not line.startswith("#"):
            break
        match = _ESCAPE_DIRECTIVE.match(line)
        if match:
            return match.group(1)
    return "\\"


def _line_offsets(text: str) -> list[int]:
    offsets = [0]
    for index, char in enumerate(text):
        if char == "\n":
            offsets.append(index + 1)
    return offsets


def _image_span(text: str, offsets: list[int], stage: Stage, escape: str) -> tuple[int, int] | None:
    """Where the image word of a FROM instruction is: after `FROM` and its `--flags`."""
    line = stage.from_instruction.start_line
    if line - 1 >= len(offsets):
        return None
    position = offsets[line - 1]
    end = (
        offsets[stage.from_instruction.end_line]
        if stage.from_instruction.end_line < len(offsets)
        else len(text)
    )
    position = _skip_blanks(text, position, end, escape)
    keyword_end = position + len("FROM")
    if text[position:keyword_end].upper() != "FROM":
        return None
    position = keyword_end
    while position < end:
        position = _skip_blanks(text, position, end, escape)
        word_end = position
        while word_end < end and not text[word_end].isspace():
            word_end += 1
        word = text[position:word_end]
        if not word:
            return None
        if word.startswith("--"):
            position = word_end
            continue
        return position, word_end
    return None


def _skip_blanks(text: str, position: int, end: int, escape: str) -> int:
    while position < end:
        char = text[position]
        if char in " \t\r\ufeff":
            position += 1
        elif char == escape and text[position + 1 : position + 2] in ("\n", "\r"):
            position = text.index("\n", position) + 1
            # comment lines inside a continued instruction are skipped by BuildKit too
            while position < end and text[position:].lstrip(" \t").startswith("#"):
                position = text.find("\n", position) + 1 or end
        else:
            break
    return position


def unified_diff(before: str, after: str, path: str) -> str:
    """The change as a unified diff (`a/path` -> `b/path`)."""
    lines = difflib.unified_diff(
        before.splitlines(keepends=True),
        after.splitlines(keepends=True),
        fromfile=f"a/{path}",
        tofile=f"b/{path}",
    )
    return "".join(lines)
