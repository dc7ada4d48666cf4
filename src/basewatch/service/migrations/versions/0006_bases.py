"""Bases and what rebuilding needs: the base tags the service polls, whether an image needs a
rebuild, its release's end of life, and every id (advisory and aliases) of each finding.

Revision ID: 0006
Revises: 0005
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision: str | None = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "bases",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("reference", sa.String(700), nullable=False),
        sa.Column("repository", sa.String(512), nullable=False),
        sa.Column("tag", sa.String(128), nullable=False),
        sa.Column("digest", sa.String(100), nullable=False),
        sa.Column("manifest_digest", sa.String(100), nullable=False),
        sa.Column("checked_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("changed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("problem", sa.String(1000), nullable=False),
        sa.UniqueConstraint("reference", name="uq_bases_reference"),
    )
    with op.batch_alter_table("images") as batch:
        batch.add_column(
            sa.Column("rebuild_needed", sa.Boolean(), nullable=False, server_default=sa.false())
        )
        batch.add_column(
            sa.Column("rebuild_reason", sa.String(1000), nullable=False, server_default="")
        )
        batch.add_column(sa.Column("release", sa.String(200), nullable=False, server_default=""))
        batch.add_column(sa.Column("eol", sa.String(10), nullable=False, server_default=""))
        batch.add_column(sa.Column("eol_reached_at", sa.DateTime(timezone=True), nullable=True))
    op.create_index("ix_images_base", "images", ["base_reference", "base_digest"])
    op.create_table(
        "finding_ids",
        sa.Column(
            "digest",
            sa.String(100),
            sa.ForeignKey("images.digest", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column("id", sa.String(200), primary_key=True),
        sa.Column("advisory", sa.String(200), primary_key=True),
    )
    op.create_index("ix_finding_ids_id", "finding_ids", ["id"])


def downgrade() -> None:
    op.drop_index("ix_finding_ids_id", table_name="finding_ids")
    op.drop_table("finding_ids")
    op.drop_index("ix_images_base", table_name="images")
    with op.batch_alter_table("images") as batch:
        for column in ("eol_reached_at", "eol", "release", "rebuild_reason", "rebuild_needed"):
            batch.drop_column(column)
    op.drop_table("bases")
