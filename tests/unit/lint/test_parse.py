from __future__ import annotations

import pytest

from basewatch.errors import DockerfileSyntaxError, UsageError
from basewatch.lint.expand import substitute
from basewatch.lint.parse import parse_dockerfile

GRAPH = """\
# syntax=docker/dockerfile:1
ARG GO=1.23
ARG BASE=debian:bookworm-slim
FROM golang:${GO} AS Build
RUN go build -o /app .
FROM build AS test
RUN go test ./...
FROM alpine:3.22 AS certs
FROM unused:1 AS dead
FROM ${BASE}
RUN --mount=type=bind,from=certs,source=/etc/ssl,target=/ssl cp -r /ssl /etc/ssl
COPY --from=0 /app /app
COPY --from=registry.example.test/tools:1 /bin/tool /bin/
"""


def test_stage_graph() -> None:
    df = parse_dockerfile(GRAPH)
    names = [s.name for s in df.stages]
    assert names == ["build", "test", "certs", "dead", ""]
    build, test, _certs, _dead, final = df.stages
    assert build.base_resolved == "golang:1.23" and build.ref is not None
    assert test.base_stage == 0 and test.ref is None
    assert df.final == 4 and final.base_resolved == "debian:bookworm-slim"
    assert set(final.copies_from) == {0, 2}
    assert final.external_sources == ("registry.example.test/tools:1",)
    assert df.targets == {0, 2, 4}
    assert df.ancestry(test) == (test, build)
    assert df.root_ref(test) == build.ref


def test_target_and_build_args() -> None:
    df = parse_dockerfile(GRAPH, target="TEST", build_args={"GO": "1.22"})
    assert df.final == 1 and df.targets == {0, 1}
    assert df.stages[0].base_resolved == "golang:1.22"
    with pytest.raises(UsageError, match="no stage named 'nope'"):
        parse_dockerfile(GRAPH, target="nope")


def test_positions_survive_crlf_heredocs_and_continuations() -> None:
    text = "FROM a:1\r\nRUN <<EOF\r\necho hi\r\nEOF\r\nRUN x \\\r\n  y\r\nUSER 1\r\n"
    df = parse_dockerfile(text)
    assert [(i.cmd, i.start_line, i.end_line) for i in df.instructions] == [
        ("FROM", 1, 1),
        ("RUN", 2, 4),
        ("RUN", 5, 6),
        ("USER", 7, 7),
    ]
    assert df.lines[0] == "FROM a:1"
    assert "echo hi" in df.instructions[1].shell_text


@pytest.mark.parametrize(
    "text", ["", "# only a comment\n", "RUN <<EOF\nno end", "ARG X=1\n", "RUN x\n"]
)
def test_syntax_errors(text: str) -> None:
    with pytest.raises(DockerfileSyntaxError):
        parse_dockerfile(text)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("${A}", "1"),
        ("$A-x", "1-x"),
        ("${B:-d}", "d"),
        ("${A:-d}", "1"),
        ("${A:+alt}", "alt"),
        ("${B:+alt}", ""),
        ("${E:-d}", "d"),
        ("${E-d}", ""),
        ("${B}", None),
    ],
)
def test_substitute(text: str, expected: str | None) -> None:
    assert substitute(text, {"A": "1", "E": ""}) == expected


@pytest.mark.parametrize(
    ("line", "script"),
    [
        ('RUN ["sh", "-c", "apt-get upgrade"]', "apt-get upgrade"),
        ('RUN ["/app/run", "--flag"]', "/app/run --flag"),
        ("RUN <<EOF\napt-get upgrade\nEOF", "apt-get upgrade\n"),
        ("RUN <<EOF bash\napt-get upgrade\nEOF", "apt-get upgrade\n"),
        ("RUN python3 - <<EOF\nprint(1)\nEOF", "python3 - <<EOF"),
    ],
)
def test_shell_text(line: str, script: str) -> None:
    df = parse_dockerfile(f"FROM a:1\n{line}\n")
    assert df.instructions[1].shell_text == script


def test_public_api() -> None:
    import basewatch.lint as lint

    assert set(lint.__all__) <= set(dir(lint))
    assert len(lint.RULES) == 16
