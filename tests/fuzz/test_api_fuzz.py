"""Standing guard: every operation of the app's own OpenAPI schema, fuzzed as every kind of caller.

The operations come from /docs/openapi.json, so an operation another engineer adds is fuzzed from
the next run on. The app is the session's real one (PostgreSQL, Valkey, S3); the whole run is inside
the test's rolled-back transaction.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from backend.seed.demo import DEMO_LOGINS
from fuzz.harness import Caller, run_fuzz
from fuzz.mode import BUDGET, SEED, TEST_TIMEOUT_S, FuzzLog

STAFF_LOGIN = "/api/field/v1/auth/login"
CITIZEN_LOGIN = "/api/mp/v1/auth/login"


@dataclass(frozen=True)
class Role:
    """A kind of caller: how it signs in (``login`` is None for anonymous) and why it may not yet."""

    name: str
    login: str | None = None
    credentials: dict[str, str] | None = None
    pending: str = ""
    """Shown when ``login`` is not in the schema yet."""

    async def headers(self, client: httpx.AsyncClient, document: dict[str, Any]) -> dict[str, str]:
        if self.login is None:
            return {}
        if "post" not in document["paths"].get(self.login, {}):
            pytest.skip(f"POST {self.login} is not in the API yet ({self.pending})")
        response = await client.post(self.login, json=self.credentials)
        assert response.status_code == 200, f"{self.name} cannot sign in: {response.text}"
        body = response.json()
        token = next((body[key] for key in ("access_token", "token", "session_token") if key in body), None)
        assert isinstance(token, str) and token, f"no token in the {self.login} response: {sorted(body)}"
        return {"Authorization": f"Bearer {token}"}


# One entry per kind of caller (anonymous first). The citizen entry starts running by itself once
# issue 5 adds the mini-program login; a new demo staff login is picked up from the seed.
ROLES = [
    Role("anonymous"),
    Role("citizen", CITIZEN_LOGIN, {"code": "dev-alice"}, pending="issue 5: citizen sign-in"),
    *(
        Role(username, STAFF_LOGIN, {"username": username, "password": password})
        for username, password, _ in DEMO_LOGINS
    ),
]


@pytest.mark.parametrize("role", ROLES[1:], ids=[role.name for role in ROLES[1:]])
async def test_every_role_signs_in(role: Role, client: httpx.AsyncClient) -> None:
    headers = await role.headers(client, (await client.get("/docs/openapi.json")).json())
    assert headers["Authorization"].startswith("Bearer ")


@pytest.mark.slow
@pytest.mark.timeout(TEST_TIMEOUT_S)
async def test_every_operation_survives_fuzzing(client: httpx.AsyncClient, asgi_app: Any, fuzz_log: FuzzLog) -> None:
    document = (await client.get("/docs/openapi.json")).json()
    callers = []
    for role in ROLES:
        try:
            callers.append(Caller(role.name, await role.headers(client, document)))
        except pytest.skip.Exception as skipped:
            fuzz_log.not_signed_in[role.name] = str(skipped.msg)
    report = await asyncio.to_thread(
        run_fuzz, document, asgi_app, loop=asyncio.get_running_loop(), callers=callers, budget=BUDGET, seed=SEED
    )
    fuzz_log.reports.append(report)
    assert len(report.operations) >= 5, report.operations
    for caller in callers:
        # A role let in nowhere means its token does not work, and its run proved nothing.
        assert report.kinds(caller.role)["fuzzed"] >= 1, report.line(caller.role)
    assert not report.failures, report.format_failures()
