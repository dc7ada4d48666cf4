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
