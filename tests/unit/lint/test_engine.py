from __future__ import annotations

from pathlib import Path

from basewatch.lint.config import LintConfig
from basewatch.lint.engine import lint_file, lint_text, merge
from basewatch.lint.rules import RULES
from basewatch.models import Severity
from tests.unit.lint.helpers import TODAY, lint


def test_every_rule_has_metadata_and_docs() -> None:
    docs = Path(__file__).parents[3] / "docs" / "rules"
    assert list(RULES) == sorted(RULES)
    names = [r.info.name for r in RULES.values()]
    assert len(set(names)) == len(names)
    for rule_id, rule in RULES.items():
        info = rule.info
        assert info.id == rule_id and info.title and info.rationale and info.fix
        page = docs / f"{rule_id}.md"
        assert page.is_file(), page
        assert page.read_text().startswith(f"# {rule_id}: ")


def test_ignore_comment_on_the_line_before() -> None:
    text = "# basewatch-ignore: BW101, root-user\n# another comment\nFROM python\nFROM node\n"
    result = lint_text(text, today=TODAY)
    assert [(f.rule, f.line) for f in result.findings if f.rule == "BW101"] == [("BW101", 4)]
    assert {f.rule for f in result.suppressed} == {"BW101"}
    blank_between = "# basewatch-ignore: BW101\n\nFROM python\n"
    assert any(f.rule == "BW101" for f in lint(blank_between))


def test_disabled_rules_and_severity_overrides() -> None:
    config = LintConfig(
        disabled=frozenset({"BW101", "root-user"}), severities={"BW108": Severity.HIGH}
    )
    found = lint("FROM python\n", config=config)
    assert {f.rule for f in found} == {"BW108"}
    assert found[0].severity is Severity.HIGH


def test_findings_are_sorted_and_errors_reported(tmp_path: Path) -> None:
    result = lint_text("FROM python\nUSER root\n", today=TODAY)
    assert [f.line for f in result.findings] == sorted(f.line for f in result.findings)
    broken = lint_text("RUN <<EOF\n", "broken")
    assert broken.findings == () and "broken" in broken.errors[0]
    missing = lint_file(tmp_path / "nope")
    assert "cannot read" in missing.errors[0]
    (tmp_path / "Dockerfile").write_bytes(b"FROM python:3.12\xff\n")
    assert lint_file(tmp_path / "Dockerfile", today=TODAY).errors == ()
    both = merge([result, broken])
    assert both.files == ("Dockerfile", "broken") and len(both.errors) == 1
