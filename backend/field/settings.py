"""Settings of field work, read once from the environment (same rules as ``backend/settings.py``).

| variable | default | meaning |
|---|---|---|
| ``FIELD_GEOFENCE_TOLERANCE_M`` | 50 | how far outside the shift's grids a check-in or check-out still counts |
| ``FIELD_LATE_GRACE_MIN`` | 5 | a check-in up to this many minutes after the start is on time |
| ``FIELD_EARLY_GRACE_MIN`` | 0 | a check-out up to this many minutes before the end is not early |
| ``FIELD_CHECK_IN_OPENS_MIN`` | 60 | check-in opens this many minutes before the start |
| ``FIELD_CHECK_OUT_CLOSES_MIN`` | 240 | check-out closes this many minutes after the end |
| ``FIELD_MAX_OFFLINE_H`` | 72 | writes made offline longer ago than this are refused |
| ``FIELD_LIVE_TTL_S`` | 600 | a collector whose last position is older than this is not offered tasks |
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta
from functools import lru_cache

from backend.field.rules import AttendancePolicy
from backend.settings import _int


@dataclass(frozen=True)
class FieldSettings:
    geofence_tolerance_m: float = 50.0
    policy: AttendancePolicy = field(default_factory=AttendancePolicy)
    max_offline: timedelta = timedelta(hours=72)
    live_ttl_s: int = 600


def load_field_settings() -> FieldSettings:
    return FieldSettings(
        geofence_tolerance_m=float(_int("FIELD_GEOFENCE_TOLERANCE_M", 50, minimum=0, maximum=5000)),
        policy=AttendancePolicy(
            late_grace=timedelta(minutes=_int("FIELD_LATE_GRACE_MIN", 5, minimum=0, maximum=240)),
            early_grace=timedelta(minutes=_int("FIELD_EARLY_GRACE_MIN", 0, minimum=0, maximum=240)),
            check_in_opens_before=timedelta(minutes=_int("FIELD_CHECK_IN_OPENS_MIN", 60, minimum=0, maximum=720)),
            check_out_closes_after=timedelta(minutes=_int("FIELD_CHECK_OUT_CLOSES_MIN", 240, minimum=0, maximum=1440)),
        ),
        max_offline=timedelta(hours=_int("FIELD_MAX_OFFLINE_H", 72, minimum=1, maximum=24 * 31)),
        live_ttl_s=_int("FIELD_LIVE_TTL_S", 600, minimum=30, maximum=86400),
    )


@lru_cache(maxsize=1)
def get_field_settings() -> FieldSettings:
    return load_field_settings()
