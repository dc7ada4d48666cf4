"""Indexes for looking tags up by the digest they point at: the image list's tags of a page and
one image's tag history read them by digest.

Revision ID: 0007
Revises: 0006
"""

from __future__ import annotations

from alembic import op

revision = "0007"
down_revision: str | None = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_tags_digest", "tags", ["digest"])
    op.create_index("ix_tag_history_digest", "tag_history", ["digest"])


def downgrade() -> None:
    op.drop_index("ix_tag_history_digest", table_name="tag_history")
    op.drop_index("ix_tags_digest", table_name="tags")
