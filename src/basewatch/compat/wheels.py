"""Installed Python wheels whose platform tags do not fit the image's C library.

pip installs a wheel only when one of its tags fits the interpreter's platform; a wheel copied
from another image (or installed with `--platform`) may not: `manylinux` wheels need glibc (and
`manylinux_X_Y` at least glibc X.Y), `musllinux_X_Y` wheels need musl X.Y or newer.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from basewatch.compat.model import Cause, FileKind, FileVerdict, LibcFamily, LibcInfo, Problem
from basewatch.compat.model import Severity as Sev

_LEGACY = {"manylinux1": (2, 5), "manylinux2010": (2, 12), "manylinux2014": (2, 17)}
_PLATFORM = re.compile(
    r"(manylinux|musllinux)_(\d+)_(\d+)_(\w+)|(manylinux1|manylinux2010|manylinux2014)_(\w+)"
)


def _version(text: str) -> tuple[int, ...]:
    return tuple(int(p) for p in re.findall(r"\d+", text)[:3])


def wheel_tags(text: str) -> tuple[str, ...]:
    """The platform parts of the `Tag:` lines of a WHEEL file, deduplicated, in file order."""
    out: list[str] = []
    for line in text.splitlines():
        key, _, value = line.partition(":")
        if key.strip().lower() == "tag":
            for platform in value.strip().split("-")[-1].split("."):
                if platform and platform not in out:
                    out.append(platform)
    return tuple(out)


def _fits(platform: str, libc: LibcInfo) -> tuple[bool, str, str]:
    """(fits, needs, fix) for one platform tag."""
    match = _PLATFORM.fullmatch(platform)
    if match is None:
        return True, "", ""  # "any", "linux_x86_64" and others say nothing about the libc
    if match.group(5):
        family, need = "manylinux", _LEGACY[match.group(5)]
    else:
        family, need = match.group(1), (int(match.group(2)), int(match.group(3)))
    need_text = ".".join(map(str, need))
    if family == "manylinux":
        if libc.family is LibcFamily.MUSL:
            return False, f"glibc >= {need_text}", "install the musllinux wheel of this release"
        have = _version(libc.version)
        if libc.family is LibcFamily.GLIBC and have and have < need:
            return (
                False,
                f"glibc >= {need_text}",
                (
                    "install a wheel for an older manylinux, or use a base with "
                    f"glibc >= {need_text}"
                ),
            )
        return True, "", ""
    if libc.family is LibcFamily.GLIBC:
        return False, f"musl >= {need_text}", "install the manylinux wheel of this release"
    have = _version(libc.version)
    if libc.family is LibcFamily.MUSL and have and have < need:
        return False, f"musl >= {need_text}", f"use a base with musl >= {need_text}"
    return True, "", ""


def check_wheel(path: str, layer: int, text: str, libc: LibcInfo) -> FileVerdict | None:
    """A verdict for the wheel whose WHEEL file is at `path`; None when it has no libc tag."""
    tags = wheel_tags(text)
    judged = [(t, *_fits(t, libc)) for t in tags if _PLATFORM.fullmatch(t)]
    if not judged:
        return None
    problems: tuple[Problem, ...] = ()
    if not any(fits for _, fits, _, _ in judged):
        tag, _, needs, fix = judged[0]
        have = f"{libc.family.value} {libc.version}".strip()
        problems = (
            Problem(
                Sev.ERROR,
                Cause.WHEEL_PLATFORM,
                f"{path.rsplit('/', 2)[-2]}: wheel tag {tag} needs {needs}; the image has {have}",
                tag,
                fix,
            ),
        )
    family = LibcFamily.MUSL if judged[0][0].startswith("musllinux") else LibcFamily.GLIBC
    return FileVerdict(path, layer, FileKind.PYTHON_WHEEL, family, "", problems=problems)


MUSL_STACK_MAX = 8 << 20  # DEFAULT_STACK_MAX: the most a PT_GNU_STACK size raises it to


def musl_notes(libc: LibcInfo, stack_sizes: Sequence[tuple[str, int]] = ()) -> tuple[str, ...]:
    """Behaviour of the image's musl that differs from glibc, tied to its version.

    `stack_sizes` are (path, PT_GNU_STACK size, 0 when unset) of the musl programs evaluated.
    """
    if libc.family is not LibcFamily.MUSL:
        return ()
    version = _version(libc.version)
    named = f"musl {libc.version}" if libc.version else "musl (version unknown)"
    notes = []
    if version and version < (1, 2, 4):
        notes.append(
            f"{named} resolves DNS over UDP only: answers too large for UDP (many records, "
            "long names) fail; musl 1.2.4 added the TCP fallback"
        )
    elif version:
        notes.append(
            f"{named} retries DNS over TCP when a UDP answer is truncated (since musl 1.2.4); "
            "it still queries every nameserver of resolv.conf in parallel, not in order"
        )
    if version and version < (1, 1, 21):
        notes.append(
            f"{named} gives new threads an 80 KiB stack by default (glibc: 8 MiB) and ignores "
            "the PT_GNU_STACK size; a program that needs more must call "
            "pthread_attr_setstacksize"
        )
    else:
        sized = [(p, n) for p, n in stack_sizes if n]
        unsized = len(stack_sizes) - len(sized)
        detail = ""
        if stack_sizes:
            shown = ", ".join(f"{p} ({n // 1024} KiB)" for p, n in sized[:3])
            detail = (
                f": {len(sized)} of the {len(stack_sizes)} musl programs here set one"
                + (f" ({shown}{'...' if len(sized) > 3 else ''})" if sized else "")
                + (f", {unsized} run their threads on 128 KiB" if unsized else "")
            )
        notes.append(
            f"{named} gives new threads a 128 KiB stack by default (glibc: 8 MiB); the size in "
            "a program's PT_GNU_STACK header (-Wl,-z,stack-size=N) raises it, up to 8 MiB, "
            "for the program and the libraries loaded at start (not dlopened ones)" + detail
        )
    notes.append(
        f"{named}: iconv does not transliterate (//TRANSLIT gives '*') and locales only change "
        "LC_CTYPE (always UTF-8) and LC_MESSAGES: strcoll is byte order, numbers and dates "
        "are never localised"
    )
    allocator = "mallocng" if not version or version >= (1, 2, 1) else "oldmalloc"
    notes.append(
        f"{named}: its allocator ({allocator}) "
        "favours low memory over speed and can be slow under contention from many threads "
        "(multi-threaded servers often link jemalloc or mimalloc)"
    )
    return tuple(notes)
