"""ARG expansion is bounded: a value that doubles on every line, or many large values, end as
"unset" with a note in the result's errors (a partial result), never as memory exhaustion."""

from __future__ import annotations

from pathlib import Path

from basewatch.cli.exit_codes import ExitCode
from basewatch.lint.engine import lint_text
from basewatch.lint.expand import MAX_VALUE, MAX_WORK, ExpansionBudget, substitute
from basewatch.lint.parse import parse_dockerfile
from tests.bounded import run_bounded
from tests.unit.lint.helpers import LINT_MEMORY_MB, TODAY


def doubling(lines: int) -> str:
    return "ARG A=x\n" + "ARG A=$A$A\n" * lines + "FROM alpine:$A\nUSER 1000\n"


def test_a_value_past_the_cap_is_unset_and_reported() -> None:
    text = doubling(20)  # 2**20 characters: harmless, but far past the cap
    stage = parse_dockerfile(text).stages[0]
    assert stage.base_resolved == "" and stage.ref is None
    result = lint_text(text, today=TODAY)
    assert len(result.errors) == 1
    assert "Dockerfile:18: ARG A: $A$A expands to more than 65,536 characters" in result.errors[0]
    assert "treated as unset" in result.errors[0]
    # no finding speaks of an image the linter never saw
    assert not any("xxxx" in f.message for f in result.findings)


def test_values_up_to_the_cap_still_resolve() -> None:
    value = "x" * (MAX_VALUE - len("$A"))
    assert substitute("$A$A", {"A": value[: MAX_VALUE // 2]}) == value[: MAX_VALUE // 2] * 2
    assert substitute("${A}z", {"A": "y" * (MAX_VALUE - 1)}) == "y" * (MAX_VALUE - 1) + "z"
    assert substitute("${A}zz", {"A": "y" * (MAX_VALUE - 1)}) is None
    assert substitute("no variables", {}) == "no variables"


def test_total_expansion_work_is_bounded() -> None:
    big = "b" * 60_000
    count = MAX_WORK // 60_000 + 10
    text = f"ARG A={big}\n" + "".join(f"ARG B{i}=$A\n" for i in range(count))
    text += "ARG BASE=alpine:3.22\nFROM $BASE\n"
    df = parse_dockerfile(text)
    values = dict(df.global_args)
    assert values["B0"] == big
    assert values[f"B{count - 1}"] is None
    assert df.stages[0].base_resolved == "alpine:3.22"  # what still fits the budget resolves
    result = lint_text(text, today=TODAY)
    assert any(f"passed {MAX_WORK:,} characters in total" in e for e in result.errors)
    assert any("more ARG expansions were cut short" in e for e in result.errors)


def test_the_budget_is_shared_and_notes_are_few() -> None:
    budget = ExpansionBudget(work=10)
    assert substitute("$A", {"A": "12345"}, budget) == "12345"
    assert substitute("$A", {"A": "12345"}, budget) == "12345"
    assert substitute("$A", {"A": "1"}, budget, where="x:1") is None
    for _ in range(20):
        substitute("$A", {"A": "1"}, budget)
    assert len(budget.notes) == 6 and budget.notes[0].startswith("x:1: $A was not expanded")


def test_doubling_forty_times_is_refused_quickly(tmp_path: Path) -> None:
    dockerfile = tmp_path / "Dockerfile"
    dockerfile.write_text(doubling(40))  # 2**40 characters if expanded
    result = run_bounded(["lint", str(dockerfile)], timeout=60, memory_mb=LINT_MEMORY_MB)
    result.check_refused(ExitCode.PARTIAL)
    assert "treated as unset" in result.stderr
