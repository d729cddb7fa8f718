"""Named values of the device domain (stored as strings, so a new value needs no migration)."""

from __future__ import annotations

from enum import StrEnum


class DeviceStatus(StrEnum):
    """A device's credentials: ``active`` may post; ``revoked`` is refused for good (403)."""

    ACTIVE = "active"
    REVOKED = "revoked"


class AlarmState(StrEnum):
    """告警状态 — active-unacknowledged → active-acknowledged → cleared.

    An alarm is *active* while it is not cleared; at most one is active per device and rule."""

    ACTIVE_UNACKNOWLEDGED = "active_unacknowledged"
    ACTIVE_ACKNOWLEDGED = "active_acknowledged"
    CLEARED = "cleared"


class Severity(StrEnum):
    INFO = "info"
    MINOR = "minor"
    MAJOR = "major"
    CRITICAL = "critical"


class ConditionKind(StrEnum):
    THRESHOLD = "threshold"  # one reading meets the predicate
    FOR_MINUTES = "for_minutes"  # the predicate holds in every reading for N minutes
    TIMES_IN_ROW = "times_in_row"  # N consecutive readings meet the predicate
    NO_DATA = "no_data"  # nothing received for N minutes (or N reporting intervals)


class ReadingStatus(StrEnum):
    """What became of one reading of a batch; every reading gets one."""

    ACCEPTED = "accepted"
    DUPLICATE = "duplicate"
    REJECTED = "rejected"


class ObjectKind(StrEnum):
    """Kinds of object a device watches; ``object_id`` is that object's id or code."""

    TOILET = "toilet"
    PARKING_LOT = "parking_lot"
    PARKING_SPACE = "parking_space"
    MANHOLE = "manhole"
    GAS_STATION = "gas_station"
    GAS_CUSTOMER = "gas_customer"
    BIN = "bin"
    TRANSFER_STATION = "transfer_station"
    LANDFILL = "landfill"
