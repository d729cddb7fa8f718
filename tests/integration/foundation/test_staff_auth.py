"""Staff sign-in: tokens, lockout after repeated failures, single-use refresh tokens."""

from __future__ import annotations

from typing import Any

import httpx
import jwt

LOGIN = "/api/field/v1/auth/login"
REFRESH = "/api/field/v1/auth/refresh"


async def test_login_returns_tokens_for_the_staff_member(client: httpx.AsyncClient, settings: Any) -> None:
    response = await client.post(LOGIN, json={"username": "handler1", "password": "Demo@2026", "device_id": "pad-7"})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["token_type"] == "Bearer" and body["expires_in"] == 1800
    assert body["staff"]["username"] == "handler1" and body["staff"]["roles"] == ["handler"]
    claims = jwt.decode(body["access_token"], settings.app.secret_key, algorithms=["HS256"], issuer="chengguan")
    assert claims["typ"] == "access" and claims["roles"] == ["handler"] and claims["dev"] == "pad-7"
    assert "password" not in response.text.lower()


async def test_wrong_password_and_unknown_user_look_the_same(client: httpx.AsyncClient) -> None:
    a = await client.post(LOGIN, json={"username": "handler1", "password": "nope"})
    b = await client.post(LOGIN, json={"username": "nobody", "password": "nope"})
    assert a.status_code == b.status_code == 401
    assert a.json()["error"]["code"] == b.json()["error"]["code"] == "invalid_credentials"


async def test_five_failures_lock_the_account(client: httpx.AsyncClient) -> None:
    for _ in range(5):
        response = await client.post(LOGIN, json={"username": "officer1", "password": "bad"})
        assert response.json()["error"]["code"] == "invalid_credentials"
    locked = await client.post(LOGIN, json={"username": "officer1", "password": "Demo@2026"})
    assert locked.status_code == 401
    error = locked.json()["error"]
    assert error["code"] == "account_locked" and error["details"]["retry_after_s"] > 0


async def test_refresh_token_rotates_and_cannot_be_replayed(client: httpx.AsyncClient) -> None:
    tokens = (await client.post(LOGIN, json={"username": "seat1", "password": "Demo@2026"})).json()
    first = await client.post(REFRESH, json={"refresh_token": tokens["refresh_token"]})
    assert first.status_code == 200 and first.json()["refresh_token"] != tokens["refresh_token"]
    replay = await client.post(REFRESH, json={"refresh_token": tokens["refresh_token"]})
    assert replay.status_code == 401 and replay.json()["error"]["code"] == "refresh_reused"


async def test_access_token_is_not_a_refresh_token(client: httpx.AsyncClient) -> None:
    tokens = (await client.post(LOGIN, json={"username": "seat1", "password": "Demo@2026"})).json()
    response = await client.post(REFRESH, json={"refresh_token": tokens["access_token"]})
    assert response.status_code == 401 and response.json()["error"]["code"] == "invalid_token"
    garbage = await client.post(REFRESH, json={"refresh_token": "not.a.jwt"})
    assert garbage.status_code == 401 and garbage.json()["error"]["code"] == "invalid_token"


async def test_me_needs_a_valid_access_token(client: httpx.AsyncClient) -> None:
    tokens = (await client.post(LOGIN, json={"username": "lead1", "password": "Demo@2026"})).json()
    me = await client.get("/api/field/v1/me", headers={"authorization": f"Bearer {tokens['access_token']}"})
    assert me.status_code == 200 and me.json()["username"] == "lead1"
    assert set(me.json()["roles"]) == {"shift_lead", "seat", "dispatcher"}
    missing = await client.get("/api/field/v1/me")
    assert missing.status_code == 401 and missing.json()["error"]["code"] == "unauthorized"
    refresh_as_access = await client.get(
        "/api/field/v1/me", headers={"authorization": f"Bearer {tokens['refresh_token']}"}
    )
    assert refresh_as_access.status_code == 401 and refresh_as_access.json()["error"]["code"] == "invalid_token"
