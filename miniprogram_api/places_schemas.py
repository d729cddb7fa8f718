"""Wire types of the toilet finder and parking (msgspec structs; OpenAPI is generated from them).

Coordinates are ``lat``/``lng`` in the system named by ``coord``; money is integer fen (``*amount_fen``);
instants are RFC 3339 in Asia/Shanghai."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Literal

import msgspec

Coord = Literal["gcj02", "wgs84"]
Source = Literal["redis", "database"]

WALKING_NOTE = "步行距离 = 直线距离 × 1.3（绕行系数），步行时间按 80 米/分钟估算"


class OpeningHoursOut(msgspec.Struct):
    """开放时间 — spans per weekday (``22:00-06:00`` runs past midnight) and the text shown."""

    text: str
    always_open: bool
    weekly: dict[str, list[str]]


class SpecialDayOut(msgspec.Struct):
    date: date
    hours: list[str]  # empty: closed that day


# --- toilets ---------------------------------------------------------------------------------------------


class OdourOut(msgspec.Struct):
    """NH₃/H₂S against GB/T 17217 for the toilet's class; values only from fresh readings."""

    nh3_mg_m3: float | None
    nh3_limit_mg_m3: float
    nh3_ok: bool | None
    h2s_mg_m3: float | None
    h2s_limit_mg_m3: float
    h2s_ok: bool | None
    ok: bool | None


class ToiletLiveOut(msgspec.Struct):
    """实时状态. ``live`` false: nothing fresh — ``stale_since`` says when the last reading stopped being
    live (older than three reporting intervals); stale values are never given (``stale_metrics`` names
    them). ``reported`` false: no device reports on this toilet."""

    live: bool
    reported: bool
    updated_at: datetime | None
    stale_since: datetime | None
    stale_metrics: list[str]
    free_stalls: int | None
    occupied_stalls: int | None
    people_in: int | None
    people_per_hour: int | None
    odour: OdourOut
    temperature_c: float | None
    humidity_pct: float | None
    open: bool | None


class ToiletOut(msgspec.Struct):
    """A toilet found near a point."""

    id: str
    code: str
    name: str
    address: str
    lat: float
    lng: float
    coord: Coord
    level: int
    level_name: str
    open_now: bool
    hours_text: str
    free: bool
    fee_amount_fen: int
    male_stalls: int
    female_stalls: int
    accessible: bool
    accessible_stalls: int
    third_toilet: bool
    baby_care: bool
    live: ToiletLiveOut
    # Last, and in this order: the nearby view renders each toilet's fields before these once and
    # appends these per request (``miniprogram_api/controllers/toilets.py``).
    distance_m: int
    walking_m: int
    walking_min: int


class ToiletList(msgspec.Struct):
    """Nearest first. ``source`` is where positions came from; ``live_available`` false when the live
    status could not be read (every toilet then shows ``live: false``)."""

    items: list[ToiletOut]
    source: Source
    live_available: bool
    walking_note: str


class ToiletDetail(msgspec.Struct):
    id: str
    code: str
    name: str
    address: str
    lat: float
    lng: float
    coord: Coord
    level: int
    level_name: str
    open_now: bool
    opening_hours: OpeningHoursOut
    special_days: list[SpecialDayOut]
    free: bool
    fee_amount_fen: int
    male_stalls: int
    female_stalls: int
    accessible: bool
    accessible_stalls: int
    third_toilet: bool
    baby_care: bool
    department: str | None
    live: ToiletLiveOut
    live_available: bool


ToiletFeedbackType = Literal["卫生状况", "设施损坏", "未按时开放", "异味", "无障碍或第三卫生间不可用", "其他"]
ParkingFeedbackType = Literal["收费争议", "泊位信息不准", "道闸或设备故障", "服务态度", "其他"]
PhotoKeys = Annotated[list[Annotated[str, msgspec.Meta(min_length=1, max_length=300)]], msgspec.Meta(max_length=9)]


class ToiletFeedbackIn(msgspec.Struct, forbid_unknown_fields=True):
    feedback_type: ToiletFeedbackType
    description: Annotated[str, msgspec.Meta(max_length=500)] = ""
    photos: PhotoKeys = msgspec.field(default_factory=list)


class ParkingFeedbackIn(msgspec.Struct, forbid_unknown_fields=True):
    feedback_type: ParkingFeedbackType
    description: Annotated[str, msgspec.Meta(max_length=500)] = ""
    plate: Annotated[str, msgspec.Meta(max_length=20)] | None = None
    photos: PhotoKeys = msgspec.field(default_factory=list)


class FeedbackCreated(msgspec.Struct):
    """The case the feedback became (follow it under /reports)."""

    id: str
    number: str
    category_code: str
    state: str
    status_text: str
    created_at: datetime


# --- parking ---------------------------------------------------------------------------------------------


class AvailabilityOut(msgspec.Struct):
    """余位 from fresh device data only. ``known`` false: no devices, or their data is stale
    (``stale_since``); ``full`` only when fresh data says so."""

    known: bool
    free_spaces: int | None
    full: bool
    updated_at: datetime | None
    stale_since: datetime | None
    free_by_type: dict[str, int]


class GuidanceOut(msgspec.Struct):
    """tier 0 known free, 1 unknown, 2 not recommended (full or closed); score 0–100 within a tier."""

    tier: int
    score: float
    recommended: bool
    reason: Literal["free", "unknown", "full", "closed"]


class FeeBandOut(msgspec.Struct):
    span: str
    label: str
    per_hour_amount_fen: int
    unit_amount_fen: int
    cap_amount_fen: int | None


class FeeRuleOut(msgspec.Struct):
    """收费标准."""

    text: str
    free_of_charge: bool
    unit_minutes: int
    free_minutes: int
    free_mode: Literal["grace", "deduct"]
    bands: list[FeeBandOut]
    daily_cap_amount_fen: int | None
    daily_cap_mode: Literal["calendar_day", "rolling_24h"]
    per_entry_cap_amount_fen: int | None


class LotOut(msgspec.Struct):
    id: str
    code: str
    name: str
    kind: Literal["lot", "street"]
    address: str
    lat: float
    lng: float
    coord: Coord
    open_now: bool
    hours_text: str
    capacity: dict[str, int]
    total_spaces: int
    fee_text: str
    distance_m: int
    walking_m: int
    walking_min: int
    availability: AvailabilityOut
    guidance: GuidanceOut


class LotList(msgspec.Struct):
    """Best first: by ``guidance.tier``, then ``guidance.score``, then distance. ``scoring`` explains it."""

    items: list[LotOut]
    source: Source
    live_available: bool
    scoring: str
    walking_note: str


class LotDetail(msgspec.Struct):
    id: str
    code: str
    name: str
    kind: Literal["lot", "street"]
    address: str
    lat: float
    lng: float
    coord: Coord
    open_now: bool
    opening_hours: OpeningHoursOut
    capacity: dict[str, int]
    total_spaces: int
    fee_rule: FeeRuleOut
    department: str | None
    availability: AvailabilityOut
    live_available: bool


class PlateIn(msgspec.Struct, forbid_unknown_fields=True):
    plate: Annotated[str, msgspec.Meta(min_length=1, max_length=20, description="e.g. 鄂A12345 or 鄂AD12345")]


class PlateOut(msgspec.Struct):
    plate: str
    new_energy: bool
    bound_at: datetime


class PlateList(msgspec.Struct):
    items: list[PlateOut]


class SessionOut(msgspec.Struct):
    """停车记录. ``amount_fen`` is set at exit; while parked, ``amount_so_far_fen`` is what leaving now
    would cost."""

    id: str
    lot_id: str
    lot_name: str
    plate: str
    state: Literal["open", "unpaid", "paid", "settled", "no_exit"]
    entered_at: datetime
    exited_at: datetime | None
    stay_minutes: int
    amount_fen: int | None
    amount_so_far_fen: int | None
    free_reason: str | None
    caps_applied: list[str]
    paid_at: datetime | None
    receipt_id: str | None


class SessionPage(msgspec.Struct):
    items: list[SessionOut]
    next_cursor: str | None


class PayIn(msgspec.Struct, forbid_unknown_fields=True):
    channel: Literal["wechat", "alipay"] = "wechat"


class ReceiptOut(msgspec.Struct):
    """停车缴费凭证."""

    id: str
    number: str
    session_id: str
    plate: str
    lot_name: str
    entered_at: datetime
    exited_at: datetime
    amount_fen: int
    channel: str
    transaction_id: str
    paid_at: datetime


class ReceiptPage(msgspec.Struct):
    items: list[ReceiptOut]
    next_cursor: str | None


class PaymentOut(msgspec.Struct):
    """A payment of a session. ``state`` pending: call ``wx.requestPayment`` / ``my.tradePay`` with
    ``client_params``; paid: ``receipt`` is there."""

    payment_id: str
    out_trade_no: str
    state: Literal["pending", "paid", "closed"]
    amount_fen: int
    channel: str
    client_params: dict[str, str]
    session_state: str
    receipt: ReceiptOut | None
