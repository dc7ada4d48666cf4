"""Each image's latest findings, when (and against what) it was evaluated, and the service's
own bookmarks (how far into the vulnerability database's change log it has read).

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision: str | None = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "image_findings",
        sa.Column(
            "digest",
            sa.String(100),
            sa.ForeignKey("images.digest", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column("advisory", sa.String(200), primary_key=True),
        sa.Column("package", sa.String(300), primary_key=True),
        sa.Column("version", sa.String(200), primary_key=True),
        sa.Column("aliases", sa.JSON(), nullable=False),
        sa.Column("ecosystem", sa.String(100), nullable=False),
        sa.Column("severity", sa.String(20), nullable=False),
        sa.Column("fixed_version", sa.String(200), nullable=False),
        sa.Column("kev", sa.Boolean(), nullable=False),
        sa.Column("first_seen", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_image_findings_advisory", "image_findings", ["advisory"])
    op.create_table(
        "evaluations",
        sa.Column(
            "digest",
            sa.String(100),
            sa.ForeignKey("images.digest", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column("evaluated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("database", sa.String(1000), nullable=False),
        sa.Column("unchecked", sa.JSON(), nullable=False),
    )

    op.create_table(
        "service_state",
        sa.Column("key", sa.String(100), primary_key=True),
        sa.Column("value", sa.String(1000), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("service_state")
    op.drop_table("evaluations")
    op.drop_index("ix_image_findings_advisory", table_name="image_findings")
    op.drop_table("image_findings")
