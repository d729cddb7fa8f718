"""Staff sign-in for the field app: username + password → JWT access and refresh tokens."""

from __future__ import annotations

from litestar import Controller, get, post
from litestar.datastructures import State
from litestar.openapi.datastructures import ResponseSpec
from sqlalchemy.ext.asyncio import AsyncSession

from app.errors import ErrorBody
from backend.models import Staff
from backend.org import service
from backend.org.tokens import StaffClaims, TokenPair
from field_app_api.schemas import LoginIn, RefreshIn, StaffOut, TokenOut

UNAUTHORIZED = {401: ResponseSpec(data_container=ErrorBody, description="Wrong credentials or token")}


def _staff_out(staff: Staff) -> StaffOut:
    return StaffOut(
        id=str(staff.id),
        username=staff.username,
        name=staff.name,
        roles=list(staff.roles),
        department_id=str(staff.department_id) if staff.department_id else None,
    )


def _token_out(staff: Staff, pair: TokenPair) -> TokenOut:
    return TokenOut(
        access_token=pair.access_token,
        refresh_token=pair.refresh_token,
        token_type="Bearer",
        expires_in=pair.expires_in,
        staff=_staff_out(staff),
    )


class AuthController(Controller):
    path = "/auth"
    tags = ["auth"]

    @post("/login", summary="Sign in with username and password", status_code=200, responses=UNAUTHORIZED)
    async def login(self, data: LoginIn, db_session: AsyncSession, state: State) -> TokenOut:
        runtime = state.runtime
        staff, pair = await service.login(
            db_session,
            runtime.redis,
            runtime.settings.app.secret_key,
            data.username,
            data.password,
            device_id=data.device_id,
        )
        return _token_out(staff, pair)

    @post(
        "/refresh",
        summary="Exchange a refresh token (single use) for a new pair",
        status_code=200,
        responses=UNAUTHORIZED,
    )
    async def refresh(self, data: RefreshIn, db_session: AsyncSession, state: State) -> TokenOut:
        runtime = state.runtime
        staff, pair = await service.refresh(
            db_session, runtime.redis, runtime.settings.app.secret_key, data.refresh_token
        )
        return _token_out(staff, pair)


class MeController(Controller):
    path = "/me"
    tags = ["auth"]

    @get("", summary="The signed-in staff member", responses=UNAUTHORIZED)
    async def me(self, staff: StaffClaims, db_session: AsyncSession) -> StaffOut:
        member = await service.get_staff(db_session, staff.staff_id)
        return _staff_out(member)
