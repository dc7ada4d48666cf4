"""Run the rules over a Dockerfile: configuration, `# basewatch-ignore:` comments, ordering."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import replace
from datetime import date
from pathlib import Path

from basewatch.clock import today as utc_today
from basewatch.errors import DockerfileReadError, LintError
from basewatch.lint.config import LintConfig
from basewatch.lint.model import Dockerfile, LintFinding, LintResult
from basewatch.lint.parse import decode, parse_dockerfile
from basewatch.lint.read import read_dockerfile
from basewatch.lint.rules import RULES
from basewatch.lint.rules.base import Context
from basewatch.vulndb.eol import EolTable, load_eol_table

IGNORE_COMMENT = re.compile(r"^\s*#\s*basewatch-ignore\s*:\s*(?P<ids>[A-Za-z0-9_,\s-]+?)\s*$")


def lint_text(
    text: str,
    path: str = "Dockerfile",
    *,
    config: LintConfig | None = None,
    build_args: Mapping[str, str] | None = None,
    target: str | None = None,
    eol: EolTable | None = None,
    today: date | None = None,
) -> LintResult:
    """Lint one Dockerfile's text. A syntax error is reported in `errors`, never raised."""
    try:
        dockerfile = parse_dockerfile(text, path, build_args=build_args, target=target)
    except LintError as exc:
        return LintResult(findings=(), errors=(str(exc),), files=(path,))
    return lint_dockerfile(
        dockerfile,
        config=config or LintConfig(),
        eol=eol or load_eol_table(),
        today=today or utc_today(),
        only_targets=target is not None,
    )


def lint_file(
    path: Path,
    *,
    config: LintConfig | None = None,
    build_args: Mapping[str, str] | None = None,
    target: str | None = None,
    eol: EolTable | None = None,
    today: date | None = None,
) -> LintResult:
    """Lint a file; an unreadable file (missing, not a regular file, too large) is reported
    in `errors`."""
    try:
        data = read_dockerfile(path)
    except DockerfileReadError as exc:
        return LintResult(findings=(), errors=(str(exc),), files=(str(path),))
    return lint_text(
        decode(data),
        str(path),
        config=config,
        build_args=build_args,
        target=target,
        eol=eol,
        today=today,
    )


def lint_dockerfile(
    dockerfile: Dockerfile,
    *,
    config: LintConfig,
    eol: EolTable,
    today: date,
    only_targets: bool = False,
) -> LintResult:
    context = Context(dockerfile, config, eol, today, only_targets)
    ignored = _ignore_index(dockerfile, _ignore_comments(dockerfile))
    findings: list[LintFinding] = []
    suppressed: list[LintFinding] = []
    for rule in RULES.values():
        info = rule.info
        if info.id in config.disabled or info.name in config.disabled:
            continue
        severity = config.severities.get(info.id, info.severity)
        for hit in rule.check(context):
            finding = LintFinding(
                rule=info.id,
                severity=severity,
                message=hit.message,
                path=dockerfile.path,
                line=hit.line,
                column=hit.column,
                stage=hit.stage,
                end_line=hit.end_line or hit.line,
            )
            if _is_ignored(finding, info.name, ignored):
                suppressed.append(finding)
            else:
                findings.append(finding)
    return LintResult(
        findings=tuple(sorted(set(findings), key=LintFinding.sort_key)),
        suppressed=tuple(sorted(set(suppressed), key=LintFinding.sort_key)),
        # read after the rules ran: they expand ARGs too, under the same budget
        errors=dockerfile.expansion.notes,
        files=(dockerfile.path,),
    )


def _ignore_comments(dockerfile: Dockerfile) -> dict[int, frozenset[str]]:
    """Instruction start line -> rule ids named by the comment lines just above it."""
    result: dict[int, frozenset[str]] = {}
    for instruction in dockerfile.instructions:
        ids: set[str] = set()
        number = instruction.start_line - 1
        while number >= 1:
            line = dockerfile.lines[number - 1] if number <= len(dockerfile.lines) else ""
            if not line.lstrip().startswith("#"):
                break
            match = IGNORE_COMMENT.match(line)
            if match:
                ids.update(w.strip().upper() for w in re.split(r"[,\s]+", match["ids"]) if w)
            number -= 1
        if ids:
            result[instruction.start_line] = frozenset(ids)
    return result


def _ignore_index(
    dockerfile: Dockerfile, ignored: dict[int, frozenset[str]]
) -> dict[int, frozenset[str]]:
    """Every source line -> the ignore ids of the instruction that spans it, built once so a
    lookup per finding is constant time (instructions' spans are disjoint: linear in lines)."""
    index: dict[int, frozenset[str]] = {}
    for instruction in dockerfile.instructions:
        ids = ignored.get(instruction.start_line, frozenset())
        for line in range(instruction.start_line, instruction.end_line + 1):
            index.setdefault(line, ids)  # the first instruction that spans a line names it
    return index


def _is_ignored(finding: LintFinding, name: str, index: dict[int, frozenset[str]]) -> bool:
    ids = index.get(finding.line, frozenset())
    return finding.rule in ids or name.upper() in ids or "ALL" in ids


def merge(results: list[LintResult]) -> LintResult:
    """One result for several files, in the order given."""
    merged = LintResult(findings=())
    for result in results:
        merged = replace(
            merged,
            findings=merged.findings + result.findings,
            suppressed=merged.suppressed + result.suppressed,
            errors=merged.errors + result.errors,
            files=merged.files + result.files,
        )
    return merged
