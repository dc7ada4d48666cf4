"""Every family's formats: each has a renderer that names it, and the CLI offers exactly them."""

from __future__ import annotations

import argparse
from enum import StrEnum

import pytest

from basewatch.cli.main import build_parser
from basewatch.report import formats, renderer

RENDERERS: list[tuple[type[StrEnum], object]] = [
    (formats.SbomFormat, formats.sbom_renderer),
    (formats.ScanFormat, formats.scan_renderer),
    (formats.PolicyFormat, formats.policy_renderer),
    (formats.CompatFormat, formats.compat_renderer),
    (formats.CompareFormat, formats.compare_renderer),
    (formats.AdviseFormat, formats.advise_renderer),
    (formats.LintFormat, formats.lint_renderer),
]
COMMANDS: dict[str, type[StrEnum]] = {
    "sbom": formats.SbomFormat,
    "scan": formats.ScanFormat,
    "policy": formats.PolicyFormat,
    "compat": formats.CompatFormat,
    "compare": formats.CompareFormat,
    "advise": formats.AdviseFormat,
    "lint": formats.LintFormat,
}


@pytest.mark.parametrize(
    ("fmt", "renderer_for"),
    [(fmt, renderer_for) for family, renderer_for in RENDERERS for fmt in family],
    ids=lambda value: str(value) if isinstance(value, StrEnum) else "",
)
def test_each_format_has_its_renderer(fmt: StrEnum, renderer_for: object) -> None:
    assert callable(renderer_for)
    chosen = renderer_for(fmt)
    assert chosen.name == fmt.value
    assert chosen.media_type


def _format_action(command: str) -> argparse.Action:
    parser = build_parser()
    commands = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    sub: argparse.ArgumentParser = commands.choices[command]
    return next(a for a in sub._actions if "--format" in a.option_strings)


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_cli_choices_are_the_family_formats(command: str) -> None:
    action = _format_action(command)
    assert action.choices == renderer.format_choices(COMMANDS[command])
    assert action.default in action.choices


def test_aliases_resolve_to_canonical_formats() -> None:
    assert renderer.canonical_format("cyclonedx") == formats.SbomFormat.CYCLONEDX_JSON
    assert renderer.canonical_format("spdx") == formats.SbomFormat.SPDX_JSON
    assert renderer.canonical_format("table") == "table"
    assert renderer.canonical_format("bogus") == "bogus"  # argparse's choices say it is invalid
