"""Admin console sign-in against staff accounts (argon2 hashes, lockout) — only staff whose roles
open the console may enter."""

from __future__ import annotations

import uuid
from typing import Any, Protocol

from redis.asyncio import Redis
from sqladmin.authentication import AuthenticationBackend
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from starlette.middleware import Middleware
from starlette.requests import Request

from admin.csrf import CSRFMiddleware
from backend.db import transaction
from backend.errors import Unauthorized
from backend.models import Staff
from backend.org.service import authenticate
from backend.settings import Settings
from backend.storage import StorageService

CONSOLE_ROLES = {"seat", "dispatcher", "shift_lead", "admin", "auditor"}


class RuntimeLike(Protocol):
    session_factory: async_sessionmaker[AsyncSession]
    redis: Redis
    settings: Settings
    storage: StorageService


class RuntimeRef:
    """Filled in by the application's start-up; the console is built before the runtime exists."""

    runtime: RuntimeLike | None = None

    def get(self) -> RuntimeLike:
        if self.runtime is None:
            raise RuntimeError("the application has not started yet")
        return self.runtime


class StaffAuth(AuthenticationBackend):
    def __init__(self, secret_key: str, ref: RuntimeRef) -> None:
        super().__init__(
            secret_key=secret_key,
            session_cookie="chengguan_admin",
            same_site="strict",
            https_only=False,
            max_age=8 * 3600,
        )
        # Inside the session middleware: the CSRF check reads the token bound to the session.
        self.middlewares.append(Middleware(CSRFMiddleware))
        self.ref = ref

    async def login(self, request: Request) -> bool:
        form = await request.form()
        username = str(form.get("username", "")).strip()
        password = str(form.get("password", ""))
        runtime = self.ref.get()
        try:
            async with transaction(runtime.session_factory) as session:
                staff = await authenticate(session, runtime.redis, username, password)
                roles = set(staff.roles)
                staff_id = str(staff.id)
                username, name = staff.username, staff.name
        except Unauthorized:
            return False
        if not roles & CONSOLE_ROLES:
            return False
        # A fresh session on sign-in (a new CSRF token with it); the name is for the page header.
        request.session.clear()
        request.session.update({"staff_id": staff_id, "roles": sorted(roles), "username": username, "name": name})
        return True

    async def logout(self, request: Request) -> bool:
        request.session.clear()
        return True

    async def get_user_id(self, request: Request) -> Any:
        return request.session.get("staff_id")

    async def authenticate(self, request: Request) -> bool:
        staff_id: Any = request.session.get("staff_id")
        if not staff_id:
            return False
        try:
            key = uuid.UUID(str(staff_id))
        except ValueError:
            request.session.clear()
            return False
        async with self.ref.get().session_factory() as session:
            staff = await session.get(Staff, key)
        if staff is None or not staff.active or not set(staff.roles) & CONSOLE_ROLES:
            request.session.clear()
            return False
        # Roles may have changed since sign-in; views read them from the session.
        request.session["roles"] = sorted(staff.roles)
        return True
