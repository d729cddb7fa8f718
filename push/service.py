"""The notification service: ``notify`` inside the caller's transaction, ``deliver`` in the job.

``notify(session, event, recipients, data, dedup_key)`` renders the event's template, picks each
recipient's channels (template defaults + their preferences), and writes one ``Notification`` and one
``push.deliver`` outbox message per recipient and channel — in the caller's transaction, so a rolled-back
case transition notifies nobody, and a committed one is delivered after commit by the worker.
``(dedup_key, recipient, channel)`` is unique: an event handled twice notifies once.

``deliver`` runs in the job: quiet hours (non-urgent staff messages wait for the morning), the
recipient's current preferences, then the channel's provider. A transient failure schedules another
``push.deliver`` with backoff (``rules.retry_delay``) until ``rules.MAX_ATTEMPTS``, then the notification
is dead; a permanent failure is dead at once; a missing subscription grant is *suppressed*.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from backend.errors import ValidationFailed
from backend.models import Notification, NotificationPreference, Staff, WeChatSubscribeGrant
from backend.outbox import publish
from backend.settings import PushSettings
from push.enums import FINAL_STATUSES, Channel, RecipientKind, Status
from push.providers import DeliveryError, Providers, Sent, Suppressed, get_push_settings
from push.providers.wechat import dev_template_id
from push.rules import MAX_ATTEMPTS, choose_channels, mask_openid, mask_phone, push_logger, quiet_until, retry_delay
from push.templates import TEMPLATES, Template, get_template

log = push_logger("chengguan.push")

DELIVER_TOPIC = "push.deliver"
NOTIFY_TOPIC = "push.notify"
WILDCARD = "*"


@dataclass(frozen=True)
class Recipient:
    """Who a notification is for. Staff by id (their phone comes from the staff record); a citizen by
    citizen id (or openid), with the openid WeChat messages go to and the phone number they gave, if any."""

    kind: RecipientKind
    id: str
    openid: str | None = None
    phone: str | None = None

    @classmethod
    def staff(cls, staff_id: uuid.UUID | str) -> Recipient:
        return cls(RecipientKind.STAFF, str(staff_id))

    @classmethod
    def citizen(cls, openid: str | None, phone: str | None = None, *, citizen_id: str | None = None) -> Recipient:
        key = citizen_id or openid or phone
        if not key:
            raise ValidationFailed("a citizen recipient needs an openid or a phone number", code="recipient_invalid")
        return cls(RecipientKind.CITIZEN, key, openid=openid, phone=phone)

    def to_json(self) -> dict[str, Any]:
        return {"kind": str(self.kind), "id": self.id, "openid": self.openid, "phone": self.phone}

    @classmethod
    def from_json(cls, raw: Mapping[str, Any]) -> Recipient:
        return cls(RecipientKind(raw["kind"]), str(raw["id"]), raw.get("openid"), raw.get("phone"))


def _jsonable(data: Mapping[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in data.items():
        if isinstance(value, datetime):
            out[key] = value.isoformat()
        elif isinstance(value, uuid.UUID):
            out[key] = str(value)
        else:
            out[key] = value
    return out


async def _preferences(
    session: AsyncSession, recipients: Iterable[Recipient], event: str
) -> dict[tuple[str, str], dict[tuple[str, str], bool]]:
    keys = {(str(r.kind), r.id) for r in recipients}
    if not keys:
        return {}
    rows = await session.execute(
        select(
            NotificationPreference.recipient_kind,
            NotificationPreference.recipient_id,
            NotificationPreference.event,
            NotificationPreference.channel,
            NotificationPreference.enabled,
        ).where(
            NotificationPreference.recipient_id.in_([k[1] for k in keys]),
            NotificationPreference.event.in_([event, WILDCARD]),
        )
    )
    prefs: dict[tuple[str, str], dict[tuple[str, str], bool]] = {}
    for kind, rid, ev, channel, enabled in rows:
        if (kind, rid) in keys:
            prefs.setdefault((kind, rid), {})[(ev, channel)] = enabled
    return prefs


def _address(recipient: Recipient, channel: Channel, staff: Mapping[str, Staff]) -> str | None:
    if recipient.kind == RecipientKind.CITIZEN:
        return {Channel.WECHAT: recipient.openid, Channel.SMS: recipient.phone}.get(channel)
    member = staff.get(recipient.id)
    if member is None:
        return None
    if channel in (Channel.INBOX, Channel.CONSOLE):
        return str(member.id)
    if channel == Channel.SMS:
        return recipient.phone or member.phone
    return None


async def notify(
    session: AsyncSession,
    event: str,
    recipients: Sequence[Recipient],
    data: Mapping[str, Any],
    dedup_key: str,
    *,
    urgent: bool | None = None,
    now: datetime | None = None,
    settings: PushSettings | None = None,
) -> list[uuid.UUID]:
    """Promise ``event`` to ``recipients``: one notification + one outbox message per recipient and
    channel, in the caller's transaction. Returns the ids of the notifications created now (none for
    a ``dedup_key`` seen before). ``urgent`` overrides the template's (urgent ignores quiet hours)."""
    template = get_template(event)
    if not dedup_key or len(dedup_key) > 200:
        raise ValidationFailed("dedup_key must be 1-200 characters", code="dedup_key_invalid")
    title, body = template.render(data)
    payload = _jsonable(data)
    is_urgent = template.urgent if urgent is None else urgent
    now = now or datetime.now(UTC)
    quiet = (settings or get_push_settings()).quiet_hours
    unique = list({(r.kind, r.id): r for r in recipients}.values())
    staff = await _staff_of(session, unique)
    prefs = await _preferences(session, unique, event)

    created: list[uuid.UUID] = []
    for recipient in unique:
        mine = prefs.get((str(recipient.kind), recipient.id), {})
        channels = choose_channels(event, template.channels, template.allowed, mine, locked=template.locked)
        for channel in map(Channel, channels):
            address = _address(recipient, channel, staff)
            if address is None:
                continue
            until = quiet_until(now, quiet) if recipient.kind == RecipientKind.STAFF and not is_urgent else None
            notification_id = await session.scalar(
                insert(Notification)
                .values(
                    event=event,
                    channel=channel,
                    recipient_kind=recipient.kind,
                    recipient_id=recipient.id,
                    address=address,
                    title=title,
                    body=body,
                    data=payload,
                    urgent=is_urgent,
                    dedup_key=dedup_key,
                    status=Status.PENDING,
                    scheduled_for=until,
                )
                .on_conflict_do_nothing(index_elements=["dedup_key", "recipient_kind", "recipient_id", "channel"])
                .returning(Notification.id)
            )
            if notification_id is None:
                continue  # this event already reached this recipient on this channel
            await publish(
                session,
                DELIVER_TOPIC,
                {"notification_id": str(notification_id)},
                dedup_key=f"{DELIVER_TOPIC}:{notification_id}:first",
                delay=(until - now) if until else None,
            )
            created.append(notification_id)
    return created


async def notify_later(
    session: AsyncSession,
    event: str,
    recipients: Sequence[Recipient],
    data: Mapping[str, Any],
    dedup_key: str,
    *,
    urgent: bool | None = None,
) -> bool:
    """The same promise as ``notify`` through the outbox topic ``push.notify`` — for code in ``backend/``,
    which may not import ``push``: ``publish(session, "push.notify", payload, dedup_key=…)`` with this payload."""
    get_template(event).render(data)  # fail now, in the caller's transaction, not later in a job
    payload = notify_payload(event, recipients, data, dedup_key, urgent=urgent)
    return await publish(session, NOTIFY_TOPIC, payload, dedup_key=f"{NOTIFY_TOPIC}:{dedup_key}")


def notify_payload(
    event: str, recipients: Sequence[Recipient], data: Mapping[str, Any], dedup_key: str, *, urgent: bool | None = None
) -> dict[str, Any]:
    return {
        "event": event,
        "recipients": [r.to_json() for r in recipients],
        "data": _jsonable(data),
        "dedup_key": dedup_key,
        "urgent": urgent,
    }


async def _staff_of(session: AsyncSession, recipients: Iterable[Recipient]) -> dict[str, Staff]:
    ids = []
    for r in recipients:
        if r.kind == RecipientKind.STAFF:
            try:
                ids.append(uuid.UUID(r.id))
            except ValueError:
                raise ValidationFailed(f"not a staff id: {r.id!r}", code="recipient_invalid") from None
    if not ids:
        return {}
    rows = await session.scalars(select(Staff).where(Staff.id.in_(ids), Staff.active.is_(True)))
    return {str(s.id): s for s in rows}


def _masked(notification: Notification) -> str:
    if notification.channel == Channel.SMS:
        return mask_phone(notification.address)
    if notification.channel == Channel.WECHAT:
        return mask_openid(notification.address)
    return notification.address


async def _schedule(session: AsyncSession, notification: Notification, delay: timedelta, key: str) -> None:
    await publish(
        session,
        DELIVER_TOPIC,
        {"notification_id": str(notification.id)},
        dedup_key=f"{DELIVER_TOPIC}:{notification.id}:{key}",
        delay=delay,
    )


async def _still_wanted(session: AsyncSession, notification: Notification) -> bool:
    """The recipient may have switched the channel off since the event (a message deferred overnight)."""
    template = get_template(notification.event)
    prefs = await _preferences(
        session, [Recipient(RecipientKind(notification.recipient_kind), notification.recipient_id)], notification.event
    )
    mine = prefs.get((notification.recipient_kind, notification.recipient_id), {})
    chosen = choose_channels(notification.event, template.channels, template.allowed, mine, locked=template.locked)
    return notification.channel in chosen


async def deliver(
    session: AsyncSession,
    notification_id: uuid.UUID,
    providers: Providers,
    *,
    now: datetime | None = None,
    settings: PushSettings | None = None,
) -> str:
    """Carry out one notification (in the job's transaction). Returns what happened: sent, suppressed,
    deferred, retry, dead, missing or already_<status> — the last when a job runs twice."""
    now = now or datetime.now(UTC)
    notification = await session.scalar(
        select(Notification)
        .where(Notification.id == notification_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    if notification is None:
        return "missing"
    if notification.status in FINAL_STATUSES:
        return f"already_{notification.status}"
    who = f"{notification.event} #{notification.id} via {notification.channel} to {_masked(notification)}"

    quiet = (settings or get_push_settings()).quiet_hours
    if notification.recipient_kind == RecipientKind.STAFF and not notification.urgent:
        until = quiet_until(now, quiet)
        if until is not None:
            notification.scheduled_for = until
            await _schedule(session, notification, until - now, f"quiet:{until.isoformat()}")
            log.info("%s deferred past quiet hours to %s", who, until.isoformat())
            return "deferred"

    if not await _still_wanted(session, notification):
        notification.status = Status.SUPPRESSED
        notification.last_error = "switched_off"
        return "suppressed"

    provider = providers.get(Channel(notification.channel))
    notification.attempts += 1
    error: DeliveryError | None = None
    try:
        if provider is None:
            raise DeliveryError(f"no provider for channel {notification.channel!r}")
        async with session.begin_nested():  # a provider's failed writes roll back; the status below stays
            outcome = await provider.send(session, notification, now)
    except DeliveryError as exc:
        error = exc
    except Exception as exc:  # a bug or an unexpected reply: retried like any failure, and recorded
        log.exception("%s: provider raised", who)
        error = DeliveryError(f"{type(exc).__name__}: {exc}")

    if error is None:
        if isinstance(outcome, Sent):
            notification.status = Status.SENT
            notification.sent_at = now
            notification.provider_message_id = outcome.provider_message_id
            notification.template = outcome.template
            notification.last_error = None
            notification.scheduled_for = None
            log.info("%s sent", who)
            return "sent"
        assert isinstance(outcome, Suppressed)
        notification.status = Status.SUPPRESSED
        notification.template = outcome.template
        notification.last_error = outcome.reason
        log.info("%s suppressed: %s", who, outcome.reason)
        return "suppressed"

    notification.last_error = str(error)[:2000]
    if not error.retryable or notification.attempts >= MAX_ATTEMPTS:
        notification.status = Status.DEAD
        notification.scheduled_for = None
        log.warning("%s dead after %d attempt(s): %s", who, notification.attempts, error)
        return "dead"
    delay = retry_delay(notification.attempts, error.retry_after)
    notification.status = Status.FAILED
    notification.scheduled_for = now + delay
    await _schedule(session, notification, delay, f"retry:{notification.attempts}")
    log.warning("%s failed (attempt %d), retrying in %ss: %s", who, notification.attempts, delay.total_seconds(), error)
    return "retry"


# --- WeChat subscription grants (recorded from the mini-program) -------------------------------------


def subscribe_template_ids(settings: PushSettings, *, dev: bool) -> dict[str, str]:
    """Event → the subscribe-message template id the mini-program asks the citizen about."""
    ids = {event: settings.wechat_templates[event] for event in TEMPLATES if event in settings.wechat_templates}
    if dev:
        for event, template in TEMPLATES.items():
            if template.wechat_fields:
                ids.setdefault(event, dev_template_id(event))
    return ids


async def record_subscriptions(
    session: AsyncSession,
    openid: str,
    results: Mapping[str, str],
    *,
    known_template_ids: Iterable[str],
    long_term: bool = False,
    now: datetime | None = None,
) -> dict[str, int]:
    """Record what ``wx.requestSubscribeMessage`` answered: ``{template_id: "accept" | "reject" | "ban" |
    "filter"}``. Each accept allows one more message (一次性订阅); a ban clears the template's grant;
    unknown template ids are ignored. Returns template id → messages now allowed."""
    now = now or datetime.now(UTC)
    known = set(known_template_ids)
    remaining: dict[str, int] = {}
    for template_id, answer in results.items():
        if template_id not in known:
            continue
        if answer == "accept":
            accept = insert(WeChatSubscribeGrant).values(
                openid=openid, template_id=template_id, remaining=1, long_term=long_term, last_granted_at=now
            )
            upsert = accept.on_conflict_do_update(
                index_elements=["openid", "template_id"],
                set_={
                    "remaining": WeChatSubscribeGrant.remaining + 1,
                    "long_term": WeChatSubscribeGrant.long_term | accept.excluded.long_term,
                    "last_granted_at": now,
                    "refused_at": None,
                },
            ).returning(WeChatSubscribeGrant.remaining)
            remaining[template_id] = int((await session.execute(upsert)).scalar_one())
        elif answer == "ban":
            grant = await session.get(WeChatSubscribeGrant, (openid, template_id))
            if grant is not None:
                grant.remaining, grant.long_term, grant.refused_at = 0, False, now
            remaining[template_id] = 0
    await session.flush()
    return remaining


# --- preferences --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PreferenceView:
    event: str
    label: str
    channel: str
    enabled: bool
    locked: bool


def _templates_for(kind: RecipientKind) -> list[Template]:
    return [t for t in TEMPLATES.values() if t.audience == kind]


async def preferences(session: AsyncSession, kind: RecipientKind, recipient_id: str) -> list[PreferenceView]:
    """Every (event, channel) this kind of recipient can get, and whether they get it."""
    rows = await session.execute(
        select(NotificationPreference.event, NotificationPreference.channel, NotificationPreference.enabled).where(
            NotificationPreference.recipient_kind == kind, NotificationPreference.recipient_id == recipient_id
        )
    )
    mine = {(event, channel): enabled for event, channel, enabled in rows}
    views = []
    for template in _templates_for(kind):
        chosen = set(choose_channels(template.event, template.channels, template.allowed, mine, locked=template.locked))
        for channel in dict.fromkeys([*template.channels, *template.allowed]):
            views.append(
                PreferenceView(template.event, template.label, channel, channel in chosen, channel in template.locked)
            )
    return views


async def set_preferences(
    session: AsyncSession, kind: RecipientKind, recipient_id: str, changes: Iterable[tuple[str, str, bool]]
) -> list[PreferenceView]:
    """Switch channels on or off per event (``*`` for every event). A locked channel stays on."""
    templates = {t.event: t for t in _templates_for(kind)}
    for event, channel, enabled in changes:
        if event != WILDCARD and event not in templates:
            raise ValidationFailed(
                f"unknown event {event!r}", code="unknown_event", details={"known": sorted(templates)}
            )
        candidates = templates.values() if event == WILDCARD else [templates[event]]
        if not any(channel in (*t.channels, *t.allowed) for t in candidates):
            raise ValidationFailed(f"{event} is never sent by {channel}", code="channel_not_available")
        if not enabled and event != WILDCARD and channel in templates[event].locked:
            raise ValidationFailed(f"{event} by {channel} cannot be switched off", code="channel_locked")
        stmt = insert(NotificationPreference).values(
            recipient_kind=kind, recipient_id=recipient_id, event=event, channel=channel, enabled=enabled
        )
        await session.execute(
            stmt.on_conflict_do_update(
                index_elements=["recipient_kind", "recipient_id", "event", "channel"],
                set_={"enabled": enabled, "updated_at": datetime.now(UTC)},
            )
        )
    await session.flush()
    return await preferences(session, kind, recipient_id)
