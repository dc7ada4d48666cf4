"""The fixable findings of each severity in an image's counts over time (so the overview sums
the latest row of each image instead of reading every finding), and an index of package names
alone (the dashboard searches images by a package name in any ecosystem).

Revision ID: 0010
Revises: 0009
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision: str | None = "0009"
branch_labels = None
depends_on = None

SEVERITIES = ("critical", "high", "medium", "low")
BACKFILL = (
    "UPDATE finding_history SET fixable_{name} = (SELECT count(*) FROM image_findings f "
    "WHERE f.digest = finding_history.digest AND f.fixed_version <> '' AND {which}) "
    "WHERE id IN (SELECT max(id) FROM finding_history GROUP BY digest)"
)


def upgrade() -> None:
    with op.batch_alter_table("finding_history") as batch:
        for name in (*SEVERITIES, "other"):
            batch.add_column(
                sa.Column(f"fixable_{name}", sa.Integer(), nullable=False, server_default="0")
            )
    # each image's latest row gets its real numbers; older rows keep 0 (no finding kept them)
    for name in (*SEVERITIES, "other"):
        which = (
            f"f.severity = '{name}'"
            if name != "other"
            else "f.severity NOT IN ('critical', 'high', 'medium', 'low')"
        )
        op.execute(BACKFILL.format(name=name, which=which))
    op.create_index("ix_inventory_packages_name", "inventory_packages", ["name"])


def downgrade() -> None:
    op.drop_index("ix_inventory_packages_name", table_name="inventory_packages")
    with op.batch_alter_table("finding_history") as batch:
        for name in (*SEVERITIES, "other"):
            batch.drop_column(f"fixable_{name}")
