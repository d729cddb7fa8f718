"""Pure rules of field work: the geofence, attendance verdicts, GPS track cleaning, distances and the
compact track encoding. No database, no Redis, no clock of its own: callers pass ``now``.

Geofence (电子围栏). A check-in counts when the phone is inside one of the shift's grids or at most
``tolerance_m`` outside it: a phone fix is often 10–30 m off and people stand on the street that *is*
the grid's edge. The distance outside is measured on a local metric plane centred on the point
(equirectangular; the error is far below a GPS fix at the few hundred metres that matter here).

Attendance (考勤), for a shift from ``start`` to ``end``:

==================  ===============================================================================
late (迟到)          checked in after ``start + late_grace`` (exactly at the grace limit is on time)
early leave (早退)   checked out before ``end − early_grace`` (exactly at the limit is not early)
absent (缺勤)        no check-in by ``end`` (a check-in after ``end`` is refused, so it stays absent)
no check-out (未签退) checked in, and no check-out by ``end + check_out_closes_after``
==================  ===============================================================================

Check-in opens ``check_in_opens_before`` the start and closes at the end; check-out is possible from
the check-in until ``end + check_out_closes_after``.

Tracks (巡查轨迹). Points are dropped when their accuracy is worse than 100 m, when they claim or imply
a speed above 150 km/h (a jump from the last kept point — a walking or cycling collector never moves
like that, a bad fix does), when they repeat the time of the last kept point, lie in the future
beyond the clock skew, or are older than the offline window.
"""

from __future__ import annotations

import hashlib
import math
import struct
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from itertools import pairwise
from typing import Any

import msgspec
import numpy as np
import shapely
from shapely.geometry import MultiPolygon, Point, Polygon

from backend.errors import ValidationFailed
from backend.field.enums import AttendanceFlag, AttendanceStatus
from backend.geo import EARTH_RADIUS_M, haversine_m
from backend.worktime import SHANGHAI

# --- geofence ----------------------------------------------------------------------------------------

DEFAULT_GEOFENCE_TOLERANCE_M = 50.0
_METRES_PER_DEGREE = EARTH_RADIUS_M * math.pi / 180.0


@dataclass(frozen=True)
class Geofence:
    """Where a point stands against a set of areas: ``outside_m`` is 0 inside (or on the edge)."""

    outside_m: float
    tolerance_m: float

    @property
    def inside(self) -> bool:
        return self.outside_m == 0.0

    @property
    def accepted(self) -> bool:
        return self.outside_m <= self.tolerance_m


def outside_distance_m(area: Polygon | MultiPolygon, lat: float, lng: float) -> float:
    """Metres from (lat, lng) to the nearest point of ``area`` (WGS-84, shapely x = lng); 0 when the
    point is inside or on the boundary."""
    if area.covers(Point(lng, lat)):
        return 0.0
    k_lat = _METRES_PER_DEGREE
    k_lng = _METRES_PER_DEGREE * math.cos(math.radians(lat))

    def to_local(coords: np.ndarray) -> np.ndarray:
        return np.column_stack(((coords[:, 0] - lng) * k_lng, (coords[:, 1] - lat) * k_lat))

    local = shapely.transform(area, to_local)
    return float(local.distance(Point(0.0, 0.0)))


def check_geofence(
    areas: Sequence[Polygon | MultiPolygon], lat: float, lng: float, tolerance_m: float = DEFAULT_GEOFENCE_TOLERANCE_M
) -> Geofence:
    """The point against the nearest of ``areas`` (a shift's grids). No areas: infinitely outside."""
    if tolerance_m < 0 or not math.isfinite(tolerance_m):
        raise ValidationFailed("tolerance must be a finite, non-negative number of metres")
    distance = min((outside_distance_m(a, lat, lng) for a in areas), default=math.inf)
    return Geofence(outside_m=round(distance, 2) if math.isfinite(distance) else distance, tolerance_m=tolerance_m)


# --- attendance --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class AttendancePolicy:
    """考勤规则 — graces and windows around a shift."""

    late_grace: timedelta = timedelta(minutes=5)
    early_grace: timedelta = timedelta(0)
    check_in_opens_before: timedelta = timedelta(hours=1)
    check_out_closes_after: timedelta = timedelta(hours=4)


DEFAULT_POLICY = AttendancePolicy()


@dataclass(frozen=True)
class Assessment:
    """The verdict on one shift at ``now``: a status, the anomalies and their sizes in seconds."""

    status: AttendanceStatus
    flags: tuple[AttendanceFlag, ...] = ()
    late_s: int = 0
    early_leave_s: int = 0

    @property
    def normal(self) -> bool:
        """Worked as scheduled: checked in on time and out no earlier than allowed."""
        return self.status is AttendanceStatus.checked_out and not self.flags


def _check_shift(start: datetime, end: datetime) -> None:
    if start.tzinfo is None or end.tzinfo is None:
        raise ValidationFailed("shift times need a time zone")
    if end <= start:
        raise ValidationFailed("a shift must end after it starts", code="invalid_shift")


def late_by(start: datetime, check_in: datetime, policy: AttendancePolicy = DEFAULT_POLICY) -> int:
    """迟到 — seconds late (counted from the start, not from the grace limit), 0 when on time."""
    return int((check_in - start).total_seconds()) if check_in > start + policy.late_grace else 0


def early_by(end: datetime, check_out: datetime, policy: AttendancePolicy = DEFAULT_POLICY) -> int:
    """早退 — seconds before the end of the shift, 0 when the check-out is not early."""
    return int((end - check_out).total_seconds()) if check_out < end - policy.early_grace else 0


def assess(
    start: datetime,
    end: datetime,
    check_in: datetime | None,
    check_out: datetime | None,
    now: datetime,
    policy: AttendancePolicy = DEFAULT_POLICY,
) -> Assessment:
    """The attendance verdict of one shift at ``now`` (see the module's table)."""
    _check_shift(start, end)
    if check_in is None:
        if now >= end:
            return Assessment(AttendanceStatus.absent)
        return Assessment(AttendanceStatus.scheduled if now < start else AttendanceStatus.not_checked_in)
    late_s = late_by(start, check_in, policy)
    early_s = early_by(end, check_out, policy) if check_out is not None else 0
    flags = tuple(f for f, on in ((AttendanceFlag.late, late_s), (AttendanceFlag.early_leave, early_s)) if on)
    if check_out is not None:
        status = AttendanceStatus.checked_out
    elif now >= end + policy.check_out_closes_after:
        status = AttendanceStatus.no_check_out
    else:
        status = AttendanceStatus.on_duty
    return Assessment(status, flags, late_s, early_s)


def check_in_refusal(
    start: datetime, end: datetime, at: datetime, policy: AttendancePolicy = DEFAULT_POLICY
) -> str | None:
    """Why a check-in at ``at`` is refused (``too_early`` / ``shift_over``), or None when it is allowed."""
    _check_shift(start, end)
    if at < start - policy.check_in_opens_before:
        return "too_early"
    if at >= end:
        return "shift_over"
    return None


def check_out_refusal(
    check_in: datetime | None, end: datetime, at: datetime, policy: AttendancePolicy = DEFAULT_POLICY
) -> str | None:
    """Why a check-out at ``at`` is refused (``not_checked_in`` / ``before_check_in`` / ``window_closed``)."""
    if check_in is None:
        return "not_checked_in"
    if at < check_in:
        return "before_check_in"
    if at > end + policy.check_out_closes_after:
        return "window_closed"
    return None


def on_shift(
    start: datetime,
    end: datetime,
    check_in: datetime | None,
    check_out: datetime | None,
    now: datetime,
    policy: AttendancePolicy = DEFAULT_POLICY,
) -> bool:
    """在岗 — checked in, not out, and the check-out window still open: live position counts."""
    return check_in is not None and check_out is None and now <= end + policy.check_out_closes_after


# --- tracks ------------------------------------------------------------------------------------------

MAX_ACCURACY_M = 100.0
MAX_SPEED_KMH = 150.0
MAX_SPEED_MS = MAX_SPEED_KMH / 3.6
CLOCK_SKEW = timedelta(minutes=5)
MAX_TRACK_AGE = timedelta(days=31)


@dataclass(frozen=True, slots=True)
class TrackPoint:
    """One GPS fix in WGS-84: ``accuracy`` in metres, ``speed`` in m/s when the phone reports one."""

    ts: datetime
    lat: float
    lng: float
    accuracy: float
    speed: float | None = None


@dataclass
class CleanTrack:
    kept: list[TrackPoint]
    dropped: dict[str, int] = field(default_factory=dict)


RECOVER_AFTER = 3
"""Consecutive points that agree with each other but all jump from the last kept point: after this
many, the last kept point was the glitch (or the phone really moved while off) and the new run is kept."""


def clean_track(
    points: Iterable[TrackPoint],
    *,
    now: datetime,
    previous: TrackPoint | None = None,
    max_age: timedelta = MAX_TRACK_AGE,
) -> CleanTrack:
    """Sort by time and drop the absurd points (see the module's docstring), counting why.

    ``previous`` is the last kept point of an earlier batch: the first points of this batch are
    checked for a jump from it — unless this batch is older (an offline batch arriving late), when
    the batch is judged on its own. A jump that persists (``RECOVER_AFTER`` points agreeing with each
    other) is a move, not a glitch: those points are kept, so one bad fix never poisons what follows."""
    dropped: Counter[str] = Counter()
    ordered = sorted(points, key=lambda p: p.ts)
    last = previous if previous is not None and ordered and previous.ts < ordered[0].ts else None
    kept: list[TrackPoint] = []
    pending: list[TrackPoint] = []  # a run of jumps that agree with each other
    for p in ordered:
        reason = _reject_reason(p, last, now, max_age)
        if reason == "jump":
            if pending and _reject_reason(p, pending[-1], now, max_age) is not None:
                dropped["jump"] += len(pending)
                pending = []
            pending.append(p)
            if len(pending) >= RECOVER_AFTER:
                kept.extend(pending)
                last, pending = pending[-1], []
            continue
        if reason is not None:
            dropped[reason] += 1
            continue
        if pending:  # back on the old track: the run was a glitch
            dropped["jump"] += len(pending)
            pending = []
        kept.append(p)
        last = p
    dropped["jump"] += len(pending)
    return CleanTrack(kept, {k: v for k, v in sorted(dropped.items()) if v})


def _reject_reason(p: TrackPoint, last: TrackPoint | None, now: datetime, max_age: timedelta) -> str | None:
    if not (math.isfinite(p.lat) and math.isfinite(p.lng) and -90 <= p.lat <= 90 and -180 <= p.lng <= 180):
        return "invalid"
    if p.ts > now + CLOCK_SKEW:
        return "future"
    if p.ts < now - max_age:
        return "too_old"
    if not math.isfinite(p.accuracy) or p.accuracy < 0 or p.accuracy > MAX_ACCURACY_M:
        return "inaccurate"
    if p.speed is not None and (not math.isfinite(p.speed) or p.speed < 0 or p.speed > MAX_SPEED_MS):
        return "too_fast"
    if last is not None:
        dt = (p.ts - last.ts).total_seconds()
        if dt <= 0:
            return "duplicate"
        if haversine_m(last.lat, last.lng, p.lat, p.lng) / dt > MAX_SPEED_MS:
            return "jump"
    return None


def track_distance_m(points: Sequence[TrackPoint]) -> float:
    """里程 — the haversine sum over consecutive points (in the order given)."""
    return sum(haversine_m(a.lat, a.lng, b.lat, b.lng) for a, b in pairwise(points))


def plausible_link(a: TrackPoint, b: TrackPoint) -> bool:
    """Whether the straight line from ``a`` to a later ``b`` is a movement (not a jump) — used to join
    the stored pieces of one day's track."""
    dt = (b.ts - a.ts).total_seconds()
    return dt > 0 and haversine_m(a.lat, a.lng, b.lat, b.lng) / dt <= MAX_SPEED_MS


FIRST_DAY = date(2000, 1, 1)
LAST_DAY = date(2099, 12, 31)


def check_day(day: date) -> date:
    """Days of field work lie in this century: anything else is a client's mistake, not a calendar edge."""
    if not FIRST_DAY <= day <= LAST_DAY:
        raise ValidationFailed(
            f"days run from {FIRST_DAY} to {LAST_DAY}", code="invalid_day", details={"day": str(day)}
        )
    return day


def local_day(ts: datetime) -> date:
    """The Asia/Shanghai day a moment falls on (a day's track and attendance are local days)."""
    if ts.tzinfo is None:
        raise ValidationFailed("a time needs a time zone offset", code="invalid_time")
    check_day(ts.date())
    return ts.astimezone(SHANGHAI).date()


def day_bounds(day: date) -> tuple[datetime, datetime]:
    """[start, end) of a local day, in UTC."""
    check_day(day)
    start = datetime(day.year, day.month, day.day, tzinfo=SHANGHAI)
    return start.astimezone(UTC), (start + timedelta(days=1)).astimezone(UTC)


def split_by_day(points: Sequence[TrackPoint]) -> list[list[TrackPoint]]:
    """Consecutive runs of time-ordered points that fall on one local day (one stored row each)."""
    runs: list[list[TrackPoint]] = []
    current_day: date | None = None
    for p in points:
        day = local_day(p.ts)
        if day != current_day:
            runs.append([])
            current_day = day
        runs[-1].append(p)
    return runs


# Packed encoding of a run of points: a version byte, then 16 bytes per point — the offset from the
# row's ``started_at`` in ms (uint32: 49 days), lat and lng in 1e-7 degrees (int32: ~1 cm), accuracy
# in decimetres (uint16) and speed in cm/s (uint16, 0xFFFF = not reported).
_VERSION = 1
_POINT = struct.Struct("<IiiHH")
_NO_SPEED = 0xFFFF


def pack_points(points: Sequence[TrackPoint]) -> tuple[datetime, bytes]:
    """(started_at, blob) of a non-empty, time-ordered run of points."""
    if not points:
        raise ValidationFailed("nothing to pack")
    base = points[0].ts
    out = bytearray([_VERSION])
    for p in points:
        offset_ms = round((p.ts - base).total_seconds() * 1000)
        speed = _NO_SPEED if p.speed is None else min(round(p.speed * 100), _NO_SPEED - 1)
        out += _POINT.pack(
            offset_ms, round(p.lat * 1e7), round(p.lng * 1e7), min(round(p.accuracy * 10), 0xFFFF), speed
        )
    return base, bytes(out)


def unpack_points(started_at: datetime, blob: bytes) -> list[TrackPoint]:
    if not blob or blob[0] != _VERSION:
        raise ValueError(f"unknown track encoding {blob[:1]!r}")
    points = []
    for offset_ms, lat, lng, accuracy, speed in _POINT.iter_unpack(blob[1:]):
        points.append(
            TrackPoint(
                ts=started_at + timedelta(milliseconds=offset_ms),
                lat=lat / 1e7,
                lng=lng / 1e7,
                accuracy=accuracy / 10,
                speed=None if speed == _NO_SPEED else speed / 100,
            )
        )
    return points


# --- offline writes ----------------------------------------------------------------------------------


def fingerprint(kind: str, payload: Any) -> str:
    """A stable hash of one write (kind + payload in canonical JSON): the same client id sent with a
    different body is told apart from an honest retry."""
    canonical = msgspec.json.encode({"kind": kind, "payload": payload}, order="sorted")
    return hashlib.sha256(canonical).hexdigest()


def effective_time(client_ts: datetime, now: datetime, max_offline: timedelta) -> datetime:
    """When a client says something happened: its own clock, but never in the future and never older
    than the offline window (a phone with a wrong clock cannot backdate an attendance by weeks)."""
    if client_ts.tzinfo is None:
        raise ValidationFailed("client_ts needs a time zone offset", code="invalid_client_ts")
    if client_ts < now - max_offline:
        raise ValidationFailed(
            "client_ts is older than the offline window",
            code="too_old",
            details={"max_offline_h": max_offline.total_seconds() / 3600},
        )
    return min(client_ts, now)
