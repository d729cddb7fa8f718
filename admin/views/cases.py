"""Hotline intake (热线受理) and the case desk (案卷工作台): queues, the case page and its action buttons.

Handlers parse the form, call one case-service function, record the audit entry in the same transaction
and redirect. Buttons are drawn from the state machine's ``allowed_actions`` for the signed-in roles;
the same rules refuse a forged POST on the server (the case service raises ``Forbidden`` → 403).
A case's state is never a form field: it moves only through these actions.
"""

from __future__ import annotations

import math
import re
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Final

from sqladmin import expose
from sqladmin.flash import FlashLevel
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response

from admin.console import ADMIN, CONSOLE_ROLES, DUTY_ROLES, case_actor, error_text, flash, wants_json
from admin.views.base import ConsoleBaseView, audit, writing
from app.request_id import current_request_id
from backend.audit.service import AuditActor
from backend.cases import service as cases
from backend.cases.casefile import EVENT_LABELS, case_file
from backend.cases.enums import CaseAction, CaseSource, CaseState, Light, Urgency
from backend.cases.queues import QUEUES, queue_page
from backend.catalog.cache import CATEGORIES
from backend.catalog.rules import MinorClass
from backend.catalog.service import categories_by_major
from backend.errors import DomainError, Forbidden, NotFound, ValidationFailed
from backend.geo.cache import GeocoderCache
from backend.geo.coords import CoordSystem, to_wgs84
from backend.geo.service import grid_picker, grid_point

GEOCODER = GeocoderCache()
INTAKE_ROLES: Final = frozenset({"seat", "shift_lead"})
CASE_WRITERS: Final = DUTY_ROLES | ADMIN
HOTLINE_SOURCES: Final = (CaseSource.hotline_12345, CaseSource.hotline_12319)
_PHONE: Final = re.compile(r"(?:\+?86)?1[3-9][0-9]{9}|0[0-9]{2,3}-?[0-9]{7,8}|[0-9]{7,8}")
MAX_CONTENT: Final = 2000
MAX_ADDRESS: Final = 200
MAX_NOTE: Final = 500


# --- the hotline form ---------------------------------------------------------------------------------


@dataclass
class HotlineForm:
    """The hotline form as typed, with a message per field that needs correcting."""

    values: dict[str, str]
    errors: dict[str, str] = field(default_factory=dict)
    source: CaseSource = CaseSource.hotline_12345
    urgency: Urgency | None = None
    lat: float | None = None
    lng: float | None = None

    @property
    def phone(self) -> str:
        """The number as stored: spaces dropped, a mobile number without its +86."""
        value = self.values["caller_phone"].replace(" ", "")
        bare = value.removeprefix("+")
        return bare[2:] if bare.startswith("86") and len(bare) == 13 else value


FIELDS: Final = ("source", "caller_phone", "content", "category_code", "urgency", "address", "lat", "lng", "coord",
                 "district_code", "street_code", "grid_code")  # fmt: skip


def parse_hotline(form: FormData) -> HotlineForm:
    """Check the form before anything is written; every problem is reported at once."""
    values = {k: str(form.get(k) or "").strip() for k in FIELDS}
    values.update({k: str(v).strip() for k, v in form.items() if k.startswith("q.") and isinstance(v, str)})
    parsed = HotlineForm(values)
    errors = parsed.errors
    try:
        parsed.source = CaseSource(values["source"])
        if parsed.source not in HOTLINE_SOURCES:
            raise ValueError
    except ValueError:
        errors["source"] = "请选择来电热线（12345 或 12319）"
    phone = re.sub(r"[\s-]", "", values["caller_phone"]) if values["caller_phone"] else ""
    if not phone:
        errors["caller_phone"] = "请填写来电号码"
    elif not _PHONE.fullmatch(values["caller_phone"].replace(" ", "")):
        errors["caller_phone"] = "来电号码格式不正确（手机号11位，或区号-座机号）"
    if not values["content"]:
        errors["content"] = "请填写来电内容"
    elif len(values["content"]) > MAX_CONTENT:
        errors["content"] = f"来电内容不能超过{MAX_CONTENT}字"
    if not values["category_code"]:
        errors["category_code"] = "请选择问题分类"
    if values["urgency"]:
        try:
            parsed.urgency = Urgency(values["urgency"])
        except ValueError:
            errors["urgency"] = "紧急程度无效"
    if len(values["address"]) > MAX_ADDRESS:
        errors["address"] = f"地址不能超过{MAX_ADDRESS}字"
    if values["lat"] or values["lng"]:
        try:
            lat, lng = float(values["lat"]), float(values["lng"])
            if not (math.isfinite(lat) and math.isfinite(lng) and -90 <= lat <= 90 and -180 <= lng <= 180):
                raise ValueError
            system = CoordSystem(values["coord"] or CoordSystem.WGS84.value)
            parsed.lat, parsed.lng = to_wgs84(lat, lng, system)
        except ValueError:
            errors["location"] = "坐标无效：纬度 −90～90、经度 −180～180，两项都要填写"
    elif not values["grid_code"]:
        errors["location"] = "请填写坐标，或选择区、街道和单元网格"
    return parsed


INTAKE_ERRORS: Final[dict[str, tuple[str, str | None]]] = {
    "unknown_category": ("category_code", "问题分类不存在或已停用"),
    "category_not_selectable": ("category_code", None),
    "invalid_answers": ("answers", None),
    "grid_not_found": ("location", "所选单元网格不存在"),
    "validation_failed": ("location", None),
    "too_long": ("content", f"来电内容不能超过{MAX_CONTENT}字，地址不能超过{MAX_ADDRESS}字"),
}
"""The intake service's refusals, as the form field they concern and the words shown there."""


def answers_of(minor: MinorClass, form: FormData) -> tuple[dict[str, Any], dict[str, str]]:
    """The category's extra questions (补充问题) as answered on the form (``q.<code>.<key>``), typed as the
    catalog expects, and a message for each required one left blank or answered wrongly."""
    answers: dict[str, Any] = {}
    problems: dict[str, str] = {}
    for question in minor.questions:
        raw = str(form.get(f"q.{minor.code}.{question.key}") or "").strip()
        if not raw:
            if question.required:
                problems[question.key] = f"请回答：{question.label}"
            continue
        if question.type == "bool":
            answers[question.key] = raw == "yes"
        elif question.type == "number":
            try:
                number = float(raw)
                answers[question.key] = int(number) if number.is_integer() else number
            except ValueError:
                problems[question.key] = f"{question.label}：请填写数字"
        else:
            answers[question.key] = raw
    return answers, problems


def _intake_error(exc: DomainError) -> tuple[str, str]:
    where, words = INTAKE_ERRORS.get(exc.code, ("form", None))
    return where, words or error_text(exc)


class HotlineView(ConsoleBaseView):
    """热线受理 — a 12345/12319 call becomes a case through the case service's intake."""

    name = "热线受理"
    icon = "fa-solid fa-phone-volume"
    category = "值班"
    read_roles = INTAKE_ROLES

    @expose("/hotline", methods=["GET", "POST"], identity="hotline")
    async def hotline(self, request: Request) -> Response:
        if request.method == "GET":
            return await self._form(request, HotlineForm({k: "" for k in FIELDS}))
        form = await request.form()
        parsed = parse_hotline(form)
        if parsed.errors:
            return await self._form(request, parsed, status=400)
        try:
            async with writing(self.ref, request, INTAKE_ROLES) as (session, auditor):
                actor = await case_actor(session, request)
                category = await CATEGORIES.get(session, parsed.values["category_code"])
                answers, unanswered = answers_of(category.minor, form)
                if unanswered:
                    raise ValidationFailed("unanswered", code="invalid_answers",
                                           details={"label": "；".join(unanswered.values())})  # fmt: skip
                lat, lng = parsed.lat, parsed.lng
                if lat is None or lng is None:
                    lat, lng, _grid = await grid_point(session, parsed.values["grid_code"])
                data = cases.IntakeData(
                    source=parsed.source, category_code=parsed.values["category_code"], lat=lat, lng=lng,
                    description=parsed.values["content"], address=parsed.values["address"], urgency=parsed.urgency,
                    reporter_phone=parsed.phone, answers=answers,
                )  # fmt: skip
                result = await cases.intake(session, await GEOCODER.get(session), actor, data)
                case_id, number = result.case.id, result.case.number
                await audit(
                    session, auditor, "case", "intake", case_id,
                    after={"number": number, "source": data.source.value, "category_code": data.category_code,
                           "state": result.case.state},
                )  # fmt: skip
        except (ValidationFailed, NotFound) as exc:
            if isinstance(exc, NotFound) and exc.code != "grid_not_found":
                return await self.failed(request, exc)
            where, words = _intake_error(exc)
            parsed.errors[where] = words
            return await self._form(request, parsed, status=400)
        except DomainError as exc:
            return await self.failed(request, exc)
        flash(request, f"已受理来电，生成案卷 {number}")
        if result.divert:
            flash(request, f"紧急分流：{result.divert['message']}", FlashLevel.warning)
        if result.similar:
            flash(request, f"附近有 {len(result.similar)} 件相似案卷，请核对后合并。", FlashLevel.info)
        return RedirectResponse(request.url_for("admin:view-case", case_id=str(case_id)), status_code=303)

    async def _form(self, request: Request, parsed: HotlineForm, status: int = 200) -> Response:
        async with self.ref.get().session_factory() as session:
            groups = await categories_by_major(session)
            districts, streets, grids = await grid_picker(session)
        context = {
            "title": "热线受理", "subtitle": "12345 / 12319 来电登记为案卷", "form": parsed, "groups": groups,
            "sources": HOTLINE_SOURCES, "urgencies": list(Urgency), "districts": districts, "streets": streets,
            "grids": [{"code": g.code, "name": g.name, "street": g.street_code} for g in grids],
        }  # fmt: skip
        return await self.render(request, "console/hotline.html", context, status)


# --- the case desk ------------------------------------------------------------------------------------


Handler = Callable[[AsyncSession, cases.Actor, uuid.UUID, FormData], Awaitable[Any]]


def _text(form: FormData, name: str, *, required: str | None = None) -> str:
    value = str(form.get(name) or "").strip()
    if required and not value:
        raise ValidationFailed(required, code="reason_required", details={"label": required})
    if len(value) > MAX_NOTE:
        raise ValidationFailed("too long", code="too_long", details={"label": f"说明不能超过{MAX_NOTE}字"})
    return value


def _uuid(value: Any, label: str) -> uuid.UUID:
    try:
        return uuid.UUID(str(value))
    except ValueError:
        raise ValidationFailed(label, code="validation_failed", details={"label": label}) from None


async def _accept(s: AsyncSession, a: cases.Actor, c: uuid.UUID, f: FormData) -> Any:
    return await cases.accept(s, a, c, note=_text(f, "note"))


async def _verify(s: AsyncSession, a: cases.Actor, c: uuid.UUID, f: FormData) -> Any:
    return await cases.step(s, a, c, CaseAction.verify_request, note=_text(f, "note"))


async def _reject(s: AsyncSession, a: cases.Actor, c: uuid.UUID, f: FormData) -> Any:
    return await cases.reject(s, a, c, _text(f, "reason", required="作废须填写原因"))


async def _dispatch(s: AsyncSession, a: cases.Actor, c: uuid.UUID, f: FormData) -> Any:
    chosen = str(f.get("department_id") or "")
    if chosen == "other":
        chosen = str(f.get("other_department_id") or "")
    department = _uuid(chosen, "请选择主办部门")
    assists = [_uuid(v, "协办部门无效") for v in f.getlist("assist_department_ids") if v]
    return await cases.dispatch(s, a, c, department, assist_department_ids=assists, note=_text(f, "note"))


async def _urge(s: AsyncSession, a: cases.Actor, c: uuid.UUID, f: FormData) -> Any:
    return await cases.urge(s, a, c, _text(f, "note"))


async def _approve(s: AsyncSession, a: cases.Actor, c: uuid.UUID, f: FormData) -> Any:
    return await cases.decide_extension(s, a, c, True, note=_text(f, "note"))


async def _deny(s: AsyncSession, a: cases.Actor, c: uuid.UUID, f: FormData) -> Any:
    return await cases.decide_extension(s, a, c, False, note=_text(f, "note"))


async def _suspend(s: AsyncSession, a: cases.Actor, c: uuid.UUID, f: FormData) -> Any:
    return await cases.suspend(s, a, c, _text(f, "reason", required="挂账须填写原因"))


async def _resume(s: AsyncSession, a: cases.Actor, c: uuid.UUID, f: FormData) -> Any:
    return await cases.resume(s, a, c, note=_text(f, "note"))


async def _close(s: AsyncSession, a: cases.Actor, c: uuid.UUID, f: FormData) -> Any:
    return await cases.step(s, a, c, CaseAction.close, note=_text(f, "note"))


async def _reopen(s: AsyncSession, a: cases.Actor, c: uuid.UUID, f: FormData) -> Any:
    return await cases.reopen(s, a, c, _text(f, "reason", required="重新打开须填写原因"))


async def _merge(s: AsyncSession, a: cases.Actor, c: uuid.UUID, f: FormData) -> Any:
    return await cases.merge(s, a, c, _uuid(f.get("into_case_id"), "请选择要合并到的案卷"))


ACTIONS: Final[dict[str, tuple[Handler, CaseAction | None]]] = {
    "accept": (_accept, CaseAction.accept),
    "verify_request": (_verify, CaseAction.verify_request),
    "reject": (_reject, CaseAction.reject),
    "dispatch": (_dispatch, CaseAction.dispatch),
    "urge": (_urge, None),
    "approve_extension": (_approve, CaseAction.approve_extension),
    "deny_extension": (_deny, CaseAction.deny_extension),
    "suspend": (_suspend, CaseAction.suspend),
    "resume": (_resume, CaseAction.resume),
    "close": (_close, CaseAction.close),
    "reopen": (_reopen, CaseAction.reopen),
    "merge": (_merge, CaseAction.merge),
}
"""The console's case actions: URL segment → (handler, state-machine action; None for 催办)."""


def _acting_role(actor: cases.Actor, action: CaseAction | None, outcome: Any) -> str:
    """The role the case service acted in (what its event records)."""
    if isinstance(outcome, cases.CaseEvent):
        return str(outcome.actor_role)
    return actor.role_for(action).value if action is not None else "-"


def _grid_svg(boundary: dict[str, Any] | None, lat: float, lng: float, size: int = 260) -> dict[str, Any] | None:
    """The grid's outline and the case's point as SVG coordinates (the offline stand-in for a map)."""
    if not boundary or boundary.get("type") not in {"Polygon", "MultiPolygon"}:
        return None
    polygons = [boundary["coordinates"]] if boundary["type"] == "Polygon" else boundary["coordinates"]
    points = [pt for poly in polygons for ring in poly for pt in ring] + [[lng, lat]]
    min_x, max_x = min(p[0] for p in points), max(p[0] for p in points)
    min_y, max_y = min(p[1] for p in points), max(p[1] for p in points)
    span = max(max_x - min_x, (max_y - min_y) / math.cos(math.radians(lat)), 1e-9)
    pad = 16
    scale = (size - 2 * pad) / span

    def xy(p: list[float]) -> tuple[float, float]:
        x = pad + (p[0] - min_x) * scale
        y = pad + (max_y - p[1]) * scale / math.cos(math.radians(lat))
        return round(x, 1), round(y, 1)

    paths = [" ".join(f"{x},{y}" for x, y in (xy(pt) for pt in ring)) for poly in polygons for ring in poly]
    px, py = xy([lng, lat])
    return {"size": size, "paths": paths, "x": px, "y": py}


class CaseDeskView(ConsoleBaseView):
    """案卷工作台 — the queues, one case's page and the actions on it."""

    name = "案卷工作台"
    icon = "fa-solid fa-list-check"
    category = "值班"
    read_roles = CONSOLE_ROLES

    @expose("/cases", identity="cases")
    async def queue(self, request: Request) -> Response:
        q = request.query_params
        key = q.get("queue") or "to_accept"
        if key not in QUEUES:
            key = "to_accept"
        narrow = {k: q.get(k) or None for k in ("street", "category", "source", "light")}
        cursor = q.get("cursor") or None
        try:
            async with self.ref.get().session_factory() as session:
                actor = await case_actor(session, request)
                page = await queue_page(
                    session, actor, key, street=narrow["street"], category=narrow["category"],
                    source=narrow["source"], light=narrow["light"], cursor=cursor,
                )  # fmt: skip
        except DomainError as exc:
            return await self.failed(request, exc)
        context = {
            "title": "案卷工作台", "subtitle": page.queue.label, "page": page, "queues": QUEUES, "key": key,
            "narrow": narrow, "sources": list(CaseSource), "lights": [Light.green, Light.yellow, Light.red],
            "states": {s.value: s.label for s in CaseState}, "source_labels": {s.value: s.label for s in CaseSource},
            "light_labels": {s.value: s.label for s in Light},
        }  # fmt: skip
        return await self.render(request, "console/queue.html", context)

    @expose("/cases/{case_id}", identity="case")
    async def case(self, request: Request) -> Response:
        try:
            case_id = _uuid(request.path_params["case_id"], "案卷编号无效")
            async with self.ref.get().session_factory() as session:
                actor = await case_actor(session, request)
                file = await case_file(session, actor, case_id)
        except ValidationFailed:
            return await self.failed(request, NotFound("no such case", code="case_not_found"))
        except DomainError as exc:
            return await self.failed(request, exc)
        storage = self.ref.get().storage
        photos = [storage.presign_get(key) for key in file.case.photos]
        roles = set(request.session.get("roles", []))
        context = {
            "title": f"案卷 {file.case.number}", "subtitle": f"{file.category.code} {file.category.name}",
            "file": file, "case": file.case, "photos": photos, "labels": EVENT_LABELS,
            "map": _grid_svg(file.grid_boundary, file.case.lat, file.case.lng),
            "show_phone": bool(roles & INTAKE_ROLES), "action_names": {a.value for a in file.actions},
        }  # fmt: skip
        return await self.render(request, "console/case.html", context)

    @expose("/cases/{case_id}/{action}", methods=["POST"], identity="case-action")
    async def act(self, request: Request) -> Response:
        name = request.path_params["action"]
        if name not in ACTIONS:
            return await self.failed(request, NotFound("no such action", code="not_found"))
        handler, action = ACTIONS[name]
        form = await request.form()
        try:
            case_id = _uuid(request.path_params["case_id"], "案卷编号无效")
        except ValidationFailed:
            return await self.failed(request, NotFound("no such case", code="case_not_found"))
        back = request.url_for("admin:view-case", case_id=str(case_id))
        try:
            async with writing(self.ref, request, CASE_WRITERS) as (session, _auditor):
                actor = await case_actor(session, request)
                before = (await cases.get_case(session, actor, case_id)).state
                outcome = await handler(session, actor, case_id, form)
                case = outcome if isinstance(outcome, cases.Case) else await cases.get_case(session, actor, case_id)
                auditor = AuditActor(_auditor.staff_id, _auditor.username, _acting_role(actor, action, outcome))
                after = {"state": case.state, **{k: v for k, v in form.items() if k != "csrf_token"}}
                await audit(session, auditor, "case", name, case_id, before={"state": before}, after=after)
                state = case.state
        except (Forbidden, NotFound) as exc:
            return await self.failed(request, exc)
        except DomainError as exc:
            if wants_json(request):
                return await self.failed(request, exc)
            flash(request, f"操作未完成：{error_text(exc)}", FlashLevel.error)
            return RedirectResponse(back, status_code=303)
        label = EVENT_LABELS.get(action.value if action else "urge", name)
        message = f"已{label}"
        if name == "accept" and state == CaseState.dispatched.value:
            message = "已立案，并已智能派遣"
        if wants_json(request):
            return JSONResponse({"case_id": str(case_id), "state": state, "request_id": current_request_id()})
        flash(request, message)
        return RedirectResponse(back, status_code=303)
