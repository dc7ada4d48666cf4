"""Value objects of the linter: instructions, stages, rules and findings."""

from __future__ import annotations

from dataclasses import dataclass, field

from basewatch.lint.expand import ExpansionBudget
from basewatch.lint.reference import ImageRef
from basewatch.models import Severity


@dataclass(frozen=True, slots=True)
class Instruction:
    """One Dockerfile instruction as BuildKit parsed it, with its place in the source."""

    cmd: str  # upper case: FROM, RUN...
    flags: tuple[str, ...]  # "--from=build", "--mount=type=cache,target=/x"
    value: tuple[str, ...]
    original: str  # the instruction with continuations joined (and heredocs, for RUN <<EOF)
    start_line: int  # 1-based
    end_line: int
    heredocs: tuple[str, ...] = ()  # heredoc bodies
    sub_cmd: str = ""  # ONBUILD's instruction
    json: bool = False  # exec form: RUN ["sh", "-c", "..."]

    def flag(self, name: str) -> str | None:
        """The value of `--name=value` (the last one), or None when absent."""
        found = None
        for flag in self.flags:
            key, _, value = flag.partition("=")
            if key.lstrip("-").lower() == name:
                found = value
        return found

    def flag_values(self, name: str) -> tuple[str, ...]:
        """Every value of a repeatable flag (`--mount`)."""
        return tuple(
            f.partition("=")[2] for f in self.flags if f.partition("=")[0].lstrip("-") == name
        )

    @property
    def shell_text(self) -> str:
        """The shell script a RUN executes: its command, and the heredoc bodies a shell reads
        (`RUN <<EOF`, `RUN <<EOF bash`), not those fed to other programs (`python3 - <<EOF`)."""
        words = self.value
        if self.json:
            if len(words) >= 3 and _is_shell(words[0]) and words[1] == "-c":
                return words[2]
            return " ".join(words)
        command = " ".join(words)
        if not self.heredocs:
            return command
        rest = [w for w in command.split() if not w.startswith("<<")]
        if not rest or (len(rest) == 1 and _is_shell(rest[0])):
            return "\n".join(self.heredocs)
        return command


_SHELLS = frozenset({"sh", "bash", "ash", "dash", "zsh", "ksh"})


def _is_shell(word: str) -> bool:
    return word.rsplit("/", 1)[-1] in _SHELLS


@dataclass(frozen=True, slots=True)
class Stage:
    """A build stage: its FROM line and the instructions after it."""

    index: int
    name: str  # alias, lower case ("" when none)
    from_instruction: Instruction
    base_text: str  # the image as written (`${BASE}`)
    base_resolved: str  # ARGs substituted ("" when some ARG has no value)
    base_stage: int | None  # `FROM <stage>`: that stage's index
    ref: ImageRef | None  # the external image; None for a stage, scratch or unresolved
    platform: str  # --platform as written ("" when absent)
    instructions: tuple[Instruction, ...]
    copies_from: tuple[int, ...] = ()  # stages this one reads through COPY --from / --mount=from
    external_sources: tuple[str, ...] = ()  # COPY --from=<image> references

    @property
    def label(self) -> str:
        return self.name or str(self.index)

    @property
    def is_scratch(self) -> bool:
        return self.base_resolved.lower() == "scratch"


@dataclass(frozen=True, slots=True)
class Dockerfile:
    """A parsed Dockerfile: raw lines (for columns, comments and fixing) and its stage graph."""

    path: str
    lines: tuple[str, ...]  # raw lines without their line endings
    instructions: tuple[Instruction, ...]
    stages: tuple[Stage, ...]
    final: int  # index of the final stage (the last one, or --target)
    targets: frozenset[int]  # stages that are built for the final one (itself included)
    global_args: tuple[tuple[str, str | None], ...] = ()
    # shared by every expansion of this file, the parser's and the rules' (see lint/expand.py)
    expansion: ExpansionBudget = field(default_factory=ExpansionBudget, compare=False, repr=False)

    @property
    def final_stage(self) -> Stage:
        return self.stages[self.final]

    def ancestry(self, stage: Stage) -> tuple[Stage, ...]:
        """The stage and the stages it is built `FROM`, nearest first."""
        chain = [stage]
        seen = {stage.index}
        while chain[-1].base_stage is not None and chain[-1].base_stage not in seen:
            chain.append(self.stages[chain[-1].base_stage])
            seen.add(chain[-1].index)
        return tuple(chain)

    def root_ref(self, stage: Stage) -> ImageRef | None:
        """The external image a stage ultimately starts from (through `FROM <stage>`)."""
        return self.ancestry(stage)[-1].ref


@dataclass(frozen=True, slots=True)
class RuleInfo:
    """A rule's stable metadata: shown in reports, SARIF and docs/rules/<id>.md."""

    id: str
    name: str  # kebab-case slug
    title: str
    severity: Severity
    rationale: str
    fix: str

    @property
    def help_uri(self) -> str:
        return f"docs/rules/{self.id}.md"


@dataclass(frozen=True, slots=True)
class LintFinding:
    rule: str
    severity: Severity
    message: str
    path: str
    line: int
    column: int
    stage: str = ""
    end_line: int = 0

    def sort_key(self) -> tuple[str, int, int, str, str]:
        return (self.path, self.line, self.column, self.rule, self.message)


@dataclass(frozen=True, slots=True)
class LintResult:
    """The findings of one or more files, with what was suppressed and what went wrong."""

    findings: tuple[LintFinding, ...]
    suppressed: tuple[LintFinding, ...] = ()
    errors: tuple[str, ...] = ()  # files that could not be read or parsed
    files: tuple[str, ...] = field(default_factory=tuple)
