"""Harbor's scan requests: durable jobs (Harbor polls their reports by id), each naming the
artifact, the registry it is pulled from and, until the job has pulled it, the credential Harbor
sent, sealed with the service's key (never stored as sent).

Revision ID: 0012
Revises: 0011
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision: str | None = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "harbor_scans",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("state", sa.String(20), nullable=False),
        sa.Column("registry_url", sa.String(2000), nullable=False),
        sa.Column("repository", sa.String(500), nullable=False),
        sa.Column("digest", sa.String(100), nullable=False),
        sa.Column("tag", sa.String(200), nullable=False),
        sa.Column("mime_type", sa.String(200), nullable=False),
        sa.Column("capabilities", sa.JSON(), nullable=False),
        sa.Column("credential", sa.Text(), nullable=True),
        sa.Column("image_digest", sa.String(100), nullable=True),
        sa.Column("reused", sa.Boolean(), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("error", sa.String(2000), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_harbor_scans_state", "harbor_scans", ["state", "created_at"])
    op.create_index("ix_harbor_scans_digest", "harbor_scans", ["digest"])


def downgrade() -> None:
    op.drop_index("ix_harbor_scans_digest", table_name="harbor_scans")
    op.drop_index("ix_harbor_scans_state", table_name="harbor_scans")
    op.drop_table("harbor_scans")
