"""The settings of `basewatch serve`: defaults, then the `[serve]` section of the config file,
then the `BASEWATCH_*` environment, then flags, each overriding the one before.

Like `basewatch.settings`, nothing here reads the environment or looks for a file by itself:
the adapter passes the environment mapping and the config file it was given.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from basewatch.config_file import read_toml
from basewatch.errors import ConfigError, UsageError
from basewatch.oci.reference import parse_host, parse_reference
from basewatch.oci.registry.options import RegistryOptions
from basewatch.policy import PolicyConfig, default_policies

DEFAULT_LISTEN = "127.0.0.1:8080"
DEFAULT_POLL_SECONDS = 300.0
DEFAULT_VULNDB_CHECK_SECONDS = 60.0
DEFAULT_VULNDB_UPDATE_SECONDS = 86400.0  # the service's own `db update`; "off": never
DEFAULT_DELIVERY_TIMEOUT = 10.0  # one delivery attempt (connect, send, read the answer)
DEFAULT_DELIVERY_RETRY_MAX = 600.0  # the longest wait between two attempts (backoff's cap)
MAX_ALTERNATIVES = 20  # each is polled and inventoried like a base
DEFAULT_DEAD_LETTER_AFTER = 86400.0  # give up on a delivery this long after its event

# key -> environment variable; the config file's [serve] section uses the keys themselves
ENVIRONMENT = {
    "listen": "BASEWATCH_LISTEN",
    "database": "BASEWATCH_DATABASE",
    "vulndb": "BASEWATCH_VULNDB",
    "poll_interval": "BASEWATCH_POLL_INTERVAL",
    "vulndb_check_interval": "BASEWATCH_VULNDB_CHECK_INTERVAL",
    "vulndb_update_interval": "BASEWATCH_VULNDB_UPDATE_INTERVAL",
    "allowed_registries": "BASEWATCH_ALLOWED_REGISTRIES",
    "insecure_registries": "BASEWATCH_INSECURE_REGISTRIES",
    "allowed_notifier_hosts": "BASEWATCH_ALLOWED_NOTIFIER_HOSTS",
    "alternatives": "BASEWATCH_ALTERNATIVES",
    "delivery_timeout": "BASEWATCH_DELIVERY_TIMEOUT",
    "delivery_retry_max": "BASEWATCH_DELIVERY_RETRY_MAX",
    "dead_letter_after": "BASEWATCH_DEAD_LETTER_AFTER",
    "policy": "BASEWATCH_POLICY",
}
ENV_ADMIN_TOKEN = "BASEWATCH_ADMIN_TOKEN"  # noqa: S105 - the variable's name, not a token
# key -> environment variable of the `[serve.harbor]` table (Harbor's scanner adapter)
HARBOR_ENVIRONMENT = {
    "prefix": "BASEWATCH_HARBOR_PREFIX",
    "token": "BASEWATCH_HARBOR_TOKEN",
    "concurrency": "BASEWATCH_HARBOR_CONCURRENCY",
    "key": "BASEWATCH_HARBOR_KEY",
}
# key -> environment variable of the `[serve.fleet]` table (`basewatch worker` processes)
FLEET_ENVIRONMENT = {
    "lease": "BASEWATCH_FLEET_LEASE",
    "attempts": "BASEWATCH_FLEET_ATTEMPTS",
    "max_queued": "BASEWATCH_FLEET_MAX_QUEUED",
    "batch": "BASEWATCH_FLEET_BATCH",
    "claim_wait": "BASEWATCH_FLEET_CLAIM_WAIT",
    "registry_rate": "BASEWATCH_FLEET_REGISTRY_RATE",
    "registry_rates": "BASEWATCH_FLEET_REGISTRY_RATES",
    "metrics": "BASEWATCH_FLEET_METRICS",
}
DEFAULT_LEASE = 30.0  # a worker silent this long is dead: its jobs go to others
DEFAULT_ATTEMPTS = 5  # runs of one job (failures or dead workers) before it is parked
DEFAULT_MAX_QUEUED = 10000  # queued jobs past which the scheduler enqueues no polls
DEFAULT_FLEET_BATCH = 200  # images a re-evaluation job matches again
DEFAULT_CLAIM_WAIT = 300.0  # the longest a worker waits for another to analyse a layer
DEFAULT_HARBOR_PREFIX = "/harbor"
DEFAULT_HARBOR_CONCURRENCY = 3
MAX_HARBOR_CONCURRENCY = 64

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)?\s*$")
_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}
_SCHEMES = ("sqlite", "sqlite+pysqlite", "postgresql", "postgresql+psycopg")


def parse_duration(text: str, origin: str) -> float:
    """Seconds in `2s`, `5m`, `1.5h`, `250ms` or a bare number of seconds; more than zero."""
    match = _DURATION.match(text)
    if match is None:
        raise ConfigError(f"{origin}: {text!r} is not a duration (e.g. 30s, 5m, 1h)")
    seconds = float(match.group(1)) * _UNITS[match.group(2) or "s"]
    if seconds <= 0:
        raise ConfigError(f"{origin}: {text!r} must be longer than zero")
    return seconds


def parse_listen(text: str, origin: str) -> tuple[str, int]:
    """(host, port) of `HOST:PORT` (`[::1]:8080` for IPv6)."""
    host, sep, port = text.strip().rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ConfigError(f"{origin}: {text!r} is not HOST:PORT (e.g. 127.0.0.1:8080)")
    return host.strip("[]"), int(port)


def check_database_url(text: str, origin: str) -> str:
    """A SQLAlchemy URL of SQLite or PostgreSQL (psycopg); the password never printed back."""
    scheme = text.split("://", 1)[0] if "://" in text else ""
    if scheme not in _SCHEMES:
        raise ConfigError(
            f"{origin}: the database must be sqlite:///PATH or postgresql+psycopg://USER@HOST/NAME"
            f" (got a URL of scheme {scheme or 'none'!r})"
        )
    if scheme == "postgresql":
        return "postgresql+psycopg://" + text.split("://", 1)[1]
    return text


def user_data_dir(environ: Mapping[str, str]) -> Path:
    """`$XDG_DATA_HOME/basewatch`, else `~/.local/share/basewatch` (macOS: Application Support)."""
    xdg = environ.get("XDG_DATA_HOME", "")
    if xdg and Path(xdg).is_absolute():
        return Path(xdg) / "basewatch"
    home = Path(environ["HOME"]) if environ.get("HOME") else Path.home()
    if sys.platform == "darwin":
        return home / "Library" / "Application Support" / "basewatch"
    return home / ".local" / "share" / "basewatch"


def read_policy_file(path: Path, origin: str) -> tuple[PolicyConfig, ...]:
    """The policies of the YAML policy file at `path` (as `basewatch policy --policy` reads
    it); ConfigError naming `origin` (the setting that gave it) and what is wrong."""
    from basewatch.jobs.policy import read_policies

    try:
        configs, _ = read_policies(path)
    except UsageError as exc:  # PolicyFileError says FILE:LINE and what is wrong there
        raise ConfigError(f"{origin}: {exc}", path=str(path)) from None
    return tuple(configs)


@dataclass(frozen=True, slots=True)
class HarborSettings:
    """Harbor's scanner adapter: served under `prefix` ("" when turned off), its endpoints
    accepting `token` (Bearer, or Basic with it as the password) or, when no token is set, the
    service's own tokens; `concurrency` artifacts pulled at once. Credentials Harbor sends are
    sealed with `key` (a Fernet key), else with the one kept in `key_file` (made on first use)."""

    prefix: str = DEFAULT_HARBOR_PREFIX
    token: str = field(default="", repr=False)
    concurrency: int = DEFAULT_HARBOR_CONCURRENCY
    key: str = field(default="", repr=False)
    key_file: Path | None = None

    @property
    def enabled(self) -> bool:
        return bool(self.prefix)


@dataclass(frozen=True, slots=True)
class FleetSettings:
    """The fleet's queue on PostgreSQL: a worker that has not sent a heartbeat for `lease` is
    dead and its jobs are run again by others; a job is run at most `attempts` times, then
    parked; polls are not enqueued while more than `max_queued` jobs wait; a re-evaluation is
    split into jobs of `batch` images; a layer another worker is reading is waited for up to
    `claim_wait`. Requests to a registry are shared out at `registry_rates[host]` (else
    `registry_rate`; 0: unlimited) per second across the fleet. A worker serves /metrics on
    `metrics` (HOST:PORT; "" none)."""

    lease: float = DEFAULT_LEASE
    attempts: int = DEFAULT_ATTEMPTS
    max_queued: int = DEFAULT_MAX_QUEUED
    batch: int = DEFAULT_FLEET_BATCH
    claim_wait: float = DEFAULT_CLAIM_WAIT
    registry_rate: float = 0.0
    registry_rates: tuple[tuple[str, float], ...] = ()
    metrics: str = ""


def _layered(
    section: object,
    config: Path | None,
    name: str,
    keys: Mapping[str, str],
    environ: Mapping[str, str],
) -> dict[str, tuple[Any, str]]:
    """key -> (value, where it came from): the table `name` of `config` (`section`, None when
    there is none), then the environment variables of `keys` over it."""
    values: dict[str, tuple[Any, str]] = {}
    if section is not None:
        if not isinstance(section, dict):
            raise ConfigError(f"{config}: {name} must be a table")
        unknown = sorted(set(section) - set(keys))
        if unknown:
            raise ConfigError(
                f"{config} {name}: unknown setting(s) {', '.join(unknown)} "
                f"(known: {', '.join(sorted(keys))})"
            )
        for key, value in section.items():
            values[key] = (value, f"{key} in {config} {name}")
    for key, variable in keys.items():
        if environ.get(variable, "").strip():
            values[key] = (environ[variable].strip(), variable)
    return values


def _harbor_settings(
    section: object, config: Path | None, environ: Mapping[str, str], data_dir: Path
) -> HarborSettings:
    values = _layered(section, config, "[serve.harbor]", HARBOR_ENVIRONMENT, environ)

    def text(key: str, default: str) -> str:
        if key not in values:
            return default
        value, origin = values[key]
        if not isinstance(value, str):
            raise ConfigError(f"{origin}: expected a string")
        return value.strip()

    prefix = text("prefix", DEFAULT_HARBOR_PREFIX)
    if prefix.lower() in ("", "off"):
        prefix = ""
    elif not re.fullmatch(r"(/[A-Za-z0-9._~-]+)+", prefix.rstrip("/") or "/"):
        origin = values["prefix"][1]
        raise ConfigError(f"{origin}: {prefix!r} is not a path prefix (e.g. /harbor) or off")
    else:
        prefix = prefix.rstrip("/")
    if prefix in ("/api", "/ui", "/static", "/login", "/healthz", "/readyz", "/metrics"):
        raise ConfigError(f"{values['prefix'][1]}: {prefix!r} is one of the service's own paths")
    concurrency = DEFAULT_HARBOR_CONCURRENCY
    if "concurrency" in values:
        value, origin = values["concurrency"]
        number = value if isinstance(value, int) else str(value).strip()
        if isinstance(number, str) and number.isdigit():
            number = int(number)
        if isinstance(number, bool) or not isinstance(number, int):
            raise ConfigError(f"{origin}: expected a whole number of artifacts")
        if not 1 <= number <= MAX_HARBOR_CONCURRENCY:
            raise ConfigError(f"{origin}: between 1 and {MAX_HARBOR_CONCURRENCY}")
        concurrency = number
    token = text("token", "")
    if token and len(token) < 16:
        raise ConfigError(f"{values['token'][1]}: a token of at least 16 characters")
    return HarborSettings(
        prefix=prefix,
        token=token,
        concurrency=concurrency,
        key=text("key", ""),
        key_file=data_dir / "harbor.key",
    )


@dataclass(frozen=True, slots=True)
class ServeSettings:
    host: str
    port: int
    database: str  # a SQLAlchemy URL
    vulndb: Path
    poll_interval: float = DEFAULT_POLL_SECONDS
    vulndb_check_interval: float = DEFAULT_VULNDB_CHECK_SECONDS
    vulndb_update_interval: float = DEFAULT_VULNDB_UPDATE_SECONDS  # 0: no scheduled update
    allowed_registries: frozenset[str] = frozenset()
    # registries reached over plain HTTP when they do not speak TLS (as loopback ones always
    # may): Docker's `insecure-registries`
    insecure_registries: frozenset[str] = frozenset()
    allowed_notifier_hosts: frozenset[str] = frozenset()
    # bases every image's base is compared with on its page (the advise job's alternatives)
    alternatives: tuple[str, ...] = ()
    delivery_timeout: float = DEFAULT_DELIVERY_TIMEOUT
    delivery_retry_max: float = DEFAULT_DELIVERY_RETRY_MAX
    dead_letter_after: float = DEFAULT_DEAD_LETTER_AFTER
    admin_token: str = field(default="", repr=False)  # the first admin token, when given
    # the policies every image is evaluated with: those of the `policy` file (None: every
    # built-in with its defaults), read and validated when the settings are loaded
    policy: Path | None = None
    policies: tuple[PolicyConfig, ...] = field(
        default_factory=lambda: tuple(default_policies()), compare=False, repr=False
    )
    harbor: HarborSettings = field(default_factory=HarborSettings)
    fleet: FleetSettings = field(default_factory=FleetSettings)

    @property
    def listen(self) -> str:
        return f"[{self.host}]:{self.port}" if ":" in self.host else f"{self.host}:{self.port}"

    def registry_options(self, options: RegistryOptions | None = None) -> RegistryOptions:
        """`options` (default ones when None) with this service's insecure registries too."""
        options = options or RegistryOptions()
        if not self.insecure_registries:
            return options
        insecure = options.insecure_registries | self.insecure_registries
        return replace(options, insecure_registries=insecure)

    @classmethod
    def load(
        cls,
        *,
        environ: Mapping[str, str],
        default_vulndb: Path,
        config: Path | None = None,
        flags: Mapping[str, str | None] | None = None,
    ) -> ServeSettings:
        """Defaults < `[serve]` of `config` < `environ` < `flags` (keys as in `ENVIRONMENT`).
        Raises ConfigError naming where a bad value came from."""
        section: object = None
        harbor_section: object = None
        fleet_section: object = None
        if config is not None:
            section = read_toml(config).get("serve", {})
            if isinstance(section, dict):
                section = dict(section)
                harbor_section = section.pop("harbor", None)
                fleet_section = section.pop("fleet", None)
        values = _layered(section, config, "[serve]", ENVIRONMENT, environ)
        for key, value in (flags or {}).items():
            if value is not None:
                values[key] = (value, "--" + key.replace("_", "-"))

        def text(key: str) -> tuple[str, str] | None:
            if key not in values:
                return None
            value, origin = values[key]
            if not isinstance(value, str) or not value.strip():
                raise ConfigError(f"{origin}: expected a non-empty string")
            return value.strip(), origin

        def hosts(key: str, what: str) -> frozenset[str]:
            if key not in values:
                return frozenset()
            value, origin = values[key]
            items = value.split(",") if isinstance(value, str) else value
            if not isinstance(items, list | tuple) or not all(isinstance(i, str) for i in items):
                raise ConfigError(f"{origin}: expected a list of {what}")
            return frozenset(parse_host(i.strip(), origin) for i in items if i.strip())

        def alternatives(registries: frozenset[str]) -> tuple[str, ...]:
            if "alternatives" not in values:
                return ()
            value, origin = values["alternatives"]
            items = value.split(",") if isinstance(value, str) else value
            if not isinstance(items, list | tuple) or not all(isinstance(i, str) for i in items):
                raise ConfigError(f"{origin}: expected a list of image references")
            found: list[str] = []
            for item in (i.strip() for i in items if i.strip()):
                try:
                    ref = parse_reference(item)
                except UsageError as exc:
                    raise ConfigError(f"{origin}: {item!r}: {exc}") from None
                if ref.digest or not ref.repository:
                    raise ConfigError(f"{origin}: {item!r}: name a tag (host/name:tag)")
                if ref.registry not in registries:
                    raise ConfigError(
                        f"{origin}: {item!r}: its registry {ref.registry} is not in "
                        "allowed_registries"
                    )
                found.append(f"{ref.registry}/{ref.repository}:{ref.tag or 'latest'}")
            if len(found) > MAX_ALTERNATIVES:
                raise ConfigError(f"{origin}: at most {MAX_ALTERNATIVES} alternatives")
            return tuple(dict.fromkeys(found))

        listen = text("listen")
        host, port = parse_listen(*listen) if listen else parse_listen(DEFAULT_LISTEN, "default")
        database = text("database")
        vulndb = text("vulndb")

        def duration(key: str, default: float) -> float:
            found = text(key)
            return parse_duration(*found) if found else default

        registries = hosts("allowed_registries", "registry hosts")
        insecure = hosts("insecure_registries", "registry hosts")
        if insecure - registries:
            origin = values["insecure_registries"][1]
            raise ConfigError(
                f"{origin}: {', '.join(sorted(insecure - registries))} not in allowed_registries"
            )
        policy = text("policy")
        policy_file = Path(policy[0]).expanduser() if policy else None
        # read now: a bad policy file stops the service before it starts, saying where
        policies = read_policy_file(policy_file, policy[1]) if policy_file and policy else None
        default_db = "sqlite+pysqlite:///" + str(user_data_dir(environ) / "service.db")
        return cls(
            host=host,
            port=port,
            database=check_database_url(*database) if database else default_db,
            vulndb=Path(vulndb[0]).expanduser() if vulndb else default_vulndb,
            poll_interval=duration("poll_interval", DEFAULT_POLL_SECONDS),
            vulndb_check_interval=duration("vulndb_check_interval", DEFAULT_VULNDB_CHECK_SECONDS),
            vulndb_update_interval=(
                0.0
                if (text("vulndb_update_interval") or ("", ""))[0].lower() == "off"
                else duration("vulndb_update_interval", DEFAULT_VULNDB_UPDATE_SECONDS)
            ),
            delivery_timeout=duration("delivery_timeout", DEFAULT_DELIVERY_TIMEOUT),
            delivery_retry_max=duration("delivery_retry_max", DEFAULT_DELIVERY_RETRY_MAX),
            dead_letter_after=duration("dead_letter_after", DEFAULT_DEAD_LETTER_AFTER),
            allowed_registries=registries,
            insecure_registries=insecure,
            alternatives=alternatives(registries),
            allowed_notifier_hosts=hosts("allowed_notifier_hosts", "host names"),
            admin_token=environ.get(ENV_ADMIN_TOKEN, "").strip(),
            policy=policy_file,
            policies=policies if policies is not None else tuple(default_policies()),
            harbor=_harbor_settings(harbor_section, config, environ, user_data_dir(environ)),
            fleet=_fleet_settings(fleet_section, config, environ),
        )


def _fleet_settings(
    section: object, config: Path | None, environ: Mapping[str, str]
) -> FleetSettings:
    values = _layered(section, config, "[serve.fleet]", FLEET_ENVIRONMENT, environ)

    def number(key: str, default: float, low: float, high: float, whole: bool = False) -> float:
        if key not in values:
            return default
        return _number(*values[key], low, high, whole)

    def duration(key: str, default: float) -> float:
        if key not in values:
            return default
        value, origin = values[key]
        if isinstance(value, int | float) and not isinstance(value, bool):
            value = str(value)
        if not isinstance(value, str):
            raise ConfigError(f"{origin}: expected a duration (e.g. 30s)")
        return parse_duration(value, origin)

    rates: dict[str, float] = {}
    if "registry_rates" in values:
        value, origin = values["registry_rates"]
        if isinstance(value, str):  # the environment's form: host=rate,host=rate
            pairs = [item.partition("=") for item in value.split(",") if item.strip()]
            if any(not sep for _, sep, _ in pairs):
                raise ConfigError(f"{origin}: expected HOST=REQUESTS_PER_SECOND, ...")
            value = {host.strip(): rate.strip() for host, _, rate in pairs}
        if not isinstance(value, dict):
            raise ConfigError(f"{origin}: expected a table of host = requests per second")
        for host, rate in value.items():
            where = f"{origin} ({host})"
            rates[parse_host(str(host).strip(), origin)] = _number(rate, where, 0.0, 1e6)
    lease = duration("lease", DEFAULT_LEASE)
    if lease < 3:
        raise ConfigError(f"{values['lease'][1]}: at least 3s (a heartbeat goes every third)")
    metrics = ""
    if "metrics" in values:
        value, origin = values["metrics"]
        if not isinstance(value, str):
            raise ConfigError(f"{origin}: expected HOST:PORT")
        if value.strip():
            host, port = parse_listen(value, origin)
            metrics = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    return FleetSettings(
        lease=lease,
        attempts=int(number("attempts", DEFAULT_ATTEMPTS, 1, 100, whole=True)),
        max_queued=int(number("max_queued", DEFAULT_MAX_QUEUED, 1, 10_000_000, whole=True)),
        batch=int(number("batch", DEFAULT_FLEET_BATCH, 1, 100_000, whole=True)),
        claim_wait=duration("claim_wait", DEFAULT_CLAIM_WAIT),
        registry_rate=number("registry_rate", 0.0, 0.0, 1e6),
        registry_rates=tuple(sorted(rates.items())),
        metrics=metrics,
    )


def _number(value: object, origin: str, low: float, high: float, whole: bool = False) -> float:
    if isinstance(value, str):
        text = value.strip()
        try:
            value = int(text) if whole else float(text)
        except ValueError:
            raise ConfigError(f"{origin}: {text!r} is not a number") from None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ConfigError(f"{origin}: expected a number")
    if whole and not isinstance(value, int):
        raise ConfigError(f"{origin}: expected a whole number")
    if not low <= value <= high:
        raise ConfigError(f"{origin}: between {low:g} and {high:g}")
    return float(value)
