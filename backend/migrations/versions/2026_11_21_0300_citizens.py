"""citizens: mini-program citizens, photo uploads, public notices; the cases-by-cell index of the public map

Revision ID: 0300_citizens
Revises: 0002
Create Date: 2026-11-21 23:30:00+00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0300_citizens"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "citizens",
        sa.Column("openid", sa.String(length=64), nullable=False),
        sa.Column("unionid", sa.String(length=64), nullable=True),
        sa.Column("phone", sa.String(length=20), nullable=True),
        sa.Column("phone_country_code", sa.String(length=6), nullable=True),
        sa.Column("nickname", sa.String(length=32), server_default=sa.text("''"), nullable=False),
        sa.Column("avatar_url", sa.String(length=500), server_default=sa.text("''"), nullable=False),
        sa.Column("last_login_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_citizens")),
        sa.UniqueConstraint("openid", name=op.f("uq_citizens_openid")),
    )
    op.create_index(op.f("ix_citizens_unionid"), "citizens", ["unionid"], unique=False)

    op.create_table(
        "media_uploads",
        sa.Column("key", sa.String(length=300), nullable=False),
        sa.Column("owner_kind", sa.String(length=10), nullable=False),
        sa.Column("owner_id", sa.String(length=64), nullable=False),
        sa.Column("content_type", sa.String(length=50), nullable=False),
        sa.Column("max_bytes", sa.Integer(), nullable=False),
        sa.Column("size_bytes", sa.Integer(), nullable=True),
        sa.Column("state", sa.String(length=12), nullable=False),
        sa.Column("check_status", sa.String(length=12), nullable=False),
        sa.Column("check_trace_id", sa.String(length=100), nullable=True),
        sa.Column("check_label", sa.Integer(), nullable=True),
        sa.Column("public_key", sa.String(length=300), nullable=True),
        sa.Column("exif_lat", sa.Float(), nullable=True),
        sa.Column("exif_lng", sa.Float(), nullable=True),
        sa.Column("case_id", sa.Uuid(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("confirmed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("processed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("checked_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["case_id"], ["cases.id"], name=op.f("fk_media_uploads_case_id_cases"), ondelete="SET NULL"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_media_uploads")),
        sa.UniqueConstraint("check_trace_id", name=op.f("uq_media_uploads_check_trace_id")),
        sa.UniqueConstraint("key", name=op.f("uq_media_uploads_key")),
    )
    op.create_index(op.f("ix_media_uploads_case_id"), "media_uploads", ["case_id"], unique=False)
    op.create_index("ix_media_uploads_owner", "media_uploads", ["owner_kind", "owner_id", "created_at"], unique=False)

    op.create_table(
        "notices",
        sa.Column("title", sa.String(length=100), nullable=False),
        sa.Column("summary", sa.String(length=200), server_default=sa.text("''"), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("category", sa.String(length=20), server_default=sa.text("'notice'"), nullable=False),
        sa.Column("pinned", sa.Boolean(), server_default=sa.text("false"), nullable=False),
        sa.Column("published", sa.Boolean(), server_default=sa.text("true"), nullable=False),
        sa.Column("published_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_notices")),
    )
    op.create_index(
        "ix_notices_public",
        "notices",
        ["pinned", "published_at"],
        unique=False,
        postgresql_where=sa.text("published"),
    )

    op.create_index("ix_cases_cell", "cases", ["cell"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_cases_cell", table_name="cases")
    op.drop_index("ix_notices_public", table_name="notices", postgresql_where=sa.text("published"))
    op.drop_table("notices")
    op.drop_index("ix_media_uploads_owner", table_name="media_uploads")
    op.drop_index(op.f("ix_media_uploads_case_id"), table_name="media_uploads")
    op.drop_table("media_uploads")
    op.drop_index(op.f("ix_citizens_unionid"), table_name="citizens")
    op.drop_table("citizens")
