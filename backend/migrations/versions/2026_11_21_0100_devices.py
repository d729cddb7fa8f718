"""devices: device types, devices, alarm rules, alarms and the day-partitioned readings table

Revision ID: 0100_devices
Revises: 0001
Create Date: 2026-11-21 23:00:00+00:00

The readings table is partitioned by day; its partitions are created ahead (at start-up, by a
cron job and on demand) in the schema ``device_readings_parts`` — never here, so this migration
does not depend on the date it runs. Downgrade drops the parent, which drops every partition.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0100_devices"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

PARTITION_SCHEMA = "device_readings_parts"


def _timestamps() -> list[sa.Column]:
    return [
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
    ]


def upgrade() -> None:
    op.create_table(
        "device_types",
        sa.Column("code", sa.String(length=40), nullable=False),
        sa.Column("name", sa.String(length=80), nullable=False),
        sa.Column("object_kinds", sa.ARRAY(sa.String(length=30)), nullable=False),
        sa.Column("metrics", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("default_interval_s", sa.Integer(), nullable=False),
        *_timestamps(),
        sa.CheckConstraint("code ~ '^[a-z][a-z0-9_]*$'", name=op.f("ck_device_types_code_format")),
        sa.PrimaryKeyConstraint("code", name=op.f("pk_device_types")),
    )
    op.create_table(
        "devices",
        sa.Column("code", sa.String(length=60), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("type_code", sa.String(length=40), nullable=False),
        sa.Column("object_kind", sa.String(length=30), nullable=False),
        sa.Column("object_id", sa.String(length=64), nullable=False),
        sa.Column("lat", sa.Float(), nullable=True),
        sa.Column("lng", sa.Float(), nullable=True),
        sa.Column("attrs", postgresql.JSONB(astext_type=sa.Text()), server_default=sa.text("'{}'::jsonb"), nullable=False),
        sa.Column("interval_s", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=20), server_default=sa.text("'active'"), nullable=False),
        sa.Column("secret_enc", sa.Text(), nullable=False),
        sa.Column("secret_version", sa.Integer(), server_default=sa.text("1"), nullable=False),
        sa.Column("secret_rotated_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("firmware", sa.String(length=60), nullable=True),
        sa.Column("online", sa.Boolean(), server_default=sa.text("false"), nullable=False),
        sa.Column("last_seen_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("seq_hwm", sa.BigInteger(), server_default=sa.text("-1"), nullable=False),
        sa.Column("seq_window", sa.LargeBinary(), server_default=sa.text("''::bytea"), nullable=False),
        sa.Column(
            "rule_state", postgresql.JSONB(astext_type=sa.Text()), server_default=sa.text("'{}'::jsonb"), nullable=False
        ),
        sa.Column("id", sa.Uuid(), nullable=False),
        *_timestamps(),
        sa.CheckConstraint("status IN ('active', 'revoked')", name=op.f("ck_devices_status_known")),
        sa.CheckConstraint("interval_s > 0", name=op.f("ck_devices_interval_positive")),
        sa.CheckConstraint(
            "lat IS NULL OR (lat BETWEEN -90 AND 90 AND lng BETWEEN -180 AND 180)",
            name=op.f("ck_devices_lat_lng_range"),
        ),
        sa.ForeignKeyConstraint(["type_code"], ["device_types.code"], name=op.f("fk_devices_type_code_device_types")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_devices")),
        sa.UniqueConstraint("code", name=op.f("uq_devices_code")),
    )
    op.create_index(op.f("ix_devices_type_code"), "devices", ["type_code"], unique=False)
    op.create_index("ix_devices_object", "devices", ["object_kind", "object_id"], unique=False)

    op.create_table(
        "alarm_rules",
        sa.Column("code", sa.String(length=60), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("device_type_code", sa.String(length=40), nullable=True),
        sa.Column("object_kind", sa.String(length=30), nullable=True),
        sa.Column("condition", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("clear", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
        sa.Column("severity", sa.String(length=10), nullable=False),
        sa.Column("schedule", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
        sa.Column("case_category_code", sa.String(length=5), nullable=True),
        sa.Column("enabled", sa.Boolean(), server_default=sa.text("true"), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        *_timestamps(),
        sa.CheckConstraint(
            "severity IN ('info', 'minor', 'major', 'critical')", name=op.f("ck_alarm_rules_severity_known")
        ),
        sa.ForeignKeyConstraint(
            ["device_type_code"], ["device_types.code"], name=op.f("fk_alarm_rules_device_type_code_device_types")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_alarm_rules")),
        sa.UniqueConstraint("code", name=op.f("uq_alarm_rules_code")),
    )
    op.create_index(op.f("ix_alarm_rules_device_type_code"), "alarm_rules", ["device_type_code"], unique=False)

    op.create_table(
        "alarms",
        sa.Column("device_id", sa.Uuid(), nullable=False),
        sa.Column("rule_id", sa.Uuid(), nullable=False),
        sa.Column("state", sa.String(length=30), nullable=False),
        sa.Column("severity", sa.String(length=10), nullable=False),
        sa.Column("category_code", sa.String(length=5), nullable=True),
        sa.Column("object_kind", sa.String(length=30), nullable=False),
        sa.Column("object_id", sa.String(length=64), nullable=False),
        sa.Column("metric", sa.String(length=60), nullable=True),
        sa.Column("first_value", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
        sa.Column("last_value", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
        sa.Column("count", sa.Integer(), server_default=sa.text("1"), nullable=False),
        sa.Column("raised_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("acknowledged_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("acknowledged_by", sa.Uuid(), nullable=True),
        sa.Column("cleared_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("cleared_by", sa.Uuid(), nullable=True),
        sa.Column("clear_value", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
        sa.Column("clear_note", sa.Text(), nullable=True),
        sa.Column("id", sa.Uuid(), nullable=False),
        *_timestamps(),
        sa.CheckConstraint(
            "state IN ('active_unacknowledged', 'active_acknowledged', 'cleared')", name=op.f("ck_alarms_state_known")
        ),
        sa.ForeignKeyConstraint(["device_id"], ["devices.id"], name=op.f("fk_alarms_device_id_devices")),
        sa.ForeignKeyConstraint(["rule_id"], ["alarm_rules.id"], name=op.f("fk_alarms_rule_id_alarm_rules")),
        sa.ForeignKeyConstraint(["acknowledged_by"], ["staff.id"], name=op.f("fk_alarms_acknowledged_by_staff")),
        sa.ForeignKeyConstraint(["cleared_by"], ["staff.id"], name=op.f("fk_alarms_cleared_by_staff")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_alarms")),
    )
    op.create_index(op.f("ix_alarms_rule_id"), "alarms", ["rule_id"], unique=False)
    op.create_index("ix_alarms_device_raised", "alarms", ["device_id", "raised_at"], unique=False)
    op.create_index("ix_alarms_state_raised", "alarms", ["state", "raised_at"], unique=False)
    op.create_index(
        "uq_alarms_active_device_rule",
        "alarms",
        ["device_id", "rule_id"],
        unique=True,
        postgresql_where=sa.text("state <> 'cleared'"),
    )

    op.create_table(
        "device_readings",
        sa.Column("device_id", sa.Uuid(), nullable=False),
        sa.Column("ts", sa.DateTime(timezone=True), nullable=False),
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("metrics", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        comment="读数 — every accepted reading, partitioned by day on ts (partitions in device_readings_parts)",
        postgresql_partition_by="RANGE (ts)",
    )
    op.create_index("ix_device_readings_device_ts", "device_readings", ["device_id", "ts"], unique=False)
    op.execute(f"CREATE SCHEMA IF NOT EXISTS {PARTITION_SCHEMA}")


def downgrade() -> None:
    op.drop_index("ix_device_readings_device_ts", table_name="device_readings")
    op.drop_table("device_readings")  # drops every partition with it
    op.execute(f"DROP SCHEMA IF EXISTS {PARTITION_SCHEMA} CASCADE")
    op.drop_index("uq_alarms_active_device_rule", table_name="alarms", postgresql_where=sa.text("state <> 'cleared'"))
    op.drop_index("ix_alarms_state_raised", table_name="alarms")
    op.drop_index("ix_alarms_device_raised", table_name="alarms")
    op.drop_index(op.f("ix_alarms_rule_id"), table_name="alarms")
    op.drop_table("alarms")
    op.drop_index(op.f("ix_alarm_rules_device_type_code"), table_name="alarm_rules")
    op.drop_table("alarm_rules")
    op.drop_index("ix_devices_object", table_name="devices")
    op.drop_index(op.f("ix_devices_type_code"), table_name="devices")
    op.drop_table("devices")
    op.drop_table("device_types")
