"""SMS through the local gateway peer: the peer verifies the signature; flow control and timeouts
are retried, bad credentials are dead at once; phone numbers never reach a log line unmasked."""

from __future__ import annotations

import dataclasses
import logging
from typing import Any

import pytest
from peers.sms import SmsPeer
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from backend.models import Notification
from backend.settings import Settings
from push import Recipient, deliver, events, notify, set_preferences
from push.enums import Channel, RecipientKind, Status
from push.providers import build_providers

PHONE = "13812340000"
MASKED = "138****0000"
CASE = {"case_no": "XZ20261121000888", "case_id": "c-888", "reason": "不属于城市管理范围"}


async def _sms_to_citizen(db: AsyncSession, providers: Any, event: str, key: str, phone: str = PHONE) -> Notification:
    openid = f"oSms{key.replace(':', '')}"
    await set_preferences(db, RecipientKind.CITIZEN, openid, [("*", "sms", True), ("*", "wechat", False)])
    [nid] = await notify(db, event, [Recipient.citizen(openid, phone)], CASE, key)
    await deliver(db, nid, providers)
    row = await db.scalar(select(Notification).where(Notification.id == nid).execution_options(populate_existing=True))
    assert row is not None and row.channel == Channel.SMS
    return row


async def test_an_sms_goes_out_signed_with_the_template_and_its_params(
    db: AsyncSession, peer_providers: Any, sms_peer: SmsPeer
) -> None:
    row = await _sms_to_citizen(db, peer_providers, events.CASE_REJECTED, "sms:ok")
    assert row.status == Status.SENT and row.template == "SMS_100003" and row.provider_message_id
    assert sms_peer.sent == [
        {
            "phone": PHONE,
            "template": "SMS_100003",
            "params": {"case_no": CASE["case_no"], "status": "不予受理"},
            "out_id": str(row.id),
        }
    ]
    assert sms_peer.rejected == []


async def test_an_event_without_an_sms_template_is_suppressed(db: AsyncSession, peer_providers: Any) -> None:
    row = await _sms_to_citizen(db, peer_providers, events.CASE_CLOSED, "sms:no-template")
    assert row.status == Status.SUPPRESSED and row.last_error == "no_sms_template_configured"


async def test_flow_control_and_timeouts_are_retried(db: AsyncSession, peer_providers: Any, sms_peer: SmsPeer) -> None:
    first = await _sms_to_citizen(db, peer_providers, events.CASE_ACCEPTED, "sms:limit-1")
    second = await _sms_to_citizen(db, peer_providers, events.CASE_REJECTED, "sms:limit-2")  # same number, same minute
    assert first.status == Status.SENT
    assert second.status == Status.FAILED and "isv.BUSINESS_LIMIT_CONTROL" in (second.last_error or "")
    assert second.scheduled_for is not None and (second.scheduled_for - second.updated_at).total_seconds() >= 55

    sms_peer.slow_s = 1.5  # PUSH_HTTP_TIMEOUT_S is 0.5 s here
    slow = await _sms_to_citizen(db, peer_providers, events.CASE_ACCEPTED, "sms:slow", phone="13900001111")
    assert slow.status == Status.FAILED and slow.last_error == "sms gateway timed out" and slow.attempts == 1


async def test_a_wrong_secret_is_refused_by_the_gateway_and_dead_at_once(
    db: AsyncSession, peer_settings: Settings, sms_peer: SmsPeer
) -> None:
    wrong = dataclasses.replace(peer_settings, sms=dataclasses.replace(peer_settings.sms, secret="not-the-secret"))
    providers = build_providers(wrong)
    try:
        row = await _sms_to_citizen(db, providers, events.CASE_ACCEPTED, "sms:bad-secret")
    finally:
        for provider in providers.values():
            await provider.aclose()
    assert row.status == Status.DEAD and "SignatureDoesNotMatch" in (row.last_error or "") and row.attempts == 1
    assert sms_peer.rejected == ["SignatureDoesNotMatch"] and sms_peer.sent == []


async def test_phone_numbers_are_masked_in_every_log_line(
    db: AsyncSession, peer_providers: Any, dev_providers: Any, staff_ids: Any, sms_peer: SmsPeer,
    caplog: pytest.LogCaptureFixture,
) -> None:  # fmt: skip
    caplog.set_level(logging.DEBUG)
    await _sms_to_citizen(db, peer_providers, events.CASE_ACCEPTED, "mask:1")  # sent
    await _sms_to_citizen(db, peer_providers, events.CASE_REJECTED, "mask:2")  # flow-controlled
    sms_peer.slow_s = 1.5
    await _sms_to_citizen(db, peer_providers, events.CASE_ACCEPTED, "mask:3")  # timed out
    await _sms_to_citizen(db, dev_providers, events.CASE_ACCEPTED, "mask:4")  # the dev provider logs the message
    # Staff: the number comes from the staff record (陈采集 13800000005).
    collector = str(staff_ids["collector1"])
    await set_preferences(db, RecipientKind.STAFF, collector, [(events.TASK_ASSIGNED, "sms", True)])
    staff_sms = await notify(db, events.TASK_ASSIGNED, [Recipient.staff(collector)], {"case_no": "X9"}, "mask:5")
    for nid in staff_sms:
        await deliver(db, nid, dev_providers)
    # Even a careless log line of ours is caught by the filter on the push loggers.
    logging.getLogger("chengguan.push").warning("careless: %s", PHONE)

    text = caplog.text + "\n".join(r.getMessage() for r in caplog.records)
    assert PHONE not in text and "13800000005" not in text
    assert MASKED in text and "138****0005" in text
    assert "sent" in text and "BUSINESS_LIMIT_CONTROL" in text and "timed out" in text
