"""Pure rules of the notification service: quiet hours, retry backoff, channel choice, masking.

No I/O here, so each is a plain function with table-driven tests (tests/unit/test_push_rules.py).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

SHANGHAI = ZoneInfo("Asia/Shanghai")

MAX_ATTEMPTS = 6
BASE_DELAY = timedelta(seconds=15)
MAX_DELAY = timedelta(hours=1)


def quiet_until(now: datetime, quiet_hours: tuple[time, time] | None, tz: ZoneInfo = SHANGHAI) -> datetime | None:
    """When the quiet period that ``now`` falls in ends (in UTC), or None when ``now`` is not quiet.

    ``quiet_hours`` is (start, end) in local time; a period that wraps midnight (22:00-07:00) is
    quiet from ``start`` up to but excluding ``end`` the next morning.
    """
    if quiet_hours is None:
        return None
    start, end = quiet_hours
    local = now.astimezone(tz)
    clock = local.time().replace(tzinfo=None)
    if start < end:
        quiet = start <= clock < end
        end_day = local.date()
    else:
        quiet = clock >= start or clock < end
        end_day = local.date() + timedelta(days=1) if clock >= start else local.date()
    if not quiet:
        return None
    return datetime.combine(end_day, end, tzinfo=tz).astimezone(UTC)


def retry_delay(attempt: int, retry_after: float | None = None) -> timedelta:
    """Wait before attempt ``attempt + 1``: 15 s, 1 min, 4 min, 16 min, 1 h … — never less than the
    provider asked for (a rate limit's ``retry_after``)."""
    delay = min(BASE_DELAY * 4 ** max(attempt - 1, 0), MAX_DELAY)
    if retry_after is not None:
        delay = max(delay, timedelta(seconds=retry_after))
    return delay


def choose_channels(
    event: str,
    defaults: Iterable[str],
    allowed: Iterable[str],
    preferences: Mapping[tuple[str, str], bool],
    *,
    locked: Iterable[str] = (),
) -> list[str]:
    """The channels an event goes out on for one recipient.

    ``defaults`` are on unless the recipient switched them off; ``allowed`` (a superset of the
    defaults) may be switched on; ``locked`` channels cannot be switched off (a gas-leak alarm on the
    duty console). ``preferences`` maps (event or ``*``, channel) → on/off; the event's own row wins.
    """
    default_set, locked_set = set(defaults), set(locked)
    chosen = []
    for channel in dict.fromkeys([*defaults, *allowed]):
        enabled = channel in default_set
        for key in (("*", channel), (event, channel)):
            if key in preferences:
                enabled = preferences[key]
        if enabled or channel in locked_set:
            chosen.append(channel)
    return chosen


_MOBILE = re.compile(r"(?<!\d)(\+?86)?(1[3-9]\d)(\d{4})(\d{4})(?!\d)")


def mask_phone(phone: str | None) -> str:
    """138****0000: enough to tell numbers apart in a log, not enough to call."""
    if not phone:
        return "-"
    value = phone.strip()
    if len(value) >= 11:
        return f"{value[:-8]}****{value[-4:]}"
    return f"****{value[-2:]}" if len(value) > 4 else "****"


def mask_openid(openid: str | None) -> str:
    """An openid identifies a person to WeChat; logs keep its ends only."""
    if not openid:
        return "-"
    return f"{openid[:4]}…{openid[-4:]}" if len(openid) > 10 else "****"


def mask_text(text: str) -> str:
    """Mask every mainland mobile number inside free text (a last line of defence for log lines)."""
    return _MOBILE.sub(lambda m: f"{m.group(1) or ''}{m.group(2)}****{m.group(4)}", text)


class MaskPhonesFilter(logging.Filter):
    """Rewrites a record's message with phone numbers masked, before any handler sees it."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        masked = mask_text(message)
        if masked != message:
            record.msg, record.args = masked, None
        return True


def push_logger(name: str = "chengguan.push") -> logging.Logger:
    logger = logging.getLogger(name)
    if not any(isinstance(f, MaskPhonesFilter) for f in logger.filters):
        logger.addFilter(MaskPhonesFilter())
    return logger
