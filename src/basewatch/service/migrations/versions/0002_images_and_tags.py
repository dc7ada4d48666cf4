"""Watched tags and their history, indexed images, stored inventories by package.

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision: str | None = "0001"
branch_labels = None
depends_on = None

_WHEN = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "tags",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("repository", sa.String(512), nullable=False),
        sa.Column("tag", sa.String(128), nullable=False),
        sa.Column("digest", sa.String(100), nullable=False),
        sa.Column("checked_at", _WHEN, nullable=False),
        sa.Column("changed_at", _WHEN, nullable=False),
        sa.UniqueConstraint("repository", "tag", name="uq_tags_repository_tag"),
    )
    op.create_table(
        "tag_history",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("repository", sa.String(512), nullable=False),
        sa.Column("tag", sa.String(128), nullable=False),
        sa.Column("digest", sa.String(100), nullable=False),
        sa.Column("seen_at", _WHEN, nullable=False),
    )
    op.create_index("ix_tag_history_tag", "tag_history", ["repository", "tag"])
    op.create_table(
        "images",
        sa.Column("digest", sa.String(100), primary_key=True),
        sa.Column("manifest_digest", sa.String(100), nullable=False),
        sa.Column("repository", sa.String(512), nullable=False),
        sa.Column("platform", sa.String(64), nullable=False),
        sa.Column("base_reference", sa.String(600), nullable=False),
        sa.Column("base_digest", sa.String(100), nullable=False),
        sa.Column("base_method", sa.String(20), nullable=False),
        sa.Column("packages", sa.Integer(), nullable=False),
        sa.Column("partial", sa.Boolean(), nullable=False),
        sa.Column("indexed_at", _WHEN, nullable=False),
    )
    op.create_index("ix_images_repository", "images", ["repository"])
    op.create_table(
        "inventories",
        sa.Column("digest", sa.String(100), primary_key=True),
        sa.Column("document", sa.JSON(), nullable=False),
        sa.Column("stored_at", _WHEN, nullable=False),
    )
    op.create_table(
        "inventory_packages",
        sa.Column(
            "digest",
            sa.String(100),
            sa.ForeignKey("inventories.digest", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column("ecosystem", sa.String(100), primary_key=True),
        sa.Column("name", sa.String(300), primary_key=True),
    )
    op.create_index("ix_inventory_packages_package", "inventory_packages", ["ecosystem", "name"])


def downgrade() -> None:
    for index, table in (
        ("ix_inventory_packages_package", "inventory_packages"),
        ("ix_images_repository", "images"),
        ("ix_tag_history_tag", "tag_history"),
    ):
        op.drop_index(index, table_name=table)
    for table in ("inventory_packages", "inventories", "images", "tag_history", "tags"):
        op.drop_table(table)
