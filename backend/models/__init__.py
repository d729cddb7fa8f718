"""All ORM models, one module per aggregate, re-exported here so alembic sees every table."""

from backend.models._base import Base, IdMixin, TimestampMixin, new_id
from backend.models._case import (
    Case,
    CaseEvent,
    CaseNumberCounter,
    CaseReporter,
    Category,
    CategoryMajor,
    DispatchRuleRow,
)
from backend.models._geo import Community, District, Grid, Street
from backend.models._org import Department, Staff
from backend.models._outbox import OutboxMessage

__all__ = [
    "Base",
    "Case",
    "CaseEvent",
    "CaseNumberCounter",
    "CaseReporter",
    "Category",
    "CategoryMajor",
    "Community",
    "Department",
    "DispatchRuleRow",
    "District",
    "Grid",
    "IdMixin",
    "OutboxMessage",
    "Staff",
    "Street",
    "TimestampMixin",
    "new_id",
]
