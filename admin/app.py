"""The admin console (sqladmin) as its own Starlette app, served at /admin.

It is dispatched by path in ``app/main.py`` rather than mounted inside Litestar: sqladmin builds
its URLs from the full path, and a Litestar mount strips the prefix, which sends ``/admin`` into
a trailing-slash redirect loop.
"""

from __future__ import annotations

from sqladmin import Admin
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from starlette.applications import Starlette

from admin.auth import RuntimeRef, StaffAuth
from admin.views.evaluation import evaluation_views
from admin.views.push import push_views
from admin.views.system import ALL_VIEWS

BASE_URL = "/admin"


def create_admin(secret_key: str, session_maker: async_sessionmaker[AsyncSession], ref: RuntimeRef) -> Starlette:
    host = Starlette()
    console = Admin(
        host,
        session_maker=session_maker,
        base_url=BASE_URL,
        title="城管综合管理平台",
        authentication_backend=StaffAuth(secret_key, ref),
    )
    for view in ALL_VIEWS:
        console.add_view(view)
    for push_view in push_views(ref):
        console.add_view(push_view)
    for evaluation_view in evaluation_views(ref):
        console.add_view(evaluation_view)
    return host
