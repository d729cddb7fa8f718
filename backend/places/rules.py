"""Pure rules shared by the places citizens look for (公厕, 停车场): opening hours and walking estimates.

Opening hours (开放时间)
------------------------

Spans per weekday, plus special days (节假日/临时调整) that replace a date's spans. A span is
``HH:MM-HH:MM`` in Asia/Shanghai; an end at or before its start runs past midnight (``22:00-06:00``
opens at 22:00 and closes at 06:00 the next morning), ``00:00-24:00`` is the whole day. A span belongs
to the day it *opens*: an overnight span of Sunday still runs into Monday morning, even when Monday is
a special day — a special day only decides what opens on that date.

Stored as JSON::

    {"weekly": {"mon": ["06:00-22:00"], "sat": ["07:00-12:00", "14:00-23:00"], "sun": ["22:00-06:00"]},
     "special": {"2026-10-01": ["08:00-20:00"], "2026-12-24": []}}

A weekday missing from ``weekly`` is closed; ``[]`` on a special day is closed all day. Imports may use
a text form: ``mon-fri 06:00-22:00; sat,sun 07:00-23:00`` (``daily``, ``24h`` and ``closed`` too), and
``2026-10-01 08:00-20:00; 2026-12-24 closed`` for special days.

Walking estimate (步行距离/时间)
--------------------------------

Straight-line (haversine) distance × 1.3 — the usual detour factor of a street grid — rounded to the
metre, and minutes at 80 m/min (4.8 km/h, an unhurried walk), rounded up. It is an estimate for sorting
and for showing "约 6 分钟", not a route.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any, NamedTuple

from backend.errors import ValidationFailed
from backend.worktime import SHANGHAI

WALK_DETOUR_FACTOR = 1.3
WALK_SPEED_M_PER_MIN = 80.0

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
WEEKDAY_NAMES = ("周一", "周二", "周三", "周四", "周五", "周六", "周日")
DAY_MINUTES = 24 * 60

_SPAN = re.compile(r"^(\d{1,2}):(\d{2})\s*[-–~]\s*(\d{1,2}):(\d{2})$")


class InvalidHours(ValidationFailed):
    code = "invalid_opening_hours"


class Walk(NamedTuple):
    """步行估算 — metres along streets and minutes on foot."""

    metres: int
    minutes: int


def walking(distance_m: float) -> Walk:
    """The walking estimate for a straight-line distance (see the module docstring)."""
    metres = round(max(distance_m, 0.0) * WALK_DETOUR_FACTOR)
    return Walk(metres, math.ceil(metres / WALK_SPEED_M_PER_MIN))


# --- opening hours -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Span:
    """One opening span in minutes after local midnight; ``end <= start`` runs past midnight."""

    start: int
    end: int

    @property
    def overnight(self) -> bool:
        return self.end <= self.start

    def text(self) -> str:
        return f"{self.start // 60:02d}:{self.start % 60:02d}-{self.end // 60:02d}:{self.end % 60:02d}"


def parse_span(text: str) -> Span:
    m = _SPAN.match(text.strip())
    if m is None:
        raise InvalidHours(f"an opening span is HH:MM-HH:MM, got {text!r}")
    h1, m1, h2, m2 = (int(g) for g in m.groups())
    if h1 > 23 or m1 > 59 or m2 > 59 or h2 > 24 or (h2 == 24 and m2 != 0):
        raise InvalidHours(f"not a time of day in {text!r}")
    start, end = h1 * 60 + m1, h2 * 60 + m2
    if end == 0:
        end = DAY_MINUTES  # "22:00-00:00" closes at midnight
    if start == end:
        raise InvalidHours(f"{text!r} opens and closes at the same time; use 00:00-24:00 for all day")
    return Span(start, end)


def _spans(items: Any, where: str) -> tuple[Span, ...]:
    if not isinstance(items, list) or not all(isinstance(i, str) for i in items):
        raise InvalidHours(f"{where}: a list of 'HH:MM-HH:MM' spans")
    return tuple(parse_span(i) for i in items)


def _sorted(spans: Iterable[Span]) -> tuple[Span, ...]:
    return tuple(sorted(spans, key=lambda s: (s.start, s.end)))


@dataclass(frozen=True)
class OpeningHours:
    """开放时间 — weekly spans (Monday first) and special days that replace a date's spans."""

    weekly: tuple[tuple[Span, ...], ...]
    special: Mapping[date, tuple[Span, ...]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if len(self.weekly) != 7:
            raise InvalidHours("weekly hours need seven days")

    # -- reading ----------------------------------------------------------------------------------

    @classmethod
    def from_json(cls, data: Mapping[str, Any] | None) -> OpeningHours:
        """From the stored JSON; ``None`` or ``{}`` is open around the clock."""
        if not data:
            return ALWAYS_OPEN
        if not isinstance(data, Mapping):
            raise InvalidHours("opening hours are an object with 'weekly' and 'special'")
        unknown = set(data) - {"weekly", "special"}
        if unknown:
            raise InvalidHours(f"unknown keys in opening hours: {sorted(unknown)}")
        weekly_raw = data.get("weekly") or {}
        if not isinstance(weekly_raw, Mapping) or set(weekly_raw) - set(WEEKDAYS):
            raise InvalidHours(f"'weekly' maps weekdays {', '.join(WEEKDAYS)} to spans")
        weekly = tuple(_sorted(_spans(weekly_raw.get(d, []), d)) for d in WEEKDAYS)
        special_raw = data.get("special") or {}
        if not isinstance(special_raw, Mapping):
            raise InvalidHours("'special' maps dates (YYYY-MM-DD) to spans")
        special: dict[date, tuple[Span, ...]] = {}
        for key, items in special_raw.items():
            try:
                day = date.fromisoformat(str(key))
            except ValueError:
                raise InvalidHours(f"special day {key!r} is not a date (YYYY-MM-DD)") from None
            special[day] = _sorted(_spans(items, str(key)))
        return cls(weekly, special)

    @classmethod
    def parse_text(cls, weekly_text: str, special_text: str = "") -> OpeningHours:
        """From the text form of imports (see the module docstring)."""
        weekly: list[list[Span]] = [[] for _ in WEEKDAYS]
        text = weekly_text.strip()
        if not text or text.lower() in {"24h", "24小时", "全天"}:
            weekly = [[Span(0, DAY_MINUTES)] for _ in WEEKDAYS]
        else:
            for part in filter(None, (p.strip() for p in re.split(r"[;；\n]", text))):
                days_text, _, spans_text = part.partition(" ")
                days = _days(days_text)
                spans_text = spans_text.strip()
                if spans_text.lower() in {"closed", "休息", "关闭"}:
                    for d in days:
                        weekly[d] = []
                    continue
                if spans_text.lower() in {"24h", "全天"}:
                    spans = [Span(0, DAY_MINUTES)]
                else:
                    spans = [parse_span(s) for s in re.split(r"[,，]", spans_text) if s.strip()]
                if not spans:
                    raise InvalidHours(f"no spans in {part!r}")
                for d in days:
                    weekly[d] = weekly[d] + spans
        special: dict[date, tuple[Span, ...]] = {}
        for part in filter(None, (p.strip() for p in re.split(r"[;；\n]", special_text or ""))):
            day_text, _, spans_text = part.partition(" ")
            try:
                day = date.fromisoformat(day_text.strip())
            except ValueError:
                raise InvalidHours(f"special day {day_text!r} is not a date (YYYY-MM-DD)") from None
            spans_text = spans_text.strip()
            if spans_text.lower() in {"closed", "休息", "关闭", ""}:
                special[day] = ()
            elif spans_text.lower() in {"24h", "全天"}:
                special[day] = (Span(0, DAY_MINUTES),)
            else:
                special[day] = _sorted(parse_span(s) for s in re.split(r"[,，]", spans_text) if s.strip())
        return cls(tuple(_sorted(w) for w in weekly), special)

    def to_json(self) -> dict[str, Any]:
        return {
            "weekly": {d: [s.text() for s in spans] for d, spans in zip(WEEKDAYS, self.weekly, strict=True) if spans},
            "special": {day.isoformat(): [s.text() for s in spans] for day, spans in sorted(self.special.items())},
        }

    # -- asking -----------------------------------------------------------------------------------

    def spans_on(self, day: date) -> tuple[Span, ...]:
        """The spans that open on ``day`` (its special entry if it has one)."""
        special = self.special.get(day)
        return special if special is not None else self.weekly[day.weekday()]

    def is_open(self, at: datetime) -> bool:
        """Open at the instant ``at`` (any time zone; judged in Asia/Shanghai)."""
        return self.is_open_local(at.astimezone(SHANGHAI))

    def is_open_local(self, local: datetime) -> bool:
        """``is_open`` of a time already in Asia/Shanghai (a search judges many places at one instant)."""
        minute = local.hour * 60 + local.minute
        today = local.date()
        for span in self.spans_on(today):
            if span.overnight:
                if minute >= span.start:
                    return True
            elif span.start <= minute < span.end:
                return True
        return any(span.overnight and minute < span.end for span in self.spans_on(today - timedelta(days=1)))

    @property
    def always_open(self) -> bool:
        return not self.special and all(spans == (Span(0, DAY_MINUTES),) for spans in self.weekly)

    def describe(self) -> str:
        """A short Chinese text of the weekly hours: ``周一至周五 06:00-22:00；周六、周日 07:00-23:00``."""
        if self.always_open:
            return "24小时开放"
        groups: list[tuple[list[int], tuple[Span, ...]]] = []
        for index, spans in enumerate(self.weekly):
            if groups and groups[-1][1] == spans and groups[-1][0][-1] == index - 1:
                groups[-1][0].append(index)
            else:
                groups.append(([index], spans))
        parts = []
        for days, spans in groups:
            if len(days) == 7:
                label = "每天"
            elif len(days) >= 3:
                label = f"{WEEKDAY_NAMES[days[0]]}至{WEEKDAY_NAMES[days[-1]]}"
            else:
                label = "、".join(WEEKDAY_NAMES[d] for d in days)
            parts.append(f"{label} {'、'.join(s.text() for s in spans) if spans else '不开放'}")
        return "；".join(parts)


def _days(text: str) -> list[int]:
    text = text.strip().lower()
    if text in {"daily", "every", "每天", "all"}:
        return list(range(7))
    days: list[int] = []
    for part in text.split(","):
        first, sep, last = part.partition("-")
        if first not in WEEKDAYS or (sep and last not in WEEKDAYS):
            raise InvalidHours(f"days are mon … sun, ranges like mon-fri, or daily; got {part!r}")
        a = WEEKDAYS.index(first)
        b = WEEKDAYS.index(last) if sep else a
        days += list(range(a, b + 1)) if a <= b else [*range(a, 7), *range(0, b + 1)]
    return days


ALWAYS_OPEN = OpeningHours(tuple((Span(0, DAY_MINUTES),) for _ in WEEKDAYS))
