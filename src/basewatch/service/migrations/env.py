"""Alembic's environment: always online, on the connection `basewatch.service.db` hands over."""

from __future__ import annotations

from alembic import context
from sqlalchemy.engine import Connection

from basewatch.service.models import Base

connection = context.config.attributes.get("connection")
if not isinstance(connection, Connection):  # pragma: no cover - only run through service.db
    raise RuntimeError("migrations run through basewatch.service.db, with a connection")
context.configure(connection=connection, target_metadata=Base.metadata, render_as_batch=True)
with context.begin_transaction():
    context.run_migrations()
