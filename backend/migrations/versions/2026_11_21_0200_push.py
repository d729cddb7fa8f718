"""push: notifications, field-app inbox and console alerts, preferences, WeChat subscribe grants

Revision ID: 0200_push
Revises: 0001
Create Date: 2026-11-21 23:00:00.000000+00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = '0200_push'
down_revision: str | None = '0001'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('notification_preferences',
    sa.Column('recipient_kind', sa.String(length=10), nullable=False),
    sa.Column('recipient_id', sa.String(length=64), nullable=False),
    sa.Column('event', sa.String(length=50), nullable=False),
    sa.Column('channel', sa.String(length=20), nullable=False),
    sa.Column('enabled', sa.Boolean(), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.PrimaryKeyConstraint('recipient_kind', 'recipient_id', 'event', 'channel', name=op.f('pk_notification_preferences'))
    )
    op.create_table('notifications',
    sa.Column('event', sa.String(length=50), nullable=False),
    sa.Column('channel', sa.String(length=20), nullable=False),
    sa.Column('recipient_kind', sa.String(length=10), nullable=False),
    sa.Column('recipient_id', sa.String(length=64), nullable=False),
    sa.Column('address', sa.String(length=128), nullable=False),
    sa.Column('template', sa.String(length=100), nullable=True),
    sa.Column('title', sa.String(length=100), nullable=False),
    sa.Column('body', sa.Text(), nullable=False),
    sa.Column('data', postgresql.JSONB(astext_type=sa.Text()), nullable=False),
    sa.Column('urgent', sa.Boolean(), server_default=sa.text('false'), nullable=False),
    sa.Column('dedup_key', sa.String(length=200), nullable=False),
    sa.Column('status', sa.String(length=12), server_default=sa.text("'pending'"), nullable=False),
    sa.Column('attempts', sa.Integer(), server_default=sa.text('0'), nullable=False),
    sa.Column('last_error', sa.Text(), nullable=True),
    sa.Column('scheduled_for', sa.DateTime(timezone=True), nullable=True),
    sa.Column('sent_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('provider_message_id', sa.String(length=100), nullable=True),
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.CheckConstraint("recipient_kind IN ('staff', 'citizen')", name=op.f('ck_notifications_recipient_kind')),
    sa.CheckConstraint("status IN ('pending', 'sent', 'failed', 'dead', 'suppressed')", name=op.f('ck_notifications_status')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_notifications')),
    sa.UniqueConstraint('dedup_key', 'recipient_kind', 'recipient_id', 'channel', name=op.f('uq_notifications_dedup_key'))
    )
    op.create_index('ix_notifications_open', 'notifications', ['created_at'], unique=False, postgresql_where=sa.text("status IN ('pending', 'failed')"))
    op.create_index('ix_notifications_recipient', 'notifications', ['recipient_kind', 'recipient_id', 'created_at'], unique=False)
    op.create_table('wechat_subscribe_grants',
    sa.Column('openid', sa.String(length=64), nullable=False),
    sa.Column('template_id', sa.String(length=64), nullable=False),
    sa.Column('remaining', sa.Integer(), server_default=sa.text('0'), nullable=False),
    sa.Column('long_term', sa.Boolean(), server_default=sa.text('false'), nullable=False),
    sa.Column('last_granted_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('last_used_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('refused_at', sa.DateTime(timezone=True), nullable=True),
    sa.CheckConstraint('remaining >= 0', name=op.f('ck_wechat_subscribe_grants_remaining_not_negative')),
    sa.PrimaryKeyConstraint('openid', 'template_id', name=op.f('pk_wechat_subscribe_grants'))
    )
    op.create_table('inbox_items',
    sa.Column('staff_id', sa.Uuid(), nullable=False),
    sa.Column('box', sa.String(length=10), nullable=False),
    sa.Column('notification_id', sa.Uuid(), nullable=False),
    sa.Column('event', sa.String(length=50), nullable=False),
    sa.Column('title', sa.String(length=100), nullable=False),
    sa.Column('body', sa.Text(), nullable=False),
    sa.Column('data', postgresql.JSONB(astext_type=sa.Text()), nullable=False),
    sa.Column('urgent', sa.Boolean(), server_default=sa.text('false'), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('read_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.CheckConstraint("box IN ('field', 'console')", name=op.f('ck_inbox_items_box')),
    sa.ForeignKeyConstraint(['notification_id'], ['notifications.id'], name=op.f('fk_inbox_items_notification_id_notifications'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['staff_id'], ['staff.id'], name=op.f('fk_inbox_items_staff_id_staff')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_inbox_items')),
    sa.UniqueConstraint('notification_id', name=op.f('uq_inbox_items_notification_id'))
    )
    op.create_index('ix_inbox_items_staff_box', 'inbox_items', ['staff_id', 'box', 'id'], unique=False)
    op.create_index('ix_inbox_items_unread', 'inbox_items', ['staff_id', 'box'], unique=False, postgresql_where=sa.text('read_at IS NULL'))


def downgrade() -> None:
    op.drop_index('ix_inbox_items_unread', table_name='inbox_items', postgresql_where=sa.text('read_at IS NULL'))
    op.drop_index('ix_inbox_items_staff_box', table_name='inbox_items')
    op.drop_table('inbox_items')
    op.drop_table('wechat_subscribe_grants')
    op.drop_index('ix_notifications_recipient', table_name='notifications')
    op.drop_index('ix_notifications_open', table_name='notifications', postgresql_where=sa.text("status IN ('pending', 'failed')"))
    op.drop_table('notifications')
    op.drop_table('notification_preferences')
