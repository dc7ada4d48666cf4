"""Policy files: which policies run, with what parameters, action, scope and exceptions.

    policies:
      - id: no-fixable-severe        # a built-in policy (a bare id is one with its defaults)
        severity: critical           # parameters sit beside the id
        days: 14
        action: warn                 # fail (the default) or warn: a warn policy never fails a run
        scope: ["registry.example.com/prod/*"]   # repository globs; none: every image
        exceptions:
          - match: CVE-2024-1234     # fnmatch over an item's id, aliases, package, purl, subject
            reason: not reachable from the service
            expires: 2026-01-31      # the last day it applies
      - no-kev
    exceptions:                      # for every policy, or the one `policy:` names
      - policy: license
        match: "pkg:npm/some-agpl-tool*"
        reason: build tool, not shipped

Without `policies:`, every built-in runs with its defaults (and the file's exceptions). Every
mistake is a `PolicyFileError` naming the file and line: `policy.yaml:7: no-fixable-severe:
unknown parameter 'severty' (known: severity, days)`. The file is bounded (`MAX_*`) and read
with `basewatch.untrusted.parse_yaml`'s limits (no alias bombs) before its nodes are walked
for line numbers.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, TypeVar

from basewatch.errors import ConfigError
from basewatch.policy.builtin import BUILTINS
from basewatch.policy.model import Action, PolicyConfig, PolicyException
from basewatch.policy.patterns import normalize_pattern
from basewatch.policy.spec import MAX_LIST_ITEMS, MAX_TEXT, PolicySpec, parse_date, text_list
from basewatch.untrusted import UntrustedInput, parse_yaml

if TYPE_CHECKING:
    import yaml

__all__ = [
    "MAX_EXCEPTIONS",
    "MAX_POLICIES",
    "MAX_POLICY_FILE_BYTES",
    "PolicyConfig",
    "PolicyException",
    "PolicyFileError",
    "default_policies",
    "load_policy_file",
]

MAX_POLICY_FILE_BYTES = 1 << 20
MAX_POLICIES = 200
MAX_EXCEPTIONS = 10_000  # inline and top-level together

_TOP_KEYS = ("policies", "exceptions")
_POLICY_KEYS = ("id", "action", "scope", "exceptions")
_EXCEPTION_KEYS = ("match", "reason", "expires")
_MERGE_TAG = "tag:yaml.org,2002:merge"

T = TypeVar("T")


class PolicyFileError(ConfigError):
    """A policy file is malformed; the message starts with `FILE:LINE:` (`line` 0: the file as
    a whole)."""

    def __init__(self, message: str, *, origin: str, line: int = 0) -> None:
        where = f"{origin}:{line}" if line else origin
        super().__init__(f"{where}: {message}", path=origin)
        self.line = line


def default_policies() -> list[PolicyConfig]:
    """Every built-in policy with its defaults (what runs without a policy file).
    `approved-base` has no allow list, so it is "not evaluated" until one is configured."""
    return [PolicyConfig(id=spec.id, parameters=spec.defaults()) for spec in BUILTINS.values()]


def load_policy_file(text: str, origin: str) -> list[PolicyConfig]:
    """The policies a policy file configures, validated, defaults filled in, each with the
    exceptions that apply to it; `origin` names the file in errors and warnings."""
    import yaml

    if len(text) > MAX_POLICY_FILE_BYTES or len(text.encode("utf-8")) > MAX_POLICY_FILE_BYTES:
        raise PolicyFileError(
            f"more than {MAX_POLICY_FILE_BYTES:,} bytes: not a policy file", origin=origin
        )
    try:
        # Bounds what the document expands to (aliases) and how deep it nests.
        parse_yaml(text, origin)
    except UntrustedInput as exc:
        raise PolicyFileError(str(exc).removeprefix(f"{origin}: "), origin=origin) from exc
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark is not None else 0
        problem = exc.problem or exc.context or "unreadable"
        if exc.context and problem.startswith("but "):  # "expected a single document, but..."
            problem = f"{exc.context}, {problem}"
        raise PolicyFileError(f"not valid YAML: {problem}", origin=origin, line=line) from exc
    except yaml.YAMLError as exc:
        raise PolicyFileError(f"not valid YAML: {exc}", origin=origin) from exc
    except (ValueError, OverflowError):
        pass  # a scalar YAML cannot build (`2026-13-01`): the walk below names its line
    loader = yaml.SafeLoader(text)
    try:
        root = loader.get_single_node()
        return _Reader(loader, origin).file(root)
    finally:
        loader.dispose()


class _Shape:
    """A node that is not a scalar, as a value error names it ("not a mapping")."""

    def __init__(self, words: str) -> None:
        self.words = words

    def __repr__(self) -> str:
        return self.words


def _suggest(word: str, known: tuple[str, ...] | list[str]) -> str:
    import difflib  # only for a misspelled key

    close = difflib.get_close_matches(word, known, n=1)
    return f"; did you mean {close[0]!r}?" if close else ""


class _Reader:
    def __init__(self, loader: yaml.SafeLoader, origin: str) -> None:
        self.loader = loader
        self.origin = origin
        self.exceptions = 0

    # --- nodes ---------------------------------------------------------------------------------

    def error(self, node: yaml.Node | None, message: str) -> PolicyFileError:
        line = node.start_mark.line + 1 if node is not None else 0
        return PolicyFileError(message, origin=self.origin, line=line)

    @staticmethod
    def line(node: yaml.Node) -> int:
        return int(node.start_mark.line) + 1

    def mapping(self, node: yaml.Node, what: str) -> Iterator[tuple[str, yaml.Node, yaml.Node]]:
        """(key, key node, value node) of a mapping; a key given twice is an error."""
        import yaml

        if not isinstance(node, yaml.MappingNode):
            raise self.error(node, f"{what} must be a mapping, not {self.shape(node)!r}")
        seen: dict[str, int] = {}
        for key_node, value_node in node.value:
            if key_node.tag == _MERGE_TAG:
                raise self.error(key_node, "YAML merge keys (<<) are not supported here")
            try:
                key = self.scalar(key_node)
            except ValueError as exc:
                raise self.error(key_node, f"{what}: the key {exc}") from None
            if not isinstance(key, str):
                raise self.error(key_node, f"{what}: the key {key!r} is not a name")
            if key in seen:
                raise self.error(
                    key_node, f"{what}: {key!r} is given twice (first on line {seen[key]})"
                )
            seen[key] = self.line(key_node)
            yield key, key_node, value_node

    def sequence(self, node: yaml.Node, what: str, limit: int) -> list[yaml.Node]:
        import yaml

        if not isinstance(node, yaml.SequenceNode):
            raise self.error(node, f"{what} must be a list, not {self.shape(node)!r}")
        if len(node.value) > limit:
            raise self.error(node, f"{what} lists {len(node.value):,} entries, more than {limit:,}")
        return list(node.value)

    def scalar(self, node: yaml.Node) -> object:
        import yaml

        if not isinstance(node, yaml.ScalarNode):
            return self.shape(node)
        try:
            value: object = self.loader.construct_object(node)
        except (ValueError, OverflowError):
            # Callers turn the ValueError into an error naming what the value is for.
            kind = "date" if node.tag.endswith(":timestamp") else node.tag.rsplit(":", 1)[-1]
            raise ValueError(f"{node.value!r} is not a valid {kind}") from None
        return value

    def shape(self, node: yaml.Node) -> object:
        import yaml

        if isinstance(node, yaml.MappingNode):
            return _Shape("a mapping")
        if isinstance(node, yaml.SequenceNode):
            return _Shape("a list")
        return self.scalar(node)

    def value(self, node: yaml.Node, what: str) -> object:
        """A scalar, or a list of scalars (a list inside is passed on as "a list")."""
        import yaml

        if isinstance(node, yaml.SequenceNode):
            if len(node.value) > MAX_LIST_ITEMS:
                raise self.error(
                    node, f"{what} lists {len(node.value):,} entries, more than {MAX_LIST_ITEMS:,}"
                )
            return [self.scalar(child) for child in node.value]
        return self.shape(node)

    def text(self, node: yaml.Node, what: str) -> str:
        try:
            value = self.scalar(node)
        except ValueError as exc:
            raise self.error(node, f"{what} {exc}") from None
        if not isinstance(value, str) or not value.strip():
            raise self.error(node, f"{what} must be a text, not {value!r}")
        if len(value) > MAX_TEXT:
            raise self.error(node, f"{what} is {len(value):,} characters, more than {MAX_TEXT:,}")
        return value.strip()

    # --- the file ------------------------------------------------------------------------------

    def file(self, root: yaml.Node | None) -> list[PolicyConfig]:
        if root is None:
            raise PolicyFileError(
                "the policy file is empty: list policies under `policies:`", origin=self.origin
            )
        policies_node: yaml.Node | None = None
        shared: list[PolicyException] = []
        for key, key_node, value_node in self.mapping(root, "the policy file"):
            if key == "policies":
                policies_node = value_node
            elif key == "exceptions":
                shared = self.exception_list(value_node, policy=None)
            else:
                raise self.error(
                    key_node,
                    f"unknown key {key!r} (known: {', '.join(_TOP_KEYS)})"
                    + _suggest(key, _TOP_KEYS),
                )
        if policies_node is None:
            configs = [
                PolicyConfig(id=spec.id, parameters=spec.defaults(), origin=self.origin)
                for spec in BUILTINS.values()
            ]
        else:
            configs = self.policy_list(policies_node)
        listed = {c.id for c in configs}
        for exception in shared:
            if exception.policy and exception.policy not in listed:
                raise PolicyFileError(
                    f"the exception for {exception.match} names policy {exception.policy!r}, "
                    "which this file does not list",
                    origin=self.origin,
                    line=exception.line,
                )
        return [
            PolicyConfig(
                id=c.id,
                action=c.action,
                scope=c.scope,
                parameters=c.parameters,
                exceptions=(*c.exceptions, *(e for e in shared if e.policy in ("", c.id))),
                line=c.line,
                origin=c.origin,
            )
            for c in configs
        ]

    def policy_list(self, node: yaml.Node) -> list[PolicyConfig]:
        entries = self.sequence(node, "`policies`", MAX_POLICIES)
        if not entries:
            raise self.error(
                node,
                "`policies` is empty: list at least one policy, or leave the key out to run "
                "every built-in policy",
            )
        configs: list[PolicyConfig] = []
        first: dict[str, int] = {}
        for entry in entries:
            config = self.policy(entry)
            if config.id in first:
                raise self.error(
                    entry,
                    f"policy {config.id!r} is listed twice (first on line {first[config.id]})",
                )
            first[config.id] = config.line
            configs.append(config)
        return configs

    def spec(self, node: yaml.Node) -> PolicySpec:
        policy_id = self.text(node, "a policy's id")
        spec = BUILTINS.get(policy_id)
        if spec is None:
            known = tuple(BUILTINS)
            raise self.error(
                node,
                f"unknown policy {policy_id!r} (known: {', '.join(known)})"
                + _suggest(policy_id, known),
            )
        return spec

    def policy(self, node: yaml.Node) -> PolicyConfig:
        import yaml

        if isinstance(node, yaml.ScalarNode):  # `- no-kev`: the policy with its defaults
            spec = self.spec(node)
            return PolicyConfig(
                id=spec.id, parameters=spec.defaults(), line=self.line(node), origin=self.origin
            )
        pairs = list(self.mapping(node, "a policy"))
        id_node = next((value for key, _, value in pairs if key == "id"), None)
        if id_node is None:
            raise self.error(node, "a policy needs an `id` (the built-in policy it configures)")
        spec = self.spec(id_node)
        action = Action.FAIL
        scope: tuple[str, ...] = ()
        exceptions: list[PolicyException] = []
        values: dict[str, object] = {}
        for key, key_node, value_node in pairs:
            if key == "id":
                continue
            if key == "action":
                action = self.action(value_node, spec.id)
            elif key == "scope":
                scope = self.parsed(
                    value_node,
                    f"{spec.id}: scope",
                    lambda v: text_list(v, what="repository globs", check=normalize_pattern),
                )
            elif key == "exceptions":
                exceptions = self.exception_list(value_node, policy=spec.id)
            elif key in spec.parameters:
                parameter = spec.parameters[key]
                values[key] = self.parsed(value_node, f"{spec.id}: {key}", parameter.parse)
            else:
                known = tuple(spec.parameters)
                names = f"known: {', '.join(known)}" if known else "it takes none"
                raise self.error(
                    key_node,
                    f"{spec.id}: unknown parameter {key!r} ({names})"
                    + _suggest(key, (*known, *_POLICY_KEYS)),
                )
        for name, parameter in spec.parameters.items():
            if name in values:
                continue
            if parameter.required:
                raise self.error(node, f"{spec.id}: `{name}` is required")
            values[name] = parameter.default
        return PolicyConfig(
            id=spec.id,
            action=action,
            scope=scope,
            parameters=values,
            exceptions=tuple(exceptions),
            line=self.line(node),
            origin=self.origin,
        )

    def parsed(self, node: yaml.Node, what: str, parse: Callable[[object], T]) -> T:
        try:
            return parse(self.value(node, what))
        except ValueError as exc:
            raise self.error(node, f"{what} {exc}") from exc

    def action(self, node: yaml.Node, policy_id: str) -> Action:
        try:
            value = self.scalar(node)
        except ValueError as exc:
            raise self.error(node, f"{policy_id}: action {exc}") from None
        try:
            return Action(value.strip().lower() if isinstance(value, str) else "")
        except ValueError:
            known = " or ".join(a.value for a in Action)
            raise self.error(node, f"{policy_id}: action must be {known}, not {value!r}") from None

    def exception_list(self, node: yaml.Node, policy: str | None) -> list[PolicyException]:
        where = f"{policy}: exceptions" if policy else "`exceptions`"
        entries = self.sequence(node, where, MAX_EXCEPTIONS)
        self.exceptions += len(entries)
        if self.exceptions > MAX_EXCEPTIONS:
            raise self.error(node, f"more than {MAX_EXCEPTIONS:,} exceptions in one file")
        return [self.exception(entry, policy) for entry in entries]

    def exception(self, node: yaml.Node, policy: str | None) -> PolicyException:
        prefix = f"{policy}: exception" if policy else "exception"
        keys = _EXCEPTION_KEYS if policy else ("policy", *_EXCEPTION_KEYS)
        found: dict[str, yaml.Node] = {}
        for key, key_node, value_node in self.mapping(node, prefix):
            if key not in keys:
                raise self.error(
                    key_node,
                    f"{prefix}: unknown key {key!r} (known: {', '.join(keys)})"
                    + _suggest(key, keys),
                )
            found[key] = value_node
        if "match" not in found:
            raise self.error(node, f"{prefix}: `match` is required (an id, package or purl glob)")
        match = self.text(found["match"], f"{prefix}: match")
        prefix = f"{prefix} for {match}"
        if "reason" not in found:
            raise self.error(node, f"{prefix}: `reason` is required (why the risk is accepted)")
        reason = self.text(found["reason"], f"{prefix}: reason")
        expires = None
        if "expires" in found:
            expires = self.parsed(found["expires"], f"{prefix}: expires", parse_date)
        named = policy or ""
        if "policy" in found:
            named = self.spec(found["policy"]).id
        return PolicyException(
            policy=named,
            match=match,
            reason=reason,
            expires=expires,
            line=self.line(node),
            origin=self.origin,
        )
