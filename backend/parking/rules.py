"""Pure rules of parking (停车诱导与收费): fees, plates, availability and guidance. No I/O.

Fees (收费规则)
---------------

A rule has time bands (时段) covering the 24 hours of the day in Asia/Shanghai, each with a price per
hour in fen; a unit (计费单位: per started hour, per started 30 minutes, …); free minutes (免费时长) that
either waive a short stay (``grace``) or are deducted from every stay (``deduct``); and caps in fen: per
occurrence of a band (e.g. 夜间每晚最高 ¥5), per day (calendar day, or each 24 h from entry) and per
entry (单次封顶). Amounts are integer fen.

How a stay is billed:

1. free lot (no bands), or a ``grace`` stay within the free minutes → 0;
2. ``deduct``: billing starts free-minutes after entry;
3. time covered by a monthly pass (月卡) of the plate is not billed;
4. what is left is cut where bands change (跨时段分段计费): each piece is billed on its own, per
   started unit, at its band's price (a unit never straddles two bands);
5. units are charged in time order like a meter, each at most what the band-occurrence cap, the
   day's cap (the day a unit *starts* in) and the entry cap still allow.

Example — 08:00–20:00 ¥3/h, 20:00–08:00 ¥1/h, per started hour, 15 free minutes (grace): 19:30–21:10
is 30 min of day (1 unit, ¥3) and 70 min of night (2 units, ¥2) = ¥5 = 500 fen.

Plates (车牌)
------------

GA 36-2018: a province character, the issuing authority letter, then five characters (letters
without I and O, digits; a special plate ends in 挂/学/警/港/澳) — or, on new-energy plates (新能源,
8 characters), six: small cars D/A/B/C/E (battery) or F/G/H/J/K (hybrid) then a letter or digit and
four digits; large vehicles five digits then that letter. Spaces, dots and the middle dot are
dropped and letters upper-cased first.

Guidance (停车诱导)
------------------

Lots near a destination are put in three tiers, then ordered by a score within each tier:

- tier 0 — free spaces known from fresh device data;
- tier 1 — availability unknown (no devices, or their data is stale: more than three reporting
  intervals old — never taken as free);
- tier 2 — not recommended: the devices report it full (for the wanted space type), or it is closed.

score (0–100) = 70 × (1 − distance / radius) + 30 × min(free, 20) / 20, the second term only in
tier 0; ties go to the nearer lot. So among lots with known free spaces a near one wins unless a
farther one has many more free spaces, and "probably free" never outranks "known free".
"""

from __future__ import annotations

import math
import re
import unicodedata
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from backend.errors import ValidationFailed
from backend.live import STALE_INTERVALS, LiveMetric, LiveState
from backend.parking.enums import AvailabilitySource, DailyCapMode, FreeMinutesMode, SpaceType
from backend.places.rules import DAY_MINUTES, OpeningHours, Span, parse_span
from backend.worktime import SHANGHAI

# --- plates -------------------------------------------------------------------------------------------

PROVINCES = "京津沪渝冀豫云辽黑湘皖鲁新苏浙赣鄂桂甘晋蒙陕吉闽贵粤青藏川宁琼"
_L = "A-HJ-NP-Z"  # letters on plates: no I, no O
_NEW_ENERGY = "DABCEFGHJK"
_REGULAR = re.compile(rf"^[{PROVINCES}][{_L}][{_L}0-9]{{5}}$")
_SPECIAL = re.compile(rf"^[{PROVINCES}][{_L}][{_L}0-9]{{4}}[挂学警港澳]$")
_NEW_ENERGY_SMALL = re.compile(rf"^[{PROVINCES}][{_L}][{_NEW_ENERGY}][{_L}0-9][0-9]{{4}}$")
_NEW_ENERGY_LARGE = re.compile(rf"^[{PROVINCES}][{_L}][0-9]{{5}}[{_NEW_ENERGY}]$")
_DROPPED = re.compile(r"[\s·•.\-_]")


class InvalidPlate(ValidationFailed):
    code = "invalid_plate"


@dataclass(frozen=True)
class Plate:
    """A checked plate number in its canonical form (``鄂A12345``, ``鄂AD12345``)."""

    number: str
    new_energy: bool


def normalize_plate(text: str) -> Plate:
    """The canonical plate, or ``InvalidPlate`` saying what a plate looks like."""
    raw = _DROPPED.sub("", unicodedata.normalize("NFKC", text or "")).upper()
    if len(raw) == 8 and (_NEW_ENERGY_SMALL.match(raw) or _NEW_ENERGY_LARGE.match(raw)):
        return Plate(raw, True)
    if len(raw) == 7 and (_REGULAR.match(raw) or _SPECIAL.match(raw)):
        return Plate(raw, False)
    raise InvalidPlate(
        "not a Chinese plate number: a province character, a letter, then 5 letters/digits (7 in all), "
        "or 6 on a new-energy plate (8 in all); letters I and O are not used",
        details={"plate": text[:20] if text else ""},
    )


# --- fee rules ----------------------------------------------------------------------------------------


class InvalidFeeRule(ValidationFailed):
    code = "invalid_fee_rule"


UNIT_CHOICES = (5, 10, 15, 20, 30, 60)


@dataclass(frozen=True)
class TimeBand:
    """A daily time band with its price per hour; ``cap_fen`` caps each occurrence (one night)."""

    span: Span
    per_hour_fen: int
    cap_fen: int | None = None
    label: str = ""

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"span": self.span.text(), "per_hour_fen": self.per_hour_fen}
        if self.cap_fen is not None:
            out["cap_fen"] = self.cap_fen
        if self.label:
            out["label"] = self.label
        return out


def _money(value: Any, name: str, *, optional: bool = False) -> int | None:
    if value is None and optional:
        return None
    if not isinstance(value, int) or isinstance(value, bool) or value < 0 or value > 10_000_000:
        raise InvalidFeeRule(f"{name} is an amount in fen (a whole number, 0 … 10,000,000)")
    return value


@dataclass(frozen=True)
class FeeRule:
    """收费规则 — see the module docstring. No bands: free of charge."""

    bands: tuple[TimeBand, ...] = ()
    unit_minutes: int = 60
    free_minutes: int = 0
    free_mode: FreeMinutesMode = FreeMinutesMode.GRACE
    per_entry_cap_fen: int | None = None
    daily_cap_fen: int | None = None
    daily_cap_mode: DailyCapMode = DailyCapMode.CALENDAR_DAY

    def __post_init__(self) -> None:
        if self.unit_minutes not in UNIT_CHOICES:
            raise InvalidFeeRule(f"unit_minutes is one of {UNIT_CHOICES}")
        if not 0 <= self.free_minutes <= 24 * 60:
            raise InvalidFeeRule("free_minutes is 0 … 1440")
        if not self.bands:
            return
        covered = [0] * DAY_MINUTES
        for band in self.bands:
            span = band.span
            minutes = range(span.start, span.end) if not span.overnight else [*range(span.start, DAY_MINUTES),
                                                                               *range(0, span.end)]  # fmt: skip
            for m in minutes:
                covered[m] += 1
            if (band.per_hour_fen * self.unit_minutes) % 60:
                raise InvalidFeeRule(
                    f"{band.per_hour_fen} fen per hour is not a whole number of fen per {self.unit_minutes} minutes"
                )
        if any(c != 1 for c in covered):
            raise InvalidFeeRule("time bands must cover the 24 hours of the day exactly once")

    @property
    def free_of_charge(self) -> bool:
        return not self.bands or all(b.per_hour_fen == 0 for b in self.bands)

    def unit_price(self, band: TimeBand) -> int:
        return band.per_hour_fen * self.unit_minutes // 60

    # -- JSON ---------------------------------------------------------------------------------------

    @classmethod
    def from_json(cls, data: Mapping[str, Any] | None) -> FeeRule:
        """From the stored JSON::

        {"bands": [{"span": "08:00-20:00", "per_hour_fen": 300, "label": "白天"},
                   {"span": "20:00-08:00", "per_hour_fen": 100, "cap_fen": 500, "label": "夜间"}],
         "unit_minutes": 60, "free_minutes": 15, "free_mode": "grace",
         "daily_cap_fen": 3000, "daily_cap_mode": "calendar_day", "per_entry_cap_fen": null}
        """
        if not data:
            return cls()
        if not isinstance(data, Mapping):
            raise InvalidFeeRule("a fee rule is an object")
        known = {
            "bands", "unit_minutes", "free_minutes", "free_mode", "per_entry_cap_fen", "daily_cap_fen",
            "daily_cap_mode",
        }  # fmt: skip
        if set(data) - known:
            raise InvalidFeeRule(f"unknown keys in the fee rule: {sorted(set(data) - known)}")
        bands_raw = data.get("bands") or []
        if not isinstance(bands_raw, list):
            raise InvalidFeeRule("bands is a list")
        bands = []
        for raw in bands_raw:
            if not isinstance(raw, Mapping) or not isinstance(raw.get("span"), str):
                raise InvalidFeeRule("a band is {span: 'HH:MM-HH:MM', per_hour_fen, cap_fen?, label?}")
            try:
                span = parse_span(raw["span"])
            except ValidationFailed as exc:
                raise InvalidFeeRule(exc.message) from None
            bands.append(
                TimeBand(
                    span=span,
                    per_hour_fen=_money(raw.get("per_hour_fen"), "per_hour_fen") or 0,
                    cap_fen=_money(raw.get("cap_fen"), "cap_fen", optional=True),
                    label=str(raw.get("label") or "")[:20],
                )
            )
        try:
            free_mode = FreeMinutesMode(data.get("free_mode", FreeMinutesMode.GRACE))
            cap_mode = DailyCapMode(data.get("daily_cap_mode", DailyCapMode.CALENDAR_DAY))
        except ValueError:
            raise InvalidFeeRule(
                "free_mode is grace or deduct; daily_cap_mode is calendar_day or rolling_24h"
            ) from None
        unit = data.get("unit_minutes", 60)
        free = data.get("free_minutes", 0)
        if not isinstance(unit, int) or not isinstance(free, int) or isinstance(unit, bool) or isinstance(free, bool):
            raise InvalidFeeRule("unit_minutes and free_minutes are whole numbers")
        return cls(
            bands=tuple(sorted(bands, key=lambda b: b.span.start)),
            unit_minutes=unit,
            free_minutes=free,
            free_mode=free_mode,
            per_entry_cap_fen=_money(data.get("per_entry_cap_fen"), "per_entry_cap_fen", optional=True),
            daily_cap_fen=_money(data.get("daily_cap_fen"), "daily_cap_fen", optional=True),
            daily_cap_mode=cap_mode,
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "bands": [b.to_json() for b in self.bands],
            "unit_minutes": self.unit_minutes,
            "free_minutes": self.free_minutes,
            "free_mode": self.free_mode.value,
            "per_entry_cap_fen": self.per_entry_cap_fen,
            "daily_cap_fen": self.daily_cap_fen,
            "daily_cap_mode": self.daily_cap_mode.value,
        }

    def describe(self) -> str:
        """收费标准 as a citizen reads it."""
        if self.free_of_charge:
            return "免费停放"
        unit = "小时" if self.unit_minutes == 60 else f"{self.unit_minutes}分钟"
        parts = []
        for b in self.bands:
            text = f"{b.label + ' ' if b.label else ''}{b.span.text()} {yuan(self.unit_price(b))}/{unit}"
            if b.cap_fen is not None:
                text += f"（最高{yuan(b.cap_fen)}）"
            parts.append(text)
        if self.free_minutes:
            parts.append(
                f"{self.free_minutes}分钟内免费"
                if self.free_mode is FreeMinutesMode.GRACE
                else f"每次前{self.free_minutes}分钟免费"
            )
        if self.daily_cap_fen is not None:
            per = "每自然日" if self.daily_cap_mode is DailyCapMode.CALENDAR_DAY else "每24小时"
            parts.append(f"{per}最高{yuan(self.daily_cap_fen)}")
        if self.per_entry_cap_fen is not None:
            parts.append(f"单次最高{yuan(self.per_entry_cap_fen)}")
        return "；".join(parts)


def yuan(fen: int) -> str:
    return f"¥{fen // 100}" if fen % 100 == 0 else f"¥{fen / 100:.2f}"


@dataclass(frozen=True)
class FeeLine:
    """One piece of a stay inside one band occurrence: its units and what they cost after caps."""

    start: datetime
    end: datetime
    band: str
    units: int
    unit_price_fen: int
    amount_fen: int


@dataclass(frozen=True)
class Fee:
    amount_fen: int
    stay_minutes: int
    billed_minutes: int
    free_reason: str | None = None  # free_lot | free_minutes | pass
    caps_applied: tuple[str, ...] = ()
    lines: tuple[FeeLine, ...] = ()

    def to_json(self) -> dict[str, Any]:
        return {
            "amount_fen": self.amount_fen,
            "stay_minutes": self.stay_minutes,
            "billed_minutes": self.billed_minutes,
            "free_reason": self.free_reason,
            "caps_applied": list(self.caps_applied),
            "lines": [
                {
                    "start": line.start.isoformat(),
                    "end": line.end.isoformat(),
                    "band": line.band,
                    "units": line.units,
                    "unit_price_fen": line.unit_price_fen,
                    "amount_fen": line.amount_fen,
                }
                for line in self.lines
            ],
        }


def _occurrence(rule: FeeRule, at: datetime) -> tuple[int, datetime, datetime]:
    """The band in force at ``at`` and the start and end of that occurrence of it (local time)."""
    local = at.astimezone(SHANGHAI)
    minute = local.hour * 60 + local.minute
    midnight = local.replace(hour=0, minute=0, second=0, microsecond=0)
    for index, band in enumerate(rule.bands):
        span = band.span
        if not span.overnight:
            if span.start <= minute < span.end:
                return index, midnight + timedelta(minutes=span.start), midnight + timedelta(minutes=span.end)
        elif minute >= span.start:
            return index, midnight + timedelta(minutes=span.start), midnight + timedelta(days=1, minutes=span.end)
        elif minute < span.end:
            return (
                index,
                midnight - timedelta(days=1) + timedelta(minutes=span.start),
                midnight + timedelta(minutes=span.end),
            )
    raise AssertionError("bands cover the day")  # checked when the rule was built


def _subtract(
    interval: tuple[datetime, datetime], holes: Iterable[tuple[datetime, datetime]]
) -> list[tuple[datetime, datetime]]:
    pieces = [interval]
    for h_start, h_end in sorted(holes):
        out = []
        for a, b in pieces:
            if h_end <= a or h_start >= b:
                out.append((a, b))
                continue
            if a < h_start:
                out.append((a, h_start))
            if h_end < b:
                out.append((h_end, b))
        pieces = out
    return pieces


def compute_fee(
    rule: FeeRule,
    entered: datetime,
    exited: datetime,
    passes: Sequence[tuple[datetime, datetime]] = (),
) -> Fee:
    """The fee of a stay from ``entered`` to ``exited`` (aware datetimes) — see the module docstring.
    ``passes`` are the validity windows of the plate's monthly passes for this lot."""
    stay = exited - entered
    stay_minutes = max(int(stay.total_seconds() // 60), 0)
    if stay <= timedelta(0):
        return Fee(0, 0, 0)
    if rule.free_of_charge:
        return Fee(0, stay_minutes, 0, "free_lot")
    free = timedelta(minutes=rule.free_minutes)
    if rule.free_minutes and stay <= free:
        return Fee(0, stay_minutes, 0, "free_minutes")
    start = entered + free if rule.free_mode is FreeMinutesMode.DEDUCT else entered
    pieces = _subtract((start, exited), passes)
    if not pieces:
        return Fee(0, stay_minutes, 0, "pass")

    unit = timedelta(minutes=rule.unit_minutes)
    occurrence_paid: dict[tuple[int, datetime], int] = {}
    day_paid: dict[Any, int] = {}
    total = 0
    caps: set[str] = set()
    lines: list[FeeLine] = []
    billed = timedelta(0)
    for a, b in pieces:
        cursor = a
        while cursor < b:
            band_index, occ_start, occ_end = _occurrence(rule, cursor)
            band = rule.bands[band_index]
            seg_end = min(occ_end, b)
            billed += seg_end - cursor
            units = math.ceil((seg_end - cursor) / unit)
            price = rule.unit_price(band)
            seg_amount = 0
            occ_key = (band_index, occ_start)
            for k in range(units):
                unit_start = cursor + k * unit
                day_key: Any = None
                if rule.daily_cap_fen is not None:
                    day_key = (
                        unit_start.astimezone(SHANGHAI).date()
                        if rule.daily_cap_mode is DailyCapMode.CALENDAR_DAY
                        else (unit_start - entered) // timedelta(hours=24)
                    )
                limits = [
                    ("band", None if band.cap_fen is None else band.cap_fen - occurrence_paid.get(occ_key, 0)),
                    ("daily", None if day_key is None else (rule.daily_cap_fen or 0) - day_paid.get(day_key, 0)),
                    ("entry", None if rule.per_entry_cap_fen is None else rule.per_entry_cap_fen - total),
                ]
                charge = price
                for name, left in limits:
                    if left is not None and charge > left:
                        charge = max(left, 0)
                        caps.add(name)
                occurrence_paid[occ_key] = occurrence_paid.get(occ_key, 0) + charge
                if day_key is not None:
                    day_paid[day_key] = day_paid.get(day_key, 0) + charge
                total += charge
                seg_amount += charge
            lines.append(FeeLine(cursor, seg_end, band.label or band.span.text(), units, price, seg_amount))
            cursor = seg_end
    return Fee(
        amount_fen=total,
        stay_minutes=stay_minutes,
        billed_minutes=math.ceil(billed.total_seconds() / 60),
        caps_applied=tuple(sorted(caps)),
        lines=tuple(lines),
    )


# --- availability and guidance ------------------------------------------------------------------------


@dataclass(frozen=True)
class Availability:
    """余位 — what fresh device data says about free spaces. ``known`` is false without devices or
    with stale data (``stale_since`` then says since when); ``full`` only from fresh data."""

    known: bool
    free: int | None
    full: bool
    updated_at: datetime | None = None
    stale_since: datetime | None = None
    free_by_type: Mapping[str, int] = field(default_factory=dict)


UNKNOWN = Availability(known=False, free=None, full=False)


def _stale_at(ts: datetime, interval_s: int) -> datetime:
    return ts + timedelta(seconds=STALE_INTERVALS * max(interval_s, 1))


def _is_stale(metric: LiveMetric, now: datetime | None) -> bool:
    """Stale as the live store judged it when read, or — given ``now`` — at that instant."""
    return metric.stale if now is None else _stale_at(metric.ts, metric.interval_s) < now


def availability_from_gate(
    state: LiveState | None, want: SpaceType | None = None, now: datetime | None = None
) -> Availability:
    """A gated lot: its gates' ``free_spaces`` count. The count is for the whole lot, so for a
    special space type only "full" can be known."""
    metric = state.metrics.get("free_spaces") if state is not None else None
    if metric is None or not isinstance(metric.value, int) or isinstance(metric.value, bool):
        return UNKNOWN
    if _is_stale(metric, now):
        return Availability(False, None, False, stale_since=_stale_at(metric.ts, metric.interval_s))
    free = max(int(metric.value), 0)
    if want not in (None, SpaceType.NORMAL) and free > 0:
        return Availability(False, None, False, updated_at=metric.ts)
    return Availability(True, free, free == 0, updated_at=metric.ts)


def availability_from_detectors(
    spaces: Sequence[tuple[str, str]],
    states: Mapping[str, LiveState | None],
    want: SpaceType | None = None,
    now: datetime | None = None,
) -> Availability:
    """A lot or segment with one detector per space (``occupied``). Spaces without fresh data are
    unknown: the lot is full only when every wanted space is freshly reported occupied."""
    free_by_type: dict[str, int] = {}
    unknown = 0
    newest: datetime | None = None
    stale_since: datetime | None = None
    wanted = [(code, kind) for code, kind in spaces if want is None or kind == want]
    for code, kind in wanted:
        state = states.get(code)
        metric = state.metrics.get("occupied") if state is not None else None
        if metric is None or not isinstance(metric.value, bool):
            unknown += 1
            continue
        if _is_stale(metric, now):
            unknown += 1
            at = _stale_at(metric.ts, metric.interval_s)
            stale_since = at if stale_since is None or at > stale_since else stale_since
            continue
        newest = metric.ts if newest is None or metric.ts > newest else newest
        if not metric.value:
            free_by_type[kind] = free_by_type.get(kind, 0) + 1
    free = sum(free_by_type.values())
    if not wanted:
        return Availability(True, 0, True)
    if free > 0:
        return Availability(True, free, False, updated_at=newest, free_by_type=free_by_type)
    if unknown:
        return Availability(False, None, False, updated_at=newest, stale_since=stale_since if newest is None else None)
    return Availability(True, 0, True, updated_at=newest, free_by_type=free_by_type)


GUIDANCE_DISTANCE_POINTS = 70.0
GUIDANCE_AVAILABILITY_POINTS = 30.0
GUIDANCE_FREE_SATURATION = 20

TIER_KNOWN_FREE = 0
TIER_UNKNOWN = 1
TIER_NOT_RECOMMENDED = 2


@dataclass(frozen=True)
class Guidance:
    tier: int
    score: float
    recommended: bool
    reason: str  # free | unknown | full | closed


def guidance(distance_m: float, radius_m: float, availability: Availability, open_now: bool) -> Guidance:
    """Tier and score of a lot for a destination (see the module docstring)."""
    proximity = GUIDANCE_DISTANCE_POINTS * (1.0 - min(max(distance_m, 0.0), radius_m) / radius_m)
    if not open_now:
        return Guidance(TIER_NOT_RECOMMENDED, 0.0, False, "closed")
    if availability.known and availability.full:
        return Guidance(TIER_NOT_RECOMMENDED, 0.0, False, "full")
    if availability.known and availability.free:
        share = min(availability.free, GUIDANCE_FREE_SATURATION) / GUIDANCE_FREE_SATURATION
        return Guidance(TIER_KNOWN_FREE, round(proximity + GUIDANCE_AVAILABILITY_POINTS * share, 2), True, "free")
    return Guidance(TIER_UNKNOWN, round(proximity, 2), True, "unknown")


# --- the in-memory record of a lot ---------------------------------------------------------------------


@dataclass(frozen=True)
class LotInfo:
    """What guidance needs of one lot or segment, in memory (WGS-84)."""

    id: str
    code: str
    name: str
    kind: str
    address: str
    lat: float
    lng: float
    capacity: Mapping[str, int]
    total_spaces: int
    hours: OpeningHours
    fee_rule: FeeRule
    source: AvailabilitySource
    spaces: tuple[tuple[str, str], ...]  # (code, space type) of the spaces with detectors
    department_name: str | None

    def has_space_type(self, want: SpaceType | None) -> bool:
        return want is None or self.capacity.get(want.value, 0) > 0
