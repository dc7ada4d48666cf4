"""Global options go before or after the subcommand, as Trivy and Grype users type them."""

from __future__ import annotations

import pytest

from basewatch.cli.main import build_parser


@pytest.mark.parametrize(
    ("argv", "quiet", "verbose"),
    [
        (["sbom", "img"], False, False),
        (["-q", "sbom", "img"], True, False),
        (["sbom", "img", "-q"], True, False),
        (["sbom", "img", "-v"], False, True),
        (["-v", "scan", "img"], False, True),
        (["scan", "img", "--verbose", "--quiet"], True, True),
        (["db", "status", "-v"], False, True),
        (["-q", "db", "update", "--ecosystem", "PyPI"], True, False),
        (["lint", "Dockerfile", "-v"], False, True),
    ],
)
def test_global_options_anywhere(argv: list[str], quiet: bool, verbose: bool) -> None:
    args = build_parser().parse_args(argv)
    assert (args.quiet, args.verbose) == (quiet, verbose)


@pytest.mark.parametrize(
    "argv",
    [
        ["advise", "img", "--alternative", "a", "b"],
        ["advise", "img", "--alternative", "a", "--alternative", "b"],
    ],
)
def test_list_options_take_several_values_or_repeats(argv: list[str]) -> None:
    args = build_parser().parse_args(argv)
    assert (args.image, args.alternative) == ("img", ["a", "b"])
