"""WeChat subscribe messages against the local WeChat peer: grants are consumed, 43101 clears them,
an invalid token is refreshed once, rate limits and timeouts are retried, bad credentials are dead."""

from __future__ import annotations

import uuid
from typing import Any

from peers.wechat import WeChatPeer
from push_support import PROGRESS_TEMPLATE
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from backend.models import Notification, WeChatSubscribeGrant
from backend.settings import Settings
from push import Recipient, deliver, events, notify, record_subscriptions, subscribe_template_ids
from push.enums import Status
from push.providers import build_providers

OPENID = "oWx7Q5Zc1bqHhS9mYtN3aKp0LdE"
CASE = {"case_no": "XZ20261121000777", "case_id": "0190f1f2-aaaa-7bbb-8ccc-000000000777", "summary": "路灯不亮"}


async def _grant(db: AsyncSession, openid: str = OPENID) -> WeChatSubscribeGrant | None:
    return await db.scalar(
        select(WeChatSubscribeGrant)
        .where(WeChatSubscribeGrant.openid == openid, WeChatSubscribeGrant.template_id == PROGRESS_TEMPLATE)
        .execution_options(populate_existing=True)
    )


async def _send(
    db: AsyncSession, providers: Any, event: str, key: str, data: dict[str, Any] | None = None
) -> tuple[str, Notification]:
    [nid] = await notify(db, event, [Recipient.citizen(OPENID, None)], data or CASE, key)
    outcome = await deliver(db, nid, providers)
    row = await db.scalar(select(Notification).where(Notification.id == nid).execution_options(populate_existing=True))
    assert row is not None
    return outcome, row


async def _accept(db: AsyncSession, settings: Settings, times: int = 1, openid: str = OPENID) -> None:
    known = subscribe_template_ids(settings.push, dev=False).values()
    for _ in range(times):
        await record_subscriptions(db, openid, {PROGRESS_TEMPLATE: "accept"}, known_template_ids=known)


async def test_a_grant_is_consumed_and_a_second_send_without_one_is_suppressed(
    db: AsyncSession, peer_providers: Any, peer_settings: Settings, wechat_peer: WeChatPeer
) -> None:
    await _accept(db, peer_settings)
    assert (await _grant(db)).remaining == 1  # type: ignore[union-attr]

    outcome, sent = await _send(db, peer_providers, events.CASE_ACCEPTED, "wx:accepted")
    assert outcome == "sent" and sent.template == PROGRESS_TEMPLATE and sent.provider_message_id == "1001"
    [body] = wechat_peer.sent
    assert body["touser"] == OPENID and body["template_id"] == PROGRESS_TEMPLATE
    assert body["page"] == f"pages/case/detail?id={CASE['case_id']}" and body["miniprogram_state"] == "formal"
    assert body["data"]["character_string1"]["value"] == CASE["case_no"]
    assert body["data"]["phrase3"]["value"] == "已受理" and body["data"]["thing2"]["value"] == "路灯不亮"
    assert (await _grant(db)).remaining == 0  # type: ignore[union-attr]

    outcome, suppressed = await _send(db, peer_providers, events.CASE_DISPATCHED, "wx:dispatched")
    assert outcome == "suppressed" and suppressed.status == Status.SUPPRESSED
    assert suppressed.last_error == "no_subscription" and suppressed.attempts == 1
    assert len(wechat_peer.sent) == 1 and wechat_peer.send_requests == 1  # WeChat was not even asked

    # The citizen subscribes again in the mini-program: the next progress message goes out.
    await _accept(db, peer_settings)
    outcome, _ = await _send(db, peer_providers, events.CASE_CLOSED, "wx:closed")
    assert outcome == "sent" and wechat_peer.sent[-1]["data"]["phrase3"]["value"] == "已办结"


async def test_user_refused_43101_marks_the_grant_gone(
    db: AsyncSession, peer_providers: Any, peer_settings: Settings, wechat_peer: WeChatPeer
) -> None:
    await _accept(db, peer_settings, times=3)
    wechat_peer.refused.add(OPENID)
    outcome, row = await _send(db, peer_providers, events.CASE_ACCEPTED, "wx:refused")
    assert outcome == "suppressed" and row.last_error == "user_refused"
    grant = await _grant(db)
    assert grant is not None and grant.remaining == 0 and grant.refused_at is not None
    outcome, row = await _send(db, peer_providers, events.CASE_DISPATCHED, "wx:refused-2")
    assert outcome == "suppressed" and row.last_error == "no_subscription"
    assert wechat_peer.send_requests == 1


async def test_an_invalid_token_is_refreshed_and_the_send_retried_once(
    db: AsyncSession, peer_providers: Any, peer_settings: Settings, wechat_peer: WeChatPeer
) -> None:
    await _accept(db, peer_settings, times=4)
    assert (await _send(db, peer_providers, events.CASE_ACCEPTED, "wx:tok-1"))[0] == "sent"
    assert wechat_peer.token_requests == 1
    assert (await _send(db, peer_providers, events.CASE_DISPATCHED, "wx:tok-2"))[0] == "sent"
    assert wechat_peer.token_requests == 1  # cached (in Redis, for every process)

    wechat_peer.revoke_tokens()  # another party fetched a new token
    outcome, _ = await _send(db, peer_providers, events.CASE_CLOSED, "wx:tok-3")
    assert outcome == "sent" and wechat_peer.token_requests == 2 and wechat_peer.send_requests == 4

    # A token that keeps being refused: one refresh, one retry, then the attempt fails (no loop).
    wechat_peer.reject_all_tokens = True
    outcome, row = await _send(db, peer_providers, events.CASE_RATING_INVITED, "wx:tok-4")
    assert outcome == "retry" and "40001" in (row.last_error or "")
    assert wechat_peer.token_requests == 3 and wechat_peer.send_requests == 6
    assert (await _grant(db)).remaining == 1  # type: ignore[union-attr]  # 4 granted, 3 sent; the failure took none


async def test_rate_limits_and_timeouts_are_retried_without_consuming_the_grant(
    db: AsyncSession, peer_providers: Any, peer_settings: Settings, wechat_peer: WeChatPeer
) -> None:
    await _accept(db, peer_settings)
    wechat_peer.fail_next.extend([45011, 45009])
    outcome, row = await _send(db, peer_providers, events.CASE_ACCEPTED, "wx:limit")
    assert outcome == "retry" and row.status == Status.FAILED and "45011" in (row.last_error or "")
    assert row.scheduled_for is not None and (row.scheduled_for - row.updated_at).total_seconds() >= 55
    assert await deliver(db, row.id, peer_providers) == "retry"  # 45009: the daily quota, an hour's wait
    await db.refresh(row)
    assert (await _grant(db)).remaining == 1  # type: ignore[union-attr]

    wechat_peer.slow_s = 1.5  # longer than PUSH_HTTP_TIMEOUT_S (0.5 s here)
    assert await deliver(db, row.id, peer_providers) == "retry"
    await db.refresh(row)
    assert "timeout" in (row.last_error or "").lower() or "timed out" in (row.last_error or "").lower(), row.last_error
    assert (await _grant(db)).remaining == 1  # type: ignore[union-attr]

    wechat_peer.slow_s = 0
    assert await deliver(db, row.id, peer_providers) == "sent"
    await db.refresh(row)
    assert row.attempts == 4 and (await _grant(db)).remaining == 0  # type: ignore[union-attr]


async def test_a_wrong_appid_is_dead_at_once(
    db: AsyncSession, peer_settings: Settings, wechat_peer: WeChatPeer, redis: Any
) -> None:
    import dataclasses

    wrong = dataclasses.replace(peer_settings, wechat=dataclasses.replace(peer_settings.wechat, app_id="wx-not-ours"))
    providers = build_providers(wrong)
    try:
        await _accept(db, peer_settings)
        [nid] = await notify(db, events.CASE_ACCEPTED, [Recipient.citizen(OPENID)], CASE, "wx:appid",
                             settings=wrong.push)  # fmt: skip
        assert await deliver(db, nid, providers, settings=wrong.push) == "dead"
        row = await db.get(Notification, nid)
        assert row is not None and "40013" in (row.last_error or "") and row.attempts == 1
    finally:
        for provider in providers.values():
            await provider.aclose()


async def test_subscription_answers_are_recorded_per_template(db: AsyncSession, peer_settings: Settings) -> None:
    known = subscribe_template_ids(peer_settings.push, dev=False)
    assert set(known) == {"case.accepted", "case.dispatched", "case.closed", "case.rejected", "case.rating_invited"}
    openid = f"o{uuid.uuid4().hex[:27]}"
    answer = await record_subscriptions(
        db, openid, {PROGRESS_TEMPLATE: "accept", "someone-elses-template": "accept"}, known_template_ids=known.values()
    )
    assert answer == {PROGRESS_TEMPLATE: 1}
    assert await record_subscriptions(db, openid, {PROGRESS_TEMPLATE: "accept"}, known_template_ids=known.values()) == {
        PROGRESS_TEMPLATE: 2
    }
    assert (
        await record_subscriptions(db, openid, {PROGRESS_TEMPLATE: "reject"}, known_template_ids=known.values()) == {}
    )
    assert (await _grant(db, openid)).remaining == 2  # type: ignore[union-attr]  # a reject keeps earlier accepts
    await record_subscriptions(db, openid, {PROGRESS_TEMPLATE: "ban"}, known_template_ids=known.values())
    assert (await _grant(db, openid)).remaining == 0  # type: ignore[union-attr]
