"""What the dashboard needs: each image's finding counts over time (a row whenever an evaluation
changed them), and the sessions of people logged in with a token.

Revision ID: 0008
Revises: 0007
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision: str | None = "0007"
branch_labels = None
depends_on = None

COUNTS = ("critical", "high", "medium", "low", "other", "fixable", "kev")


def upgrade() -> None:
    op.create_table(
        "finding_history",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column(
            "digest",
            sa.String(100),
            sa.ForeignKey("images.digest", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        *(sa.Column(name, sa.Integer(), nullable=False) for name in COUNTS),
    )
    op.create_index("ix_finding_history_digest", "finding_history", ["digest", "at"])
    op.create_index("ix_finding_history_at", "finding_history", ["at"])
    op.create_table(
        "web_sessions",
        sa.Column("id_hash", sa.String(64), primary_key=True),
        sa.Column(
            "token_id",
            sa.Integer(),
            sa.ForeignKey("api_tokens.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("csrf", sa.String(64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("web_sessions")
    op.drop_index("ix_finding_history_at", table_name="finding_history")
    op.drop_index("ix_finding_history_digest", table_name="finding_history")
    op.drop_table("finding_history")
