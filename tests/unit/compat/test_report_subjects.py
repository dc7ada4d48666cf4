"""The compat table and Markdown name what is missing, as the JSON does (`subject`)."""

from __future__ import annotations

import json

import pytest

from basewatch.compat.model import (
    Cause,
    CompatReport,
    FileKind,
    FileVerdict,
    LibcFamily,
    LibcInfo,
    Problem,
    Severity,
)
from basewatch.report.formats import CompatFormat, compat_renderer

LOADER = "/lib64/ld-linux-x86-64.so.2"


def _report(*problems: Problem) -> CompatReport:
    return CompatReport(
        image="oci:/tmp/app",
        platform="linux/amd64",
        libc=LibcInfo(LibcFamily.MUSL, "1.2.5", "/lib/ld-musl-x86_64.so.1", "apk"),
        files=tuple(
            FileVerdict(
                path=f"/opt/app/bin/app{index}",
                layer=1,
                kind=FileKind.DYNAMIC,
                libc=LibcFamily.GLIBC,
                machine="x86-64",
                interpreter=LOADER,
                problems=(problem,),
            )
            for index, problem in enumerate(problems)
        ),
    )


INTERPRETER = Problem(
    Severity.ERROR, Cause.INTERPRETER_MISSING, "/opt/app/bin/app0: not found", LOADER, "fix it"
)
# the loader's own words for these name the file that fails, not always what is missing
LIBRARY = Problem(
    Severity.ERROR,
    Cause.LIBRARY_MISSING,
    "libc.so.6: cannot open shared object file: No such file or directory",
    "libc",
)
NO_VERSIONS = Problem(
    Severity.WARNING,
    Cause.NO_VERSION_INFORMATION,
    "/usr/lib/libfoo.so.1: no version information available (required by app2)",
    "libfoo.so.1",
)


@pytest.mark.parametrize("fmt", [CompatFormat.TABLE, CompatFormat.MARKDOWN])
def test_the_missing_interpreter_is_named(fmt: CompatFormat) -> None:
    report = _report(INTERPRETER)
    out = compat_renderer(fmt).render(report).decode()
    assert "/opt/app/bin/app0: not found" in out
    assert LOADER in out.replace("\\", "")  # Markdown escapes punctuation
    data = json.loads(compat_renderer(CompatFormat.JSON).render(report))
    assert data["files"][0]["problems"][0]["subject"] == LOADER


def test_every_subject_reaches_the_table_and_markdown() -> None:
    report = _report(INTERPRETER, LIBRARY, NO_VERSIONS)
    table = compat_renderer(CompatFormat.TABLE).render(report).decode()
    assert f"missing: {LOADER}" in table
    assert "libc.so.6" in table
    assert "library: libfoo.so.1" not in table  # its message already names it
    markdown = compat_renderer(CompatFormat.MARKDOWN).render(report).decode()
    rows = [line for line in markdown.split("\n") if line.startswith("| /opt")]
    assert len(rows) == 3
    for row, subject in zip(rows, (LOADER, "libc", "libfoo.so.1"), strict=True):
        assert row.split(" | ")[1].replace("\\", "") == subject
