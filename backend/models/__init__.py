"""All ORM models, one module per aggregate, re-exported here so alembic sees every table."""

from backend.models._audit import AuditLog
from backend.models._base import Base, IdMixin, TimestampMixin, new_id
from backend.models._case import (
    Case,
    CaseAlarmLink,
    CaseEvent,
    CaseNumberCounter,
    CaseReporter,
    Category,
    CategoryMajor,
    DispatchRuleRow,
)
from backend.models._citizen import Citizen, MediaUpload, Notice
from backend.models._device import Alarm, AlarmRule, Device, DeviceType, device_readings
from backend.models._evaluation import EvaluationDaily, EvaluationDay, EvaluationWeights
from backend.models._field import (
    AttendanceRecord,
    FieldClientOp,
    Inspection,
    InspectionFinding,
    Shift,
    StaffDevice,
    patrol_tracks,
)
from backend.models._geo import Community, District, Grid, Street
from backend.models._notification import InboxItem, Notification, NotificationPreference, WeChatSubscribeGrant
from backend.models._org import Department, Staff
from backend.models._outbox import OutboxMessage
from backend.models._parking import (
    ParkingGateEvent,
    ParkingLot,
    ParkingPass,
    ParkingPayment,
    ParkingReceipt,
    ParkingSession,
    ParkingSpace,
    PlateBinding,
)
from backend.models._toilet import Toilet

__all__ = [
    "Alarm",
    "AlarmRule",
    "AttendanceRecord",
    "AuditLog",
    "Base",
    "Case",
    "CaseAlarmLink",
    "CaseEvent",
    "CaseNumberCounter",
    "CaseReporter",
    "Category",
    "CategoryMajor",
    "Citizen",
    "Community",
    "Department",
    "Device",
    "DeviceType",
    "DispatchRuleRow",
    "District",
    "EvaluationDaily",
    "EvaluationDay",
    "EvaluationWeights",
    "FieldClientOp",
    "Grid",
    "IdMixin",
    "InboxItem",
    "Inspection",
    "InspectionFinding",
    "MediaUpload",
    "Notice",
    "Notification",
    "NotificationPreference",
    "OutboxMessage",
    "ParkingGateEvent",
    "ParkingLot",
    "ParkingPass",
    "ParkingPayment",
    "ParkingReceipt",
    "ParkingSession",
    "ParkingSpace",
    "PlateBinding",
    "Shift",
    "Staff",
    "StaffDevice",
    "Street",
    "TimestampMixin",
    "Toilet",
    "WeChatSubscribeGrant",
    "device_readings",
    "new_id",
    "patrol_tracks",
]
