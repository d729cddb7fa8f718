"""places: public toilets; parking lots and segments, spaces, sessions, gate events, plate bindings,
passes, payments and receipts

Revision ID: 0600_places
Revises: 0002
Create Date: 2026-11-21 23:55:00+00:00

Plate bindings, payments and receipts point at ``citizens`` (revision 0300_citizens), hence
``depends_on``.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0600_places"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = ("0300_citizens",)


def _timestamps() -> list[sa.Column]:
    return [
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
    ]


def upgrade() -> None:
    op.create_table(
        "toilets",
        sa.Column("code", sa.String(length=32), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("address", sa.String(length=200), server_default=sa.text("''"), nullable=False),
        sa.Column("lat", sa.Float(), nullable=False),
        sa.Column("lng", sa.Float(), nullable=False),
        sa.Column("level", sa.SmallInteger(), nullable=False),
        sa.Column("opening_hours", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("free", sa.Boolean(), server_default=sa.text("true"), nullable=False),
        sa.Column("fee_fen", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("male_stalls", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("female_stalls", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("accessible_stalls", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("third_toilet", sa.Boolean(), server_default=sa.text("false"), nullable=False),
        sa.Column("baby_care", sa.Boolean(), server_default=sa.text("false"), nullable=False),
        sa.Column("department_id", sa.Uuid(), nullable=True),
        sa.Column("grid_code", sa.String(length=15), nullable=True),
        sa.Column("street_code", sa.String(length=9), nullable=True),
        sa.Column("note", sa.String(length=500), server_default=sa.text("''"), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        *_timestamps(),
        sa.CheckConstraint("level BETWEEN 1 AND 3", name=op.f("ck_toilets_level")),
        sa.CheckConstraint(
            "male_stalls >= 0 AND female_stalls >= 0 AND accessible_stalls >= 0 AND fee_fen >= 0",
            name=op.f("ck_toilets_counts"),
        ),
        sa.ForeignKeyConstraint(
            ["department_id"],
            ["departments.id"],
            name=op.f("fk_toilets_department_id_departments"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_toilets")),
        sa.UniqueConstraint("code", name=op.f("uq_toilets_code")),
    )
    op.create_index("ix_toilets_lat_lng", "toilets", ["lat", "lng"], unique=False)
    op.create_index(op.f("ix_toilets_department_id"), "toilets", ["department_id"], unique=False)
    op.create_index(op.f("ix_toilets_street_code"), "toilets", ["street_code"], unique=False)

    op.create_table(
        "parking_lots",
        sa.Column("code", sa.String(length=32), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("kind", sa.String(length=10), nullable=False),
        sa.Column("address", sa.String(length=200), server_default=sa.text("''"), nullable=False),
        sa.Column("lat", sa.Float(), nullable=False),
        sa.Column("lng", sa.Float(), nullable=False),
        sa.Column("capacity", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("total_spaces", sa.Integer(), nullable=False),
        sa.Column("opening_hours", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("fee_rule", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("availability_source", sa.String(length=10), server_default=sa.text("'none'"), nullable=False),
        sa.Column("department_id", sa.Uuid(), nullable=True),
        sa.Column("grid_code", sa.String(length=15), nullable=True),
        sa.Column("street_code", sa.String(length=9), nullable=True),
        sa.Column("note", sa.String(length=500), server_default=sa.text("''"), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        *_timestamps(),
        sa.CheckConstraint("total_spaces >= 0", name=op.f("ck_parking_lots_total_spaces")),
        sa.ForeignKeyConstraint(
            ["department_id"],
            ["departments.id"],
            name=op.f("fk_parking_lots_department_id_departments"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_parking_lots")),
        sa.UniqueConstraint("code", name=op.f("uq_parking_lots_code")),
    )
    op.create_index("ix_parking_lots_lat_lng", "parking_lots", ["lat", "lng"], unique=False)
    op.create_index(op.f("ix_parking_lots_department_id"), "parking_lots", ["department_id"], unique=False)
    op.create_index(op.f("ix_parking_lots_street_code"), "parking_lots", ["street_code"], unique=False)

    op.create_table(
        "parking_spaces",
        sa.Column("code", sa.String(length=40), nullable=False),
        sa.Column("lot_id", sa.Uuid(), nullable=False),
        sa.Column("space_type", sa.String(length=12), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["lot_id"], ["parking_lots.id"], name=op.f("fk_parking_spaces_lot_id_parking_lots"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_parking_spaces")),
        sa.UniqueConstraint("code", name=op.f("uq_parking_spaces_code")),
    )
    op.create_index(op.f("ix_parking_spaces_lot_id"), "parking_spaces", ["lot_id"], unique=False)

    op.create_table(
        "parking_sessions",
        sa.Column("lot_id", sa.Uuid(), nullable=False),
        sa.Column("plate", sa.String(length=10), nullable=False),
        sa.Column("entered_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("exited_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("entry_device_id", sa.String(length=64), nullable=True),
        sa.Column("exit_device_id", sa.String(length=64), nullable=True),
        sa.Column("state", sa.String(length=10), nullable=False),
        sa.Column("amount_fen", sa.Integer(), nullable=True),
        sa.Column("fee_detail", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
        sa.Column("paid_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("id", sa.Uuid(), nullable=False),
        *_timestamps(),
        sa.CheckConstraint("amount_fen IS NULL OR amount_fen >= 0", name=op.f("ck_parking_sessions_amount")),
        sa.ForeignKeyConstraint(
            ["lot_id"], ["parking_lots.id"], name=op.f("fk_parking_sessions_lot_id_parking_lots"), ondelete="RESTRICT"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_parking_sessions")),
    )
    op.create_index(op.f("ix_parking_sessions_lot_id"), "parking_sessions", ["lot_id"], unique=False)
    op.create_index("ix_parking_sessions_plate_entered", "parking_sessions", ["plate", "entered_at"], unique=False)
    op.create_index(
        "uq_parking_sessions_open",
        "parking_sessions",
        ["lot_id", "plate"],
        unique=True,
        postgresql_where=sa.text("state = 'open'"),
    )

    op.create_table(
        "parking_gate_events",
        sa.Column("lot_id", sa.Uuid(), nullable=False),
        sa.Column("plate", sa.String(length=10), nullable=False),
        sa.Column("direction", sa.String(length=3), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("device_id", sa.String(length=64), nullable=True),
        sa.Column("session_id", sa.Uuid(), nullable=True),
        sa.Column("outcome", sa.String(length=20), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["lot_id"],
            ["parking_lots.id"],
            name=op.f("fk_parking_gate_events_lot_id_parking_lots"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["session_id"],
            ["parking_sessions.id"],
            name=op.f("fk_parking_gate_events_session_id_parking_sessions"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_parking_gate_events")),
        sa.UniqueConstraint("lot_id", "plate", "direction", "at", name="uq_parking_gate_events_event"),
    )
    op.create_index(op.f("ix_parking_gate_events_lot_id"), "parking_gate_events", ["lot_id"], unique=False)
    op.create_index(op.f("ix_parking_gate_events_session_id"), "parking_gate_events", ["session_id"], unique=False)

    op.create_table(
        "parking_plate_bindings",
        sa.Column("citizen_id", sa.Uuid(), nullable=False),
        sa.Column("plate", sa.String(length=10), nullable=False),
        sa.Column("new_energy", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["citizen_id"],
            ["citizens.id"],
            name=op.f("fk_parking_plate_bindings_citizen_id_citizens"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_parking_plate_bindings")),
        sa.UniqueConstraint("citizen_id", "plate", name="uq_parking_plate_bindings_citizen_plate"),
    )
    op.create_index(op.f("ix_parking_plate_bindings_plate"), "parking_plate_bindings", ["plate"], unique=False)

    op.create_table(
        "parking_passes",
        sa.Column("plate", sa.String(length=10), nullable=False),
        sa.Column("lot_id", sa.Uuid(), nullable=True),
        sa.Column("valid_from", sa.DateTime(timezone=True), nullable=False),
        sa.Column("valid_to", sa.DateTime(timezone=True), nullable=False),
        sa.Column("amount_fen", sa.Integer(), nullable=False),
        sa.Column("note", sa.String(length=200), server_default=sa.text("''"), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        *_timestamps(),
        sa.ForeignKeyConstraint(
            ["lot_id"], ["parking_lots.id"], name=op.f("fk_parking_passes_lot_id_parking_lots"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_parking_passes")),
    )
    op.create_index(op.f("ix_parking_passes_plate"), "parking_passes", ["plate"], unique=False)
    op.create_index(op.f("ix_parking_passes_lot_id"), "parking_passes", ["lot_id"], unique=False)

    op.create_table(
        "parking_payments",
        sa.Column("session_id", sa.Uuid(), nullable=False),
        sa.Column("citizen_id", sa.Uuid(), nullable=True),
        sa.Column("out_trade_no", sa.String(length=32), nullable=False),
        sa.Column("channel", sa.String(length=10), nullable=False),
        sa.Column("provider", sa.String(length=20), nullable=False),
        sa.Column("amount_fen", sa.Integer(), nullable=False),
        sa.Column("state", sa.String(length=10), nullable=False),
        sa.Column("transaction_id", sa.String(length=64), nullable=True),
        sa.Column("paid_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("id", sa.Uuid(), nullable=False),
        *_timestamps(),
        sa.ForeignKeyConstraint(
            ["citizen_id"], ["citizens.id"], name=op.f("fk_parking_payments_citizen_id_citizens"), ondelete="SET NULL"
        ),
        sa.ForeignKeyConstraint(
            ["session_id"],
            ["parking_sessions.id"],
            name=op.f("fk_parking_payments_session_id_parking_sessions"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_parking_payments")),
        sa.UniqueConstraint("out_trade_no", name=op.f("uq_parking_payments_out_trade_no")),
    )
    op.create_index(op.f("ix_parking_payments_session_id"), "parking_payments", ["session_id"], unique=False)
    op.create_index(op.f("ix_parking_payments_citizen_id"), "parking_payments", ["citizen_id"], unique=False)

    op.create_table(
        "parking_receipts",
        sa.Column("number", sa.String(length=24), nullable=False),
        sa.Column("session_id", sa.Uuid(), nullable=False),
        sa.Column("payment_id", sa.Uuid(), nullable=False),
        sa.Column("citizen_id", sa.Uuid(), nullable=True),
        sa.Column("plate", sa.String(length=10), nullable=False),
        sa.Column("lot_id", sa.Uuid(), nullable=False),
        sa.Column("lot_name", sa.String(length=100), nullable=False),
        sa.Column("entered_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("exited_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("amount_fen", sa.Integer(), nullable=False),
        sa.Column("channel", sa.String(length=10), nullable=False),
        sa.Column("provider", sa.String(length=20), nullable=False),
        sa.Column("transaction_id", sa.String(length=64), nullable=False),
        sa.Column("paid_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["citizen_id"], ["citizens.id"], name=op.f("fk_parking_receipts_citizen_id_citizens"), ondelete="SET NULL"
        ),
        sa.ForeignKeyConstraint(
            ["lot_id"], ["parking_lots.id"], name=op.f("fk_parking_receipts_lot_id_parking_lots"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["payment_id"],
            ["parking_payments.id"],
            name=op.f("fk_parking_receipts_payment_id_parking_payments"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["session_id"],
            ["parking_sessions.id"],
            name=op.f("fk_parking_receipts_session_id_parking_sessions"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_parking_receipts")),
        sa.UniqueConstraint("number", name=op.f("uq_parking_receipts_number")),
        sa.UniqueConstraint("payment_id", name=op.f("uq_parking_receipts_payment_id")),
        sa.UniqueConstraint("session_id", name=op.f("uq_parking_receipts_session_id")),
    )
    op.create_index(op.f("ix_parking_receipts_citizen_id"), "parking_receipts", ["citizen_id"], unique=False)


def downgrade() -> None:
    op.drop_table("parking_receipts")
    op.drop_table("parking_payments")
    op.drop_table("parking_passes")
    op.drop_table("parking_plate_bindings")
    op.drop_table("parking_gate_events")
    op.drop_table("parking_sessions")
    op.drop_table("parking_spaces")
    op.drop_table("parking_lots")
    op.drop_table("toilets")
