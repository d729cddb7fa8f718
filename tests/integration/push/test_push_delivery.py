"""notify → outbox → push.deliver: one notification per recipient however often the event or its job
runs; retries with backoff, then dead; quiet hours; preferences."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from push_support import run_outbox
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from backend.errors import ValidationFailed
from backend.models import InboxItem, Notification, OutboxMessage
from backend.outbox import publish
from backend.outbox.relay import process_message
from backend.settings import Settings
from push import Recipient, deliver, events, notify, notify_payload, set_preferences
from push.enums import Channel, RecipientKind, Status
from push.providers import ChannelProvider, Sent, TransientError, use_providers
from push.rules import MAX_ATTEMPTS, SHANGHAI

TASK = {"case_no": "XZ20261121000123", "case_id": "c-123", "summary": "井盖缺失", "deadline": "11月22日 17:30"}


async def _notifications(db: AsyncSession, dedup_key: str) -> list[Notification]:
    rows = await db.scalars(
        select(Notification).where(Notification.dedup_key == dedup_key).execution_options(populate_existing=True)
    )
    return list(rows)


async def test_an_event_handled_twice_notifies_each_recipient_once_and_delivers_once(
    db: AsyncSession, session_factory: async_sessionmaker[AsyncSession], dev_providers: Any, staff_ids: Any
) -> None:
    recipients = [Recipient.staff(staff_ids["collector1"]), Recipient.staff(staff_ids["handler1"])]
    # The case core's handler of one transition runs twice (a retried job): both times it asks push.
    payload = notify_payload(events.TASK_ASSIGNED, recipients, TASK, "case-event:0001")
    await publish(db, "push.notify", payload, dedup_key="case.event:0001:try-1")
    await publish(db, "push.notify", payload, dedup_key="case.event:0001:try-2")
    await db.commit()
    await run_outbox(session_factory)

    rows = await _notifications(db, "case-event:0001")
    assert sorted(r.recipient_id for r in rows) == sorted(str(s) for s in recipients_ids(recipients))
    assert {(r.channel, r.status) for r in rows} == {(Channel.INBOX, Status.SENT)}
    items = (await db.scalars(select(InboxItem).where(InboxItem.notification_id.in_([r.id for r in rows])))).all()
    assert len(items) == 2 and {i.title for i in items} == {"新任务：XZ20261121000123"}

    # The delivery job itself runs again (arq retried it; a duplicate message slipped in): nothing more.
    message_id = await db.scalar(
        select(OutboxMessage.id).where(OutboxMessage.dedup_key == f"push.deliver:{rows[0].id}:first")
    )
    assert await process_message(session_factory, str(message_id)) == "already_processed"
    await publish(db, "push.deliver", {"notification_id": str(rows[0].id)}, dedup_key="duplicate-deliver")
    await db.commit()
    await run_outbox(session_factory)
    assert await deliver(db, rows[0].id, dev_providers) == "already_sent"
    count = await db.scalar(select(func.count()).select_from(InboxItem).where(InboxItem.notification_id == rows[0].id))
    assert count == 1


def recipients_ids(recipients: list[Recipient]) -> list[str]:
    return [r.id for r in recipients]


async def test_notify_direct_call_is_idempotent_by_dedup_key(
    db: AsyncSession, dev_settings: Settings, staff_ids: Any
) -> None:
    recipient = Recipient.staff(staff_ids["officer1"])
    first = await notify(db, events.TASK_URGED, [recipient, recipient], TASK, "urge:42", settings=dev_settings.push)
    again = await notify(db, events.TASK_URGED, [recipient], TASK, "urge:42", settings=dev_settings.push)
    assert len(first) == 1 and again == []
    assert len(await _notifications(db, "urge:42")) == 1
    messages = await db.scalar(
        select(func.count())
        .select_from(OutboxMessage)
        .where(OutboxMessage.dedup_key == f"push.deliver:{first[0]}:first")
    )
    assert messages == 1


async def test_nothing_is_promised_when_the_callers_transaction_rolls_back(
    db: AsyncSession, dev_settings: Settings, staff_ids: Any
) -> None:
    with pytest.raises(RuntimeError):
        async with db.begin_nested():
            await notify(db, events.TASK_ASSIGNED, [Recipient.staff(staff_ids["handler1"])], TASK, "rb:1",
                         settings=dev_settings.push)  # fmt: skip
            raise RuntimeError("the transition failed after notifying")
    assert await _notifications(db, "rb:1") == []
    assert (
        await db.scalar(select(func.count()).select_from(OutboxMessage).where(OutboxMessage.topic == "push.deliver"))
        == 0
    )


async def test_bad_events_and_missing_data_fail_in_the_callers_transaction(db: AsyncSession) -> None:
    citizen = Recipient.citizen("oCitizen0000000000000001")
    with pytest.raises(ValidationFailed) as missing:
        await notify(db, events.CASE_REJECTED, [citizen], {"case_no": "X1"}, "rej:1")
    assert missing.value.code == "notification_data_missing" and missing.value.details["missing"] == ["reason"]
    with pytest.raises(ValidationFailed) as unknown:
        await notify(db, "case.teleported", [citizen], {}, "x:1")
    assert unknown.value.code == "unknown_event"


class FlakyInbox(ChannelProvider):
    """An inbox that fails ``failures`` times, then works."""

    channel = Channel.INBOX

    def __init__(self, failures: int) -> None:
        self.failures = failures
        self.calls = 0

    async def send(self, session: AsyncSession, notification: Notification, now: datetime) -> Sent:
        self.calls += 1
        if self.calls <= self.failures:
            raise TransientError("inbox store unavailable")
        return Sent("ok")


async def _deliver_rounds(
    db: AsyncSession, factory: async_sessionmaker[AsyncSession], notification_id: uuid.UUID
) -> list[tuple[str, int, float | None]]:
    """Carry out one due push.deliver message at a time; record (status, attempts, seconds to next try)."""
    history = []
    for _ in range(MAX_ATTEMPTS + 2):
        pending = (
            await db.scalars(
                select(OutboxMessage)
                .where(OutboxMessage.topic == "push.deliver", OutboxMessage.processed_at.is_(None))
                .where(OutboxMessage.payload["notification_id"].astext == str(notification_id))
                .execution_options(populate_existing=True)
            )
        ).all()
        if not pending:
            break
        await process_message(factory, str(pending[0].id))
        n = await _by_id(db, notification_id)
        wait = (n.scheduled_for - datetime.now(UTC)).total_seconds() if n.scheduled_for else None
        history.append((n.status, n.attempts, wait))
    return history


async def _by_id(db: AsyncSession, notification_id: uuid.UUID) -> Notification:
    row = await db.scalar(
        select(Notification).where(Notification.id == notification_id).execution_options(populate_existing=True)
    )
    assert row is not None
    return row


async def test_a_failing_provider_is_retried_with_backoff_then_dead_lettered(
    db: AsyncSession, session_factory: async_sessionmaker[AsyncSession], dev_providers: Any, dev_settings: Settings,
    staff_ids: Any,
) -> None:  # fmt: skip
    flaky = FlakyInbox(failures=100)
    with use_providers({**dev_providers, Channel.INBOX: flaky}):
        [nid] = await notify(db, events.TASK_ASSIGNED, [Recipient.staff(staff_ids["collector1"])], TASK, "flaky:1",
                             settings=dev_settings.push)  # fmt: skip
        await db.commit()
        history = await _deliver_rounds(db, session_factory, nid)
    assert [h[0] for h in history] == [Status.FAILED] * (MAX_ATTEMPTS - 1) + [Status.DEAD]
    assert [h[1] for h in history] == list(range(1, MAX_ATTEMPTS + 1))
    waits = [h[2] for h in history[:-1] if h[2] is not None]
    assert len(waits) == MAX_ATTEMPTS - 1
    assert waits == sorted(waits) and waits[0] < 20 and waits[-1] > 15 * 60, waits  # 15 s … 1 h
    dead = await _by_id(db, nid)
    assert dead.status == Status.DEAD and dead.last_error == "inbox store unavailable" and flaky.calls == MAX_ATTEMPTS
    assert await deliver(db, nid, dev_providers) == "already_dead"


async def test_a_provider_that_recovers_delivers_on_a_later_attempt(
    db: AsyncSession, session_factory: async_sessionmaker[AsyncSession], dev_providers: Any, dev_settings: Settings,
    staff_ids: Any,
) -> None:  # fmt: skip
    flaky = FlakyInbox(failures=2)
    with use_providers({**dev_providers, Channel.INBOX: flaky}):
        [nid] = await notify(db, events.TASK_ASSIGNED, [Recipient.staff(staff_ids["collector1"])], TASK, "flaky:2",
                             settings=dev_settings.push)  # fmt: skip
        await db.commit()
        history = await _deliver_rounds(db, session_factory, nid)
    assert [h[:2] for h in history] == [(Status.FAILED, 1), (Status.FAILED, 2), (Status.SENT, 3)]
    sent = await _by_id(db, nid)
    assert sent.last_error is None and sent.sent_at is not None and sent.scheduled_for is None


async def test_quiet_hours_defer_a_non_urgent_staff_message_but_not_an_urgent_one(
    db: AsyncSession, settings: Settings, dev_providers: Any, staff_ids: Any
) -> None:
    push_settings = settings.push  # the default 22:00-07:00
    late = datetime(2026, 11, 21, 23, 30, tzinfo=SHANGHAI)
    morning = datetime(2026, 11, 22, 7, 0, tzinfo=SHANGHAI)
    lead = Recipient.staff(staff_ids["lead1"])
    [task] = await notify(db, events.TASK_OVERDUE, [lead], TASK, "quiet:task", now=late, settings=push_settings)
    alarm_ids = await notify(
        db, events.DEVICE_ALARM, [lead], {"device_name": "燃气报警器 GX-12", "alarm": "燃气泄漏", "level": "严重"},
        "quiet:alarm", now=late, settings=push_settings,
    )  # fmt: skip
    citizen = await notify(
        db, events.CASE_CLOSED, [Recipient.citizen("oQuietCitizen00000001")], TASK, "quiet:citizen",
        now=late, settings=push_settings,
    )  # fmt: skip

    deferred = await _by_id(db, task)
    assert deferred.scheduled_for == morning and not deferred.urgent
    message = await db.scalar(select(OutboxMessage).where(OutboxMessage.dedup_key == f"push.deliver:{task}:first"))
    assert message is not None
    assert abs((message.available_at - message.created_at) - timedelta(hours=7, minutes=30)) < timedelta(seconds=5)
    for nid in [*alarm_ids, *citizen]:
        n = await _by_id(db, nid)
        assert n.scheduled_for is None
        m = await db.scalar(select(OutboxMessage).where(OutboxMessage.dedup_key == f"push.deliver:{nid}:first"))
        assert m is not None and m.available_at - m.created_at < timedelta(seconds=1)

    # A message whose job comes round while it is still quiet waits again; once morning comes it goes out.
    assert await deliver(db, task, dev_providers, now=late + timedelta(hours=2), settings=push_settings) == "deferred"
    assert await deliver(db, task, dev_providers, now=morning, settings=push_settings) == "sent"
    for nid in alarm_ids:  # urgent: straight through at 23:30
        assert await deliver(db, nid, dev_providers, now=late, settings=push_settings) == "sent"


async def test_preferences_choose_channels_and_a_locked_channel_stays_on(
    db: AsyncSession, dev_settings: Settings, dev_providers: Any, staff_ids: Any
) -> None:
    handler = str(staff_ids["handler1"])
    await set_preferences(db, RecipientKind.STAFF, handler, [(events.TASK_ASSIGNED, "sms", True),
                                                            (events.TASK_ASSIGNED, "inbox", False),
                                                            ("*", "inbox", False)])  # fmt: skip
    ids = await notify(db, events.TASK_ASSIGNED, [Recipient.staff(handler)], TASK, "pref:1", settings=dev_settings.push)
    [only] = [await _by_id(db, i) for i in ids]
    assert only.channel == Channel.SMS and only.address == "13800000006"  # the staff member's phone
    with pytest.raises(ValidationFailed) as locked:
        await set_preferences(db, RecipientKind.STAFF, handler, [(events.DEVICE_ALARM, "console", False)])
    assert locked.value.code == "channel_locked"
    alarm = await notify(db, events.DEVICE_ALARM, [Recipient.staff(handler)], {"device_name": "井盖 MH-3",
                         "alarm": "倾斜"}, "pref:2", settings=dev_settings.push)  # fmt: skip
    assert {(await _by_id(db, i)).channel for i in alarm} == {Channel.CONSOLE}  # inbox off via "*", console locked

    # Switched off after the event (while the message waited): the delivery is suppressed, not sent.
    await set_preferences(db, RecipientKind.STAFF, handler, [(events.TASK_ASSIGNED, "sms", False)])
    assert await deliver(db, only.id, dev_providers) == "suppressed"
    assert (await _by_id(db, only.id)).last_error == "switched_off"
