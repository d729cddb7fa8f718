"""One transaction per request: the session is opened on first use, committed when the response
is a success (2xx/3xx) and rolled back otherwise — the only place a request commits."""

from __future__ import annotations

from typing import Any

from litestar.datastructures import State
from litestar.types import Message, Scope
from sqlalchemy.ext.asyncio import AsyncSession

SESSION_KEY = "_chengguan_db_session"


def provide_db_session(state: State, scope: Scope) -> AsyncSession:
    scope_state: dict[str, Any] = scope.setdefault("state", {})  # type: ignore[typeddict-item]
    session = scope_state.get(SESSION_KEY)
    if session is None:
        session = state.runtime.session_factory()
        scope_state[SESSION_KEY] = session
    return session  # type: ignore[no-any-return]


async def commit_or_rollback(message: Message, scope: Scope) -> None:
    scope_state: dict[str, Any] = scope.get("state", {})  # type: ignore[assignment]
    session: AsyncSession | None = scope_state.get(SESSION_KEY)
    if session is None:
        return
    try:
        if message["type"] == "http.response.start":
            if 200 <= message["status"] < 400:
                await session.commit()
            else:
                await session.rollback()
    except BaseException:
        await session.rollback()
        raise
    finally:
        if message["type"] == "http.response.start" or message["type"] == "http.disconnect":
            await session.close()
            scope_state.pop(SESSION_KEY, None)
