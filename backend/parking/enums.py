"""Named values of parking (stored as strings, so a new value needs no migration)."""

from __future__ import annotations

from enum import StrEnum


class LotKind(StrEnum):
    """停车场 (off-street lot with gates) or 路内泊位段 (an on-street segment of marked spaces)."""

    LOT = "lot"
    STREET = "street"


class SpaceType(StrEnum):
    """泊位类型."""

    NORMAL = "normal"  # 普通
    DISABLED = "disabled"  # 无障碍
    CHARGING = "charging"  # 充电
    LARGE = "large"  # 大型车
    MOTORCYCLE = "motorcycle"  # 摩托车/非机动车


class AvailabilitySource(StrEnum):
    """Where a lot's free spaces come from: its gates' count (``parking_gate`` devices report
    ``free_spaces``), a detector per space (``parking_detector``, ``occupied``), or nowhere."""

    GATE = "gate"
    DETECTORS = "detectors"
    NONE = "none"


class GateDirection(StrEnum):
    IN = "in"
    OUT = "out"


class SessionState(StrEnum):
    """停车记录状态.

    open ──exit──> unpaid ──pay──> paid
    open ──exit (nothing to pay: free minutes, a pass)──> settled
    open ──entry again without an exit──> no_exit (the exit was missed; left to staff, never billed)
    """

    OPEN = "open"
    UNPAID = "unpaid"
    PAID = "paid"
    SETTLED = "settled"
    NO_EXIT = "no_exit"


class GateOutcome(StrEnum):
    """What a gate event did."""

    OPENED = "opened"  # a new session
    REOPENED = "reopened"  # a new session; the previous one had no exit
    CLOSED = "closed"  # the session ended, the fee is set
    UNMATCHED_EXIT = "unmatched_exit"  # an exit without an open session (recorded, nothing else)
    DUPLICATE = "duplicate"  # the same event again


class FreeMinutesMode(StrEnum):
    """How free minutes (免费时长) work: ``grace`` — a stay within them is free, a longer one pays
    from entry; ``deduct`` — the first minutes of every stay are free."""

    GRACE = "grace"
    DEDUCT = "deduct"


class DailyCapMode(StrEnum):
    """What a daily cap (每日封顶) counts: the calendar day (Asia/Shanghai) or each 24 h from entry."""

    CALENDAR_DAY = "calendar_day"
    ROLLING_24H = "rolling_24h"


class PaymentChannel(StrEnum):
    WECHAT = "wechat"
    ALIPAY = "alipay"


class PaymentState(StrEnum):
    PENDING = "pending"
    PAID = "paid"
    CLOSED = "closed"
