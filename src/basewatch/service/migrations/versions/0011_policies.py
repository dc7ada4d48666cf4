"""Policies in the service: each image's current verdicts, the attestations its registry listed
when it was indexed, and the history of the policies each image fails (the "fail gap").

Images indexed before have no verdicts (`policy_failed` NULL, `policy_config` ""): the
re-evaluation evaluates them from their stored facts; their attestations are not known.

Revision ID: 0011
Revises: 0010
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision: str | None = "0010"
branch_labels = None
depends_on = None


def _digest() -> sa.Column[str]:
    return sa.Column(
        "digest",
        sa.String(100),
        sa.ForeignKey("images.digest", ondelete="CASCADE"),
        primary_key=True,
    )


def upgrade() -> None:
    with op.batch_alter_table("images") as batch:
        batch.add_column(sa.Column("policy_failed", sa.Boolean(), nullable=True))
        batch.add_column(
            sa.Column("policy_config", sa.String(64), nullable=False, server_default="")
        )
    op.create_index("ix_images_policy_failed", "images", ["policy_failed"])
    op.create_table(
        "image_policies",
        _digest(),
        sa.Column("policy", sa.String(100), primary_key=True),
        sa.Column("title", sa.String(300), nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("action", sa.String(10), nullable=False),
        sa.Column("reason", sa.String(2000), nullable=False),
        sa.Column("items", sa.JSON(), nullable=False),
        sa.Column("item_count", sa.Integer(), nullable=False),
        sa.Column("reported", sa.String(20), nullable=False),
        sa.Column("changed_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "image_attestations",
        _digest(),
        sa.Column("attestations", sa.JSON(), nullable=True),
        sa.Column("why", sa.String(1000), nullable=False),
        sa.Column("checked_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "policy_history",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column(
            "digest",
            sa.String(100),
            sa.ForeignKey("images.digest", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("failing", sa.JSON(), nullable=False),
    )
    op.create_index("ix_policy_history_digest", "policy_history", ["digest", "at"])
    op.create_index("ix_policy_history_at", "policy_history", ["at"])


def downgrade() -> None:
    op.drop_index("ix_policy_history_at", table_name="policy_history")
    op.drop_index("ix_policy_history_digest", table_name="policy_history")
    op.drop_table("policy_history")
    op.drop_table("image_attestations")
    op.drop_table("image_policies")
    op.drop_index("ix_images_policy_failed", table_name="images")
    with op.batch_alter_table("images") as batch:
        batch.drop_column("policy_config")
        batch.drop_column("policy_failed")
