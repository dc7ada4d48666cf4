"""The service's schema: made by the migrations on an empty database, kept on restart, and a
database of a newer basewatch refused (SQLite and PostgreSQL alike)."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import inspect, text

from basewatch.errors import DatabaseError
from basewatch.service.auth import authenticate, bootstrap, create_token
from basewatch.service.db import (
    SchemaTooNew,
    current_revision,
    head_revision,
    open_engine,
    sessions,
    upgrade,
)
from basewatch.service.models import Role


def test_an_empty_database_gets_the_whole_schema(database_url: str) -> None:
    engine = open_engine(database_url)
    try:
        assert current_revision(engine) is None
        assert upgrade(engine) == head_revision()
        assert current_revision(engine) == head_revision()
        tables = set(inspect(engine).get_table_names())
        assert {"api_tokens", "watches", "alembic_version"} <= tables
        assert upgrade(engine) == head_revision()  # again: nothing to do, nothing lost
    finally:
        engine.dispose()


def test_tokens_survive_a_restart(database_url: str) -> None:
    engine = open_engine(database_url)
    upgrade(engine)
    with sessions(engine)() as session:
        first = bootstrap(session, "")
        viewer = create_token(session, Role.VIEWER, "ci")
        session.commit()
    engine.dispose()
    assert first is not None and first.startswith("bw_")
    engine = open_engine(database_url)
    try:
        upgrade(engine)
        with sessions(engine)() as session:
            assert bootstrap(session, "") is None  # tokens exist: no second admin token
            admin = authenticate(session, first)
            assert admin is not None and admin.role is Role.ADMIN
            reader = authenticate(session, viewer)
            assert reader is not None and reader.role is Role.VIEWER
            assert authenticate(session, first + "x") is None
            stored = session.execute(text("SELECT token_hash FROM api_tokens")).scalars().all()
            assert first not in stored and viewer not in stored  # only hashes are kept
    finally:
        engine.dispose()


def test_a_newer_schema_is_refused(database_url: str) -> None:
    engine = open_engine(database_url)
    try:
        upgrade(engine)
        with engine.begin() as connection:
            connection.execute(text("UPDATE alembic_version SET version_num = '9999'"))
        with pytest.raises(SchemaTooNew, match=r"revision 9999\) is newer than this basewatch"):
            upgrade(engine)
        with engine.connect() as connection:  # refused, not rewritten
            assert (
                connection.execute(text("SELECT version_num FROM alembic_version")).scalar()
                == "9999"
            )
    finally:
        engine.dispose()


def test_an_unreachable_database_is_a_database_error() -> None:
    engine = open_engine("postgresql+psycopg://nobody@127.0.0.1:1/none")
    try:
        with pytest.raises(DatabaseError, match="cannot open the database"):
            upgrade(engine)
    finally:
        engine.dispose()


def test_sqlite_runs_in_wal_mode(tmp_path: Path) -> None:
    engine = open_engine(f"sqlite+pysqlite:///{tmp_path}/nested/dir/service.db")
    try:
        upgrade(engine)
        with engine.connect() as connection:
            assert connection.execute(text("PRAGMA journal_mode")).scalar() == "wal"
    finally:
        engine.dispose()


def test_images_evaluated_before_the_history_existed_start_it_with_their_counts(
    database_url: str,
) -> None:
    """Migration 0008 gives every image evaluated under 0007 one row of its findings over
    time: the counts of its snapshot, as of its last evaluation."""
    from alembic import command

    from basewatch.service.db import _config

    engine = open_engine(database_url)
    try:
        with engine.begin() as connection:
            config = _config()
            config.attributes["connection"] = connection
            command.upgrade(config, "0007")
        with engine.begin() as connection:
            connection.execute(
                text(
                    "INSERT INTO images (digest, manifest_digest, repository, platform, "
                    "base_reference, base_digest, base_method, packages, partial, indexed_at) "
                    "VALUES ('sha256:a', 'sha256:a', 'r/app', '', '', '', '', 1, false, "
                    "'2026-11-01 00:00:00+00:00')"
                )
            )
            connection.execute(
                text(
                    "INSERT INTO evaluations (digest, evaluated_at, database, unchecked) "
                    "VALUES ('sha256:a', '2026-11-02 00:00:00+00:00', 'vuln.db', '[]')"
                )
            )
            for advisory, severity, fixed, kev in (
                ("CVE-1", "critical", "1.1", True),
                ("CVE-2", "high", "", False),
                ("CVE-3", "unknown", "", False),
            ):
                connection.execute(
                    text(
                        "INSERT INTO image_findings (digest, advisory, package, version, "
                        "aliases, ecosystem, severity, fixed_version, kev, first_seen) VALUES "
                        "('sha256:a', :a, 'p', '1', '[]', 'Debian:12', :s, :f, :k, "
                        "'2026-11-02 00:00:00+00:00')"
                    ),
                    {"a": advisory, "s": severity, "f": fixed, "k": kev},
                )
        upgrade(engine)
        with engine.connect() as connection:
            rows = connection.execute(
                text(
                    "SELECT digest, critical, high, medium, low, other, fixable, kev "
                    "FROM finding_history"
                )
            ).all()
        assert [tuple(r) for r in rows] == [("sha256:a", 1, 1, 0, 0, 1, 1, 1)]
    finally:
        engine.dispose()


def test_the_migrations_make_exactly_the_schema_the_models_describe(database_url: str) -> None:
    """No drift between models.py and the migrations: autogenerate finds nothing to add,
    drop or change (tables, columns, indexes) after upgrading an empty database."""
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    from basewatch.service.models import Base

    engine = open_engine(database_url)
    try:
        upgrade(engine)
        with engine.connect() as connection:
            context = MigrationContext.configure(
                connection,
                # the task queue's own tables (PostgreSQL only) are procrastinate's schema
                opts={"compare_type": False, "include_name": _ours},
            )
            differences = compare_metadata(context, Base.metadata)
        assert differences == []
    finally:
        engine.dispose()


def _ours(name: str | None, kind: str, _parents: object) -> bool:
    return not (kind == "table" and (name or "").startswith("procrastinate_"))
