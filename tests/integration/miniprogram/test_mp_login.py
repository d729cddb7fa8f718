"""WeChat login into our own session token, through the dev provider and the real one against the peer;
phone binding and the text check with their WeChat error codes."""

from __future__ import annotations

import hashlib
from typing import Any

import httpx
from peers.wechat_mp import MiniProgramPeer
from sqlalchemy import select

from backend.citizens.service import SESSION_KEY_PREFIX, SESSION_PREFIX
from backend.citizens.wechat import WeChatMiniProgram
from backend.models import Citizen
from tests.integration.miniprogram.mp_support import MP, sign_in


async def test_dev_login_as_the_demo_citizen_then_logout(client: httpx.AsyncClient, redis: Any) -> None:
    response = await client.post(f"{MP}/auth/login", json={"code": "dev-alice"})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["token_type"] == "Bearer" and body["expires_in"] == 30 * 24 * 3600
    assert body["citizen"]["nickname"] == "市民艾丽" and body["first_login"] is False, "alice is seeded"
    assert body["citizen"]["created_at"].endswith("+08:00")
    assert "session_key" not in response.text and "openid" not in response.text
    headers = {"Authorization": f"Bearer {body['token']}"}

    me = await client.get(f"{MP}/me", headers=headers)
    assert me.status_code == 200 and me.json()["id"] == body["citizen"]["id"]
    # Only the token's hash is a key; the raw token is stored nowhere.
    assert await redis.get(SESSION_PREFIX + body["token"]) is None
    assert await redis.get(SESSION_PREFIX + hashlib.sha256(body["token"].encode()).hexdigest()) is not None

    assert (await client.post(f"{MP}/auth/logout", headers=headers)).status_code == 204
    after = await client.get(f"{MP}/me", headers=headers)
    assert after.status_code == 401 and after.json()["error"]["code"] == "session_expired"


async def test_dev_login_refuses_other_codes_and_staff_tokens(client: httpx.AsyncClient) -> None:
    bad = await client.post(f"{MP}/auth/login", json={"code": "not-a-dev-code"})
    assert bad.status_code == 400 and bad.json()["error"]["code"] == "invalid_wechat_code"
    staff = await client.post("/api/field/v1/auth/login", json={"username": "seat1", "password": "Demo@2026"})
    jwt = staff.json()["access_token"]
    refused = await client.get(f"{MP}/me", headers={"Authorization": f"Bearer {jwt}"})
    assert refused.status_code == 401, "a staff JWT is not a citizen session"
    assert (await client.get(f"{MP}/me")).status_code == 401


async def test_real_login_against_the_peer(
    client: httpx.AsyncClient, db: Any, redis: Any, mp_peer: MiniProgramPeer, peer_provider: WeChatMiniProgram
) -> None:
    code = mp_peer.issue_login_code("o-peer-citizen-1", unionid="u-union-1")
    first = await client.post(f"{MP}/auth/login", json={"code": code})
    assert first.status_code == 200, first.text
    body = first.json()
    assert body["first_login"] is True
    citizen = await db.scalar(select(Citizen).where(Citizen.openid == "o-peer-citizen-1"))
    assert citizen is not None and citizen.unionid == "u-union-1" and str(citizen.id) == body["citizen"]["id"]
    # jscode2session authenticates with appid + secret: no access token was fetched for it.
    assert mp_peer.token_requests == 0
    call = mp_peer.calls[-1][1]
    assert call["appid"] == mp_peer.app_id and call["grant_type"] == "authorization_code"
    assert "access_token" not in call
    # The WeChat session_key stays on the server.
    assert await redis.get(SESSION_KEY_PREFIX + body["citizen"]["id"]) is not None
    assert "session_key" not in first.text

    again = await client.post(f"{MP}/auth/login", json={"code": mp_peer.issue_login_code("o-peer-citizen-1")})
    assert again.json()["first_login"] is False and again.json()["citizen"]["id"] == body["citizen"]["id"]
    assert again.json()["token"] != body["token"]


async def test_login_errors_from_wechat(
    client: httpx.AsyncClient, mp_peer: MiniProgramPeer, peer_provider: WeChatMiniProgram
) -> None:
    async def login(code: str) -> httpx.Response:
        return await client.post(f"{MP}/auth/login", json={"code": code})

    invalid = await login("never-issued")  # 40029
    assert invalid.status_code == 400 and invalid.json()["error"]["code"] == "invalid_wechat_code"
    assert invalid.json()["error"]["details"] == {"errcode": 40029}

    code = mp_peer.issue_login_code()
    assert (await login(code)).status_code == 200
    reused = await login(code)  # 40163
    assert reused.status_code == 400 and reused.json()["error"]["details"] == {"errcode": 40163}

    mp_peer.mp_fail_next.append(45011)
    limited = await login(mp_peer.issue_login_code())
    assert limited.status_code == 429 and limited.json()["error"]["code"] == "wechat_rate_limited"

    mp_peer.mp_fail_next.append(-1)
    busy = await login(mp_peer.issue_login_code())
    assert busy.status_code == 503 and busy.json()["error"]["code"] == "wechat_unavailable"


async def test_wrong_app_secret_is_a_503_not_a_login(
    client: httpx.AsyncClient, mp_peer: MiniProgramPeer, settings: Any, redis: Any
) -> None:
    from backend.citizens.wechat import use_provider

    wrong = WeChatMiniProgram(mp_peer.url, mp_peer.app_id, "wrong-secret", settings.redis.url, timeout=2.0)
    with use_provider(wrong):
        response = await client.post(f"{MP}/auth/login", json={"code": mp_peer.issue_login_code()})
    await wrong.aclose()
    assert response.status_code == 503 and response.json()["error"]["details"] == {"errcode": 40125}


async def test_phone_binding_refreshes_a_refused_token_once(
    client: httpx.AsyncClient, db: Any, mp_peer: MiniProgramPeer, peer_provider: WeChatMiniProgram
) -> None:
    headers = await sign_in(client, mp_peer.issue_login_code("o-phone-user"))
    bound = await client.post(f"{MP}/me/phone", json={"code": mp_peer.issue_phone_code("13912345678")}, headers=headers)
    assert bound.status_code == 200, bound.text
    assert bound.json()["phone"] == "13912345678"
    assert mp_peer.token_requests == 1

    mp_peer.revoke_tokens()  # 40001 for the cached token: fetched anew, the call retried once
    code = mp_peer.issue_phone_code("13700000000")
    rebound = await client.post(f"{MP}/me/phone", json={"code": code}, headers=headers)
    assert rebound.status_code == 200 and rebound.json()["phone"] == "13700000000"
    assert mp_peer.token_requests == 2
    citizen = await db.scalar(
        select(Citizen).where(Citizen.openid == "o-phone-user").execution_options(populate_existing=True)
    )
    assert citizen.phone == "13700000000" and citizen.phone_country_code == "86"

    mp_peer.reject_all_tokens = True  # refused again after the refresh: no endless loop
    calls = len(mp_peer.calls)
    refused = await client.post(
        f"{MP}/me/phone", json={"code": mp_peer.issue_phone_code("13600000000")}, headers=headers
    )
    assert refused.status_code == 503 and refused.json()["error"]["details"] == {"errcode": 40001}
    assert len(mp_peer.calls) == calls + 2, "one retry, not more"
    mp_peer.reject_all_tokens = False

    unknown = await client.post(f"{MP}/me/phone", json={"code": "made-up"}, headers=headers)
    assert unknown.status_code == 400 and unknown.json()["error"]["details"] == {"errcode": 40029}
    mp_peer.mp_fail_next.append(45011)
    limited = await client.post(
        f"{MP}/me/phone", json={"code": mp_peer.issue_phone_code("13500000000")}, headers=headers
    )
    assert limited.status_code == 429


async def test_profile_text_goes_through_msg_sec_check(
    client: httpx.AsyncClient, mp_peer: MiniProgramPeer, peer_provider: WeChatMiniProgram
) -> None:
    headers = await sign_in(client, mp_peer.issue_login_code("o-profile-user"))
    ok = await client.patch(f"{MP}/me", json={"nickname": "热心市民"}, headers=headers)
    assert ok.status_code == 200 and ok.json()["nickname"] == "热心市民"
    check = next(body for name, body in reversed(mp_peer.calls) if name == "msg_sec_check")
    assert check == {"content": "热心市民", "version": 2, "scene": 1, "openid": "o-profile-user"}

    risky = await client.patch(f"{MP}/me", json={"nickname": "赌博代理"}, headers=headers)
    assert risky.status_code == 400 and risky.json()["error"]["code"] == "risky_content"
    assert (await client.get(f"{MP}/me", headers=headers)).json()["nickname"] == "热心市民"

    mp_peer.revoke_tokens()
    assert (await client.patch(f"{MP}/me", json={"nickname": "市民小王"}, headers=headers)).status_code == 200
    mp_peer.mp_fail_next.append(45011)
    limited = await client.patch(f"{MP}/me", json={"nickname": "市民小李"}, headers=headers)
    assert limited.status_code == 429 and limited.json()["error"]["code"] == "wechat_rate_limited"
