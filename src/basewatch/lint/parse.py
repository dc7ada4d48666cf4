"""Parse a Dockerfile with BuildKit's own parser (the `dockerfile` package) and build its stages.

`ARG`s declared before the first `FROM` are resolved (defaults, then `--build-arg`s) so that
`FROM ${BASE}` is linted as the image it names. The stage graph knows aliases, `FROM <stage>`,
`COPY --from=` and `RUN --mount=from=`, the final stage (or `--target`) and what it needs.
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from typing import Any

from basewatch.errors import DockerfileSyntaxError, UsageError
from basewatch.lint.expand import ExpansionBudget, substitute
from basewatch.lint.model import Dockerfile, Instruction, Stage
from basewatch.lint.reference import parse_reference

# The binding ships no type information; it is used here only, behind `Instruction`.
_buildkit: Any = importlib.import_module("dockerfile")

KNOWN_INSTRUCTIONS = frozenset(
    {
        "ADD", "ARG", "CMD", "COPY", "ENTRYPOINT", "ENV", "EXPOSE", "FROM", "HEALTHCHECK",
        "LABEL", "MAINTAINER", "ONBUILD", "RUN", "SHELL", "STOPSIGNAL", "USER", "VOLUME",
        "WORKDIR",
    }
)  # fmt: skip


def decode(data: bytes) -> str:
    """Dockerfile bytes as text; undecodable bytes survive a round trip (surrogateescape)."""
    return data.decode("utf-8", errors="surrogateescape")


def parse_dockerfile(
    text: str,
    path: str = "Dockerfile",
    *,
    build_args: Mapping[str, str] | None = None,
    target: str | None = None,
) -> Dockerfile:
    """Parse `text`; raises DockerfileSyntaxError when BuildKit's parser refuses it."""
    parse_text = text.encode("utf-8", "surrogateescape").decode("utf-8", "replace")
    parse_text = parse_text.removeprefix("\ufeff")
    try:
        commands = _buildkit.parse_string(parse_text)
    except ValueError as exc:  # GoParseError
        raise DockerfileSyntaxError(f"{path}: {exc}") from exc
    instructions = tuple(_instruction(c) for c in commands)
    lines = tuple(line.removesuffix("\r") for line in text.split("\n"))
    if lines and lines[-1] == "":
        lines = lines[:-1]
    return build_stages(path, lines, instructions, build_args or {}, target)


def _instruction(command: Any) -> Instruction:
    return Instruction(
        cmd=str(command.cmd).upper(),
        flags=tuple(command.flags),
        value=tuple(command.value),
        original=str(command.original),
        start_line=int(command.start_line),
        end_line=int(command.end_line),
        heredocs=tuple(str(h.content) for h in command.heredocs),
        sub_cmd=str(command.sub_cmd or "").upper(),
        json=bool(command.json),
    )


def build_stages(
    path: str,
    lines: tuple[str, ...],
    instructions: tuple[Instruction, ...],
    build_args: Mapping[str, str],
    target: str | None,
) -> Dockerfile:
    global_args: dict[str, str | None] = {}
    budget = ExpansionBudget()
    declared: list[tuple[str, str | None]] = []
    groups: list[tuple[Instruction, list[Instruction]]] = []
    for instruction in instructions:
        where = f"{path}:{instruction.start_line}"
        if instruction.cmd not in KNOWN_INSTRUCTIONS:
            raise DockerfileSyntaxError(f"{where}: unknown instruction {instruction.cmd}")
        if instruction.cmd == "FROM":
            words = [w.lower() for w in instruction.value]
            if not (len(words) == 1 or (len(words) == 3 and words[1] == "as")):
                raise DockerfileSyntaxError(
                    f"{where}: FROM takes an image and optionally AS <name>"
                )
            groups.append((instruction, []))
        elif groups:
            groups[-1][1].append(instruction)
        elif instruction.cmd != "ARG":
            raise DockerfileSyntaxError(f"{where}: {instruction.cmd} before the first FROM")
        else:
            for name, default in _arg_pairs(instruction):
                value = build_args.get(name)
                if value is None and default is not None:
                    value = substitute(default, global_args, budget, where=f"{where}: ARG {name}")
                global_args[name] = value
                declared.append((name, value))
    if not groups:
        raise DockerfileSyntaxError(f"{path}: no FROM instruction")

    names: dict[str, int] = {}
    stages: list[Stage] = []
    for index, (from_instruction, body) in enumerate(groups):
        words = list(from_instruction.value)
        base_text = words[0] if words else ""
        alias = words[2].lower() if len(words) >= 3 and words[1].lower() == "as" else ""
        where = f"{path}:{from_instruction.start_line}"
        resolved = substitute(base_text, global_args, budget, where=where) or ""
        base_stage = names.get(resolved.lower()) if resolved else None
        ref = None
        if resolved and base_stage is None and resolved.lower() != "scratch":
            ref = parse_reference(resolved)
        copies: list[int] = []
        external: list[str] = []
        for instruction in body:
            for source in _stage_sources(instruction):
                at = f"{path}:{instruction.start_line}"
                source = substitute(source, global_args, budget, where=at) or source
                if source.isdigit() and int(source) < index:
                    copies.append(int(source))
                elif source.lower() in names:
                    copies.append(names[source.lower()])
                elif instruction.cmd == "COPY":
                    external.append(source)
        stages.append(
            Stage(
                index=index,
                name=alias,
                from_instruction=from_instruction,
                base_text=base_text,
                base_resolved=resolved,
                base_stage=base_stage,
                ref=ref,
                platform=from_instruction.flag("platform") or "",
                instructions=tuple(body),
                copies_from=tuple(dict.fromkeys(copies)),
                external_sources=tuple(external),
            )
        )
        if alias:
            names[alias] = index

    final = len(stages) - 1
    if target is not None:
        if target.lower() not in names:
            known = ", ".join(sorted(names)) or "none"
            raise UsageError(f"{path}: no stage named {target!r} (stages: {known})")
        final = names[target.lower()]
    return Dockerfile(
        path=path,
        lines=lines,
        instructions=instructions,
        stages=tuple(stages),
        final=final,
        targets=_reachable(stages, final),
        global_args=tuple(declared),
        expansion=budget,
    )


def _arg_pairs(instruction: Instruction) -> list[tuple[str, str | None]]:
    pairs: list[tuple[str, str | None]] = []
    for word in instruction.value:
        name, eq, default = word.partition("=")
        pairs.append((name, _unquote(default) if eq else None))
    return pairs


def _unquote(text: str) -> str:
    if len(text) >= 2 and text[0] == text[-1] and text[0] in "\"'":
        return text[1:-1]
    return text


def _stage_sources(instruction: Instruction) -> list[str]:
    sources: list[str] = []
    if instruction.cmd in ("COPY", "ADD"):
        source = instruction.flag("from")
        if source:
            sources.append(source)
    if instruction.cmd == "RUN":
        for mount in instruction.flag_values("mount"):
            for part in mount.split(","):
                key, _, value = part.partition("=")
                if key.strip().lower() == "from" and value:
                    sources.append(value.strip())
    return sources


def _reachable(stages: list[Stage], final: int) -> frozenset[int]:
    seen: set[int] = set()
    todo = [final]
    while todo:
        index = todo.pop()
        if index in seen:
            continue
        seen.add(index)
        stage = stages[index]
        if stage.base_stage is not None:
            todo.append(stage.base_stage)
        todo.extend(stage.copies_from)
    return frozenset(seen)
