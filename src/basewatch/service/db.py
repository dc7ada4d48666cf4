"""The service's database: an engine for SQLite (WAL, foreign keys) or PostgreSQL (psycopg), and
the schema brought up to date by the Alembic migrations at start.

A database written by a newer basewatch (a revision these migrations do not know) is refused
rather than written to; a database of an older one is upgraded in place, in one transaction.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, OperationalError, SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from basewatch.errors import DatabaseError

_MIGRATIONS = Path(__file__).parent / "migrations"


class SchemaTooNew(DatabaseError):
    """The database was written by a newer basewatch: its schema is unknown here."""


def open_engine(url: str) -> Engine:
    """An engine for `url`; for SQLite, the file's directory is made and WAL mode set."""
    try:
        parsed = make_url(url)
    except ArgumentError as exc:
        raise DatabaseError(f"not a database URL: {exc}") from None
    options: dict[str, Any] = {"future": True}
    if parsed.get_backend_name() == "sqlite":
        database = parsed.database or ""
        if database and database != ":memory:":
            Path(database).parent.mkdir(parents=True, exist_ok=True)
        options["connect_args"] = {"timeout": 30}
    else:
        # a restarted server: the pool notices dead connections instead of handing them out
        options["pool_pre_ping"] = True
        options["connect_args"] = {"connect_timeout": 10}
    engine = create_engine(parsed, **options)
    if parsed.get_backend_name() == "sqlite":
        event.listen(engine, "connect", _sqlite_pragmas)
    return engine


def _sqlite_pragmas(connection: Any, _record: Any) -> None:
    cursor = connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    # in WAL mode: no fsync at each commit, only at checkpoints; a crashed or killed process
    # loses nothing committed, a power cut at most the last transactions, never consistency
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.close()


def _config() -> Config:
    config = Config()
    config.set_main_option("script_location", str(_MIGRATIONS))
    return config


def head_revision() -> str:
    head = ScriptDirectory.from_config(_config()).get_current_head()
    if head is None:  # pragma: no cover - the package ships its migrations
        raise DatabaseError("the service's migrations are missing from this installation")
    return head


def current_revision(engine: Engine) -> str | None:
    with engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


def upgrade(engine: Engine) -> str:
    """Bring the schema to the newest revision (creating it in an empty database); returns it.
    Raises SchemaTooNew for a revision these migrations do not know, DatabaseError when the
    database cannot be reached."""
    config = _config()
    script = ScriptDirectory.from_config(config)
    location = engine.url.render_as_string(hide_password=True)
    try:
        current = current_revision(engine)
        if current is not None:
            try:
                script.get_revision(current)
            except Exception as exc:  # alembic raises its own CommandError/ResolutionError
                raise SchemaTooNew(
                    f"{location}: its schema (revision {current}) is newer than this basewatch "
                    f"knows (up to {head_revision()}): run a newer basewatch against it"
                ) from exc
        with engine.begin() as connection:
            config.attributes["connection"] = connection
            command.upgrade(config, "head")
    except OperationalError as exc:
        raise DatabaseError(f"{location}: cannot open the database ({exc.orig})") from None
    except SQLAlchemyError as exc:
        raise DatabaseError(f"{location}: {exc}") from None
    return head_revision()


def sessions(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(engine, expire_on_commit=False)
