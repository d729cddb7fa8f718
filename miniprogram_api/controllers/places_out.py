"""Output helpers shared by the toilet and parking controllers: positions in the caller's datum,
opening hours, live status, availability and fee rules as wire structs."""

from __future__ import annotations

from datetime import datetime
from functools import lru_cache

from backend.cases.service import IntakeResult
from backend.citizens.rules import status_text
from backend.geo import CoordSystem, from_wgs84
from backend.parking.rules import Availability, FeeRule, Guidance
from backend.places.rules import WEEKDAYS, OpeningHours
from backend.toilets.rules import ToiletLive
from miniprogram_api.controllers._common import local
from miniprogram_api.places_schemas import (
    AvailabilityOut,
    FeeBandOut,
    FeedbackCreated,
    FeeRuleOut,
    GuidanceOut,
    OdourOut,
    OpeningHoursOut,
    SpecialDayOut,
    ToiletLiveOut,
)


@lru_cache(maxsize=65536)
def position(lat: float, lng: float, coord: str) -> tuple[float, float]:
    """A stored WGS-84 position in the caller's datum (places do not move often: cached)."""
    out = from_wgs84(lat, lng, CoordSystem(coord))
    return round(out.lat, 7), round(out.lng, 7)


def maybe_local(at: datetime | None) -> datetime | None:
    return local(at) if at is not None else None


def hours_out(hours: OpeningHours) -> OpeningHoursOut:
    return OpeningHoursOut(
        text=hours.describe(),
        always_open=hours.always_open,
        weekly={day: [s.text() for s in spans] for day, spans in zip(WEEKDAYS, hours.weekly, strict=True)},
    )


def special_days_out(hours: OpeningHours, today: datetime) -> list[SpecialDayOut]:
    start = local(today).date()
    return [
        SpecialDayOut(date=day, hours=[s.text() for s in spans])
        for day, spans in sorted(hours.special.items())
        if day >= start
    ]


def toilet_live_out(status: ToiletLive) -> ToiletLiveOut:
    o = status.odour
    return ToiletLiveOut(
        live=status.live,
        reported=status.reported,
        updated_at=maybe_local(status.updated_at),
        stale_since=maybe_local(status.stale_since),
        stale_metrics=list(status.stale_metrics),
        free_stalls=status.free_stalls,
        occupied_stalls=status.occupied_stalls,
        people_in=status.people_in,
        people_per_hour=status.people_per_hour,
        odour=OdourOut(
            nh3_mg_m3=o.nh3,
            nh3_limit_mg_m3=o.nh3_limit,
            nh3_ok=o.nh3_ok,
            h2s_mg_m3=o.h2s,
            h2s_limit_mg_m3=o.h2s_limit,
            h2s_ok=o.h2s_ok,
            ok=o.ok,
        ),
        temperature_c=status.temperature_c,
        humidity_pct=status.humidity_pct,
        open=status.open,
    )


_live_outs: dict[int, tuple[ToiletLive, ToiletLiveOut]] = {}


def cached_live_out(status: ToiletLive) -> ToiletLiveOut:
    """``toilet_live_out`` of a status object the service reuses (its live cache): built once."""
    hit = _live_outs.get(id(status))
    if hit is not None and hit[0] is status:
        return hit[1]
    if len(_live_outs) > 50_000:
        _live_outs.clear()
    out = toilet_live_out(status)
    _live_outs[id(status)] = (status, out)
    return out


def availability_out(a: Availability) -> AvailabilityOut:
    return AvailabilityOut(
        known=a.known,
        free_spaces=a.free,
        full=a.full,
        updated_at=maybe_local(a.updated_at),
        stale_since=maybe_local(a.stale_since),
        free_by_type=dict(a.free_by_type),
    )


def guidance_out(g: Guidance) -> GuidanceOut:
    return GuidanceOut(tier=g.tier, score=g.score, recommended=g.recommended, reason=g.reason)  # type: ignore[arg-type]


def fee_rule_out(rule: FeeRule) -> FeeRuleOut:
    return FeeRuleOut(
        text=rule.describe(),
        free_of_charge=rule.free_of_charge,
        unit_minutes=rule.unit_minutes,
        free_minutes=rule.free_minutes,
        free_mode=rule.free_mode.value,  # type: ignore[arg-type]
        bands=[
            FeeBandOut(
                span=b.span.text(),
                label=b.label,
                per_hour_amount_fen=b.per_hour_fen,
                unit_amount_fen=rule.unit_price(b),
                cap_amount_fen=b.cap_fen,
            )
            for b in rule.bands
        ],
        daily_cap_amount_fen=rule.daily_cap_fen,
        daily_cap_mode=rule.daily_cap_mode.value,  # type: ignore[arg-type]
        per_entry_cap_amount_fen=rule.per_entry_cap_fen,
    )


def feedback_out(result: IntakeResult) -> FeedbackCreated:
    case = result.case
    return FeedbackCreated(
        id=str(case.id),
        number=case.number,
        category_code=case.category_code,
        state=case.state,
        status_text=status_text(case.state),
        created_at=local(case.created_at),
    )
