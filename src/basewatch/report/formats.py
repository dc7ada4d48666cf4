"""Every command family's `--format` choices, as a `StrEnum` each, and the renderer of each
format (`sbom_renderer`, `scan_renderer`, ...): the CLI's choices come from these enums.

Each renderer is imported only when its format is asked for (hence the imports inside the
functions): building the CLI's parser imports this module, and `sbom --format json` must not pay
for packageurl, the SPDX license list or jsonschema.
"""

from __future__ import annotations

from enum import StrEnum
from typing import TYPE_CHECKING, assert_never

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence
    from datetime import datetime
    from uuid import UUID

    from basewatch.advice.advise import Advice
    from basewatch.advice.compare import Candidate
    from basewatch.compat.model import CompatReport
    from basewatch.lint.model import LintResult
    from basewatch.models import Inventory, ScanResult
    from basewatch.policy.model import PolicyRun
    from basewatch.report.renderer import Renderer


class SbomFormat(StrEnum):
    """An output format of `basewatch sbom`, spelled as its `--format` value (aliases are
    resolved by `report.renderer.canonical_format`)."""

    TABLE = "table"
    JSON = "json"
    CYCLONEDX_JSON = "cyclonedx-json"
    SPDX_JSON = "spdx-json"


def sbom_renderer(
    fmt: SbomFormat, *, now: datetime | None = None, uuid: UUID | None = None
) -> Renderer[Inventory]:
    """The renderer for `fmt`. `now` and `uuid` pin the timestamp and the document identity
    (CycloneDX serialNumber, SPDX documentNamespace); by default they are the current time and a
    random UUID. Formats without them ignore both."""
    match fmt:
        case SbomFormat.TABLE:
            from basewatch.report.sbom.table import TableReporter

            return TableReporter()
        case SbomFormat.JSON:
            from basewatch.report.sbom.json import JsonReporter

            return JsonReporter()
        case SbomFormat.CYCLONEDX_JSON:
            from basewatch.report.sbom.cyclonedx import CycloneDXReporter

            return CycloneDXReporter(now=now, serial=uuid)
        case SbomFormat.SPDX_JSON:
            from basewatch.report.sbom.spdx import SpdxReporter

            return SpdxReporter(now=now, uuid=uuid)
        case _:
            assert_never(fmt)


class ScanFormat(StrEnum):
    """An output format of `basewatch scan`, spelled as its `--format` value (aliases are
    resolved by `report.renderer.canonical_format`)."""

    TABLE = "table"
    JSON = "json"
    SARIF = "sarif"
    CYCLONEDX_JSON = "cyclonedx-json"
    MARKDOWN = "markdown"


def scan_renderer(
    fmt: ScanFormat, *, now: datetime | None = None, uuid: UUID | None = None
) -> Renderer[ScanResult]:
    """The renderer for `fmt`. `now` and `uuid` pin the timestamp and the document identity
    (CycloneDX serialNumber); by default they are the current time and a random UUID. Formats
    without them ignore both."""
    match fmt:
        case ScanFormat.TABLE:
            from basewatch.report.scan.table import ScanTableReporter

            return ScanTableReporter()
        case ScanFormat.JSON:
            from basewatch.report.scan.json import ScanJsonReporter

            return ScanJsonReporter()
        case ScanFormat.SARIF:
            from basewatch.report.scan.sarif import SarifReporter

            return SarifReporter()
        case ScanFormat.CYCLONEDX_JSON:
            from basewatch.report.scan.cyclonedx import ScanCycloneDXReporter

            return ScanCycloneDXReporter(now=now, serial=uuid)
        case ScanFormat.MARKDOWN:
            from basewatch.report.scan.markdown import ScanMarkdownReporter

            return ScanMarkdownReporter()
        case _:
            assert_never(fmt)


class CompatFormat(StrEnum):
    """An output format of `basewatch compat`, spelled as its `--format` value."""

    TABLE = "table"
    JSON = "json"
    MARKDOWN = "markdown"


def compat_renderer(fmt: CompatFormat) -> Renderer[CompatReport]:
    """The renderer for `fmt`."""
    match fmt:
        case CompatFormat.TABLE:
            from basewatch.report.compat.table import CompatTableReporter

            return CompatTableReporter()
        case CompatFormat.JSON:
            from basewatch.report.compat.json import CompatJsonReporter

            return CompatJsonReporter()
        case CompatFormat.MARKDOWN:
            from basewatch.report.compat.markdown import CompatMarkdownReporter

            return CompatMarkdownReporter()
        case _:
            assert_never(fmt)


class CompareFormat(StrEnum):
    """An output format of `basewatch compare`, spelled as its `--format` value."""

    TABLE = "table"
    JSON = "json"
    MARKDOWN = "markdown"
    HTML = "html"


def compare_renderer(fmt: CompareFormat) -> Renderer[Sequence[Candidate]]:
    """The renderer for `fmt`; it renders the candidates in the order given."""
    match fmt:
        case CompareFormat.TABLE:
            from basewatch.report.compare.table import CompareTableReporter

            return CompareTableReporter()
        case CompareFormat.JSON:
            from basewatch.report.compare.json import CompareJsonReporter

            return CompareJsonReporter()
        case CompareFormat.MARKDOWN:
            from basewatch.report.compare.markdown import CompareMarkdownReporter

            return CompareMarkdownReporter()
        case CompareFormat.HTML:
            from basewatch.report.compare.html import CompareHtmlReporter

            return CompareHtmlReporter()
        case _:
            assert_never(fmt)


class AdviseFormat(StrEnum):
    """An output format of `basewatch advise`, spelled as its `--format` value."""

    TABLE = "table"
    JSON = "json"
    MARKDOWN = "markdown"


def advise_renderer(fmt: AdviseFormat) -> Renderer[Advice]:
    """The renderer for `fmt`."""
    match fmt:
        case AdviseFormat.TABLE:
            from basewatch.report.advise.table import AdviseTableReporter

            return AdviseTableReporter()
        case AdviseFormat.JSON:
            from basewatch.report.advise.json import AdviseJsonReporter

            return AdviseJsonReporter()
        case AdviseFormat.MARKDOWN:
            from basewatch.report.advise.markdown import AdviseMarkdownReporter

            return AdviseMarkdownReporter()
        case _:
            assert_never(fmt)


class LintFormat(StrEnum):
    """An output format of `basewatch lint`, spelled as its `--format` value."""

    TEXT = "text"
    JSON = "json"
    SARIF = "sarif"
    GITHUB = "github"


def lint_renderer(
    fmt: LintFormat,
    *,
    sources: Mapping[str, tuple[str, ...]] | None = None,
    docs_base: str = "",
) -> Renderer[LintResult]:
    """The renderer for `fmt`. `sources` (path -> raw lines) makes SARIF fingerprints survive
    line moves; `docs_base` is where SARIF's rule help links point. Other formats ignore both."""
    match fmt:
        case LintFormat.TEXT:
            from basewatch.report.lint.text import LintTextReporter

            return LintTextReporter()
        case LintFormat.JSON:
            from basewatch.report.lint.json import LintJsonReporter

            return LintJsonReporter()
        case LintFormat.SARIF:
            from basewatch.report.lint.sarif import LintSarifReporter

            return LintSarifReporter(sources=sources, docs_base=docs_base)
        case LintFormat.GITHUB:
            from basewatch.report.lint.github import LintGithubReporter

            return LintGithubReporter()
        case _:
            assert_never(fmt)


class PolicyFormat(StrEnum):
    """An output format of `basewatch policy`, spelled as its `--format` value."""

    TABLE = "table"
    JSON = "json"
    SARIF = "sarif"
    MARKDOWN = "markdown"


def policy_renderer(
    fmt: PolicyFormat, *, now: datetime | None = None, docs_base: str = ""
) -> Renderer[PolicyRun]:
    """The renderer for `fmt`. `now` pins SARIF's invocation time (the current time by
    default); `docs_base` is where SARIF's and Markdown's policy links point (relative
    `docs/policies/<id>.md` in SARIF, no link in Markdown, without it). Other formats ignore
    both."""
    match fmt:
        case PolicyFormat.TABLE:
            from basewatch.report.policy.table import PolicyTableReporter

            return PolicyTableReporter()
        case PolicyFormat.JSON:
            from basewatch.report.policy.json import PolicyJsonReporter

            return PolicyJsonReporter()
        case PolicyFormat.SARIF:
            from basewatch.report.policy.sarif import PolicySarifReporter

            return PolicySarifReporter(now=now, docs_base=docs_base)
        case PolicyFormat.MARKDOWN:
            from basewatch.report.policy.markdown import PolicyMarkdownReporter

            return PolicyMarkdownReporter(docs_base=docs_base)
        case _:
            assert_never(fmt)
