"""evaluation: the daily rollup of evaluation measures, the days it covers, composite weights

Revision ID: 0500_evaluation
Revises: 0002
Create Date: 2026-11-21 23:50:00+00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0500_evaluation"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "evaluation_daily",
        sa.Column("subject_kind", sa.String(length=12), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("subject_id", sa.String(length=64), nullable=False),
        sa.Column("measure", sa.String(length=32), nullable=False),
        sa.Column("value", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("subject_kind", "day", "subject_id", "measure", name=op.f("pk_evaluation_daily")),
    )
    op.create_table(
        "evaluation_days",
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("computed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("events", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("day", name=op.f("pk_evaluation_days")),
    )
    op.create_table(
        "evaluation_weights",
        sa.Column("post", sa.String(length=20), nullable=False),
        sa.Column("weights", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("updated_by", sa.String(length=64), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.PrimaryKeyConstraint("post", name=op.f("pk_evaluation_weights")),
    )


def downgrade() -> None:
    op.drop_table("evaluation_weights")
    op.drop_table("evaluation_days")
    op.drop_table("evaluation_daily")
