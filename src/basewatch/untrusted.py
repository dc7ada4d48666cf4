"""Reading documents a user or an image hands us (SBOMs, VEX, ignore files): bounded, typed.

One place decides how much is read, from what kind of file, and how deep a JSON or YAML
document may nest, so every reader refuses the same hostile shapes the same way: a FIFO or
`/dev/zero` given as a file, gigabytes where a few MB are expected, `[[[[...` a million deep,
a YAML alias bomb. Each reader turns `UntrustedInput` into its own error family.
"""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path
from typing import Any

MAX_DOCUMENT_BYTES = 256 << 20  # an SBOM of a very large image is tens of MB
MAX_YAML_NODES = 1_000_000  # values a YAML document may expand to, aliases expanded


class UntrustedInput(ValueError):
    """The input is not something we will read; the message says why and names it."""


def read_regular_file(path: Path, *, max_bytes: int = MAX_DOCUMENT_BYTES) -> bytes:
    """The bytes of a regular file (symlinks followed) of at most `max_bytes`.

    FileNotFoundError and other OSErrors pass through; a FIFO, device, socket or directory,
    or a file that is too large, raises `UntrustedInput`.
    """
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC | os.O_NOCTTY)
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise UntrustedInput(f"{path}: {_kind(st.st_mode)}, not a regular file")
        if st.st_size > max_bytes:
            raise UntrustedInput(f"{path}: {st.st_size:,} bytes, more than {max_bytes:,}")
        os.set_blocking(fd, True)
        chunks = []
        remaining = max_bytes + 1  # the file may grow while we read it
        while remaining > 0:
            chunk = os.read(fd, min(remaining, 1 << 20))
            if not chunk:
                break
            chunks.append(chunk)
            remaining -= len(chunk)
        data = b"".join(chunks)
    finally:
        os.close(fd)
    if len(data) > max_bytes:
        raise UntrustedInput(f"{path}: more than {max_bytes:,} bytes")
    return data


def _kind(mode: int) -> str:
    if stat.S_ISDIR(mode):
        return "a directory"
    if stat.S_ISFIFO(mode):
        return "a FIFO"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    if stat.S_ISSOCK(mode):
        return "a socket"
    return "not a file"


def parse_json(data: bytes | str, what: str) -> Any:
    """`json.loads`, with nesting too deep for the parser as `UntrustedInput`.

    `json.JSONDecodeError` and `UnicodeDecodeError` pass through for callers that phrase them.
    """
    try:
        return json.loads(data)
    except RecursionError as exc:
        raise UntrustedInput(f"{what}: the JSON nests too deeply to be a real document") from exc


def parse_yaml(text: str, what: str) -> Any:
    """`yaml.safe_load` bounded in what the document expands to (no alias bombs) and in depth.

    An alias (`*name`) repeats the node it names; nine aliases of nine aliases... of a list
    are a few hundred bytes that expand to billions of values for whoever walks them. The
    composed node graph is weighed with every alias expanded before anything is constructed.
    `yaml.YAMLError` passes through.
    """
    import yaml

    loader = yaml.SafeLoader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return None
        if _expanded_size(node, {}) > MAX_YAML_NODES:
            raise UntrustedInput(
                f"{what}: the YAML expands to more than {MAX_YAML_NODES:,} values (aliases "
                "repeating aliases); write the values out"
            )
        return loader.construct_document(node)
    except RecursionError as exc:
        raise UntrustedInput(f"{what}: the YAML nests too deeply to be a real document") from exc
    finally:
        loader.dispose()


def _expanded_size(node: Any, memo: dict[int, int]) -> int:
    import yaml

    known = memo.get(id(node))
    if known is not None:
        return known
    memo[id(node)] = MAX_YAML_NODES + 1  # a node that contains itself expands without end
    size = 1
    if isinstance(node, yaml.SequenceNode):
        for child in node.value:
            size += _expanded_size(child, memo)
            if size > MAX_YAML_NODES:
                break
    elif isinstance(node, yaml.MappingNode):
        for key, value in node.value:
            size += _expanded_size(key, memo) + _expanded_size(value, memo)
            if size > MAX_YAML_NODES:
                break
    memo[id(node)] = size
    return size
