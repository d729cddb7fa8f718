"""alarm cases: which device alarm opened, joined or reopened which case

Revision ID: 0800_alarm_cases
Revises: 0002
Create Date: 2026-11-21 23:05:00+00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0800_alarm_cases"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "case_alarm_links",
        sa.Column("case_id", sa.Uuid(), nullable=False),
        sa.Column("alarm_id", sa.Uuid(), nullable=False),
        sa.Column("device_id", sa.Uuid(), nullable=False),
        sa.Column("rule_id", sa.Uuid(), nullable=False),
        sa.Column("raised_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("cleared_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["case_id"], ["cases.id"], name=op.f("fk_case_alarm_links_case_id_cases"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_case_alarm_links")),
        sa.UniqueConstraint("alarm_id", name=op.f("uq_case_alarm_links_alarm_id")),
    )
    op.create_index(op.f("ix_case_alarm_links_case_id"), "case_alarm_links", ["case_id"], unique=False)
    op.create_index("ix_case_alarm_links_device_rule", "case_alarm_links", ["device_id", "rule_id"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_case_alarm_links_device_rule", table_name="case_alarm_links")
    op.drop_index(op.f("ix_case_alarm_links_case_id"), table_name="case_alarm_links")
    op.drop_table("case_alarm_links")
