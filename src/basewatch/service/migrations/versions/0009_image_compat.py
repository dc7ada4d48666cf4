"""Each image's ELF compatibility verdict on its own filesystem, computed when it is indexed
(so the dashboard shows it without pulling the image again).

Revision ID: 0009
Revises: 0008
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision: str | None = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # images indexed before stay without a row: the dashboard says they were not checked
    op.create_table(
        "image_compat",
        sa.Column(
            "digest",
            sa.String(100),
            sa.ForeignKey("images.digest", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column("verdict", sa.String(20), nullable=False),
        sa.Column("libc", sa.String(100), nullable=False),
        sa.Column("files", sa.Integer(), nullable=False),
        sa.Column("failing", sa.Integer(), nullable=False),
        sa.Column("problems", sa.JSON(), nullable=False),
        sa.Column("notes", sa.JSON(), nullable=False),
        sa.Column("not_checked", sa.JSON(), nullable=False),
        sa.Column("checked_at", sa.DateTime(timezone=True), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("image_compat")
