"""The fleet (`basewatch worker` processes on PostgreSQL): per-layer analyses shared by every
worker (content-addressed by digest and detectors), the request budget and pause each registry
has across the fleet, and the jobs parked because they kept killing their workers. On PostgreSQL
the task queue's own tables (procrastinate's schema, of the version this basewatch ships with)
are made here too, so one upgrade brings both.

Revision ID: 0013
Revises: 0012
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision: str | None = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "layer_analyses",
        sa.Column("kind", sa.String(20), primary_key=True),
        sa.Column("digest", sa.String(100), primary_key=True),
        sa.Column("detectors", sa.String(200), primary_key=True),
        sa.Column("data", sa.LargeBinary(), nullable=False),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "registry_limits",
        sa.Column("registry", sa.String(300), primary_key=True),
        sa.Column("tokens", sa.Float(), nullable=False),
        sa.Column("refilled_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("paused_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("pauses", sa.Integer(), nullable=False),
        sa.Column("requests", sa.BigInteger(), nullable=False),
    )
    op.create_table(
        "parked_jobs",
        sa.Column("job_id", sa.BigInteger(), primary_key=True, autoincrement=False),
        sa.Column("task", sa.String(100), nullable=False),
        sa.Column("args", sa.JSON(), nullable=False),
        sa.Column("lock", sa.String(300), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("reason", sa.String(2000), nullable=False),
        sa.Column("parked_at", sa.DateTime(timezone=True), nullable=False),
    )
    if op.get_bind().dialect.name == "postgresql":
        from procrastinate.schema import SchemaManager

        # straight to the driver, with no parameters: the schema is PL/pgSQL whose '%' are
        # its own, not placeholders
        driver = op.get_bind().connection.driver_connection
        assert driver is not None
        with driver.cursor() as cursor:
            cursor.execute(SchemaManager.get_schema())


def downgrade() -> None:
    op.drop_table("parked_jobs")
    op.drop_table("registry_limits")
    op.drop_table("layer_analyses")
