"""One `Settings` object, built once: defaults, then the config file, then the environment,
then flags, each overriding the one before. Every path default derives from it here.

The library never reads the environment or looks for the config file itself: an adapter (the
CLI, the service) calls `Settings.load(environ=os.environ, directory=Path.cwd(), ...)` and
passes the result on.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from basewatch.config_file import ConfigSection, config_section
from basewatch.defaults import (
    ENDOFLIFE_API,
    ENV_CACHE_DIR,
    ENV_DB,
    ENV_EOL_URL,
    ENV_OSV_URL,
    OSV_BASE_URL,
)
from basewatch.errors import ConfigError

# The config file's sections and keys Settings reads: `[cache] dir`, `[db] path`, ...
_KEYS: dict[str, frozenset[str]] = {
    "cache": frozenset({"dir"}),
    "db": frozenset({"path", "osv_url", "eol_url"}),
}


@dataclass(frozen=True, slots=True)
class Settings:
    """Where basewatch keeps its data and where it fetches it from.

    `origins` says where each non-default value came from ("--osv-url", "BASEWATCH_OSV_URL",
    "osv_url in .basewatch.toml [db]"), for messages.
    """

    cache_dir: Path
    db_override: Path | None = None  # an explicit vulnerability database path
    osv_url: str = OSV_BASE_URL
    eol_url: str = ENDOFLIFE_API
    use_cache: bool = True
    docker_config: Path | None = None  # Docker's config directory (for registry logins)
    origins: Mapping[str, str] = field(default_factory=dict)

    # --- every path default, derived in one place -------------------------------------------

    @property
    def db_path(self) -> Path:
        """The vulnerability database: the one given, else `vuln.db` in the cache dir."""
        return self.db_override if self.db_override is not None else self.cache_dir / "vuln.db"

    @property
    def eol_table(self) -> Path:
        """The refreshed end-of-life table (the shipped one is used when it is missing)."""
        return self.cache_dir / "eol.json"

    @property
    def license_table(self) -> Path:
        """The SPDX license list as the `license` policy reads it, kept between runs."""
        return self.cache_dir / "spdx-ids.json"

    @property
    def blob_dir(self) -> Path:
        """The root of the content-addressed blob cache (registry pulls)."""
        return self.cache_dir

    @property
    def analysis_dir(self) -> Path:
        """The root of the per-layer and per-image analysis cache."""
        return self.cache_dir

    @property
    def catalog_dir(self) -> Path:
        """Where the catalog of images read before lives."""
        return self.cache_dir

    @property
    def scratch_root(self) -> Path:
        """Private temporary files (`basewatch.scratch`) go below this."""
        return self.cache_dir

    # --- building ----------------------------------------------------------------------------

    @classmethod
    def load(
        cls,
        *,
        environ: Mapping[str, str],
        directory: Path | None = None,
        cache_dir: Path | None = None,
        db: Path | None = None,
        osv_url: str | None = None,
        eol_url: str | None = None,
        use_cache: bool = True,
        read_config: bool = True,
    ) -> Settings:
        """Defaults < config file in `directory` < `environ` < the keyword arguments (flags).

        Raises `ConfigError` naming the origin of a malformed value.
        """
        values: dict[str, Any] = {}
        origins: dict[str, str] = {}

        def take(name: str, value: Any, origin: str) -> None:
            if value is None or value == "":
                return
            values[name] = value
            origins[name] = origin

        if read_config:
            where = directory or Path.cwd()
            cache = _section("cache", where)
            if cache is not None:
                take("cache_dir", _path(cache, "dir", where), f"dir in {cache.source}")
            database = _section("db", where)
            if database is not None:
                take("db", _path(database, "path", where), f"path in {database.source}")
                for key in ("osv_url", "eol_url"):
                    take(key, _string(database, key), f"{key} in {database.source}")
        take("cache_dir", _env_path(environ, ENV_CACHE_DIR), ENV_CACHE_DIR)
        take("db", _env_path(environ, ENV_DB), ENV_DB)
        take("osv_url", environ.get(ENV_OSV_URL, "").strip(), ENV_OSV_URL)
        take("eol_url", environ.get(ENV_EOL_URL, "").strip(), ENV_EOL_URL)
        take("cache_dir", cache_dir, "--cache-dir")
        take("db", db, "--db")
        take("osv_url", osv_url, "--osv-url")
        take("eol_url", eol_url, "--eol-base-url")
        return cls(
            cache_dir=values.get("cache_dir") or user_cache_dir(environ),
            db_override=values.get("db"),
            osv_url=_checked_url(values["osv_url"], origins["osv_url"], _OSV_ROOT)
            if "osv_url" in values
            else OSV_BASE_URL,
            eol_url=_checked_url(values["eol_url"], origins["eol_url"], _EOL_ROOT)
            if "eol_url" in values
            else ENDOFLIFE_API,
            use_cache=use_cache,
            docker_config=docker_config_dir(environ),
            origins=origins,
        )


def user_cache_dir(environ: Mapping[str, str]) -> Path:
    """The per-user cache directory: `$XDG_CACHE_HOME/basewatch`, else `~/.cache/basewatch`
    (on macOS `~/Library/Caches/basewatch`)."""
    xdg = environ.get("XDG_CACHE_HOME", "")
    if xdg and Path(xdg).is_absolute():  # a relative value is invalid by the XDG spec
        return Path(xdg) / "basewatch"
    home = Path(environ["HOME"]) if environ.get("HOME") else Path.home()
    if sys.platform == "darwin":
        return home / "Library" / "Caches" / "basewatch"
    return home / ".cache" / "basewatch"


def docker_config_dir(environ: Mapping[str, str]) -> Path:
    """Docker's config directory: `$DOCKER_CONFIG`, else `~/.docker`."""
    if environ.get("DOCKER_CONFIG"):
        return Path(environ["DOCKER_CONFIG"])
    home = Path(environ["HOME"]) if environ.get("HOME") else Path.home()
    return home / ".docker"


def _section(name: str, directory: Path) -> ConfigSection | None:
    section = config_section(name, directory)
    if section is None:
        return None
    unknown = sorted(set(section.values) - _KEYS[name])
    if unknown:
        raise ConfigError(
            f"{section.source}: unknown setting(s) {', '.join(unknown)} "
            f"(known: {', '.join(sorted(_KEYS[name]))})"
        )
    return section


def _string(section: ConfigSection, key: str) -> str | None:
    value = section.values.get(key)
    if value is not None and not isinstance(value, str):
        raise ConfigError(f"{section.source}: {key} must be a string")
    return value


def _path(section: ConfigSection, key: str, directory: Path) -> Path | None:
    value = _string(section, key)
    if not value:
        return None
    path = Path(value).expanduser()
    return path if path.is_absolute() else directory / path  # relative to the config file


def _env_path(environ: Mapping[str, str], name: str) -> Path | None:
    value = environ.get(name, "").strip()
    return Path(value).expanduser() if value else None


_OSV_ROOT = f"the OSV dumps' root (e.g. {OSV_BASE_URL})"
_EOL_ROOT = f"the end-of-life API's root (e.g. {ENDOFLIFE_API})"


def _checked_url(value: str, origin: str, what: str) -> str:
    url = value.strip()
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError for a port that is not a number
    except ValueError as exc:
        raise ConfigError(f"{origin}: {value!r} is not a valid URL ({exc})") from exc
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConfigError(f"{origin}: {value!r} is not an http:// or https:// URL of {what}")
    return url
