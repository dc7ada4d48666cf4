"""Reading the JSON documents of an image (index, manifests, configs, docker-archive
manifest.json): parsed bounded, and every field read through a typed accessor.

An image is untrusted input, and its JSON can have any shape: `[[[[...` nested past the
parser's recursion limit, `"annotations": []`, `"Env": 5`, a layer `"size": -1`. Every reader
of image JSON goes through these functions, so the same shapes are refused (ImageError, exit 3)
or ignored with a warning the same way everywhere. The rule: a field that decides which bytes
are read or how they are checked (digests, sizes, the layer list) must be right, or the image
is refused; a descriptive field (labels, annotations, Env, history, created) of the wrong type
is dropped with a warning, as nothing downstream depends on it being there.
"""

from __future__ import annotations

import logging
from typing import Any

from basewatch.errors import ImageError
from basewatch.untrusted import UntrustedInput, parse_json

log = logging.getLogger(__name__)

MAX_BLOB_SIZE = 1 << 40  # a descriptor claiming more than 1 TiB is not describing a real blob

_JSON_TYPES = {
    dict: "an object",
    list: "an array",
    str: "a string",
    bool: "a boolean",
    int: "a number",
    float: "a number",
    type(None): "null",
}


def kind(value: object) -> str:
    """What a JSON value is ("an array"), for messages: never the value itself, which may be
    nested too deeply to print or be megabytes long."""
    return _JSON_TYPES.get(type(value), type(value).__name__)


def load(data: bytes, what: str) -> Any:
    """Parse a JSON document of an image; anything unparseable raises ImageError."""
    try:
        return parse_json(data, what)
    except UntrustedInput as exc:
        raise ImageError(f"{exc}: the image is corrupt or hostile") from exc
    except ValueError as exc:  # JSONDecodeError, UnicodeDecodeError, a 5,000-digit number
        raise ImageError(f"{what} is not valid JSON ({exc})") from exc


def obj(value: object, what: str) -> dict[str, Any]:
    """`value` as a JSON object, else ImageError."""
    if not isinstance(value, dict):
        raise ImageError(f"{what}: expected a JSON object, found {kind(value)}")
    return value


def objects(value: object, what: str) -> list[dict[str, Any]]:
    """A required array of objects, else ImageError."""
    if not isinstance(value, list):
        raise ImageError(f"{what}: expected a JSON array, found {kind(value)}")
    return [obj(item, f"{what}[{i}]") for i, item in enumerate(value)]


def optional_obj(value: object, what: str) -> dict[str, Any]:
    """A descriptive object; absent (None) or of another type: {} (with a warning)."""
    if value is None:
        return {}
    if not isinstance(value, dict):
        _ignored(what, value, "an object")
        return {}
    return value


def optional_list(value: object, what: str) -> list[Any]:
    """A descriptive array (history); absent or of another type: [] (with a warning)."""
    if value is None:
        return []
    if not isinstance(value, list):
        _ignored(what, value, "an array")
        return []
    return value


def text(value: object, what: str, default: str = "") -> str:
    """A descriptive string; of another type it is ignored with a warning."""
    if value is None:
        return default
    if not isinstance(value, str):
        _ignored(what, value, "a string")
        return default
    return value


def strict_text(value: object, what: str, default: str = "") -> str:
    """A string that decides how the image is read (a mediaType): refused if not one."""
    if value is None:
        return default
    if not isinstance(value, str):
        raise ImageError(f"{what}: expected a string, found {kind(value)}")
    return value


def texts(value: object, what: str) -> tuple[str, ...]:
    """A descriptive array of strings (Env, RepoTags); items of other types are ignored."""
    if value is None:
        return ()
    if not isinstance(value, list):
        _ignored(what, value, "an array of strings")
        return ()
    kept = tuple(item for item in value if isinstance(item, str))
    if len(kept) != len(value):
        log.warning("%s: ignoring %d item(s) that are not strings", what, len(value) - len(kept))
    return kept


def str_map(value: object, what: str) -> tuple[tuple[str, str], ...]:
    """A descriptive string-to-string object (Labels, annotations) as sorted pairs."""
    if value is None:
        return ()
    if not isinstance(value, dict):
        _ignored(what, value, "an object of strings")
        return ()
    pairs = tuple(sorted((k, v) for k, v in value.items() if isinstance(v, str)))
    if len(pairs) != len(value):
        log.warning("%s: ignoring %d value(s) that are not strings", what, len(value) - len(pairs))
    return pairs


def size(value: object, what: str) -> int:
    """A byte count (a descriptor's size): absent is 0, anything but an integer from 0 to
    MAX_BLOB_SIZE is refused, since a size is checked against the bytes read and reported."""
    if value is None:
        return 0
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_BLOB_SIZE:
        shown = value if isinstance(value, int) and not isinstance(value, bool) else kind(value)
        raise ImageError(
            f"{what}: expected a byte count (an integer from 0 to {MAX_BLOB_SIZE}), not {shown}"
        )
    return value


def _ignored(what: str, value: object, expected: str) -> None:
    log.warning("%s: ignored, it is %s, not %s", what, kind(value), expected)
