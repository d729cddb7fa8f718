"""All ORM models, one module per aggregate, re-exported here so alembic sees every table."""

from backend.models._base import Base, IdMixin, TimestampMixin, new_id
from backend.models._geo import Community, District, Grid, Street
from backend.models._org import Department, Staff
from backend.models._outbox import OutboxMessage

__all__ = [
    "Base",
    "Community",
    "Department",
    "District",
    "Grid",
    "IdMixin",
    "OutboxMessage",
    "Staff",
    "Street",
    "TimestampMixin",
    "new_id",
]
