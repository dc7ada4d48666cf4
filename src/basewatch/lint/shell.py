"""Just enough shell to see the commands a RUN runs: split on `&&`, `||`, `;`, `|` and newlines,
drop `sudo`, `env` and leading `VAR=value` assignments. Never executes anything."""

from __future__ import annotations

import re
import shlex

_SEPARATORS = frozenset({"&&", "||", ";", "|", "&", "(", ")", ";;", "|&", ";&"})
_ASSIGNMENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*=")
_WRAPPERS = frozenset({"sudo", "env", "command", "exec", "nice", "time", "xargs"})


def commands(script: str) -> list[list[str]]:
    """The simple commands of a shell script, each a list of words (wrappers removed)."""
    # Newlines end commands; shlex has no token for them, so they become `;` first.
    text = script.replace("\\\r\n", " ").replace("\\\n", " ").replace("\n", " ; ")
    lexer = shlex.shlex(text, posix=True, punctuation_chars=";&|()")
    lexer.whitespace_split = True
    lexer.commenters = ""
    try:
        tokens = list(lexer)
    except ValueError:  # unbalanced quotes: plain words are good enough
        tokens = text.split()
    result: list[list[str]] = []
    current: list[str] = []
    for token in tokens:
        if token in _SEPARATORS:
            if current:
                result.append(current)
            current = []
        else:
            current.append(token)
    if current:
        result.append(current)
    stripped = (_strip_wrappers(words) for words in result)
    return [words for words in stripped if words]


def _strip_wrappers(words: list[str]) -> list[str]:
    index = 0
    while index < len(words):
        word = words[index]
        wrapper_option = word.startswith("-") and index > 0 and words[index - 1] in _WRAPPERS
        if _ASSIGNMENT.match(word) or word in _WRAPPERS or wrapper_option:
            index += 1
            continue
        break
    return words[index:]


def program(words: list[str]) -> str:
    """The command's name without its directory (`/usr/bin/apt-get` -> `apt-get`)."""
    return words[0].rsplit("/", 1)[-1] if words else ""
