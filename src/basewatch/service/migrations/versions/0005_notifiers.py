"""Notifiers, their deliveries, and what an event needs to be delivered: a stable message id
(the `webhook-id` of every attempt) and whether it was fanned out to the notifiers yet.

Revision ID: 0005
Revises: 0004
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision: str | None = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("events") as batch:
        batch.add_column(sa.Column("uid", sa.String(64), nullable=False, server_default=""))
        batch.add_column(
            sa.Column("severity", sa.String(20), nullable=False, server_default="unknown")
        )
        batch.add_column(
            sa.Column("fanned_out", sa.Boolean(), nullable=False, server_default=sa.false())
        )
    op.create_index("ix_events_fanned_out", "events", ["fanned_out", "id"])
    op.create_table(
        "notifiers",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("kind", sa.String(20), nullable=False),
        sa.Column("target", sa.String(2000), nullable=False),
        sa.Column("secret", sa.String(500), nullable=False),
        sa.Column("options", sa.JSON(), nullable=False),
        sa.Column("event_types", sa.JSON(), nullable=False),
        sa.Column("min_severity", sa.String(20), nullable=False),
        sa.Column("repositories", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "deliveries",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column(
            "event_id", sa.Integer(), sa.ForeignKey("events.id", ondelete="CASCADE"), nullable=False
        ),
        sa.Column(
            "notifier_id",
            sa.Integer(),
            sa.ForeignKey("notifiers.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("state", sa.String(20), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_error", sa.String(1000), nullable=False),
        sa.Column("delivered_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.UniqueConstraint("event_id", "notifier_id", name="uq_deliveries_event_notifier"),
    )
    op.create_index("ix_deliveries_due", "deliveries", ["state", "next_attempt_at"])


def downgrade() -> None:
    op.drop_index("ix_deliveries_due", table_name="deliveries")
    op.drop_table("deliveries")
    op.drop_table("notifiers")
    op.drop_index("ix_events_fanned_out", table_name="events")
    with op.batch_alter_table("events") as batch:
        batch.drop_column("fanned_out")
        batch.drop_column("severity")
        batch.drop_column("uid")
