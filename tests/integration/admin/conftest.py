"""Signing in to the admin console and reading the CSRF token its forms carry."""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable

import httpx
import pytest

from backend.seed.demo import DEMO_PASSWORD

TOKEN = re.compile(r'name="csrf_token" value="([^"]+)"')

SignIn = Callable[[str], Awaitable[str]]


async def csrf_of(client: httpx.AsyncClient, path: str = "/admin/") -> str:
    page = await client.get(path)
    found = TOKEN.search(page.text) or re.search(r'name="csrf-token" content="([^"]+)"', page.text)
    assert found, f"no CSRF token on {path} ({page.status_code})"
    return found.group(1)


@pytest.fixture
def sign_in(client: httpx.AsyncClient) -> SignIn:
    """Sign ``username`` in to the console (the client keeps the cookie); returns the session's CSRF token."""

    async def go(username: str) -> str:
        client.cookies.clear()
        response = await client.post("/admin/login", data={"username": username, "password": DEMO_PASSWORD})
        assert response.status_code == 302, response.text
        return await csrf_of(client)

    return go
