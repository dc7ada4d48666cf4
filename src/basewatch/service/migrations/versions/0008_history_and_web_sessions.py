"""What the dashboard needs: each image's finding counts over time (a row whenever an evaluation
changed them), its current totals on its row (to sort and filter the image list by them), and
the sessions of people logged in with a token.

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
    # the images evaluated before: their counts now, as of their last evaluation
    op.execute(
        "INSERT INTO finding_history "
        "(digest, at, critical, high, medium, low, other, fixable, kev) "
        "SELECT e.digest, e.evaluated_at, "
        "sum(CASE WHEN f.severity = 'critical' THEN 1 ELSE 0 END), "
        "sum(CASE WHEN f.severity = 'high' THEN 1 ELSE 0 END), "
        "sum(CASE WHEN f.severity = 'medium' THEN 1 ELSE 0 END), "
        "sum(CASE WHEN f.severity = 'low' THEN 1 ELSE 0 END), "
        "sum(CASE WHEN f.severity NOT IN ('critical', 'high', 'medium', 'low') "
        "THEN 1 ELSE 0 END), "
        "sum(CASE WHEN f.fixed_version <> '' THEN 1 ELSE 0 END), "
        "sum(CASE WHEN f.kev THEN 1 ELSE 0 END) "
        "FROM evaluations e JOIN image_findings f ON f.digest = e.digest "
        "GROUP BY e.digest, e.evaluated_at"
    )
    with op.batch_alter_table("images") as batch:
        batch.add_column(sa.Column("worst", sa.Integer(), nullable=False, server_default="-1"))
        batch.add_column(sa.Column("findings", sa.Integer(), nullable=False, server_default="0"))
        batch.add_column(sa.Column("fixable", sa.Integer(), nullable=False, server_default="0"))
        batch.add_column(sa.Column("kev", sa.Integer(), nullable=False, server_default="0"))
    for column in ("worst", "findings", "fixable", "kev"):
        op.create_index(f"ix_images_{column}", "images", [column])
    # the same for the images evaluated before (severity ranks as `basewatch.models.Severity`)
    op.execute(
        "UPDATE images SET "
        "findings = (SELECT count(*) FROM image_findings f WHERE f.digest = images.digest), "
        "fixable = (SELECT count(*) FROM image_findings f "
        "WHERE f.digest = images.digest AND f.fixed_version <> ''), "
        "kev = (SELECT count(*) FROM image_findings f WHERE f.digest = images.digest AND f.kev), "
        "worst = coalesce((SELECT max(CASE f.severity WHEN 'critical' THEN 5 WHEN 'high' THEN 4 "
        "WHEN 'medium' THEN 3 WHEN 'low' THEN 2 WHEN 'negligible' THEN 1 ELSE 0 END) "
        "FROM image_findings f WHERE f.digest = images.digest), -1)"
    )
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
    for column in ("worst", "findings", "fixable", "kev"):
        op.drop_index(f"ix_images_{column}", table_name="images")
    with op.batch_alter_table("images") as batch:
        for column in ("kev", "fixable", "findings", "worst"):
            batch.drop_column(column)
    op.drop_index("ix_finding_history_at", table_name="finding_history")
    op.drop_index("ix_finding_history_digest", table_name="finding_history")
    op.drop_table("finding_history")
