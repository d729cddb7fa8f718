"""The admin console (sqladmin) as its own Starlette app, served at /admin.

It is dispatched by path in ``app/main.py`` rather than mounted inside Litestar: sqladmin builds
its URLs from the full path, and a Litestar mount strips the prefix, which sends ``/admin`` into
a trailing-slash redirect loop.

Every view class is subclassed per console and bound to its ``RuntimeRef`` (sqladmin keeps its
admin and session maker on the view class), so two applications in one process stay apart.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqladmin import Admin, BaseView, ModelView
from sqladmin.authentication import login_required
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Mount, NoMatchFound
from starlette.staticfiles import StaticFiles

from admin import zh
from admin.auth import RuntimeRef, StaffAuth
from admin.console import has_role, install_helpers
from admin.views.base import RuntimeSessions
from admin.views.cases import INTAKE_ROLES, CaseDeskView, HotlineView
from admin.views.catalog import CategoryAdmin, DispatchRuleAdmin, GeoImportView
from admin.views.content import AuditLogAdmin, NoticeAdmin
from admin.views.devices import ALARM_STATES, SEVERITIES, AlarmAdmin, AlarmRuleAdmin, DeviceActionsView, DeviceAdmin
from admin.views.evaluation import evaluation_views
from admin.views.places import ParkingLotAdmin, ToiletAdmin
from admin.views.push import push_views
from admin.views.system import ALL_VIEWS
from backend.cases.enums import CaseSource
from backend.cases.queues import QUEUES
from backend.dashboard.service import dashboard

BASE_URL = "/admin"
HERE = Path(__file__).resolve().parent

CONSOLE_VIEWS: list[type[ModelView] | type[BaseView]] = [
    HotlineView,
    CaseDeskView,
    CategoryAdmin,
    DispatchRuleAdmin,
    NoticeAdmin,
    *ALL_VIEWS[:4],
    GeoImportView,
    *ALL_VIEWS[4:6],
    ToiletAdmin,
    ParkingLotAdmin,
    DeviceAdmin,
    AlarmRuleAdmin,
    AlarmAdmin,
    DeviceActionsView,
    AuditLogAdmin,
    *ALL_VIEWS[6:],
]
"""In menu order: duty work first, then configuration, geography, organization, facilities, system."""


class Console(Admin):
    """sqladmin with the duty dashboard (值班总览) as its home page."""

    def __init__(self, *args: Any, ref: RuntimeRef, **kwargs: Any) -> None:
        self.ref = ref
        super().__init__(*args, **kwargs)

    @login_required
    async def index(self, request: Request) -> Response:
        async with self.ref.get().session_factory() as session:
            board = await dashboard(session)
        context = {
            "title": "值班总览", "subtitle": "今日受理、在办案卷、超期与设备告警", "board": board, "queues": QUEUES,
            "sources": list(CaseSource), "severity_labels": SEVERITIES, "alarm_states": ALARM_STATES,
            "alarms_url": _url(request, "admin:list", identity="alarm"), "can_intake": has_role(request, INTAKE_ROLES),
            "evaluation": _evaluation_links(request),
        }  # fmt: skip
        return await self.templates.TemplateResponse(request, "console/dashboard.html", context)


def _url(request: Request, name: str, **params: Any) -> str | None:
    try:
        return str(request.url_for(name, **params))
    except NoMatchFound:
        return None


def _evaluation_links(request: Request) -> dict[str, str] | None:
    """The evaluation page, its ranking chart and its XLSX, if the evaluation view is installed."""
    page = _url(request, "admin:view-evaluation")
    if page is None:
        return None
    return {
        "page": page,
        "chart": f"{page}/chart/ranking.svg?view=department&period=month",
        "xlsx": f"{page}/export.xlsx?period=month",
    }


def bind(view: type[Any], ref: RuntimeRef) -> type[Any]:
    """A subclass of ``view`` of this console's own, carrying its runtime."""
    return type(view.__name__, (view,), {"ref": ref, "__module__": view.__module__})


def create_admin(secret_key: str, session_maker: async_sessionmaker[AsyncSession], ref: RuntimeRef) -> Starlette:
    host = Starlette()
    console = Console(
        host,
        session_maker=session_maker,
        base_url=BASE_URL,
        title="城管综合管理平台",
        templates_dir=str(HERE / "templates"),
        authentication_backend=StaffAuth(secret_key, ref),
        ref=ref,
    )
    console.templates.env.install_gettext_callables(zh.gettext, zh.ngettext, newstyle=True)  # type: ignore[attr-defined]
    install_helpers(console.templates.env)
    console.admin.router.routes.append(
        Mount("/console-static", app=StaticFiles(directory=HERE / "static"), name="console-static")
    )
    for view in [*CONSOLE_VIEWS, *push_views(ref), *evaluation_views(ref)]:
        bound = bind(view, ref)
        console.add_view(bound)
        if bound.is_model:
            bound.session_maker = RuntimeSessions(ref)
    return host
