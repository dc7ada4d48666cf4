"""What every rule gets (`Context`) and gives back (`Hit`), and the `Rule` seam."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import date

from basewatch.lint import shell
from basewatch.lint.config import LintConfig
from basewatch.lint.model import Dockerfile, Instruction, RuleInfo, Stage
from basewatch.vulndb.eol import EolTable


@dataclass(frozen=True, slots=True)
class Hit:
    """A rule firing at a place; the engine adds the rule's id, severity and the path."""

    message: str
    line: int
    column: int
    stage: str = ""
    end_line: int = 0


@dataclass(frozen=True, slots=True)
class Context:
    dockerfile: Dockerfile
    config: LintConfig
    eol: EolTable
    today: date
    only_targets: bool = False  # --target given: lint only the stages it builds
    # Several rules read the same RUN scripts; split each once per Dockerfile.
    _commands: dict[str, list[list[str]]] = field(
        default_factory=dict, init=False, compare=False, repr=False
    )

    def commands(self, script: str) -> list[list[str]]:
        """`shell.commands(script)`, computed once per script (callers must not modify it)."""
        found = self._commands.get(script)
        if found is None:
            found = self._commands[script] = shell.commands(script)
        return found

    @property
    def stages(self) -> tuple[Stage, ...]:
        stages = self.dockerfile.stages
        if self.only_targets:
            return tuple(s for s in stages if s.index in self.dockerfile.targets)
        return stages

    @property
    def final(self) -> Stage:
        return self.dockerfile.final_stage

    def is_final(self, stage: Stage) -> bool:
        return stage.index == self.dockerfile.final

    def from_hit(self, stage: Stage, message: str) -> Hit:
        """A hit on the image of a stage's FROM line."""
        line, column = self.locate(stage.from_instruction, stage.base_text, after_keyword=True)
        return Hit(message, line, column, stage.label)

    def at(self, instruction: Instruction, stage: Stage, message: str, needle: str = "") -> Hit:
        """A hit on `needle` inside an instruction (its first character when not found)."""
        line, column = self.locate(instruction, needle)
        return Hit(message, line, column, stage.label, instruction.end_line)

    def locate(
        self, instruction: Instruction, needle: str, *, after_keyword: bool = False
    ) -> tuple[int, int]:
        lines = self.dockerfile.lines
        first = instruction.start_line
        for number in range(first, min(instruction.end_line, len(lines)) + 1):
            text = lines[number - 1]
            start = 0
            if number == first:
                stripped = text.lstrip()
                start = len(text) - len(stripped)
                if after_keyword:
                    start += len(instruction.cmd)
            if needle:
                found = text.find(needle, start)
                if found >= 0:
                    return number, found + 1
        if first <= len(lines):
            text = lines[first - 1]
            return first, len(text) - len(text.lstrip()) + 1
        return first, 1


@dataclass(frozen=True, slots=True)
class Rule:
    info: RuleInfo
    check: Callable[[Context], Iterator[Hit]]
