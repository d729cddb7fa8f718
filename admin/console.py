"""What every console page shares: the signed-in staff member's roles, the case-service ``Actor`` and
audit ``AuditActor`` made from them, error pages for domain errors, and the Jinja helpers."""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from datetime import datetime
from typing import Any, Final

from sqladmin.flash import Flash, FlashLevel
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from admin import auth
from admin.csrf import FIELD, csrf_token
from app.request_id import current_request_id
from backend.audit.service import AuditActor
from backend.cases.enums import Role
from backend.cases.service import Actor
from backend.errors import DomainError, NotFound
from backend.models import Staff
from backend.worktime import SHANGHAI
from push.rules import mask_phone

CONSOLE_ROLES: Final = frozenset(auth.CONSOLE_ROLES)
DUTY_ROLES: Final = frozenset({"seat", "dispatcher", "shift_lead"})
"""The command centre on duty (值班): they take calls and move cases."""
ADMIN: Final = frozenset({"admin"})
STATUS_TITLES: Final = {400: "请求有误", 403: "无权执行此操作", 404: "未找到", 409: "操作冲突", 413: "请求内容过大",
                        422: "无法处理", 429: "操作过于频繁", 500: "系统错误"}  # fmt: skip


def roles(request: Request) -> frozenset[str]:
    return frozenset(request.session.get("roles", []))


def has_role(request: Request, allowed: Iterable[str]) -> bool:
    return bool(roles(request) & set(allowed))


def acting_role(request: Request, allowed: Iterable[str]) -> str:
    """The role the staff member acts in for a write (their first one among ``allowed``)."""
    mine = sorted(roles(request) & set(allowed))
    return mine[0] if mine else "-"


def role_labels(names: Iterable[str]) -> str:
    return "、".join(Role(n).label if n in Role.__members__ else n for n in names)


def staff_id(request: Request) -> uuid.UUID:
    return uuid.UUID(str(request.session["staff_id"]))


def audit_actor(request: Request, allowed: Iterable[str]) -> AuditActor:
    return AuditActor(
        staff_id=staff_id(request),
        username=str(request.session.get("username") or request.session.get("staff_id")),
        role=acting_role(request, allowed),
    )


async def case_actor(session: AsyncSession, request: Request) -> Actor:
    """The case service's view of the signed-in staff member (roles, department and grids as stored now)."""
    staff = await session.get(Staff, staff_id(request))
    if staff is None or not staff.active:
        raise NotFound("no such staff member", code="staff_not_found")
    return Actor.staff(staff.id, staff.roles, staff.department_id, staff.grid_codes)


def error_text(exc: DomainError) -> str:
    """The Chinese label a rule attached to its error, else the message."""
    details = exc.details if isinstance(exc.details, dict) else {}
    label = details.get("label")
    if label:
        return str(label)
    return f"校验未通过：{exc.message}" if details.get("problems") else exc.message


def wants_json(request: Request) -> bool:
    accept = request.headers.get("accept", "")
    return "application/json" in accept and "text/html" not in accept


async def error_page(request: Request, exc: DomainError, templates: Any) -> Response:
    """A domain error as the console's error page (or the API's error body for a JSON client)."""
    status = exc.status_hint
    body = {"code": exc.code, "message": exc.message, "details": exc.details, "request_id": current_request_id()}
    if wants_json(request):
        return JSONResponse({"error": body}, status_code=status)
    context = {"status_code": status, "message": error_text(exc), "error": body, "title": STATUS_TITLES.get(status)}
    return await templates.TemplateResponse(request, "sqladmin/error.html", context, status_code=status)


def flash(request: Request, message: str, level: FlashLevel = FlashLevel.success) -> None:
    Flash.flash(request, message, level)


def local_time(value: datetime | None, fmt: str = "%Y-%m-%d %H:%M") -> str:
    return value.astimezone(SHANGHAI).strftime(fmt) if value else "—"


def install_helpers(env: Any) -> None:
    """Globals and filters the console's templates use."""
    env.globals["csrf_token"] = csrf_token
    env.globals["csrf_field"] = FIELD
    env.globals["role_labels"] = role_labels
    env.filters["local"] = local_time
    env.filters["masked"] = mask_phone
