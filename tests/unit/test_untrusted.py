"""Documents from outside (SBOMs, VEX, ignore files) are read bounded, and refused clearly."""

from __future__ import annotations

import os
import threading
from pathlib import Path

import pytest

from basewatch.errors import SbomError, UsageError
from basewatch.matching.policy import load_ignore_file, load_openvex
from basewatch.sbom.reader import read_sbom
from basewatch.untrusted import (
    MAX_YAML_NODES,
    UntrustedInput,
    parse_json,
    parse_yaml,
    read_regular_file,
)
from tests.bounded import run_bounded


def yaml_alias_bomb(levels: int = 9) -> str:
    """The 'billion laughs' in YAML: each level lists the previous one nine times."""
    lines = ['a0: &a0 ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    for level in range(1, levels):
        refs = ",".join([f"*a{level - 1}"] * 9)
        lines.append(f"a{level}: &a{level} [{refs}]")
    return "\n".join(lines) + "\n"


def test_a_fifo_is_refused_not_waited_on(tmp_path: Path) -> None:
    fifo = tmp_path / "sbom.json"
    os.mkfifo(fifo)
    done = threading.Event()

    def read() -> None:
        with pytest.raises(UntrustedInput, match="a FIFO"):
            read_regular_file(fifo)
        done.set()

    thread = threading.Thread(target=read, daemon=True)
    thread.start()
    thread.join(timeout=10)
    assert done.is_set()


def test_a_symlink_to_dev_zero_is_refused(tmp_path: Path) -> None:
    link = tmp_path / "vex.json"
    link.symlink_to("/dev/zero")
    with pytest.raises(UntrustedInput, match="a device"):
        read_regular_file(link)


def test_a_symlink_to_a_regular_file_is_read(tmp_path: Path) -> None:
    (tmp_path / "real").write_bytes(b"{}")
    (tmp_path / "link").symlink_to("real")
    assert read_regular_file(tmp_path / "link") == b"{}"


def test_a_file_over_the_limit_is_refused(tmp_path: Path) -> None:
    big = tmp_path / "big.json"
    big.write_bytes(b" " * 2049)
    with pytest.raises(UntrustedInput, match="more than 2,048"):
        read_regular_file(big, max_bytes=2048)


def test_deep_json_is_refused() -> None:
    with pytest.raises(UntrustedInput, match="nests too deeply"):
        parse_json(b"[" * 200_000, "doc")


def test_deep_yaml_is_refused() -> None:
    with pytest.raises(UntrustedInput, match="nests too deeply"):
        parse_yaml("[" * 50_000, "doc")


def test_a_yaml_alias_bomb_is_refused_before_it_expands() -> None:
    bomb = yaml_alias_bomb()
    assert len(bomb) < 1000 and MAX_YAML_NODES < 9**9
    with pytest.raises(UntrustedInput, match="expands to more than"):
        parse_yaml(bomb, "bomb.yaml")


def test_a_self_referencing_yaml_alias_is_refused() -> None:
    with pytest.raises(UntrustedInput, match="expands to more than"):
        parse_yaml("&a [*a]", "loop.yaml")


def test_modest_aliases_are_fine() -> None:
    data = parse_yaml(
        "base: &b {reason: x}\nignore:\n  - {id: A, <<: *b}\n  - {id: B, <<: *b}\n", "f"
    )
    assert data["ignore"] == [{"id": "A", "reason": "x"}, {"id": "B", "reason": "x"}]


def test_readers_turn_it_into_their_own_errors(tmp_path: Path) -> None:
    deep = tmp_path / "deep.json"
    deep.write_bytes(b'{"a":' * 100_000)
    with pytest.raises(SbomError, match="nests too deeply"):
        read_sbom(deep)
    with pytest.raises(UsageError, match="nests too deeply"):
        load_openvex(deep)
    bomb = tmp_path / ".basewatchignore"
    bomb.write_text(yaml_alias_bomb())
    with pytest.raises(UsageError, match="expands to more than"):
        load_ignore_file(bomb)
    (tmp_path / "zero").symlink_to("/dev/zero")
    with pytest.raises(SbomError, match="a device"):
        read_sbom(tmp_path / "zero")


def test_scan_refuses_hostile_documents_bounded(tmp_path: Path) -> None:
    deep = tmp_path / "deep.json"
    deep.write_bytes(b"[" * 500_000)
    result = run_bounded(["scan", "--sbom", str(deep), "--offline"], timeout=30, memory_mb=512)
    result.check_refused(3)
    assert "nests too deeply" in result.stderr
    sbom = tmp_path / "sbom.json"
    sbom.write_text('{"bomFormat": "CycloneDX", "specVersion": "1.6", "components": []}')
    bomb = tmp_path / "ignore.yaml"
    bomb.write_text(yaml_alias_bomb())
    result = run_bounded(
        [
            "scan",
            "--sbom",
            str(sbom),
            "--offline",
            "--ignore-file",
            str(bomb),
            "--db",
            str(tmp_path / "none.db"),
        ],
        timeout=30,
        memory_mb=512,
    )
    result.check_refused(2)
    assert "expands to more than" in result.stderr
