"""The linter's errors: a family under basewatch's root `Error`."""

from __future__ import annotations

from basewatch.errors import Error


class LintError(Error):
    """A Dockerfile could not be linted or fixed."""


class DockerfileSyntaxError(LintError):
    """BuildKit's parser refused the Dockerfile (unterminated heredoc, no instructions...)."""


class ConfigError(LintError):
    """`.basewatch.toml` or `[tool.basewatch]` is malformed: the message names the key."""


class ResolveError(LintError):
    """A digest resolver could not resolve a reference."""


class DockerfileReadError(LintError):
    """A Dockerfile could not be read: missing, not a regular file, or too large."""
