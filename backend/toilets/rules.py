"""Pure rules of the toilet finder (公厕查找): odour limits by class, the live status shown to a citizen,
and the search filters. No I/O.

Odour limits — GB/T 17217 (城市公共厕所卫生标准), mg/m³ in the air of the toilet:

=========  ======  ======
class      NH₃     H₂S
=========  ======  ======
一类        0.3     0.01
二类        1       0.01
三类        3       0.01
=========  ======  ======

A reading at the limit passes; above it fails.

Live status: the newest value of each metric from ``backend.live``. A metric whose reading is older
than three of its device's reporting intervals is *stale*: it is never shown as a live value — it is
left out (``None``) and named in ``stale_metrics``. When every shown metric is stale the status says
``live = False`` and ``stale_since``, the moment the newest of them went stale.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from backend.live import STALE_INTERVALS, LiveMetric, LiveState
from backend.places.rules import OpeningHours
from backend.toilets.enums import ToiletLevel
from backend.worktime import SHANGHAI

NH3_LIMIT_MG_M3: Mapping[ToiletLevel, float] = {ToiletLevel.FIRST: 0.3, ToiletLevel.SECOND: 1.0, ToiletLevel.THIRD: 3.0}
H2S_LIMIT_MG_M3 = 0.01

# The metrics of toilet devices a citizen sees (battery and the like are for operators).
SHOWN_METRICS = (
    "free_stalls",
    "occupied_stalls",
    "people_in",
    "nh3",
    "h2s",
    "temperature_c",
    "humidity_pct",
    "open",
)


@dataclass(frozen=True)
class OdourVerdict:
    """NH₃ and H₂S against the limits of the toilet's class; ``*_ok`` is None without a live value."""

    nh3: float | None
    nh3_limit: float
    nh3_ok: bool | None
    h2s: float | None
    h2s_limit: float
    h2s_ok: bool | None

    @property
    def ok(self) -> bool | None:
        verdicts = [v for v in (self.nh3_ok, self.h2s_ok) if v is not None]
        return all(verdicts) if verdicts else None


def odour(level: ToiletLevel | int, nh3: float | None, h2s: float | None) -> OdourVerdict:
    """GB/T 17217: NH₃ by class (0.3 / 1 / 3 mg/m³), H₂S 0.01 mg/m³ for every class."""
    nh3_limit = NH3_LIMIT_MG_M3[ToiletLevel(level)]
    return OdourVerdict(
        nh3=nh3,
        nh3_limit=nh3_limit,
        nh3_ok=None if nh3 is None else nh3 <= nh3_limit,
        h2s=h2s,
        h2s_limit=H2S_LIMIT_MG_M3,
        h2s_ok=None if h2s is None else h2s <= H2S_LIMIT_MG_M3,
    )


@dataclass(frozen=True)
class ToiletLive:
    """实时状态 — what the devices of one toilet say now; values only from fresh readings."""

    reported: bool
    live: bool
    updated_at: datetime | None
    stale_since: datetime | None
    stale_metrics: tuple[str, ...]
    free_stalls: int | None
    occupied_stalls: int | None
    people_in: int | None
    people_per_hour: int | None
    odour: OdourVerdict
    temperature_c: float | None
    humidity_pct: float | None
    open: bool | None


def stale_at(metric: LiveMetric) -> datetime:
    """When a reading stops being live: three of its device's intervals after it was measured."""
    return metric.ts + timedelta(seconds=STALE_INTERVALS * max(metric.interval_s, 1))


def live_until(state: LiveState | None, now: datetime) -> datetime | None:
    """The next instant a shown metric of ``state`` goes stale after ``now`` (None: none will) — until
    then, ``live_status(…, now)`` stays the same."""
    if state is None:
        return None
    return min(
        (at for name, m in state.metrics.items() if name in SHOWN_METRICS and (at := stale_at(m)) >= now),
        default=None,
    )


def _number(value: Any) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def _count(value: Any) -> int | None:
    return int(value) if isinstance(value, int) and not isinstance(value, bool) else None


def live_status(level: ToiletLevel | int, state: LiveState | None, now: datetime | None = None) -> ToiletLive:
    """The citizen's view of a toilet's live state (see the module docstring). With ``now``, staleness
    is judged at that instant (a state read a moment ago may have gone stale since); without it, as
    the live store judged it when read."""
    shown = {name: m for name, m in (state.metrics.items() if state else ()) if name in SHOWN_METRICS}
    if now is None:
        fresh = {name: m for name, m in shown.items() if not m.stale}
    else:
        fresh = {name: m for name, m in shown.items() if stale_at(m) >= now}
    stale = tuple(sorted(name for name in shown if name not in fresh))

    def value(name: str) -> Any:
        metric = fresh.get(name)
        return metric.value if metric is not None else None

    people_in = _count(value("people_in"))
    per_hour = None
    if people_in is not None:
        people_per_hour_f = people_in * 3600 / max(fresh["people_in"].interval_s, 1)
        per_hour = round(people_per_hour_f)
    open_value = value("open")
    return ToiletLive(
        reported=bool(shown),
        live=bool(fresh),
        updated_at=max((m.ts for m in fresh.values()), default=None),
        stale_since=max((stale_at(m) for m in shown.values()), default=None) if shown and not fresh else None,
        stale_metrics=stale,
        free_stalls=_count(value("free_stalls")),
        occupied_stalls=_count(value("occupied_stalls")),
        people_in=people_in,
        people_per_hour=per_hour,
        odour=odour(level, _number(value("nh3")), _number(value("h2s"))),
        temperature_c=_number(value("temperature_c")),
        humidity_pct=_number(value("humidity_pct")),
        open=open_value if isinstance(open_value, bool) else None,
    )


# --- the searchable record and the filters ------------------------------------------------------------


@dataclass(frozen=True)
class ToiletInfo:
    """What the finder needs of one toilet, in memory (WGS-84)."""

    id: str
    code: str
    name: str
    address: str
    lat: float
    lng: float
    level: ToiletLevel
    hours: OpeningHours
    hours_text: str
    free: bool
    fee_fen: int
    male_stalls: int
    female_stalls: int
    accessible_stalls: int
    third_toilet: bool
    baby_care: bool
    department_name: str | None


@dataclass(frozen=True)
class ToiletFilters:
    """Search filters; all given ones must hold."""

    open_now: bool = False
    has_free_stall: bool = False
    accessible: bool = False
    baby_care: bool = False
    third_toilet: bool = False
    levels: frozenset[int] = frozenset()


def is_open_now(hours: OpeningHours, live: ToiletLive | None, at: datetime) -> bool:
    """Open by the timetable — unless a fresh device reading says otherwise (closed for cleaning, or
    open late), which wins. ``at`` may be given already in Asia/Shanghai (then it is not converted)."""
    if live is not None and live.open is not None:
        return live.open
    return hours.is_open_local(at if at.tzinfo is SHANGHAI else at.astimezone(SHANGHAI))


def matches_facilities(info: ToiletInfo, filters: ToiletFilters) -> bool:
    """The filters that need no live state."""
    return (
        (not filters.accessible or info.accessible_stalls > 0)
        and (not filters.baby_care or info.baby_care)
        and (not filters.third_toilet or info.third_toilet)
        and (not filters.levels or int(info.level) in filters.levels)
    )


def matches_live(filters: ToiletFilters, live: ToiletLive | None, open_now: bool) -> bool:
    """The filters that depend on the moment: open now, a free stall (known from a fresh reading only)."""
    if filters.open_now and not open_now:
        return False
    if filters.has_free_stall:
        return live is not None and live.free_stalls is not None and live.free_stalls > 0
    return True
