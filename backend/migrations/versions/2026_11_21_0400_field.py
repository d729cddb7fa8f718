"""field: device bindings, shifts and attendance, month-partitioned patrol tracks, applied client writes,
inspections and their findings

Revision ID: 0400_field
Revises: 0002
Create Date: 2026-11-21 23:30:00+00:00

``patrol_tracks`` is partitioned by month on ``started_at``; its partitions are created ahead (at
start-up, by a daily cron job and on demand for late offline uploads) in the schema
``patrol_tracks_parts`` — never here, so this migration does not depend on the date it runs.
Downgrade drops the parent, which drops every partition, and the schema.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0400_field"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

PARTITION_SCHEMA = "patrol_tracks_parts"


def _timestamps() -> list[sa.Column]:
    return [
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
    ]


def upgrade() -> None:
    op.create_table(
        "staff_devices",
        sa.Column("staff_id", sa.Uuid(), nullable=False),
        sa.Column("device_id", sa.String(length=100), nullable=False),
        sa.Column("bound_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("last_login_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.ForeignKeyConstraint(
            ["staff_id"], ["staff.id"], name=op.f("fk_staff_devices_staff_id_staff"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("staff_id", name=op.f("pk_staff_devices")),
    )

    op.create_table(
        "shifts",
        sa.Column("staff_id", sa.Uuid(), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("starts_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ends_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("grid_codes", sa.ARRAY(sa.String(length=15)), nullable=False),
        sa.Column("note", sa.Text(), nullable=False),
        sa.Column("created_by", sa.Uuid(), nullable=True),
        sa.Column("id", sa.Uuid(), nullable=False),
        *_timestamps(),
        sa.CheckConstraint("ends_at > starts_at", name=op.f("ck_shifts_ends_after_start")),
        sa.ForeignKeyConstraint(["staff_id"], ["staff.id"], name=op.f("fk_shifts_staff_id_staff"), ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_shifts")),
        sa.UniqueConstraint("staff_id", "day", name="uq_shifts_staff_day"),
    )
    op.create_index("ix_shifts_day", "shifts", ["day"], unique=False)

    op.create_table(
        "attendance_records",
        sa.Column("shift_id", sa.Uuid(), nullable=False),
        sa.Column("staff_id", sa.Uuid(), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("check_in_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("check_in_lat", sa.Float(), nullable=True),
        sa.Column("check_in_lng", sa.Float(), nullable=True),
        sa.Column("check_in_outside_m", sa.Float(), nullable=True),
        sa.Column("check_in_received_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("check_out_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("check_out_lat", sa.Float(), nullable=True),
        sa.Column("check_out_lng", sa.Float(), nullable=True),
        sa.Column("check_out_outside_m", sa.Float(), nullable=True),
        sa.Column("check_out_received_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("id", sa.Uuid(), nullable=False),
        *_timestamps(),
        sa.ForeignKeyConstraint(
            ["shift_id"], ["shifts.id"], name=op.f("fk_attendance_records_shift_id_shifts"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["staff_id"], ["staff.id"], name=op.f("fk_attendance_records_staff_id_staff"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_attendance_records")),
        sa.UniqueConstraint("shift_id", name=op.f("uq_attendance_records_shift_id")),
    )
    op.create_index("ix_attendance_records_staff_day", "attendance_records", ["staff_id", "day"], unique=False)

    op.create_table(
        "field_client_ops",
        sa.Column("staff_id", sa.Uuid(), nullable=False),
        sa.Column("client_id", sa.String(length=64), nullable=False),
        sa.Column("kind", sa.String(length=40), nullable=False),
        sa.Column("request_hash", sa.String(length=64), nullable=False),
        sa.Column("client_ts", sa.DateTime(timezone=True), nullable=False),
        sa.Column("result", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("applied_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.ForeignKeyConstraint(
            ["staff_id"], ["staff.id"], name=op.f("fk_field_client_ops_staff_id_staff"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("staff_id", "client_id", name=op.f("pk_field_client_ops")),
    )
    op.create_index("ix_field_client_ops_applied", "field_client_ops", ["applied_at"], unique=False)

    op.create_table(
        "inspections",
        sa.Column("inspector_id", sa.Uuid(), nullable=False),
        sa.Column("department_id", sa.Uuid(), nullable=True),
        sa.Column("place", sa.String(length=200), nullable=False),
        sa.Column("lat", sa.Float(), nullable=True),
        sa.Column("lng", sa.Float(), nullable=True),
        sa.Column("grid_code", sa.String(length=15), nullable=True),
        sa.Column("object_name", sa.String(length=100), nullable=False),
        sa.Column("object_kind", sa.String(length=40), nullable=False),
        sa.Column("checklist", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("passed", sa.Boolean(), nullable=False),
        sa.Column("notes", sa.Text(), nullable=False),
        sa.Column("photos", sa.ARRAY(sa.String(length=300)), nullable=False),
        sa.Column("inspected_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        *_timestamps(),
        sa.ForeignKeyConstraint(
            ["department_id"], ["departments.id"], name=op.f("fk_inspections_department_id_departments")
        ),
        sa.ForeignKeyConstraint(["inspector_id"], ["staff.id"], name=op.f("fk_inspections_inspector_id_staff")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_inspections")),
    )
    op.create_index("ix_inspections_department_created", "inspections", ["department_id", "created_at"], unique=False)
    op.create_index("ix_inspections_inspector_created", "inspections", ["inspector_id", "created_at"], unique=False)

    op.create_table(
        "inspection_findings",
        sa.Column("inspection_id", sa.Uuid(), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("category_code", sa.String(length=5), nullable=True),
        sa.Column("answers", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("lat", sa.Float(), nullable=True),
        sa.Column("lng", sa.Float(), nullable=True),
        sa.Column("photos", sa.ARRAY(sa.String(length=300)), nullable=False),
        sa.Column("case_id", sa.Uuid(), nullable=True),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.ForeignKeyConstraint(["case_id"], ["cases.id"], name=op.f("fk_inspection_findings_case_id_cases")),
        sa.ForeignKeyConstraint(
            ["inspection_id"],
            ["inspections.id"],
            name=op.f("fk_inspection_findings_inspection_id_inspections"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_inspection_findings")),
        sa.UniqueConstraint("inspection_id", "seq", name="uq_inspection_findings_inspection_seq"),
    )
    op.create_index(op.f("ix_inspection_findings_case_id"), "inspection_findings", ["case_id"], unique=False)

    op.create_table(
        "patrol_tracks",
        sa.Column("staff_id", sa.Uuid(), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ended_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("n_points", sa.Integer(), nullable=False),
        sa.Column("distance_m", sa.Float(), nullable=False),
        sa.Column("first_lat", sa.Float(), nullable=False),
        sa.Column("first_lng", sa.Float(), nullable=False),
        sa.Column("last_lat", sa.Float(), nullable=False),
        sa.Column("last_lng", sa.Float(), nullable=False),
        sa.Column("points", sa.LargeBinary(), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        comment="巡查轨迹 — packed GPS points, one row per staff, upload and local day; monthly partitions",
        postgresql_partition_by="RANGE (started_at)",
    )
    op.create_index("ix_patrol_tracks_staff_started", "patrol_tracks", ["staff_id", "started_at"], unique=False)
    op.execute(f"CREATE SCHEMA IF NOT EXISTS {PARTITION_SCHEMA}")


def downgrade() -> None:
    op.drop_index("ix_patrol_tracks_staff_started", table_name="patrol_tracks")
    op.drop_table("patrol_tracks")  # drops every partition with it
    op.execute(f"DROP SCHEMA IF EXISTS {PARTITION_SCHEMA} CASCADE")
    op.drop_index(op.f("ix_inspection_findings_case_id"), table_name="inspection_findings")
    op.drop_table("inspection_findings")
    op.drop_index("ix_inspections_inspector_created", table_name="inspections")
    op.drop_index("ix_inspections_department_created", table_name="inspections")
    op.drop_table("inspections")
    op.drop_index("ix_field_client_ops_applied", table_name="field_client_ops")
    op.drop_table("field_client_ops")
    op.drop_index("ix_attendance_records_staff_day", table_name="attendance_records")
    op.drop_table("attendance_records")
    op.drop_index("ix_shifts_day", table_name="shifts")
    op.drop_table("shifts")
    op.drop_table("staff_devices")
